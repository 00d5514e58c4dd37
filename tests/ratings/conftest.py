"""Objects for the participant-flow tests: small open studies with real PNG stimuli."""

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from experiments.models import Stimulus, Study
from experiments.services import study_update
from ratings.models import RatingSession, Trial
from ratings.panels import PanelEntry
from ratings.services import SubmitResult, participant_enter, rating_submit
from tests.factories import StimulusFactory, StudyFactory


def make_study(
    *,
    tests: int = 10,
    prompts: int = 5,
    training: int = 0,
    gold: int = 0,
    **fields: Any,
) -> Study:
    """An open study: `tests` test stimuli over `prompts` prompts, then training and gold stimuli."""
    defaults: dict[str, Any] = {
        "stimuli_per_session": 4,
        "training_count": training,
        "min_viewing_ms": 0,
        "break_every": 0,
        "check_straightlining": False,
        "completion_code": "DONE-123",
        "screenout_code": "OUT-456",
    }
    study = StudyFactory(**{**defaults, **fields})
    for i in range(tests):
        StimulusFactory(study=study, prompt=f"prompt {i % prompts}", name=f"t{i}.png")
    for i in range(training):
        StimulusFactory(
            study=study,
            prompt="training prompt",
            name=f"train{i}.png",
            role=Stimulus.Role.TRAINING,
            reference_scores={"quality": 4},
        )
    for i in range(gold):
        StimulusFactory(
            study=study,
            prompt=f"gold prompt {i}",
            name=f"gold{i}.png",
            role=Stimulus.Role.GOLD,
            reference_scores={"quality": 5, "authenticity": [4, 5]},
        )
    study.status = Study.Status.OPEN
    study.save()
    return study


def precision_study(*, minimum: int, maximum: int, target: float | None = 1.0, **fields: Any) -> Study:
    """An open study switched to precision mode through the service (a target on every perspective)."""
    study = make_study(**fields)
    perspectives = [
        {"key": p.key, "label": p.label, "question": p.question, "target_half_width": target}
        for p in study.perspectives.order_by("order")
    ]
    return study_update(
        study=study,
        fields={
            "allocation_mode": Study.AllocationMode.PRECISION,
            "precision_min_ratings": minimum,
            "precision_max_ratings": maximum,
        },
        perspectives=perspectives,
    )


@pytest.fixture
def study_factory(db: None) -> Callable[..., Study]:
    return make_study


def enter(study: Study, pid: str | None = None, consent: bool = True) -> RatingSession:
    """A participant arriving through the study link (generic panel) and answering the consent."""
    external = pid or f"p-{uuid.uuid4().hex[:8]}"
    entry = PanelEntry(panel=study.panel, external_id=external, data={"pid": external})
    return participant_enter(study=study, entry=entry, consent=consent)


def answer_all(study: Study, value: int = 3) -> dict[str, int]:
    return {key: value for key in study.perspectives.values_list("key", flat=True)}


def answer_trials(session: RatingSession, score_for: Callable[[Trial], dict[str, Any]]) -> list[SubmitResult]:
    """Answer every trial through the real submission path with score_for(trial) -> {key: score},
    as a participant past the instructions would; stop at a screen-out. Returns the results."""
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    results = []
    for trial in session.trials.select_related("stimulus").order_by("index"):
        result = rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=score_for(trial),
            idempotency_key=uuid.uuid4(),
        )
        results.append(result)
        if result.status == RatingSession.Status.SCREENED_OUT:
            break
    return results


def gold_and_straightlining_failure(study: Study) -> RatingSession:
    """A participant who answers 1 everywhere in a study with gold trials and the straight-lining
    check: their session records a gold and a straight-lining failure (the real submission path)."""
    session = enter(study)
    answer_trials(session, lambda trial: answer_all(study, 1))
    session.refresh_from_db()
    return session


def at_once(count: int, send: Callable[[int], Any]) -> list[Any]:
    """`send(i)` for i < count in as many threads released together (each on its own database
    connection, closed after): each one's result, or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[Any] = [Exception("not run")] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = send(i)
        except Exception as exc:  # the caller's assertions report it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
