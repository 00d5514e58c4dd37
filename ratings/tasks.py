"""Background jobs of the participant flow. Each loads by id and calls one service; safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def pilot_run_execute_task(pilot_run_id: int) -> str:
    """Run one pilot (simulate, analyse, compare). Not retried: a second simulation would add
    participants; a redelivered message finds the pilot claimed and does nothing."""
    from ratings.pilot import pilot_run_execute

    return pilot_run_execute(run_id=pilot_run_id)
