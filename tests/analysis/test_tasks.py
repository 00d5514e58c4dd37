import os
import signal
import time
from datetime import timedelta

import psycopg
import psycopg.sql
import pytest
from django.core.files.storage import default_storage
from django.db import connection
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


def _refuse_new_connections(refuse: bool) -> None:
    """Make the test database refuse (or accept again) new connections, and cut the open ones of
    other processes (the worker's): a database restart or failover, as the worker sees it.
    PostgreSQL takes this from a connection to another database only."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname="postgres"
    ) as admin:
        admin.autocommit = True
        name = psycopg.sql.Identifier(db["NAME"])
        allow = psycopg.sql.SQL("false" if refuse else "true")
        admin.execute(psycopg.sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(name, allow))
        if refuse:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [db["NAME"], connection.connection.info.backend_pid],
            )


def _wait_for_log(worker, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = worker.log_tail(200)
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the worker log:\n{worker.log_tail()}")


@pytest.mark.postgresql
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_retries_a_run_after_a_transient_database_error(celery_worker) -> None:
    # given a pending run, and a database that refuses the worker's connections for a while
    study, _items, _people = rated_study_create(stimuli=4, raters=4)
    run = services.analysis_run_start(study=study, method="mos", enqueue=False)
    try:
        _refuse_new_connections(True)

        # when the task runs, fails on the database and is scheduled again by Celery
        analysis_run_execute_task.delay(run.id)
        log = _wait_for_log(celery_worker, "retry: Retry in")
    finally:
        _refuse_new_connections(False)

    # then the retry completes the run; the failed attempt never claimed it
    run = _wait_for(run.id, lambda r: r.is_finished)
    assert "OperationalError" in log
    assert run.status == Status.DONE, (run.error, celery_worker.log_tail())
    assert run.attempts == 1


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
