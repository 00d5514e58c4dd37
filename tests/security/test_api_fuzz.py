"""The API fuzzed from its OpenAPI schema (schemathesis) over real HTTP: no 5xx, and every
refusal is a 4xx with a message. Bounded here; `bench/chaos/fuzz_api.py` runs it longer.

The participant rating endpoint is not in the schema (a plain view on the hot path): it is
fuzzed with Hypothesis-generated JSON in the second test.
"""

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from ratings.models import Rating, RatingSession
from tests.ratings.conftest import enter, make_study
from tests.security.fuzz import fuzz_api, has_message
from tests.security.world import build_world

EXAMPLES = 6  # per operation, mode and path-parameter choice: about 350 requests in all


@pytest.mark.django_db(transaction=True)
def test_the_api_never_answers_5xx_and_refuses_with_a_message(live_server: Any) -> None:
    # given a world and the owner's API token
    world = build_world()
    token = Token.objects.create(user=world.users["owner"]).key
    ids = {
        "slug": world.study.slug,
        "run": world.run.pk,
        "import": world.stimulus_import.pk,
        "stimulus": world.stimulus.pk,
    }

    # when every operation is fuzzed
    report = fuzz_api(live_server.url, token=token, ids=ids, examples=EXAMPLES)

    # then
    print("API fuzz:", report.summary(), dict(sorted(report.statuses.items())))
    assert report.calls > 250, report.summary()
    assert report.findings == [], "\n".join(report.findings[:20])
    assert sum(n for s, n in report.statuses.items() if 200 <= s < 300) > 20, report.summary()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD = st.one_of(JSON, st.integers(min_value=-2, max_value=40))


@pytest.mark.django_db
def test_random_rating_submissions_are_refused_with_a_message_and_store_nothing() -> None:
    session = enter(make_study())
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    url = f"/api/participant/{session.token}/ratings/"
    client = Client()
    seen: list[int] = []

    @given(
        body=st.fixed_dictionaries(
            {},
            optional={
                "index": FIELD,
                "stimulus": FIELD,
                "scores": st.one_of(
                    JSON,
                    st.dictionaries(
                        st.sampled_from(["quality", "authenticity", "correspondence", "x"]), JSON, max_size=4
                    ),
                ),
                "key": st.one_of(JSON, st.uuids().map(str)),
                "viewing_ms": FIELD,
                "response_ms": FIELD,
                "client_time": st.one_of(JSON, st.datetimes().map(lambda d: d.isoformat())),
            },
        )
    )
    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(body: dict[str, Any]) -> None:
        response = client.post(url, data=json.dumps(body), content_type="application/json")
        seen.append(response.status_code)
        assert response.status_code < 500
        if response.status_code >= 400:
            assert has_message(response), response.content  # type: ignore[arg-type]

    run()

    assert not Rating.objects.exists()  # no random body is a complete, valid answer
    assert set(seen) <= {400, 409}


@pytest.mark.django_db
def test_huge_page_limits_and_offsets_are_bounded_not_a_database_error() -> None:
    # found by bench/chaos/fuzz_api.py: limit=7765825381614190661206016 overflowed bigint (500)
    world = build_world()
    client = Client()
    client.force_login(world.users["owner"])

    for path in (
        "/api/studies/",
        f"/api/studies/{world.study.slug}/stimuli/",
        f"/api/studies/{world.study.slug}/analysis-runs/",
    ):
        answers = [client.get(path, {"limit": 10**25, "offset": off}) for off in (-5, 0, 10**30)]

        assert [a.status_code for a in answers] == [200, 200, 200], path
        assert answers[1].json()["count"] == len(answers[1].json()["results"]), path
        assert answers[2].json()["results"] == [], path
