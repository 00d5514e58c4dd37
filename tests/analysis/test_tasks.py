import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from analysis import services
from analysis.models import AnalysisRun
from analysis.tasks import analysis_run_execute_task, analysis_runs_sweep_task
from tests.factories import rated_study_create

Status = AnalysisRun.Status


def _wait_for(run_id: int, condition, timeout: float = 60.0) -> AnalysisRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AnalysisRun.objects.get(pk=run_id)
        if condition(run):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} stayed {AnalysisRun.objects.get(pk=run_id).status}")


@pytest.mark.django_db
def test_task_computes_the_run_and_a_redelivery_does_nothing() -> None:
    study, _items, _people = rated_study_create(stimuli=4, raters=4)
    run = services.analysis_run_start(study=study, method="mos", enqueue=False)

    first = analysis_run_execute_task.apply(args=[run.id]).get()
    second = analysis_run_execute_task.apply(args=[run.id]).get()

    run.refresh_from_db()
    assert (first, second) == ("done", "skipped")
    assert run.status == Status.DONE
    assert run.attempts == 1


@pytest.mark.django_db
def test_task_for_a_deleted_run_does_nothing() -> None:
    assert analysis_run_execute_task.apply(args=[987654]).get() == "skipped"


@pytest.mark.django_db
def test_sweep_task_returns_the_runs_it_enqueued() -> None:
    study, _items, _people = rated_study_create(stimuli=2, raters=2)
    run = services.analysis_run_start(study=study, method="mos", enqueue=False)
    AnalysisRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert analysis_runs_sweep_task.apply().get() == [run.pk]


def test_execute_task_retries_only_transient_errors() -> None:
    from django.db import InterfaceError, OperationalError

    assert set(analysis_run_execute_task.autoretry_for) == {OperationalError, InterfaceError}
    assert analysis_run_execute_task.acks_late is True
    assert analysis_run_execute_task.max_retries == 5
    assert analysis_run_execute_task.soft_time_limit < analysis_run_execute_task.time_limit


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_completes_a_run_started_through_the_service(celery_worker) -> None:
    # given ratings and a run started the way the pages start it: enqueued after commit
    study, _items, _people = rated_study_create(stimuli=6, raters=6)

    run = services.analysis_run_start(study=study, method="bt500_zscore")

    # then the worker on the real broker claims and completes it
    run = _wait_for(run.id, lambda r: r.is_finished)
    assert run.status == Status.DONE, (run.error, celery_worker.log_tail())
    assert run.enqueued_at is not None
    assert run.attempts == 1
    assert all(default_storage.exists(f) for f in run.files)
    assert f"{run.storage_dir}/DATA/MOS/mosz1.mat" in run.files


def _kill_worker_tree(pid: int) -> None:
    """SIGKILL the worker and its pool children, like an OOM kill or a lost machine."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                children += [int(c) for c in fh.read().split()]
        except FileNotFoundError:
            pass
    for child in children:
        os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_is_killed_completes_once_after_restart(celery_worker) -> None:
    # given a run the worker is computing
    study, _items, _people = rated_study_create(stimuli=30, raters=12, spammers=2)
    reference = services.analysis_run_start(study=study, method="bt500_zscore", enqueue=False)
    services.analysis_run_execute(run_id=reference.id)
    reference.refresh_from_db()
    run = services.analysis_run_start(study=study, method="bt500_zscore")
    _wait_for(run.id, lambda r: r.status == Status.RUNNING, timeout=30)

    # when the worker is killed mid-run, time passes beyond the stale limit, and it restarts
    _kill_worker_tree(celery_worker.proc.pid)
    celery_worker.proc.wait()
    killed = AnalysisRun.objects.get(pk=run.id)
    AnalysisRun.objects.filter(pk=run.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    celery_worker.start()
    assert services.analysis_runs_sweep() == [run.id]

    # then the run completes exactly once, with the result of an undisturbed run
    run = _wait_for(run.id, lambda r: r.is_finished)
    assert killed.status == Status.RUNNING
    assert killed.progress < 1
    assert run.status == Status.DONE, celery_worker.log_tail()
    assert run.attempts == 2, celery_worker.log_tail()
    assert run.input_fingerprint == reference.input_fingerprint
    for rel in ("moz1.txt", "moz2.txt", "mos.csv", "raters.csv"):
        with (
            default_storage.open(f"{run.storage_dir}/{rel}") as a,
            default_storage.open(f"{reference.storage_dir}/{rel}") as b,
        ):
            assert a.read() == b.read(), rel
