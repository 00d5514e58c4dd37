"""rating_submit: the hot path. Every answer stored once; retries are harmless; bad input changes nothing."""

import math
import uuid
from datetime import UTC, datetime

import pytest

from experiments.models import Study
from ratings.exceptions import (
    IdempotencyKeyReused,
    InvalidAnswers,
    SessionNotRating,
    TrialAlreadyAnswered,
    TrialOutOfOrder,
)
from ratings.models import Rating, RatingSession, Trial
from ratings.services import rating_submit
from tests.ratings.conftest import answer_all, enter, make_study

pytestmark = pytest.mark.django_db


def rating_ready(study: Study) -> RatingSession:
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    session.refresh_from_db()
    return session


def submit(session: RatingSession, index: int, scores: dict, key: uuid.UUID | None = None, **extra):  # type: ignore[no-untyped-def]
    return rating_submit(
        token=session.token, trial_index=index, scores=scores, idempotency_key=key or uuid.uuid4(), **extra
    )


def test_rating_submit_stores_every_perspective_with_the_trial_details() -> None:
    # given
    study = make_study()
    session = rating_ready(study)
    trial = session.trials.get(index=0)
    client_time = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    key = uuid.uuid4()

    # when
    result = submit(
        session,
        0,
        {"quality": 4, "authenticity": 2, "correspondence": 5},
        key,
        stimulus_id=trial.stimulus_id,
        viewing_ms=3100,
        response_ms=2500,
        client_time=client_time,
    )

    # then
    assert result.created
    assert result.next_index == 1
    assert result.status == RatingSession.Status.RATING
    assert result.next_trial is not None
    assert result.next_trial["index"] == 1
    rows = {
        r.perspective.key: r for r in Rating.objects.filter(session=session).select_related("perspective")
    }
    assert {k: r.score for k, r in rows.items()} == {
        "quality": 4.0,
        "authenticity": 2.0,
        "correspondence": 5.0,
    }
    row = rows["quality"]
    assert (row.stimulus_id, row.trial_id, row.trial_index, row.kind) == (
        trial.stimulus_id,
        trial.pk,
        0,
        "test",
    )
    assert row.prompt_shown == trial.prompt_shown
    assert (row.viewing_ms, row.response_ms, row.client_time, row.idempotency_key) == (
        3100,
        2500,
        client_time,
        key,
    )
    assert row.server_time is not None
    session.refresh_from_db()
    assert session.current_index == 1
    assert Trial.objects.get(pk=trial.pk).answered_at is not None


def test_rating_submit_with_the_same_key_and_answers_returns_the_stored_result_once() -> None:
    study = make_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    first = submit(session, 0, answer_all(study, 4), key)

    again = submit(session, 0, answer_all(study, 4), key)

    assert first.created
    assert not again.created
    assert again.next_index == 1
    assert Rating.objects.filter(session=session).count() == 3
    session.refresh_from_db()
    assert session.current_index == 1


def test_rating_submit_with_the_same_key_and_other_answers_is_a_conflict_and_keeps_the_first() -> None:
    study = make_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    submit(session, 0, answer_all(study, 4), key)

    with pytest.raises(IdempotencyKeyReused):
        submit(session, 0, answer_all(study, 2), key)

    assert sorted(Rating.objects.filter(session=session).values_list("score", flat=True)) == [4.0, 4.0, 4.0]


def test_rating_submit_with_a_key_used_for_another_trial_is_a_conflict_and_stores_nothing() -> None:
    study = make_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    submit(session, 0, answer_all(study, 4), key)

    with pytest.raises(IdempotencyKeyReused):
        submit(session, 1, answer_all(study, 4), key)

    assert Rating.objects.filter(session=session).count() == 3
    session.refresh_from_db()
    assert session.current_index == 1
    assert Trial.objects.get(session=session, index=1).answered_at is None


def test_a_second_answer_with_another_key_for_an_answered_trial_is_refused() -> None:
    study = make_study()
    session = rating_ready(study)
    submit(session, 0, answer_all(study, 4))

    with pytest.raises(TrialAlreadyAnswered):
        submit(session, 0, answer_all(study, 4))

    assert Rating.objects.filter(session=session).count() == 3


