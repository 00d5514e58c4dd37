"""The authorization matrix: every URL pattern and method, as every role, with the expected status.

The URL resolver is enumerated: a URL pattern without an entry here fails
`test_every_url_pattern_has_a_matrix_entry`, so a new page cannot ship without saying who may
use it. Each request runs in a savepoint that is rolled back, so one role's POST does not change
what the next role sees, and one world is built per test.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.world import ROLES, World, build_world

pytestmark = pytest.mark.django_db

Expected = dict[str, int]


def researcher(ok: int) -> Expected:
    """A researcher page of the owner's study: log-in redirect for people without an account,
    404 for researchers who may not see the study (no existence leak)."""
    return {
        "anonymous": 302,
        "participant": 302,
        "owner": ok,
        "collaborator": ok,
        "other": 404,
        "staff": 404,
        "superuser": ok,
    }


def api(ok: int) -> Expected:
    """An API endpoint of the owner's study: 403 without an account (session auth answers 403)."""
    return {
        "anonymous": 403,
        "participant": 403,
        "owner": ok,
        "collaborator": ok,
        "other": 404,
        "staff": 404,
        "superuser": ok,
    }


def account(ok: int, *, anonymous: int = 302) -> Expected:
    """Any logged-in researcher (own data only)."""
    return {role: (anonymous if role in ("anonymous", "participant") else ok) for role in ROLES}


def everyone(code: int) -> Expected:
    return dict.fromkeys(ROLES, code)


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World], str]
    expected: Expected
    data: Any = None
    json: bool = False


def s(name: str, *extra: Callable[[World], Any]) -> Callable[[World], str]:
    """Path of a URL that takes the owner's study slug (and more arguments)."""
    return lambda w: reverse(name, args=[w.study.slug, *(f(w) for f in extra)])


def imp(w: World) -> int:
    return w.stimulus_import.pk


def code(w: World) -> str:
    return w.participant.code


def run(w: World) -> int:
    return w.run.pk


def bench(w: World) -> int:
    return w.benchmark.pk


def tok(name: str) -> Callable[[World], str]:
    return lambda w: reverse(name, kwargs={"slug": w.study.slug, "token": w.session.token})


