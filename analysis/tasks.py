"""Background jobs of the analysis app: load by id, call a service, retry transient errors only."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

import config.celery  # noqa: F401 - binds the shared tasks below to the project's app (config/__init__)
from analysis.services import analysis_run_execute, analysis_runs_sweep, precision_screenings_start


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,
)
def analysis_run_execute_task(run_id: int) -> str:
    """Compute one analysis run; a redelivered message for a claimed or finished run does nothing."""
    return analysis_run_execute(run_id=run_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def analysis_runs_sweep_task() -> list[int]:
    """Re-enqueue pending runs the queue lost and running runs of dead workers (beat schedule)."""
    return analysis_runs_sweep()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def start_precision_screenings_task() -> list[int]:
    """Re-run the rater screening of open precision studies with new ratings (beat schedule)."""
    return precision_screenings_start()


from analysis.benchmark.tasks import metric_benchmark_execute_task, metric_benchmarks_sweep_task  # noqa: E402,F401 - registers the jobs
