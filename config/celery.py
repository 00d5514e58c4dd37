import os

from celery import Celery

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
