"""Counter rows are locked in one order everywhere: starts, submissions and expiry at once never
deadlock, and the counters stay exact (real PostgreSQL, real threads, many iterations)."""

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from experiments.models import Study
from ratings.models import RatingSession, StimulusLoad, Trial
from ratings.services import (
    rating_submit,
    session_display_check_pass,
    session_instructions_done,
    sessions_expire,
    stimulus_loads_recount_all,
)
from tests.ratings.conftest import answer_all, enter, make_study, precision_study
from tests.ratings.test_precision_allocation import direct_sums, stored_sums

SECONDS = 8.0
SUBMITTERS = 3


def expected_loads(study: Study) -> dict[int, int]:
    """The counters' definition, computed from the trials: answered test trials of sessions not
    screened out, plus unanswered test trials of live sessions (no exclusions, no pilots here)."""
    counts: Counter[int] = Counter()
    live = set(RatingSession.LIVE_STATUSES)
    for stimulus_id, answered_at, status in Trial.objects.filter(
        session__study=study, kind=Trial.Kind.TEST
    ).values_list("stimulus_id", "answered_at", "session__status"):
        if (answered_at is not None and status != RatingSession.Status.SCREENED_OUT) or status in live:
            counts[stimulus_id] += 1
    return {
        pk: counts.get(pk, 0) for pk in StimulusLoad.objects.filter(study=study).values_list("pk", flat=True)
    }


def ready_to_rate(study: Study) -> RatingSession:
    """A new participant through consent, display check and instructions (the real services)."""
    session = enter(study)
    session = session_display_check_pass(session=session, device={"fits": True, "screen": "1920x1080"})
    return session_instructions_done(session=session)


@pytest.mark.parametrize("mode", ["balanced", "precision"])
@pytest.mark.django_db(transaction=True)
def test_starts_submissions_and_expiry_at_once_never_deadlock_and_keep_counters_exact(mode: str) -> None:
    # given a study whose every start, expiry and re-claim touches a third of all counters
    # (precision: bounds and targets that never stop it, and a recount running meanwhile, which
    # locks every counter and then every sums row)
    fields = {"tests": 18, "prompts": 6, "stimuli_per_session": 6, "session_expiry_minutes": 30}
    if mode == "precision":
        study = precision_study(minimum=2, maximum=10_000, target=0.001, **fields)
    else:
        study = make_study(target_ratings=10_000, **fields)
    sessions: list[int] = [ready_to_rate(study).pk for _ in range(6)]
    guard = threading.Lock()
    errors: list[str] = []
    done: Counter[str] = Counter()
    stop = time.monotonic() + SECONDS
    barrier = threading.Barrier(2 + SUBMITTERS + 2)

    def loop(kind: str, step: Callable[[random.Random], bool]) -> Callable[[int], None]:
        def run(seed: int) -> None:
            rng = random.Random(seed)
            try:
                barrier.wait()
                while time.monotonic() < stop:
                    try:
                        if step(rng):
                            with guard:
                                done[kind] += 1
                    except Exception as exc:  # a deadlock surfaces here as OperationalError
                        with guard:
                            errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            finally:
                connection.close()

        return run

    def start(rng: random.Random) -> bool:
        session = ready_to_rate(study)
        with guard:
            sessions.append(session.pk)
        return True

    def submitter(k: int) -> Callable[[random.Random], bool]:
        def submit(rng: random.Random) -> bool:
            with guard:
                mine = [pk for i, pk in enumerate(sessions) if i % SUBMITTERS == k]
            session = RatingSession.objects.filter(pk=rng.choice(mine)).values(
                "token", "current_index", "status"
            )
            row = session.first()
            if row is None or row["status"] not in ("rating", "expired") or row["current_index"] >= 6:
                return False
            rating_submit(
                token=row["token"],
                trial_index=row["current_index"],
                scores=answer_all(study, rng.randint(1, 5)),
                idempotency_key=uuid.uuid4(),
            )
            return True

        return submit

    def expire(rng: random.Random) -> bool:
        # An idle participant: their last request was long ago. Then the sweep.
        with guard:
            idle = rng.sample(sessions, 2)
        for pk in idle:  # one row per statement: the test's own writes never deadlock each other
            RatingSession.objects.filter(pk=pk).update(last_seen_at=timezone.now() - timedelta(minutes=31))
        return sessions_expire(study=study) > 0

    runners = [loop("start", start), loop("start", start)]
    runners += [loop("submit", submitter(k)) for k in range(SUBMITTERS)]

    def recount(rng: random.Random) -> bool:
        time.sleep(rng.random() * 0.2)
        return stimulus_loads_recount_all(study_id=study.pk) == 1

    second = loop("recount", recount) if mode == "precision" else loop("expire", expire)
    runners += [loop("expire", expire), second]

    # when they all run at once
    threads = [threading.Thread(target=run, args=(seed,)) for seed, run in enumerate(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    print(f"lock order: {dict(done)} in {SECONDS} s, {len(errors)} errors")
    # then nothing failed, each kind ran many times, and every counter equals its definition
    assert errors == []
    assert done["start"] >= 20, done
    assert done["submit"] >= 50, done
    assert done["expire"] >= (5 if mode == "precision" else 10), done
    assert RatingSession.objects.filter(study=study, status="expired").exists()
    assert Trial.objects.filter(session__study=study, answered_at__isnull=False).count() >= 50
    loads = dict(StimulusLoad.objects.filter(study=study).values_list("pk", "load"))
    assert loads == expected_loads(study)
    assert not StimulusLoad.objects.filter(study=study, load__lt=0).exists()
    if mode == "precision":
        assert done["recount"] >= 3, done
        assert stored_sums(study) == direct_sums(study)
        assert stored_sums(study)
