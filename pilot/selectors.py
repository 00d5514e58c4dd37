"""Reads of the pilot: its runs, the pilot data a study holds, the participants a study needs."""

import math
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from experiments.models import Stimulus, Study
from pilot.models import PilotRun
from ratings.models import Participant, Rating, RatingSession


def pilot_run_list(*, study: Study) -> QuerySet[PilotRun]:
    return PilotRun.objects.filter(study=study).select_related("study", "analysis_run").order_by("-id")


def pilot_run_get(*, study: Study, pk: int) -> PilotRun:
    """A pilot of this study (the caller checked access to the study); 404 otherwise."""
    try:
        return pilot_run_list(study=study).get(pk=pk)
    except PilotRun.DoesNotExist:
        raise Http404("No such pilot") from None


def pilot_data_counts(*, study: Study) -> dict[str, int]:
    return {
        "participants": Participant.objects.filter(study=study, is_pilot=True).count(),
        "sessions": RatingSession.objects.filter(study=study, is_pilot=True).count(),
        "ratings": Rating.objects.filter(session__study=study, session__is_pilot=True).count(),
    }


def participants_needed(study: Study, tests: int | None = None) -> dict[str, Any]:
    """How many complete participants reach the study's target number of ratings per stimulus."""
    tests = tests if tests is not None else study.stimuli.filter(role=Stimulus.Role.TEST).count()
    per_session = max(1, min(study.stimuli_per_session, tests or 1))
    if study.allocation_mode == Study.AllocationMode.FULL:
        # Every participant rates every stimulus, over several sessions.
        needed, sessions_each = study.target_ratings, math.ceil(tests / per_session) if tests else 0
    else:
        needed, sessions_each = math.ceil(tests * study.target_ratings / per_session), 1
    return {
        "test_stimuli": tests,
        "target": study.target_ratings,
        "per_session": per_session,
        "participants": needed,
        "sessions_each": sessions_each,
        "mode": study.allocation_mode,
    }
