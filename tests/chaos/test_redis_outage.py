"""Redis down, with real processes: a private redis-server (the suite's own is left alone) as
broker and cache, a real Celery worker on it. Rating goes on; an analysis start, a stimulus upload
and a pilot start say the job queue is unavailable (503) and stay pending; Redis back, the sweeps
publish them and the worker completes them. The long versions with figures: bench/chaos/run.py."""

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from analysis.models import AnalysisRun
from analysis.services import analysis_runs_sweep
from experiments.models import StimulusImport
from experiments.services import stimulus_imports_sweep
from pilot.models import PilotRun
from pilot.services import pilot_runs_sweep
from ratings.models import Participant, Rating, RatingSession
from tests.conftest import WorkerProcess
from tests.experiments.builders import manifest_zip, upload
from tests.factories import rated_study_create
from tests.ratings.conftest import enter, make_study

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    """A redis-server of this test only, on a fixed port so that it can come back on it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None


def point_celery_at(url: str) -> None:
    """Make this process's Celery app publish to `url` (drop its pooled connections)."""
    from config.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def private_redis(tmp_path: Path, settings: Any) -> Iterator[Redis]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = Redis(tmp_path)
    redis.start()
    original = settings.CELERY_BROKER_URL
    point_celery_at(f"{redis.url}/0")
    # the cache too, as a deployment with shared rate-limit counters has it
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": f"{redis.url}/1"}
    }
    settings.RATELIMIT_ENABLED = True
    yield redis
    point_celery_at(original)
    if redis.proc is not None:
        redis.kill()


@pytest.fixture
def private_worker(
    private_redis: Redis, celery_worker_env: dict[str, str], tmp_path: Path
) -> Iterator[WorkerProcess]:
    env = {
        **celery_worker_env,
        "CELERY_BROKER_URL": f"{private_redis.url}/0",
        "REDIS_URL": f"{private_redis.url}/0",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def rate_first_trial() -> int:
    session = enter(make_study())  # entry and allocation use the cache: it is down
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    trial = session.trials.get(index=0)
    body = {
        "index": 0,
        "stimulus": trial.stimulus_id,
        "scores": {"quality": 4, "authenticity": 3, "correspondence": 5},
        "key": str(uuid.uuid4()),
    }
    response = Client().post(
        f"/api/participant/{session.token}/ratings/", json.dumps(body), content_type="application/json"
    )
    assert Rating.objects.filter(session=session).count() == (3 if response.status_code == 201 else 0)
    return response.status_code


def wait_for_run(run_id: int, timeout: float = 60) -> AnalysisRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = AnalysisRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.2)
    return AnalysisRun.objects.get(pk=run_id)


def test_with_redis_down_rating_goes_on_and_the_analysis_waits_then_completes(
    private_redis: Redis, private_worker: WorkerProcess
) -> None:
    # given a rated study and its researcher
    study, _items, _people = rated_study_create(stimuli=4, raters=4)
    api = APIClient()
    api.force_authenticate(study.owner)

    # when Redis dies
    private_redis.kill()

    # then participants still enter and rate
    assert rate_first_trial() == 201
    # and an analysis start says the job queue is unavailable, and the run waits as pending
    started = time.monotonic()
    response = api.post(f"/api/studies/{study.slug}/analysis-runs/", {"method": "mos"}, format="json")
    assert time.monotonic() - started < 10
    assert response.status_code in (409, 503)
    assert "job queue is unavailable" in response.json()["detail"]
    run = AnalysisRun.objects.get(study=study)
    assert run.status == AnalysisRun.Status.PENDING

    # when Redis comes back and the periodic sweep runs
    private_redis.start()
    swept: list[int] = []
    deadline = time.monotonic() + 20
    while not swept and time.monotonic() < deadline:
        try:
            swept = analysis_runs_sweep(pending_after=timedelta(0))
        except Exception:  # the broker connection is still coming back
            time.sleep(0.5)

    # then the worker (reconnected on its own) completes the run
    assert swept == [run.pk]
    run = wait_for_run(run.pk)
    assert run.status == AnalysisRun.Status.DONE, private_worker.log_tail()


def wait_for(model: Any, pk: int, finished: Callable[[Any], bool], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = model.objects.get(pk=pk)
        if finished(obj):
            return obj
        time.sleep(0.3)
    return model.objects.get(pk=pk)


def sweep_until_published(sweep: Callable[..., list[int]]) -> list[int]:
    published: list[int] = []
    deadline = time.monotonic() + 20
    while not published and time.monotonic() < deadline:
        try:
            published = sweep(pending_after=timedelta(0))
        except Exception:  # the broker connection is still coming back
            time.sleep(0.5)
    return published


def test_with_redis_down_an_upload_and_a_pilot_start_answer_503_then_run_when_the_queue_is_back(
    private_redis: Redis, private_worker: WorkerProcess, live_server: Any, settings: Any
) -> None:
    # given an open study, its researcher on the API and on the pages, pilots served by live_server
    study = make_study(tests=4, prompts=2, stimuli_per_session=4, target_ratings=3)
    settings.PILOT_BASE_URL = live_server.url
    api = APIClient()
    api.force_authenticate(study.owner)
    pages = Client()
    pages.force_login(study.owner)

    # when Redis dies
    private_redis.kill()

    # then an upload is saved as a pending import and answered 503 with a clear message
    started = time.monotonic()
    response = api.post(
        f"/api/studies/{study.slug}/imports/",
        {"archive": upload(manifest_zip(2)), "kind": "manifest"},
        format="multipart",
    )
    assert time.monotonic() - started < 10
    assert response.status_code == 503, response.content
    assert "job queue is unavailable" in response.json()["detail"]
    assert "starts automatically" in response.json()["detail"]
    stimulus_import = StimulusImport.objects.get(study=study)
    assert response.json()["import"]["id"] == stimulus_import.pk
    assert stimulus_import.status == StimulusImport.Status.PENDING
    # and so is a pilot started from its page
    response = pages.post(
        reverse("pilot:list", args=[study.slug]),
        {"raters": 3, "spammers": 0, "straightliners": 0, "abandoners": 0, "noise": 0.3, "seed": 1},
    )
    assert response.status_code == 503
    assert "could not start yet" in response.content.decode()
    pilot_run = PilotRun.objects.get(study=study)
    assert pilot_run.status == PilotRun.Status.PENDING

    # when Redis comes back and the periodic sweeps run
    private_redis.start()
    assert sweep_until_published(stimulus_imports_sweep) == [stimulus_import.pk]
    assert sweep_until_published(pilot_runs_sweep) == [pilot_run.pk]

    # then the worker imports the upload and runs the pilot, each once
    stimulus_import = wait_for(StimulusImport, stimulus_import.pk, lambda i: i.status in ("done", "failed"))
    assert stimulus_import.status == StimulusImport.Status.DONE, (
        stimulus_import.problems,
        private_worker.log_tail(),
    )
    assert stimulus_import.imported_count == 2
    pilot_run = wait_for(PilotRun, pilot_run.pk, lambda r: r.is_finished)
    assert pilot_run.status == PilotRun.Status.DONE, (pilot_run.error, private_worker.log_tail())
    assert Participant.objects.filter(study=study, is_pilot=True).count() == 3
