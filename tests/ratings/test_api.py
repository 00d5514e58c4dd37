"""POST /api/participant/<token>/ratings/: works, is idempotent, checks CSRF and input, 4xx on unknown."""

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from ratings.models import Rating, RatingSession
from tests.ratings.conftest import answer_all, enter, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def rating_session() -> RatingSession:
    study = make_study()
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    return session


def csrf_client(session: RatingSession) -> tuple[Client, str]:
    """A browser-like client: CSRF enforced, token taken from the session's page."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("ratings:session", kwargs={"slug": session.study.slug, "token": session.token}))
    data = json.loads(
        page.content.decode().split('id="session-data" type="application/json">')[1].split("</script>")[0]
    )
    return client, data["csrf"]


def post(client: Client, token: str, body: object, csrf: str = ""):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("ratings-api:rating-submit", kwargs={"token": token}),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )


def body(session: RatingSession, index: int = 0, key: str | None = None, value: int = 3) -> dict:
    trial = session.trials.get(index=index)
    return {
        "index": index,
        "stimulus": trial.stimulus_id,
        "scores": answer_all(session.study, value),
        "key": key or str(uuid.uuid4()),
        "viewing_ms": 2100,
        "response_ms": 1800,
        "client_time": "2026-05-01T10:00:00.000Z",
    }


def test_a_rating_is_stored_and_the_next_trial_returned(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)

    response = post(client, rating_session.token, body(rating_session), csrf)

    assert response.status_code == 201
    data = response.json()
    assert data["stored"]
    assert data["created"]
    assert data["next_index"] == 1
    assert data["next"]["index"] == 1
    assert Rating.objects.filter(session=rating_session).count() == 3


def test_a_retry_with_the_same_key_is_answered_200_and_stored_once(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)
    payload = body(rating_session)

    first = post(client, rating_session.token, payload, csrf)
    again = post(client, rating_session.token, payload, csrf)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert Rating.objects.filter(session=rating_session).count() == 3


def test_the_same_key_with_other_answers_is_409_and_changes_nothing(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)
    key = str(uuid.uuid4())
    post(client, rating_session.token, body(rating_session, key=key, value=4), csrf)

    response = post(client, rating_session.token, body(rating_session, key=key, value=1), csrf)

    assert response.status_code == 409
    assert response.json()["code"] == "key_reused"
    assert set(Rating.objects.values_list("score", flat=True)) == {4.0}


def test_a_post_without_the_csrf_token_is_refused(rating_session: RatingSession) -> None:
    client, _ = csrf_client(rating_session)

    response = post(client, rating_session.token, body(rating_session), csrf="")

    assert response.status_code == 403
    assert not Rating.objects.exists()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"scores": {"quality": 9}}, "invalid_answers"),
        ({"key": "not-a-uuid"}, "invalid"),
        ({"index": -1}, "invalid"),
        ({"index": 99}, "no_such_trial"),
    ],
)
def test_bad_input_is_a_400_with_a_reason(rating_session: RatingSession, change: dict, code: str) -> None:
    client, csrf = csrf_client(rating_session)

    response = post(client, rating_session.token, {**body(rating_session), **change}, csrf)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Rating.objects.exists()


def test_a_body_that_is_not_json_is_a_400(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)

    response = client.post(
        reverse("ratings-api:rating-submit", kwargs={"token": rating_session.token}),
        data="{oops",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"


def test_an_unknown_token_stores_nothing(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)

    response = post(client, "no-such-token", body(rating_session), csrf)

    assert response.status_code == 400
    assert response.json()["code"] == "no_such_trial"
    assert not Rating.objects.exists()


def test_another_sessions_token_cannot_answer_this_sessions_trial(rating_session: RatingSession) -> None:
    other = enter(rating_session.study)
    RatingSession.objects.filter(pk=other.pk).update(status=RatingSession.Status.RATING)
    client, csrf = csrf_client(rating_session)
    payload = body(rating_session)  # names a stimulus of rating_session's trial 0

    response = post(client, other.token, payload, csrf)

    if other.trials.get(index=0).stimulus_id != payload["stimulus"]:
        assert response.status_code == 400
        assert not Rating.objects.filter(session=rating_session).exists()
    assert not Rating.objects.filter(session=rating_session).exists()


def test_device_changes_are_recorded_with_the_session(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)

    response = client.post(
        reverse("ratings-api:device-change", kwargs={"token": rating_session.token}),
        data=json.dumps({"dpr": 1.25, "viewport": {"width": 1000, "height": 700}, "secret": "x"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert response.status_code == 201
    rating_session.refresh_from_db()
    change = rating_session.device["changes"][-1]
    assert change["dpr"] == 1.25
    assert "secret" not in change


def test_odd_timings_are_stored_leniently_and_never_cost_the_answer(rating_session: RatingSession) -> None:
    client, csrf = csrf_client(rating_session)

    response = post(
        client, rating_session.token, {**body(rating_session), "response_ms": -40, "viewing_ms": "x"}, csrf
    )

    assert response.status_code == 201
    row = Rating.objects.filter(session=rating_session).first()
    assert row is not None
    assert (row.response_ms, row.viewing_ms) == (0, None)
