"""Background jobs of the participant flow. Each loads by id and calls one service; safe to run twice.

The periodic ones (CELERY_BEAT_SCHEDULE) are the same tasks without a study id: every study.
"""

from celery import shared_task
from django.db import OperationalError

import config.celery  # noqa: F401 - binds the shared tasks below to the project's app (config/__init__)
from ratings.services import sessions_expire_all, stimulus_loads_recount_all


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def expire_sessions_task(study_id: int | None = None) -> int:
    """Release the trials of abandoned sessions, of one study or of all (session starts also do
    it on the way, at most every EXPIRE_EVERY_SECONDS)."""
    return sessions_expire_all(study_id=study_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def recount_stimulus_loads_task(study_id: int | None = None) -> int:
    """Rebuild the allocation counters of one study (after an analysis changed the exclusions:
    top-up) or of every open or paused study; return the number of studies recounted."""
    return stimulus_loads_recount_all(study_id=study_id)
