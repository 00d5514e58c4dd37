"""Background job of a metric benchmark: load by id, call the service, retry transient errors only."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analysis.benchmark.services import metric_benchmark_execute, metric_benchmarks_sweep


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    max_retries=5,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,
)
def metric_benchmark_execute_task(benchmark_id: int) -> str:
    """Compute one benchmark; a redelivered message for a claimed or finished one does nothing."""
    return metric_benchmark_execute(benchmark_id=benchmark_id)


@shared_task
def metric_benchmarks_sweep_task() -> list[int]:
    """Periodic (beat): publish lost benchmarks again, take back those of dead workers."""
    return metric_benchmarks_sweep()
