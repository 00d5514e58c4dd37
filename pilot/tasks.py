"""The pilot's background jobs. Each loads by id and calls one service."""

from celery import shared_task

import config.celery  # noqa: F401 - binds the shared tasks below to the project's app (config/__init__)
from pilot.services import pilot_run_execute, pilot_runs_sweep


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def pilot_run_execute_task(pilot_run_id: int) -> str:
    """Run one pilot (simulate, analyse, compare). Not retried: a second simulation would add
    participants; a redelivered message finds the pilot claimed and does nothing."""
    return pilot_run_execute(run_id=pilot_run_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def pilot_runs_sweep_task() -> list[int]:
    """Publish again the pilots the queue never got; fail those whose worker died (beat schedule)."""
    return pilot_runs_sweep()
