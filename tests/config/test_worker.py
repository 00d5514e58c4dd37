import pytest

from config.celery import ping


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_sent_through_redis(celery_worker) -> None:  # type: ignore[no-untyped-def]
    from config.celery import app

    # given a running worker on the real broker
    # when a task is sent through Redis and its reply is asked for over the broker
    replies = app.control.ping(timeout=2)

    # then the worker answers, and a task it runs has its effect
    assert replies, celery_worker.log_tail()
    result = ping.apply_async(args=["hello"], ignore_result=True)
    assert result.id
    # The task ran in the worker process: its log records the success line with our task id.
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if f"Task config.ping[{result.id}] succeeded" in celery_worker.log_tail(200):
            break
        time.sleep(0.2)
    assert f"Task config.ping[{result.id}] succeeded" in celery_worker.log_tail(200)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_imports_the_plotting_modules_after_it_starts_not_during_the_first_job(
    celery_worker,  # type: ignore[no-untyped-def]
) -> None:
    import re
    import time

    from config.celery import WARM_UP_MODULES, imported

    # given a running worker: its boot imports none of them (test_startup_imports.py)
    # when its process is asked, a few seconds after it started, which it has imported
    deadline = time.monotonic() + 30
    answer = None
    while time.monotonic() < deadline and answer != [True] * len(WARM_UP_MODULES):
        result = imported.apply_async(args=[list(WARM_UP_MODULES)], ignore_result=True)
        line = re.compile(rf"Task config\.imported\[{result.id}\] succeeded in [0-9.e-]+s: (\[.*\])")
        while time.monotonic() < deadline and answer is None:
            found = line.search(celery_worker.log_tail(400))
            answer = [part.strip() == "True" for part in found.group(1)[1:-1].split(",")] if found else None
            time.sleep(0.2)
        if answer != [True] * len(WARM_UP_MODULES):
            answer = None
            time.sleep(0.5)

    # then every module is there, without a job having needed it
    assert answer == [True] * len(WARM_UP_MODULES), celery_worker.log_tail()
