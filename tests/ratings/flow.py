"""Participants taking part through the real services, stage by stage (no shortcuts past a stage)."""

import uuid
from collections.abc import Callable

from experiments.models import Study
from ratings.models import RatingSession, Trial
from ratings.panels import panel_entry_parse
from ratings.services import (
    participant_enter,
    rating_submit,
    session_display_check_pass,
    session_instructions_done,
)

Scores = Callable[[Trial], dict[str, float]]


def link_query(study: Study, pid: str) -> dict[str, str]:
    """What the panel puts in the study link for this participant id."""
    if study.panel == Study.Panel.PROLIFIC:
        return {"PROLIFIC_PID": pid, "STUDY_ID": "st-1", "SESSION_ID": f"se-{pid}"}
    if study.panel == Study.Panel.MTURK:
        return {
            "workerId": pid,
            "assignmentId": f"A-{pid}",
            "hitId": "HIT-1",
            "turkSubmitTo": "https://www.mturk.com",
        }
    return {"pid": pid}


def honest(study: Study) -> Scores:
    """Answers that pass every check: gold at its reference, varied test answers."""

    def scores(trial: Trial) -> dict[str, float]:
        keys = list(study.perspectives.values_list("key", flat=True))
        if trial.kind == Trial.Kind.GOLD:
            ref = trial.stimulus.reference_scores
            return {k: float(ref[k][0] if isinstance(ref.get(k), list) else ref.get(k, 3)) for k in keys}
        return {k: float(1 + (trial.index + i) % 5) for i, k in enumerate(keys)}

    return scores


def constant(study: Study, value: float = 1) -> Scores:
    keys = list(study.perspectives.values_list("key", flat=True))
    return lambda trial: dict.fromkeys(keys, value)


def take_part(
    study: Study, pid: str, scores: Scores | None = None, *, consent: bool = True, answer: int | None = None
) -> RatingSession:
    """Enter through the study link, pass the stages and answer `answer` trials (all by default)."""
    entry = panel_entry_parse(study=study, query=link_query(study, pid))
    session = participant_enter(study=study, entry=entry, consent=consent)
    if not consent:
        return session
    session = session_display_check_pass(session=session, device={"fits": True, "viewport": {"width": 1600}})
    session = session_instructions_done(session=session)
    scores = scores or honest(study)
    trials = list(session.trials.select_related("stimulus").order_by("index"))
    for trial in trials[: len(trials) if answer is None else answer]:
        rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=scores(trial),
            idempotency_key=uuid.uuid4(),
            response_ms=1500,
            viewing_ms=2500,
        )
    session.refresh_from_db()
    return session
