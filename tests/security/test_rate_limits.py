"""Rate limits on the participant endpoints (config.ratelimit): generous for people, a 429 with a
message for floods, configurable (off for load benchmarks), per client behind our proxies.
The log-in lock-out is tested in tests/config/test_auth.py."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from config.ratelimit import client_ip
from ratings.models import Rating, RatingSession
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits_on(settings: Any) -> Iterator[None]:
    settings.RATELIMIT_ENABLED = True
    cache.clear()
    yield
    cache.clear()


def entry(client: Client, slug: str, ip: str = "203.0.113.7") -> Any:
    return client.get(reverse("ratings:study-entry", args=[slug]), REMOTE_ADDR=ip)


def submit(session: RatingSession, index: int, ip: str = "203.0.113.7") -> Any:
    trial = session.trials.get(index=index)
    keys = session.study.perspectives.values_list("key", flat=True)
    body = {
        "index": index,
        "stimulus": trial.stimulus_id,
        "scores": dict.fromkeys(keys, 3),
        "key": str(uuid.uuid4()),
    }
    return Client().post(
        reverse("ratings-api:rating-submit", args=[session.token]),
        data=json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def rating_session(**study_fields: Any) -> RatingSession:
    session = enter(make_study(stimuli_per_session=8, **study_fields))
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    return session


def test_the_defaults_leave_room_for_real_participants(settings: Any) -> None:
    # a person rates at most about one image a second; a lab class shares one address
    assert settings.RATELIMIT_RATING_PER_MINUTE >= 120
    assert settings.RATELIMIT_RATING_IP_PER_MINUTE >= 10 * settings.RATELIMIT_RATING_PER_MINUTE
    assert settings.RATELIMIT_ENTRY_PER_MINUTE >= 30


def test_the_study_link_answers_429_with_a_message_after_the_limit_per_address(settings: Any) -> None:
    # given
    settings.RATELIMIT_ENTRY_PER_MINUTE = 5
    study = make_study()
    client = Client()

    # when
    answers = [entry(client, study.slug).status_code for _ in range(7)]
    refused = entry(client, study.slug)
    elsewhere = entry(client, study.slug, ip="198.51.100.20")

    # then
    assert answers == [200] * 5 + [429] * 2
    assert "Too many requests" in refused.content.decode()
    assert refused["Retry-After"] == "60"
    assert elsewhere.status_code == 200  # another address has its own count


def test_the_consent_form_is_limited_per_address_and_creates_nobody_when_refused(settings: Any) -> None:
    settings.RATELIMIT_ENTRY_PER_MINUTE = 3
    study = make_study()
    client = Client()

    answers = [
        client.post(
            reverse("ratings:study-consent", args=[study.slug]),
            {"decision": "agree", "pid": f"p{i}"},
            REMOTE_ADDR="203.0.113.9",
        ).status_code
        for i in range(5)
    ]

    assert answers == [302, 302, 302, 429, 429]
    assert RatingSession.objects.filter(study=study).count() == 3


def test_rating_submissions_are_limited_per_session_and_a_refused_one_stores_nothing(settings: Any) -> None:
    settings.RATELIMIT_RATING_PER_MINUTE = 3
    session = rating_session()

    answers = [submit(session, i) for i in range(4)]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert answers[-1].json()["detail"]
    assert Rating.objects.filter(session=session).values("trial_index").distinct().count() == 3
    # another participant behind the same address is not affected
    assert submit(rating_session(), 0).status_code == 201


def test_rating_submissions_of_many_sessions_from_one_address_have_a_higher_limit(settings: Any) -> None:
    settings.RATELIMIT_RATING_IP_PER_MINUTE = 4
    sessions = [rating_session() for _ in range(5)]

    answers = [submit(s, 0, ip="192.0.2.50").status_code for s in sessions]

    assert answers == [201] * 4 + [429]


def test_limits_can_be_turned_off_for_load_benchmarks(settings: Any) -> None:
    settings.RATELIMIT_ENABLED = False
    settings.RATELIMIT_ENTRY_PER_MINUTE = 1
    study = make_study()
    client = Client()

    assert {entry(client, study.slug).status_code for _ in range(5)} == {200}


def test_an_unreachable_cache_lets_participants_through(settings: Any) -> None:
    settings.RATELIMIT_ENTRY_PER_MINUTE = 1
    study = make_study()
    working = settings.CACHES
    # nothing listens on port 9 (changing CACHES makes Django open new cache connections)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    try:
        answers = [entry(Client(), study.slug).status_code for _ in range(3)]
    finally:
        settings.CACHES = working

    assert answers == [200, 200, 200]


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.7", "", "203.0.113.7"),
        ("203.0.113.7", "1.2.3.4", "203.0.113.7"),  # not our proxy: the header is not trusted
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the left hop is the client's to forge
        ("10.0.0.5", "198.51.100.1, 10.0.1.9", "198.51.100.1"),  # two of our proxies
        ("10.0.0.5", "", "10.0.0.5"),
    ],
)
def test_the_client_address_is_read_from_our_proxies_only(
    settings: Any, remote: str, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_IPS = ["10.0.0.5", "10.0.1.0/24"]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected
