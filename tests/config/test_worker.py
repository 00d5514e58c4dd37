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
