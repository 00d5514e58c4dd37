"""Quality control: gold, repeats, correspondence traps, straight-lining; record or screen out."""

import pytest

from experiments.models import Study
from ratings import qc
from ratings.models import RatingSession, StimulusLoad, Trial
from tests.ratings.conftest import answer_trials as run
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db


def varied(trial: Trial) -> dict[str, int]:
    v = 1 + trial.stimulus_id % 5
    return {"quality": v, "authenticity": v, "correspondence": 1 if trial.kind == "trap" else v}


def test_a_session_gets_its_gold_repeat_and_trap_trials() -> None:
    study = make_study(
        tests=12,
        stimuli_per_session=5,
        gold=2,
        gold_per_session=1,
        repeats_per_session=2,
        traps_per_session=2,
    )

    session = enter(study)

    kinds = list(session.trials.values_list("kind", flat=True))
    assert sorted(kinds) == sorted(["test"] * 5 + ["gold", "repeat", "repeat", "trap", "trap"])
    for trap in session.trials.filter(kind="trap").select_related("stimulus"):
        assert trap.prompt_shown != trap.stimulus.prompt
        assert trap.stimulus.role == "test"
        assert not session.trials.filter(kind="test", stimulus=trap.stimulus).exists()
    for repeat in session.trials.filter(kind="repeat"):
        original = session.trials.get(kind="test", stimulus=repeat.stimulus_id)
        assert repeat.index > original.index
        assert repeat.repetition == 1


def test_failures_are_recorded_and_the_session_completes_when_the_study_only_records() -> None:
    study = make_study(
        tests=12,
        stimuli_per_session=5,
        gold=1,
        gold_per_session=1,
        repeats_per_session=1,
        traps_per_session=1,
        qc_action=Study.QcAction.RECORD,
    )
    session = enter(study)
    first_scores: dict[int, int] = {}

    def careless(trial: Trial) -> dict[str, int]:
        if trial.kind == "gold":
            return {"quality": 1, "authenticity": 1, "correspondence": 3}  # reference 5 and [4, 5]
        if trial.kind == "trap":
            return {"quality": 3, "authenticity": 3, "correspondence": 5}  # a mismatch rated as matching
        if trial.kind == "repeat":
            v = 5 if first_scores[trial.stimulus_id] <= 2 else 1
            return {"quality": v, "authenticity": v, "correspondence": v}
        first_scores[trial.stimulus_id] = 1 + trial.index % 5
        return {k: first_scores[trial.stimulus_id] for k in ("quality", "authenticity", "correspondence")}

    results = run(session, careless)

    session.refresh_from_db()
    assert results[-1].status == RatingSession.Status.COMPLETED
    failures = qc.failures_from_json(session.qc_failures)
    assert sorted(f.kind for f in failures) == ["gold", "repeat", "trap"]
    gold = next(f for f in failures if f.kind == "gold")
    assert set(gold.details) == {"quality", "authenticity"}
    assert gold.stimulus == session.trials.get(kind="gold").stimulus_id
    trap = next(f for f in failures if f.kind == "trap")
    assert trap.details == {"score": 5.0, "max_accepted": 3.0}
    assert trap.trial == session.trials.get(kind="trap").index


def test_a_careful_participant_passes_every_check() -> None:
    study = make_study(
        tests=12,
        stimuli_per_session=5,
        gold=1,
        gold_per_session=1,
        repeats_per_session=1,
        traps_per_session=1,
        check_straightlining=True,
    )
    session = enter(study)

    def careful(trial: Trial) -> dict[str, int]:
        if trial.kind == "gold":
            return {"quality": 4, "authenticity": 5, "correspondence": 4}
        return varied(trial)

    run(session, careful)

    session.refresh_from_db()
    assert session.status == "completed"
    assert session.qc_failures == []


def test_screen_out_ends_the_session_at_the_failed_trap_and_frees_its_stimuli() -> None:
    study = make_study(
        tests=12, stimuli_per_session=5, traps_per_session=1, qc_action=Study.QcAction.SCREEN_OUT
    )
    session = enter(study)

    results = run(
        session, lambda t: {"quality": 3, "authenticity": 3, "correspondence": 5 if t.kind == "trap" else 2}
    )

    session.refresh_from_db()
    assert results[-1].status == RatingSession.Status.SCREENED_OUT
    assert results[-1].next_trial is None
    assert session.status == "screened_out"
    assert qc.failures_from_json(session.qc_failures)[0].kind == "trap"
    assert sum(StimulusLoad.objects.filter(study=study).values_list("load", flat=True)) == 0


def test_straightlining_is_recorded_at_the_end_of_the_session() -> None:
    study = make_study(tests=10, stimuli_per_session=6, check_straightlining=True)
    session = enter(study)

    run(session, lambda t: {"quality": 3, "authenticity": 3, "correspondence": 3})

    session.refresh_from_db()
    assert [f.kind for f in qc.failures_from_json(session.qc_failures)] == ["straightlining"]


@pytest.mark.parametrize(
    ("scores", "failed"),
    [
        ({"quality": 4}, set()),
        ({"quality": 6}, set()),
        ({"quality": 3}, {"quality"}),
        ({"authenticity": 3}, {"authenticity"}),
    ],
)
def test_gold_accepts_one_level_around_the_reference_or_an_explicit_range(scores, failed) -> None:  # type: ignore[no-untyped-def]
    reference = {"quality": 5, "authenticity": [4, 5]}

    assert set(qc.gold_failures(scores=scores, reference=reference, tol=1.0)) == failed


def test_straightlining_needs_every_perspective_constant_over_enough_trials() -> None:
    same = [{"q": 3, "a": 4}] * 5
    assert qc.is_straightlining(same)
    assert not qc.is_straightlining(same[:4])
    assert not qc.is_straightlining([*same[:4], {"q": 3, "a": 5}])
