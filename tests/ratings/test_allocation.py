"""Allocation: balanced subsets, full mode, order without same-prompt neighbours, expiry and top-up."""

import random
import statistics
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from experiments.models import Study
from ratings import allocation
from ratings.exceptions import StudyFull
from ratings.models import Participant, RatingSession, StimulusLoad, Trial
from ratings.services import (
    participants_exclude,
    rating_submit,
    session_next_part,
    session_resume,
    sessions_expire,
    stimulus_loads_recount_enqueue,
)
from ratings.tasks import recount_stimulus_loads_task
from tests.ratings.conftest import answer_all, at_once, enter, make_study


def test_loads(study: Study) -> dict[int, int]:
    return dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))


test_loads.__test__ = False  # type: ignore[attr-defined]


def assigned_counts(study: Study) -> Counter[int]:
    return Counter(
        Trial.objects.filter(session__study=study, kind=Trial.Kind.TEST).values_list("stimulus_id", flat=True)
    )


@pytest.mark.django_db
def test_balanced_sessions_take_the_least_assigned_stimuli_so_counts_stay_within_one() -> None:
    study = make_study(tests=10, stimuli_per_session=4)

    for n in range(1, 8):
        enter(study)
        counts = assigned_counts(study)
        values = [counts.get(s.pk, 0) for s in study.stimuli.all()]
        assert max(values) - min(values) <= 1, (n, values)

    assert test_loads(study) == {pk: counts[pk] for pk in counts}


@pytest.mark.django_db
def test_balanced_allocation_stops_at_the_target_and_then_the_study_is_full() -> None:
    study = make_study(tests=6, stimuli_per_session=4, target_ratings=2)

    sessions = [enter(study) for _ in range(3)]  # 12 places = 6 stimuli x 2

    assert [s.trial_count for s in sessions] == [4, 4, 4]
    assert set(assigned_counts(study).values()) == {2}
    with pytest.raises(StudyFull):
        enter(study)
    assert Participant.objects.filter(study=study).count() == 3  # the refused one left nothing behind


@pytest.mark.django_db
def test_sessions_have_a_fresh_order_without_two_neighbours_of_the_same_prompt() -> None:
    study = make_study(tests=12, prompts=4, stimuli_per_session=8, traps_per_session=2, target_ratings=50)

    orders = []
    for _ in range(6):
        session = enter(study)
        trials = list(session.trials.select_related("stimulus").order_by("index"))
        for a, b in zip(trials, trials[1:], strict=False):
            assert not ({a.stimulus.prompt, a.prompt_shown} & {b.stimulus.prompt, b.prompt_shown}), (a, b)
        orders.append(tuple(t.stimulus_id for t in trials))
    assert len(set(orders)) == 6


def test_arrange_falls_back_to_the_fewest_clashes_when_one_prompt_dominates() -> None:
    items = [allocation.Item(i, "same", "same", "test") for i in range(4)] + [
        allocation.Item(9, "other", "other", "test")
    ]

    order = allocation.arrange(items, random.Random(1))

    assert sorted(item.stimulus_id for item in order) == [0, 1, 2, 3, 9]
    clashes = sum(a.prompt == b.prompt for a, b in zip(order, order[1:], strict=False))
    assert clashes == 2  # "same" x4 around one "other" cannot do better


def test_arrange_finds_a_clash_free_order_when_one_exists() -> None:
    rng = random.Random(7)
    for _ in range(50):
        items = [allocation.Item(i, f"p{i % 3}", f"p{i % 3}", "test") for i in range(9)]
        order = allocation.arrange(items, rng)
        assert all(a.prompt != b.prompt for a, b in zip(order, order[1:], strict=False))


@pytest.mark.django_db
def test_full_mode_gives_every_test_stimulus_to_each_participant_across_parts_never_twice() -> None:
    study = make_study(
        tests=10, stimuli_per_session=4, allocation_mode=Study.AllocationMode.FULL, target_ratings=1
    )
    session = enter(study, pid="full-1")
    seen: list[int] = []

    for _part in range(3):
        RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
        seen += list(session.trials.values_list("stimulus_id", flat=True))
        for index in range(session.trial_count):
            rating_submit(
                token=session.token, trial_index=index, scores=answer_all(study), idempotency_key=uuid.uuid4()
            )
        session.refresh_from_db()
        assert session.status == RatingSession.Status.COMPLETED
        if len(seen) < 10:
            session = session_next_part(session=session)

    assert sorted(seen) == sorted(study.stimuli.values_list("pk", flat=True))
    assert [
        s.trial_count
        for s in RatingSession.objects.filter(participant__external_id="full-1").order_by("number")
    ] == [4, 4, 2]
    other = enter(study, pid="full-2")  # full mode ignores the target: everyone rates everything
    assert other.trial_count == 4


