"""Background jobs of the experiments app: they load by id and call a service."""

from typing import Any

from celery import shared_task
from django.db import OperationalError

import config.celery  # noqa: F401 - binds the shared tasks below to the project's app (config/__init__)
from experiments.models import StimulusImport
from experiments.services import (
    stimulus_import_claim,
    stimulus_import_execute,
    stimulus_import_fail,
    stimulus_import_failure_reason,
    stimulus_imports_sweep,
)


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=10, max_retries=5)
def stimulus_import_execute_task(self: Any, import_id: int) -> None:
    """Validate and import one upload. A second delivery finds it claimed and does nothing."""
    if not stimulus_import_claim(import_id=import_id):
        return  # another worker has it, or it already finished
    stimulus_import = StimulusImport.objects.select_related("study").get(pk=import_id)
    try:
        stimulus_import_execute(stimulus_import=stimulus_import)
    except OperationalError as exc:
        if self.request.retries >= self.max_retries:
            stimulus_import_fail(import_id=import_id, message=stimulus_import_failure_reason(exc))
        else:
            # Transient: hand it back so that the retry can claim it again.
            StimulusImport.objects.filter(pk=import_id).update(status=StimulusImport.Status.PENDING)
        raise
    except Exception as exc:
        # A bug, not the upload's fault: never leave the researcher watching a job that died.
        stimulus_import_fail(import_id=import_id, message=stimulus_import_failure_reason(exc))
        raise


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)
def stimulus_imports_sweep_task() -> list[int]:
    """Publish again the imports the queue never got or whose worker died (beat schedule)."""
    return stimulus_imports_sweep()
