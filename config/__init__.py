"""The project package.

Its Celery app (config.celery) loads on first use, not with the package: a web process or a
management command then pays for importing Celery only when it enqueues a job. Every task module
imports config.celery, so a task is bound to this app (its broker and settings) before it can be
sent; `celery -A config` finds the app in config.celery.
"""

from typing import Any

__all__ = ("celery_app",)


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from config.celery import app

        return app
    raise AttributeError(f"module 'config' has no attribute {name!r}")