# name -> the cases that cover it. Participant pages are public by design: the study link is
# open to anyone, and a session's pages are bound to its token (the token is the key; see
# test_participant_binding.py for other tokens), so every role gets the same answer.
MATRIX: dict[str, list[Case]] = {
    "": [Case("get", lambda w: "/", everyone(302))],
    "healthz": [Case("get", lambda w: reverse("healthz"), everyone(200))],
    "stimulus-image": [
        Case("get", lambda w: w.stimulus.image_url, everyone(200)),  # an open study's image is public
        Case(
            "get",
            lambda w: w.draft_stimulus.image_url,
            {**researcher(200), "anonymous": 404, "participant": 404},
        ),
    ],
    "login": [
        Case("get", lambda w: reverse("login"), everyone(200)),
        Case("post", lambda w: reverse("login"), everyone(200), {"username": "nobody", "password": "wrong"}),
    ],
    "logout": [
        Case("post", lambda w: reverse("logout"), everyone(302)),
        Case("get", lambda w: reverse("logout"), everyone(405)),
    ],
    # --- researcher pages
    "experiments:study-list": [Case("get", lambda w: reverse("experiments:study-list"), account(200))],
    "experiments:study-create": [
        Case("get", lambda w: reverse("experiments:study-create"), account(200)),
        Case("post", lambda w: reverse("experiments:study-create"), account(200), {"title": ""}),
    ],
    "experiments:study-detail": [Case("get", s("experiments:study-detail"), researcher(200))],
    "experiments:study-edit": [
        Case("get", s("experiments:study-edit"), researcher(200)),
        Case("post", s("experiments:study-edit"), researcher(400), {"title": ""}),
    ],
    "experiments:study-launch": [
        Case("get", s("experiments:study-launch"), researcher(200)),
        Case("post", s("experiments:study-launch"), researcher(302), {"confirm": "on"}),
    ],
    "experiments:study-sharing": [
        Case("get", s("experiments:study-sharing"), researcher(200)),
        Case("post", s("experiments:study-sharing"), researcher(400), {"username": ""}),
    ],
    "experiments:study-unshare": [
        Case("post", s("experiments:study-unshare", lambda w: 999_999), researcher(302)),
    ],
    "experiments:study-duplicate": [
        Case("get", s("experiments:study-duplicate"), researcher(200)),
        Case("post", s("experiments:study-duplicate"), researcher(400), {"title": ""}),
    ],
    "experiments:study-archive": [
        Case("post", s("experiments:study-archive"), researcher(302), {"archived": "0"}),
    ],
    "experiments:study-pause": [Case("post", s("experiments:study-pause"), researcher(302))],
    "experiments:study-close": [Case("post", s("experiments:study-close"), researcher(302))],
    "experiments:stimulus-list": [Case("get", s("experiments:stimulus-list"), researcher(200))],
    "experiments:study-preview": [Case("get", s("experiments:study-preview"), researcher(200))],
    "experiments:import-create": [
        Case("get", s("experiments:import-create"), researcher(200)),
        Case("post", s("experiments:import-create"), researcher(400), {}),
    ],
    "experiments:import-detail": [Case("get", s("experiments:import-detail", imp), researcher(200))],
    "experiments:import-status": [Case("get", s("experiments:import-status", imp), researcher(200))],
    "experiments:study-dashboard": [Case("get", s("experiments:study-dashboard"), researcher(200))],
    "experiments:study-dashboard-json": [Case("get", s("experiments:study-dashboard-json"), researcher(200))],
    "analysis:run-list": [
        Case("get", s("analysis:run-list"), researcher(200)),
        Case("post", s("analysis:run-list"), researcher(302), {"method": "mos"}),
    ],
    "analysis:benchmark-list": [
        Case("get", lambda w: reverse("analysis:benchmark-list", args=[run(w)]), researcher(200))
    ],
    "analysis:run-splits": [
        Case("get", lambda w: reverse("analysis:run-splits", args=[run(w)]), researcher(200))
    ],
    "analysis:benchmark-detail": [
        Case("get", lambda w: reverse("analysis:benchmark-detail", args=[bench(w)]), researcher(200))
    ],
    "analysis:benchmark-status": [
        Case("get", lambda w: reverse("analysis:benchmark-status", args=[bench(w)]), researcher(200))
    ],
    "analysis:benchmark-file": [
        Case(
            "get",
            lambda w: reverse("analysis:benchmark-file", args=[bench(w), "results.csv"]),
            researcher(200),
        )
    ],
    "analysis:run-detail": [
        Case("get", lambda w: reverse("analysis:run-detail", args=[run(w)]), researcher(200))
    ],
    "analysis:run-status": [
        Case("get", lambda w: reverse("analysis:run-status", args=[run(w)]), researcher(200))
    ],
    "analysis:run-file": [
        Case("get", lambda w: reverse("analysis:run-file", args=[run(w), "mos.csv"]), researcher(200)),
        Case(
            "get", lambda w: reverse("analysis:run-file", args=[run(w), "raw_ratings.csv"]), researcher(200)
        ),
    ],
    "experiments:study-pay": [
        Case("post", s("experiments:study-pay"), researcher(302), {"pay_per_participant": "1.50"})
    ],
    "participants:list": [Case("get", s("participants:list"), researcher(200))],
    "participants:decide": [
        Case("post", s("participants:decide", code), researcher(302), {"decision": "approve"})
    ],
    # Forgetting is the owner's alone: a collaborator is refused in words (403).
    "participants:forget": [
        Case("get", s("participants:forget", code), {**researcher(200), "collaborator": 403}),
        Case(
            "post",
            s("participants:forget", code),
            {**researcher(302), "collaborator": 403},
            {"confirm": "on"},
        ),
    ],
    "pilot:list": [
        Case("get", s("pilot:list"), researcher(200)),
        Case("post", s("pilot:list"), researcher(400), {"raters": ""}),
    ],
    "pilot:remove": [Case("post", s("pilot:remove"), researcher(302))],
    "pilot:detail": [Case("get", s("pilot:detail", lambda w: w.pilot.pk), researcher(200))],
    "pilot:status": [Case("get", s("pilot:status", lambda w: w.pilot.pk), researcher(200))],
    "pilot:plot": [Case("get", s("pilot:plot", lambda w: w.pilot.pk), researcher(200))],
    "pilot:modes-plot": [Case("get", s("pilot:modes-plot", lambda w: w.pilot.pk), researcher(200))],
    # --- participant pages (public / token-bound)
    "ratings:study-entry": [
        Case("get", lambda w: reverse("ratings:study-entry", args=[w.study.slug]), everyone(200))
    ],
    "ratings:study-consent": [
        Case(
            "post",
            lambda w: reverse("ratings:study-consent", args=[w.study.slug]),
            everyone(302),
            {"decision": "agree"},
        ),
    ],
    "ratings:session": [Case("get", tok("ratings:session"), everyone(200))],
    "ratings:session-questionnaire": [Case("post", tok("ratings:session-questionnaire"), everyone(302), {})],
    "ratings:session-display": [
        Case("post", tok("ratings:session-display"), everyone(302), {"device": "{}"})
    ],
    "ratings:session-instructions": [Case("post", tok("ratings:session-instructions"), everyone(302))],
    "ratings:session-next": [Case("post", tok("ratings:session-next"), everyone(200))],
    "ratings:session-leave": [
        Case("post", tok("ratings:session-leave"), everyone(302), {"reason": "display"})
    ],
    "ratings-api:rating-submit": [
        Case(
            "post",
            lambda w: reverse("ratings-api:rating-submit", args=[w.session.token]),
            everyone(400),
            {},
            json=True,
        ),
        Case("get", lambda w: reverse("ratings-api:rating-submit", args=[w.session.token]), everyone(405)),
    ],
    "ratings-api:device-change": [
        Case(
            "post",
            lambda w: reverse("ratings-api:device-change", args=[w.session.token]),
            everyone(201),
            {"dpr": 1},
            json=True,
        ),
    ],
    "ratings-api:csrf": [
        Case("get", lambda w: reverse("ratings-api:csrf", args=[w.session.token]), everyone(200)),
        Case("post", lambda w: reverse("ratings-api:csrf", args=[w.session.token]), everyone(405)),
    ],
    # --- API
    "api-token": [
        Case(
            "post", lambda w: reverse("api-token"), everyone(400), {"username": "owner", "password": "wrong"}
        ),
    ],
    "schema": [Case("get", lambda w: reverse("schema"), everyone(200))],
    "api-docs": [Case("get", lambda w: reverse("api-docs"), everyone(200))],
    "api-redoc": [Case("get", lambda w: reverse("api-redoc"), everyone(302))],
    "experiments-api:study-list": [
        Case("get", lambda w: reverse("experiments-api:study-list"), account(200, anonymous=403)),
        Case(
            "post",
            lambda w: reverse("experiments-api:study-list"),
            account(400, anonymous=403),
            {},
            json=True,
        ),
    ],
    "experiments-api:study-detail": [
        Case("get", s("experiments-api:study-detail"), api(200)),
        Case("patch", s("experiments-api:study-detail"), api(200), {"title": "Renamed"}, json=True),
        Case("delete", s("experiments-api:study-detail"), {**api(405), "other": 405, "staff": 405}),
    ],
    "experiments-api:study-launch": [Case("post", s("experiments-api:study-launch"), api(409))],
    "experiments-api:study-pause": [Case("post", s("experiments-api:study-pause"), api(200))],
    "experiments-api:study-close": [Case("post", s("experiments-api:study-close"), api(200))],
    "experiments-api:study-duplicate": [
        Case("post", s("experiments-api:study-duplicate"), api(201), {"title": "Copy"}, json=True),
    ],
    "experiments-api:stimulus-list": [Case("get", s("experiments-api:stimulus-list"), api(200))],
    "experiments-api:stimulus-detail": [
        Case("get", s("experiments-api:stimulus-detail", lambda w: w.stimulus.pk), api(200)),
    ],
    "experiments-api:import-create": [Case("post", s("experiments-api:import-create"), api(400), {})],
    "experiments-api:import-detail": [Case("get", s("experiments-api:import-detail", imp), api(200))],
    "experiments-api:study-dashboard": [Case("get", s("experiments-api:study-dashboard"), api(200))],
    "ratings-api:participant-list": [Case("get", s("ratings-api:participant-list"), api(200))],
    "ratings-api:participant-export": [
        Case("get", s("ratings-api:participant-export", lambda w: "csv"), api(200))
    ],
    "ratings-api:participant-decision": [
        Case(
            "post", s("ratings-api:participant-decision", code), api(200), {"decision": "approve"}, json=True
        )
    ],
    "ratings-api:participant-forget": [
        Case(
            "post",
            s("ratings-api:participant-forget", code),
            {**api(200), "collaborator": 403},
            {},
            json=True,
        )
    ],
    "analysis-api:study-runs": [
        Case("get", s("analysis-api:study-runs"), api(200)),
        Case("post", s("analysis-api:study-runs"), api(202), {"method": "mos"}, json=True),
    ],
    "analysis-api:run-benchmarks": [
        Case("get", lambda w: reverse("analysis-api:run-benchmarks", args=[run(w)]), api(200))
    ],
    "analysis-api:benchmark-detail": [
        Case("get", lambda w: reverse("analysis-api:benchmark-detail", args=[bench(w)]), api(200))
    ],
    "analysis-api:benchmark-file": [
        Case(
            "get", lambda w: reverse("analysis-api:benchmark-file", args=[bench(w), "results.csv"]), api(200)
        )
    ],
    "analysis-api:run-detail": [
        Case("get", lambda w: reverse("analysis-api:run-detail", args=[run(w)]), api(200))
    ],
    "analysis-api:run-file": [
        Case("get", lambda w: reverse("analysis-api:run-file", args=[run(w), "mos.csv"]), api(200)),
    ],
}

