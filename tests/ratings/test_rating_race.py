"""The optimistic rating path against real concurrency: a retry, a second device and a stale
write never store an answer twice, and the locked path answers every loser exactly as before."""

import uuid
from typing import Any

import pytest

from ratings.exceptions import TrialAlreadyAnswered
from ratings.models import Rating, RatingSession, Trial
from ratings.services import _answer, _read_for_rating, _write, rating_submit
from tests.ratings.conftest import answer_all, at_once, enter, make_study

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _rating(study: Any) -> RatingSession:
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    session.refresh_from_db()
    return session


@pytest.mark.parametrize("attempt", range(3))
def test_the_same_answer_sent_eight_times_at_once_is_stored_once_and_every_send_is_acknowledged(
    attempt: int,
) -> None:
    # given a session at trial 0 and one answer with its key, sent by eight connections at once
    study = make_study(stimuli_per_session=3)
    session = _rating(study)
    scores, key = answer_all(study), uuid.uuid4()

    results = at_once(
        8, lambda i: rating_submit(token=session.token, trial_index=0, scores=scores, idempotency_key=key)
    )

    # then every send is acknowledged, exactly one as created, and one set of scores is stored
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert Rating.objects.filter(session=session).count() == len(scores)
    session.refresh_from_db()
    assert session.current_index == 1
    assert Trial.objects.get(session=session, index=0).answered_at is not None


def test_two_devices_answering_the_same_trial_at_once_store_one_answer_and_the_other_is_told() -> None:
    # given eight different answers (different keys) to the same trial at once
    study = make_study(stimuli_per_session=3)
    session = _rating(study)
    scores = answer_all(study)

    results = at_once(
        8,
        lambda i: rating_submit(
            token=session.token, trial_index=0, scores=scores, idempotency_key=uuid.uuid4()
        ),
    )

    # then one is stored; each other one is refused as already answered, nothing else
    stored = [r for r in results if not isinstance(r, Exception)]
    assert len(stored) == 1
    assert stored[0].created
    assert all(isinstance(r, TrialAlreadyAnswered) for r in results if isinstance(r, Exception))
    assert Rating.objects.filter(session=session).count() == len(scores)
    assert len(set(Rating.objects.filter(session=session).values_list("idempotency_key", flat=True))) == 1


def test_a_guarded_write_whose_session_moved_after_its_read_stores_nothing() -> None:
    # given the optimistic read of trial 0, then the same trial answered by another request
    study = make_study(stimuli_per_session=3)
    session = _rating(study)
    scores = answer_all(study)
    read = _read_for_rating(session.token, 0)
    assert read is not None
    seen, trials = read
    keys = seen.perspective_keys  # type: ignore[attr-defined]
    answer = _answer(
        session=seen,
        trial=trials[0],
        next_trial=trials.get(1),
        keys=keys,
        scores={k: float(v) for k, v in scores.items()},
        notes=[],
        key=uuid.uuid4(),
        viewing_ms=None,
        response_ms=None,
        client_time=None,
    )
    rating_submit(token=session.token, trial_index=0, scores=scores, idempotency_key=uuid.uuid4())
    before = list(Rating.objects.filter(session=session).values_list("id", "idempotency_key"))

    # when the stale write runs with the guard of what it read
    moved = _write(**answer.write, guard=(seen.current_index, seen.status))

    # then it reports that the session had moved and wrote nothing at all
    assert moved is False
    assert list(Rating.objects.filter(session=session).values_list("id", "idempotency_key")) == before
    session.refresh_from_db()
    assert session.current_index == 1


def test_a_guarded_write_of_a_session_expired_after_its_read_stores_nothing() -> None:
    # given the optimistic read, then the session expires at the same index (the expiry job)
    study = make_study(stimuli_per_session=3)
    session = _rating(study)
    read = _read_for_rating(session.token, 0)
    assert read is not None
    seen, trials = read
    answer = _answer(
        session=seen,
        trial=trials[0],
        next_trial=trials.get(1),
        keys=seen.perspective_keys,  # type: ignore[attr-defined]
        scores={k: float(v) for k, v in answer_all(study).items()},
        notes=[],
        key=uuid.uuid4(),
        viewing_ms=None,
        response_ms=None,
        client_time=None,
    )
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.EXPIRED)

    moved = _write(**answer.write, guard=(seen.current_index, seen.status))

    assert moved is False
    assert not Rating.objects.filter(session=session).exists()
    assert Trial.objects.get(session=session, index=0).answered_at is None
    session.refresh_from_db()
    assert (session.status, session.current_index) == (RatingSession.Status.EXPIRED, 0)