def abandoned_after_one_answer(study: Study) -> RatingSession:
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    rating_submit(token=session.token, trial_index=0, scores=answer_all(study), idempotency_key=uuid.uuid4())
    RatingSession.objects.filter(pk=session.pk).update(last_seen_at=timezone.now() - timedelta(minutes=31))
    return session


@pytest.mark.django_db
def test_the_next_start_expires_an_abandoned_session_and_takes_its_unanswered_stimuli() -> None:
    study = make_study(tests=4, stimuli_per_session=4, target_ratings=1, session_expiry_minutes=30)
    old = abandoned_after_one_answer(study)
    cache.clear()  # expiry runs at most every 30 s per process

    newcomer = enter(study)

    old.refresh_from_db()
    assert (old.status, old.expired_from) == ("expired", "rating")
    unanswered = set(old.trials.filter(answered_at__isnull=True).values_list("stimulus_id", flat=True))
    assert set(newcomer.trials.values_list("stimulus_id", flat=True)) == unanswered
    assert sorted(test_loads(study).values()) == [1, 1, 1, 1]


@pytest.mark.django_db
def test_a_participant_returning_after_expiry_continues_where_they_were() -> None:
    study = make_study(tests=4, stimuli_per_session=4, target_ratings=1, session_expiry_minutes=30)
    session = abandoned_after_one_answer(study)
    assert sessions_expire(study=study) == 1
    assert sorted(test_loads(study).values()) == [0, 0, 0, 1]  # the answered one still counts
    assert sessions_expire(study=study) == 0

    session_resume(session=session)

    session.refresh_from_db()
    assert session.status == "rating"
    assert session.current_index == 1
    assert sorted(test_loads(study).values()) == [1, 1, 1, 1]