# The admin's URLs, by kind (Django generates them per registered model). A custom admin view
# has a kind not listed here and fails the completeness test.
# Unnamed admin patterns ("") are Django's redirects from old change URLs and its catch-all 404.
ADMIN_SITE_URLS = {
    "",
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "autocomplete",
    "jsi18n",
    "view_on_site",
    "app_list",
}
ADMIN_MODEL_KINDS = {"changelist", "add", "change", "delete", "history"}


def url_names() -> list[str]:
    """Every named (and unnamed) URL pattern of the project, with its namespace."""

    def walk(patterns: list[Any], namespace: str) -> list[str]:
        names = []
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = ":".join(x for x in (namespace, p.namespace or "") if x)
                names += walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern):
                names.append(f"{namespace}:{p.name or ''}" if namespace else (p.name or ""))
        return names

    return walk(get_resolver().url_patterns, "")


def call(client: Any, case: Case, world: World) -> int:
    path = case.path(world)
    kwargs: dict[str, Any] = {}
    if case.data is not None:
        if case.json:
            kwargs = {"data": __import__("json").dumps(case.data), "content_type": "application/json"}
        else:
            kwargs = {"data": case.data}
    with transaction.atomic():
        status = getattr(client, case.method)(path, **kwargs).status_code
        transaction.set_rollback(True)
    return status


