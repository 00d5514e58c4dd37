"""The periodic jobs run: a real `celery beat` publishes every CELERY_BEAT_SCHEDULE entry to the
real broker, and the real worker executes them (session expiry and recount shown by their effect)."""

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from ratings.models import RatingSession, StimulusLoad
from tests.conftest import BeatProcess, WorkerProcess
from tests.ratings.conftest import enter, make_study

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_until(condition: Callable[[], bool], timeout: float = 45) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return condition()


def test_every_scheduled_job_is_a_task_the_worker_knows() -> None:
    from config.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert names == {
        "ratings.tasks.expire_sessions_task",
        "ratings.tasks.recount_stimulus_loads_task",
        "pilot.tasks.pilot_runs_sweep_task",
        "analysis.tasks.analysis_runs_sweep_task",
        "experiments.tasks.stimulus_imports_sweep_task",
        "analysis.tasks.start_precision_screenings_task",
    }
    assert names <= set(app.tasks), names - set(app.tasks)


def test_beat_publishes_every_periodic_job_and_the_worker_runs_them(
    celery_worker: WorkerProcess, celery_beat: BeatProcess
) -> None:
    # given an abandoned session (last seen a day ago) and a study whose counters drifted
    abandoned = enter(make_study(tests=4, stimuli_per_session=4))
    RatingSession.objects.filter(pk=abandoned.pk).update(last_seen_at=timezone.now() - timedelta(days=1))
    drifted = make_study(tests=3, stimuli_per_session=3)
    enter(drifted)  # holds one trial of each stimulus: load 1
    StimulusLoad.objects.filter(study=drifted).update(load=7)

    # when beat runs (every job every second) next to the worker
    # then it publishes every schedule entry
    for entry in settings.CELERY_BEAT_SCHEDULE:
        assert wait_until(lambda entry=entry: celery_beat.sent(entry)), celery_beat.log_tail()
    # and the worker expires the abandoned session, giving its trials back
    assert wait_until(
        lambda: RatingSession.objects.get(pk=abandoned.pk).status == RatingSession.Status.EXPIRED
    ), celery_worker.log_tail()
    assert set(StimulusLoad.objects.filter(study=abandoned.study).values_list("load", flat=True)) == {0}
    # and recounts the drifted counters from the trials
    assert wait_until(
        lambda: set(StimulusLoad.objects.filter(study=drifted).values_list("load", flat=True)) == {1}
    ), celery_worker.log_tail()
