"""CSRF: every state-changing request of the authorization matrix, sent by a browser-like client
(CSRF enforced) without the token, is refused with a 403 and changes nothing; with the token it
gets the answer the matrix expects. The matrix enumerates every URL, so a new form is covered."""

import json
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.test import Client

from tests.security.test_authorization import MATRIX, Case
from tests.security.world import World, build_world

pytestmark = pytest.mark.django_db

# Not protected by the CSRF token, on purpose: the token endpoint takes a password and sets no
# cookie, so a forged cross-site request can gain nothing from a victim's session.
EXEMPT = {"api-token"}
SECRET = "k" * 32  # a CSRF cookie value; the same value in the header is a valid token


def actor(name: str) -> str:
    """The role for whom the request is allowed: the one whose session a forgery would abuse."""
    if name.startswith(("ratings:", "ratings-api:")):
        return "participant"
    if name in ("login", "logout"):
        return "owner" if name == "logout" else "anonymous"
    return "owner"


def snapshot() -> str:
    rows = {}
    for label in ("experiments", "ratings", "analysis", "auth"):
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return json.dumps(rows, default=str, sort_keys=True)


def send(client: Client, case: Case, world: World, *, token: bool) -> int:
    extra = {"HTTP_X_CSRFTOKEN": SECRET} if token else {}
    kwargs: dict[str, Any] = {}
    if case.data is not None:
        kwargs = (
            {"data": json.dumps(case.data), "content_type": "application/json"}
            if case.json
            else {"data": case.data}
        )
    with transaction.atomic():
        status = getattr(client, case.method)(case.path(world), **kwargs, **extra).status_code
        transaction.set_rollback(True)
    return status


def browser(world: World, role: str) -> Client:
    client = world.client(role, enforce_csrf_checks=True)
    client.cookies["csrftoken"] = SECRET
    return client


STATE_CHANGING = [
    (name, case)
    for name, cases in MATRIX.items()
    for case in cases
    if case.method in ("post", "patch", "put", "delete") and name not in EXEMPT
]


def test_every_state_changing_request_without_the_token_is_refused_and_changes_nothing() -> None:
    world = build_world()
    failures = []
    for name, case in STATE_CHANGING:
        role = actor(name)
        client = browser(world, role)
        before = snapshot()
        status = send(client, case, world, token=False)
        if status != 403 and case.expected[role] != 405:
            failures.append(f"{case.method.upper()} {name} as {role} without a CSRF token: {status}")
        assert snapshot() == before, name

    assert failures == [], "\n".join(failures)


def test_every_state_changing_request_with_the_token_gets_its_normal_answer() -> None:
    world = build_world()
    failures = []
    for name, case in STATE_CHANGING:
        role = actor(name)
        status = send(browser(world, role), case, world, token=True)
        if status != case.expected[role]:
            failures.append(
                f"{case.method.upper()} {name} as {role} with the token: {status}, expected {case.expected[role]}"
            )

    assert failures == [], "\n".join(failures)


def test_a_token_from_another_browser_is_refused() -> None:
    world = build_world()
    client = browser(world, "owner")
    case = MATRIX["experiments:study-pause"][0]

    status = client.post(case.path(world), HTTP_X_CSRFTOKEN="z" * 32).status_code

    assert status == 403
