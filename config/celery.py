import importlib
import logging
import os
import sys
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# Celery's Django fix-up runs Django's system checks when a worker boots, and discards their
# result. Those checks import the whole URLconf (every view, DRF, the API schema): a third of a
# worker's boot for nothing. The checks run where they are read: `manage.py check --deploy` once
# per release (docs/deploy.md), and in CI. CELERY_SKIP_CHECKS= (empty) in the environment brings
# them back.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("aigciqa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(value: str) -> str:
    """Echo a value back; the health check and the worker test use it."""
    return value


#: What an analysis job imports on first use (plots, the t quantile): imported by each worker
#: process in the background a moment after it starts, not while the worker boots (the boot
#: stays light) and not by the first job (about a second of matplotlib on our 2-core machines).
#: CELERY_WARM_UP=0 in the environment turns it off.
WARM_UP_MODULES = (
    "matplotlib.backends.backend_agg",
    "matplotlib.figure",
    "matplotlib.ticker",
    "scipy.special",
)
WARM_UP_DELAY_S = 1.0


def _import_all(modules: tuple[str, ...], delay: float) -> None:
    time.sleep(delay)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module must not take the worker down
            logger.warning("warm-up: could not import %s", name, exc_info=True)


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    if os.environ.get("CELERY_WARM_UP", "1") == "1":
        threading.Thread(
            target=_import_all, args=(WARM_UP_MODULES, WARM_UP_DELAY_S), name="warm-up", daemon=True
        ).start()


@app.task(name="config.imported")
def imported(modules: list[str]) -> list[bool]:
    """Which of these modules the worker process has imported (the warm-up's test reads it)."""
    return [name in sys.modules for name in modules]
