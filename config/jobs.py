"""Enqueue a background job by its task name.

Services send jobs by name (`job_send("ratings.tasks.x_task", ...)`) instead of importing the task
functions: tasks import services, never the other way round. The Celery app loads on the first
send, not when a service module is imported (a web process starts without Celery).
"""

from typing import Any


def job_send(task: str, *args: Any, **kwargs: Any) -> None:
    """Publish `task(*args, **kwargs)` to the broker; raise what the broker raises (KombuError,
    OSError) when it refuses, so that the caller can keep the job pending."""
    from config.celery import app

    if task not in app.tasks:
        # A typo in a name would otherwise publish a message that no worker ever runs.
        app.loader.import_default_modules()
        if task not in app.tasks:
            raise LookupError(f"no Celery task named {task!r}")
    app.send_task(task, args=args, kwargs=kwargs)
