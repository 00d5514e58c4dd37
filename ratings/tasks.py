"""Background jobs of the participant flow. Each loads by id and calls one service; safe to run twice."""

from celery import shared_task
from django.db import OperationalError, transaction

import config.celery  # noqa: F401 - binds the shared tasks below to the project's app (config/__init__)
from experiments.models import Study
from ratings import allocation
from ratings.services import sessions_expire


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def expire_sessions_task(study_id: int) -> int:
    """Release the trials of the study's abandoned sessions (session starts also do it on the way)."""
    study = Study.objects.filter(pk=study_id).first()
    return sessions_expire(study=study) if study else 0


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def recount_stimulus_loads_task(study_id: int) -> None:
    """Rebuild the allocation counters, e.g. after an analysis excluded participants (top-up)."""
    with transaction.atomic():
        allocation.stimulus_loads_recount(study_id=study_id)


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def pilot_run_execute_task(pilot_run_id: int) -> str:
    """Run one pilot (simulate, analyse, compare). Not retried: a second simulation would add
    participants; a redelivered message finds the pilot claimed and does nothing."""
    from ratings.pilot import pilot_run_execute

    return pilot_run_execute(run_id=pilot_run_id)
