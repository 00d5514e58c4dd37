"""Enqueue a background job by its task name.

Services send jobs by name (`job_send("ratings.tasks.x_task", ...)`) instead of importing the task
functions: tasks import services, never the other way round. The Celery app loads on the first
send, not when a service module is imported (a web process starts without Celery). Every name a
service sends is checked against the worker's registered tasks by tests/config/test_jobs.py.
"""

from typing import Any


def job_send(task: str, *args: Any, **kwargs: Any) -> None:
    """Publish `task(*args, **kwargs)` to the broker; raise what the broker raises (KombuError,
    OSError) when it refuses, so that the caller can keep the job pending."""
    from config.celery import app

    app.send_task(task, args=args, kwargs=kwargs)
