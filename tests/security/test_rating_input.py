"""Hostile rating submissions over HTTP: each refused with a 4xx and a message, nothing stored.

tests/ratings/test_rating_submit.py covers the scale rules at the service level and
tests/ratings/test_api.py the common HTTP cases; this file adds what only raw HTTP can send
(NaN / Infinity literals, huge numbers, deep nesting, oversized bodies) and the session binding:
a token can only ever touch its own session's trials.
"""

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from experiments.models import Stimulus, Study
from ratings.models import Rating, RatingSession
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db


def rating_ready(study: Study) -> RatingSession:
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    session.refresh_from_db()
    return session


@pytest.fixture
def study() -> Study:
    return make_study(tests=12, prompts=6)


@pytest.fixture
def session(study: Study) -> RatingSession:
    return rating_ready(study)


def raw_post(token: str, body: str | bytes) -> Any:
    client = Client()
    return client.post(
        reverse("ratings-api:rating-submit", kwargs={"token": token}),
        data=body,
        content_type="application/json",
    )


def good(session: RatingSession, index: int = 0, **change: Any) -> dict[str, Any]:
    trial = session.trials.get(index=index)
    keys = session.study.perspectives.order_by("order").values_list("key", flat=True)
    return {
        "index": index,
        "stimulus": trial.stimulus_id,
        "scores": dict.fromkeys(keys, 3),
        "key": str(uuid.uuid4()),
        **change,
    }


def assert_refused(response: Any, session: RatingSession, status: int = 400) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"]
    assert body["code"]
    assert not Rating.objects.exists()
    session.refresh_from_db()
    assert session.current_index == 0


@pytest.mark.parametrize(
    "literal",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
        '"3"',
        "null",
        "[3]",
        '{"v": 3}',
        "true",
        "3.5",
        "0",
        "6",
    ],
)
def test_a_score_that_is_not_a_level_of_the_scale_is_refused(session: RatingSession, literal: str) -> None:
    body = json.dumps(good(session))
    body = body.replace('"quality": 3', f'"quality": {literal}')

    assert_refused(raw_post(session.token, body), session)


@pytest.mark.parametrize(
    "scores",
    [
        {"quality": 3, "authenticity": 3},
        {"quality": 3, "authenticity": 3, "correspondence": 3, "beauty": 3},
        {},
        "3,3,3",
        None,
    ],
)
def test_missing_or_extra_perspectives_are_refused(session: RatingSession, scores: Any) -> None:
    assert_refused(raw_post(session.token, json.dumps(good(session, scores=scores))), session)


@pytest.mark.parametrize(
    "index", ["NaN", "Infinity", "1e400", "-1", "0.5", '"0"', "null", "99999999999999999999999"]
)
def test_a_trial_index_that_is_not_a_trial_is_refused(session: RatingSession, index: str) -> None:
    body = json.dumps(good(session)).replace('"index": 0', f'"index": {index}')

    assert_refused(raw_post(session.token, body), session)


@pytest.mark.parametrize("stimulus", ["NaN", "1e400", '"x"', "-5", "2.5"])
def test_a_stimulus_id_that_is_not_a_number_is_refused(session: RatingSession, stimulus: str) -> None:
    trial = session.trials.get(index=0)
    body = json.dumps(good(session)).replace(f'"stimulus": {trial.stimulus_id}', f'"stimulus": {stimulus}')

    assert_refused(raw_post(session.token, body), session)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000 + "]" * 50_000,  # nesting deeper than any parser's recursion
        '{"index": 0, "scores": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
        "\xff\xfe not utf-8",
        "",
        "3",
        '"a string"',
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(session: RatingSession, body: str) -> None:
    assert_refused(raw_post(session.token, body.encode("latin-1")), session)


def test_an_oversized_body_is_refused_without_an_error(session: RatingSession) -> None:
    payload = good(session, padding="x" * (6 * 1024 * 1024))

    response = raw_post(session.token, json.dumps(payload))

    assert response.status_code in (400, 413)
    assert not Rating.objects.exists()


def test_a_stimulus_not_assigned_to_the_session_is_refused(study: Study, session: RatingSession) -> None:
    assigned = set(session.trials.values_list("stimulus_id", flat=True))
    foreign = Stimulus.objects.filter(study=study).exclude(pk__in=assigned).first()
    other_study_stimulus = make_study().stimuli.first()
    assert foreign is not None
    assert other_study_stimulus is not None

    for stimulus_id in (foreign.pk, other_study_stimulus.pk):
        assert_refused(raw_post(session.token, json.dumps(good(session, stimulus=stimulus_id))), session)


def test_one_sessions_token_never_touches_another_sessions_trials(
    study: Study, session: RatingSession
) -> None:
    # given two sessions whose first trials show different stimuli
    other = rating_ready(study)
    while other.trials.get(index=0).stimulus_id == session.trials.get(index=0).stimulus_id:
        other = rating_ready(study)
    victim_payload = good(session)

    # when the other session's token is used with the victim's trial
    response = raw_post(other.token, json.dumps(victim_payload))

    # then it is refused and nothing is stored for either session
    assert_refused(response, session)
    other.refresh_from_db()
    assert other.current_index == 0


def test_the_session_pages_of_a_token_refuse_another_studys_slug_and_forged_tokens(
    study: Study, session: RatingSession
) -> None:
    other_study = make_study()
    client = Client()
    forged = [
        session.token[:-1] + ("A" if session.token[-1] != "A" else "B"),
        session.token.upper(),
        session.token + "x",
    ]

    answers = [
        client.get(
            reverse("ratings:session", kwargs={"slug": other_study.slug, "token": session.token})
        ).status_code
    ]
    answers += [client.get(f"/s/{study.slug}/t/{t}/").status_code for t in forged]
    answers += [
        client.post(f"/api/participant/{t}/device/", data="{}", content_type="application/json").status_code
        for t in forged
    ]

    assert set(answers) == {404}


@pytest.mark.parametrize(
    "path", ["/s/{slug}/t/%00/", "/api/participant/a%00b/ratings/", "/s/{slug}/?pid=%00", "/img/{nul}.png"]
)
def test_a_nul_character_in_the_address_is_a_400_not_a_database_error(study: Study, path: str) -> None:
    response = Client().get(path.format(slug=study.slug, nul="a" * 62 + "%00"))

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_nul_character_in_a_participant_form_is_a_400(session: RatingSession) -> None:
    url = reverse(
        "ratings:session-questionnaire", kwargs={"slug": session.study.slug, "token": session.token}
    )

    urlencoded = Client().post(url, "age=30%00", content_type="application/x-www-form-urlencoded")
    multipart = Client().post(url, {"age": "30\x00"})

    assert (urlencoded.status_code, multipart.status_code) == (400, 400)


def test_a_replayed_key_with_other_content_is_refused_and_the_first_answer_kept(
    session: RatingSession,
) -> None:
    first = good(session)
    assert raw_post(session.token, json.dumps(first)).status_code == 201
    stored = sorted(Rating.objects.values_list("perspective__key", "score"))

    replays = [
        {**first, "scores": {k: 5 for k in first["scores"]}},  # other answers
        good(session, index=1, key=first["key"]),  # the key again for the next trial
    ]
    answers = [raw_post(session.token, json.dumps(body)) for body in replays]

    assert [a.status_code for a in answers] == [409, 409]
    assert all(a.json()["code"] == "key_reused" for a in answers)
    assert sorted(Rating.objects.values_list("perspective__key", "score")) == stored
    session.refresh_from_db()
    assert session.current_index == 1