def mismatches(world: World, cases: list[tuple[str, Case]]) -> list[str]:
    found = []
    for role in ROLES:
        client = world.client(role)
        for name, case in cases:
            status = call(client, case, world)
            if status != case.expected[role]:
                found.append(
                    f"{case.method.upper()} {name} ({case.path(world)}) as {role}: {status}, expected {case.expected[role]}"
                )
    return found


def test_every_url_pattern_has_a_matrix_entry() -> None:
    names = url_names()
    missing = []
    for name in names:
        if name.startswith("admin:"):
            kind = name.removeprefix("admin:")
            if kind in ADMIN_SITE_URLS or any(kind.endswith(f"_{k}") for k in ADMIN_MODEL_KINDS):
                continue
            missing.append(name)
        elif name not in MATRIX:
            missing.append(name)

    assert not missing, f"URL patterns without an authorization matrix entry: {missing}"
    assert not set(MATRIX) - set(names), "matrix entries for URL names that no longer exist"


@pytest.mark.parametrize("area", ["researcher pages", "participant pages", "api", "public"])
def test_every_role_gets_the_expected_status_everywhere(area: str) -> None:
    # given one world and the matrix entries of this area
    world = build_world()
    selected = [(name, case) for name, cases in MATRIX.items() for case in cases if _area(name) == area]
    assert selected

    # when every role calls every entry / then each answer is the expected one
    assert mismatches(world, selected) == []