def test_answers_must_come_in_trial_order() -> None:
    study = make_study()
    session = rating_ready(study)

    with pytest.raises(TrialOutOfOrder):
        submit(session, 1, answer_all(study))

    assert not Rating.objects.exists()


@pytest.mark.parametrize(
    "scores",
    [
        {"quality": 3, "authenticity": 3},  # a perspective missing
        {"quality": 3, "authenticity": 3, "correspondence": 3, "beauty": 3},  # an extra one
        {"quality": 6, "authenticity": 3, "correspondence": 3},  # above the scale
        {"quality": 0, "authenticity": 3, "correspondence": 3},  # below it
        {"quality": 2.5, "authenticity": 3, "correspondence": 3},  # not a level of an integer scale
        {"quality": True, "authenticity": 3, "correspondence": 3},
        {"quality": "3", "authenticity": 3, "correspondence": 3},
        {"quality": math.nan, "authenticity": 3, "correspondence": 3},
        [3, 3, 3],
    ],
)
def test_rating_submit_refuses_answers_that_do_not_fit_the_scale(scores) -> None:  # type: ignore[no-untyped-def]
    study = make_study()
    session = rating_ready(study)

    with pytest.raises(InvalidAnswers):
        submit(session, 0, scores)

    assert not Rating.objects.exists()
    session.refresh_from_db()
    assert session.current_index == 0


def test_a_slider_scale_takes_finite_numbers_within_its_range() -> None:
    study = make_study(scale_kind=Study.ScaleKind.CONTINUOUS, scale_min=0, scale_max=100)
    session = rating_ready(study)

    submit(session, 0, {"quality": 12.25, "authenticity": 0, "correspondence": 100})
    with pytest.raises(InvalidAnswers):
        submit(session, 1, {"quality": 100.5, "authenticity": 0, "correspondence": 1})
    with pytest.raises(InvalidAnswers):
        submit(session, 1, {"quality": math.inf, "authenticity": 0, "correspondence": 1})

    assert sorted(Rating.objects.values_list("score", flat=True)) == [0.0, 12.25, 100.0]


def test_a_session_that_is_not_rating_takes_no_answers() -> None:
    study = make_study()
    session = enter(study)  # still at the display check

    with pytest.raises(SessionNotRating):
        submit(session, 0, answer_all(study))


def test_the_last_answer_completes_the_session() -> None:
    study = make_study(stimuli_per_session=3)
    session = rating_ready(study)

    results = [submit(session, i, answer_all(study, 1 + i)) for i in range(3)]

    assert [r.status for r in results] == ["rating", "rating", "completed"]
    assert results[-1].next_trial is None
    session.refresh_from_db()
    assert session.status == RatingSession.Status.COMPLETED
    assert session.completed_at is not None
    assert Rating.objects.filter(session=session).count() == 9


def test_training_answers_are_stored_as_training_and_the_session_moves_on_to_rating() -> None:
    study = make_study(training=2, stimuli_per_session=2)
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.TRAINING)

    first = submit(session, 0, answer_all(study))
    second = submit(session, 1, answer_all(study))

    assert (first.status, second.status) == ("training", "rating")
    assert set(Rating.objects.filter(trial_index__lt=2).values_list("kind", flat=True)) == {"training"}


@pytest.mark.postgresql  # the hot path's hand-written SQL; SQLite takes the ORM twin
def test_a_rating_submission_takes_two_statements(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    study = make_study()
    session = rating_ready(study)
    scores = answer_all(study)
    submit(session, 0, scores)

    # the test's own transaction puts the guarded write in a SAVEPOINT pair
    with django_assert_max_num_queries(4) as captured:
        submit(session, 1, scores)

    # the session with its study, perspectives, this and the next trial (no lock); then the
    # session moved on (if still at trial 1), the ratings inserted and the trial answered in one
    # statement (bench/load measures what each round trip costs)
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2, statements
    assert "FOR UPDATE" not in statements[0]
    assert "current_index = 1 AND status = 'rating'" in statements[1]
    assert Rating.objects.filter(session=session, trial_index=1).count() == len(scores)
    session.refresh_from_db()
    assert session.current_index == 2
