"""Benchmarks are never stuck: the sweep publishes lost jobs and takes back those of dead workers."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.benchmark.models import MetricBenchmark
from analysis.benchmark.services import MAX_ATTEMPTS, metric_benchmark_start, metric_benchmarks_sweep
from analysis.services import analysis_run_execute, analysis_run_start
from tests.analysis.benchmark.conftest import planted_predictions
from tests.analysis.test_tasks import _kill_worker_tree
from tests.factories import rated_study_create

Status = MetricBenchmark.Status
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _done_run(owner):
    study, _items, _people = rated_study_create(owner=owner, stimuli=12, raters=6, seed=3)
    run = analysis_run_start(study=study, method="bt500_zscore", enqueue=False)
    analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def _wait(pk: int, condition, timeout: float = 90.0) -> MetricBenchmark:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bench = MetricBenchmark.objects.get(pk=pk)
        if condition(bench):
            return bench
        time.sleep(0.05)
    raise AssertionError(f"benchmark {pk} stayed {MetricBenchmark.objects.get(pk=pk).status}")


def test_a_benchmark_whose_message_was_lost_is_published_again_and_completes(owner, celery_worker) -> None:
    # given a benchmark saved but never published (the message was lost)
    run = _done_run(owner)
    bench = metric_benchmark_start(run=run, content=planted_predictions(run), filename="p.csv", enqueue=False)
    assert metric_benchmarks_sweep() == []  # not yet overdue

    # when the sweep finds it overdue
    published = metric_benchmarks_sweep(pending_after=timedelta(0))

    # then the real worker computes it, once
    assert published == [bench.pk]
    bench = _wait(bench.pk, lambda b: b.is_finished)
    assert bench.status == Status.DONE, (bench.error, celery_worker.log_tail())
    assert bench.attempts == 1
    assert bench.enqueued_at is not None
    assert metric_benchmarks_sweep(pending_after=timedelta(0)) == []


def test_a_benchmark_whose_worker_died_is_computed_again_then_failed_after_max_attempts(
    owner, celery_worker
) -> None:
    # given a benchmark the worker is computing (many bootstrap samples: it takes a while)
    run = _done_run(owner)
    bench = metric_benchmark_start(run=run, content=planted_predictions(run), filename="p.csv", n_boot=20_000)
    _wait(bench.pk, lambda b: b.status == Status.RUNNING, timeout=60)

    # when the worker is killed, time passes beyond the stale limit, and the worker restarts
    _kill_worker_tree(celery_worker.proc.pid)
    celery_worker.proc.wait()
    killed = MetricBenchmark.objects.get(pk=bench.pk)
    MetricBenchmark.objects.filter(pk=bench.pk).update(started_at=timezone.now() - timedelta(hours=1))
    celery_worker.start()
    published = metric_benchmarks_sweep()

    # then the sweep publishes it again and it completes on the second claim
    assert killed.status == Status.RUNNING
    assert published == [bench.pk]
    bench = _wait(bench.pk, lambda b: b.is_finished, timeout=180)
    assert bench.status == Status.DONE, (bench.error, celery_worker.log_tail())
    assert bench.attempts == 2

    # and one that lost its worker MAX_ATTEMPTS times is failed with a reason, not tried forever
    other = metric_benchmark_start(
        run=run, content=planted_predictions(run, seed=1), filename="q.csv", enqueue=False
    )
    MetricBenchmark.objects.filter(pk=other.pk).update(
        status=Status.RUNNING, attempts=MAX_ATTEMPTS, started_at=timezone.now() - timedelta(hours=1)
    )
    assert metric_benchmarks_sweep() == []
    other.refresh_from_db()
    assert other.status == Status.FAILED
    assert "stopped 3 times" in other.error