@pytest.mark.django_db
def test_an_exclusion_publishes_the_recount_that_makes_that_participants_stimuli_needed_again(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a full study
    study = make_study(tests=4, stimuli_per_session=4, target_ratings=1)
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    for index in range(4):
        rating_submit(
            token=session.token, trial_index=index, scores=answer_all(study), idempotency_key=uuid.uuid4()
        )
    with pytest.raises(StudyFull):
        enter(study)

    # when an analysis of real data excludes the participant
    with django_capture_on_commit_callbacks() as callbacks:
        changed = participants_exclude(study=study, reasons={session.participant_id: "BT.500 screening"})

    # then the recount of this study is published after commit; the task run reopens the study
    assert changed == 1
    [publish] = callbacks
    assert publish.func is stimulus_loads_recount_enqueue
    assert publish.keywords == {"study_id": study.pk}
    with pytest.raises(StudyFull):
        enter(study)  # not before the recount
    assert recount_stimulus_loads_task(study.pk) == 1
    top_up = enter(study)
    assert top_up.trial_count == 4


@pytest.mark.django_db
def test_declining_consent_records_a_declined_session_without_trials() -> None:
    study = make_study()

    session = enter(study, pid="no-thanks", consent=False)

    assert session.status == RatingSession.Status.DECLINED
    assert session.trial_count == 0
    assert not session.trials.exists()
    assert sum(test_loads(study).values()) == 0


@pytest.mark.django_db
def test_a_returning_panel_id_gets_its_own_session_back_never_a_second_one() -> None:
    study = make_study()
    first = enter(study, pid="PID-1")

    again = enter(study, pid="PID-1")

    assert again.pk == first.pk
    assert RatingSession.objects.filter(participant__external_id="PID-1").count() == 1


# --- Concurrency against the real PostgreSQL -----------------------------------------------
def _start_many(study: Study, count: int) -> tuple[list[RatingSession | Exception], list[float]]:
    durations = [0.0] * count

    def start(i: int) -> RatingSession:
        started = time.perf_counter()
        session = enter(study, pid=f"concurrent-{i}")
        durations[i] = time.perf_counter() - started
        return session

    return at_once(count, start), durations


@pytest.mark.postgresql  # concurrent writers: SQLite locks the whole database
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_starts_get_balanced_disjoint_batches_without_over_allocation() -> None:
    # given 40 stimuli needing 2 ratings each: exactly 16 sessions of 5
    study = make_study(tests=40, prompts=10, stimuli_per_session=5, target_ratings=2)

    # when 16 participants start at the same instant
    results, durations = _start_many(study, 16)

    # then every one got 5 distinct stimuli and every stimulus got exactly its 2
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    for session in results:
        ids = list(Trial.objects.filter(session=session).values_list("stimulus_id", flat=True))
        assert len(ids) == 5
        assert len(set(ids)) == 5
    counts = assigned_counts(study)
    assert len(counts) == 40
    assert set(counts.values()) == {2}
    assert test_loads(study) == dict(counts)
    with pytest.raises(StudyFull):
        enter(study)
    durations.sort()
    print(
        f"16 concurrent starts: median {statistics.median(durations) * 1000:.1f} ms, max {durations[-1] * 1000:.1f} ms"
    )


@pytest.mark.postgresql  # concurrent writers: SQLite locks the whole database
@pytest.mark.django_db(transaction=True)
def test_one_panel_id_starting_eight_times_at_once_gets_one_session_and_one_claim() -> None:
    # given a study, and one participant id whose consent arrives eight times at once (clicks, tabs)
    study = make_study(tests=20, prompts=5, stimuli_per_session=4, target_ratings=3)
    results = at_once(8, lambda i: enter(study, pid="SAME-PID"))

    # then all eight get the same session, and the losers' claims were given back
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.pk for r in results}) == 1
    assert Participant.objects.filter(study=study, external_id="SAME-PID").count() == 1
    assert RatingSession.objects.filter(study=study).count() == 1
    session = results[0]
    assert Trial.objects.filter(session=session).count() == 4
    loads = test_loads(study)
    assert sum(loads.values()) == 4
    assert {pk: n for pk, n in loads.items() if n} == dict(assigned_counts(study))


@pytest.mark.postgresql  # concurrent writers: SQLite locks the whole database
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_below_capacity_keep_loads_within_one() -> None:
    study = make_study(tests=30, prompts=6, stimuli_per_session=7, target_ratings=20)

    results, _ = _start_many(study, 12)  # 84 assignments over 30 stimuli: 2 or 3 each

    assert not [r for r in results if isinstance(r, Exception)]
    counts = assigned_counts(study)
    values = [counts.get(pk, 0) for pk in study.stimuli.values_list("pk", flat=True)]
    assert sum(values) == 84
    assert max(values) - min(values) <= 1, sorted(values)


@pytest.mark.postgresql  # the hand-written claim; SQLite takes the ORM twin
@pytest.mark.django_db(transaction=True)
def test_a_start_claims_its_stimuli_under_the_study_lock_in_one_round_trip(
    django_assert_max_num_queries,
) -> None:  # type: ignore[no-untyped-def]
    study = make_study(tests=12, stimuli_per_session=4, target_ratings=2)
    enter(study)  # the counters are made and the expiry sweep has run (both at most once a minute)

    # when the next participant starts
    with django_assert_max_num_queries(5) as captured:
        session = enter(study)

    # then the study lock and the pick went in one statement string, no BEGIN/COMMIT around
    # them; then the participant, session and trials went in as one statement
    statements = [q["sql"] for q in captured.captured_queries]
    claims = [s for s in statements if "pg_advisory_xact_lock" in s]
    assert len(claims) == 1, statements
    assert "UPDATE ratings_stimulusload" in claims[0]
    assert not any(s.strip().upper() in ("BEGIN", "COMMIT") for s in statements), statements
    # and the claim holds: four test stimuli none of the first session's, each counted once
    tests = set(session.trials.filter(kind=Trial.Kind.TEST).values_list("stimulus_id", flat=True))
    assert len(tests) == 4
    assert Counter(test_loads(study).values()) == {1: 8, 0: 4}
    assert all(test_loads(study)[s] == 1 for s in tests)