def _area(name: str) -> str:
    if name.startswith(("experiments:", "analysis:", "pilot:", "participants:")):
        return "researcher pages"
    if name.startswith(("experiments-api:", "analysis-api:", "ratings-api:participant-")):
        return "api"
    if name.startswith("ratings"):
        return "participant pages"
    return "public"


def test_the_study_list_page_and_api_show_only_what_the_role_may_see() -> None:
    world = build_world()
    visible = {
        "owner": {"Owner's study", "Owner's draft"},
        "collaborator": {"Owner's study", "Owner's draft"},
        "other": {"Other's study"},
        "staff": {"Staff's study"},
        "superuser": {"Owner's study", "Owner's draft", "Other's study", "Staff's study"},
    }
    for role, titles in visible.items():
        client = world.client(role)
        page = client.get(reverse("experiments:study-list")).content.decode()
        api_titles = {s["title"] for s in client.get(reverse("experiments-api:study-list")).json()["results"]}

        assert api_titles == titles, role
        for title in {"Owner's study", "Owner's draft", "Other's study", "Staff's study"}:
            assert (title.replace("'", "&#x27;") in page) == (title in titles), (role, title)


# --- The admin --------------------------------------------------------------------------------
def admin_cases(world: World) -> list[tuple[str, str, str]]:
    """(name, path, whose) for every registered model's pages; `whose` = "owner" for the pages
    of an object in the owner's study (others' staff must not reach them), else "".
    """
    objects: dict[str, Any] = {
        "experiments.study": world.study,
        "experiments.stimulus": world.stimulus,
        "experiments.perspective": world.study.perspectives.first(),
        "experiments.stimulusimport": world.stimulus_import,
        "ratings.participant": world.participant,
        "ratings.ratingsession": world.session,
        "ratings.trial": world.session.trials.first(),
        "ratings.rating": world.study.sessions.exclude(pk=world.session.pk).first().ratings.first(),
        "ratings.stimulusload": world.stimulus.load,
        "analysis.analysisrun": world.run,
        "auth.user": world.users["owner"],
    }
    cases = [("admin:index", reverse("admin:index"), "")]
    for model in admin.site._registry:
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        cases.append((f"admin:{label}_changelist", reverse(f"admin:{label}_changelist"), ""))
        obj = objects.get(model._meta.label_lower)
        if obj is not None:
            for kind in ("change", "history", "delete"):
                cases.append(
                    (f"admin:{label}_{kind}", reverse(f"admin:{label}_{kind}", args=[obj.pk]), "owner")
                )
    return cases


def test_the_admin_is_for_staff_and_staff_see_only_their_own_studies_data() -> None:
    world = build_world()
    found = []
    for role in ROLES:
        client = world.client(role)
        for name, path, whose in admin_cases(world):
            status = client.get(path).status_code
            if role == "superuser":
                expected = {200}
            elif role != "staff":
                expected = {302}  # to the admin's log-in
            elif name.startswith(("admin:auth_", "admin:authtoken_")):
                expected = {403}  # no permission on accounts
            elif whose == "owner":
                expected = {302, 403, 404}  # "does not exist" redirect: another researcher's data
            else:
                expected = {200}
            if status not in expected:
                found.append(f"{name} as {role}: {status}, expected {expected}")
            if role in ("anonymous", "participant", "owner", "other") and status == 302:
                assert "/admin/login/" in client.get(path)["Location"], name

    assert found == [], "\n".join(found)


def test_staff_changelists_list_no_row_of_another_researchers_study() -> None:
    world = build_world()
    client = world.client("staff")
    secrets = [
        world.study.slug,
        "Owner&#x27;s study",
        world.participant.code,
        "panel-worker-1",
        world.session.token,
    ]

    leaked = []
    for model in admin.site._registry:
        if model._meta.app_label in ("auth", "authtoken"):
            continue
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        page = client.get(reverse(f"admin:{label}_changelist")).content.decode()
        leaked += [f"{label}: {s}" for s in secrets if s in page]

    assert leaked == [], "\n".join(leaked)
