"""Shared fixtures: the real Celery worker, headless Chromium, and common objects."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


# --- Browser (pytest-playwright with Debian's Chromium; never `playwright install`) ----------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


# --- The real Celery worker on the real Redis broker -----------------------------------------
class _CeleryProcess:
    """A Celery subprocess writing to a log file: stop it, read the end of its log."""

    log_path: Path
    proc: "subprocess.Popen[bytes] | None"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"


class WorkerProcess(_CeleryProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(signal.SIGKILL)  # never leave a worker behind that the fixture will not stop
            raise

    def _wait_ready(self, timeout: float = 120.0) -> None:  # a loaded CI machine imports slowly
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None, self.log_tail()
            assert self.proc.poll() is None, self.log_tail()
            try:
                if app.control.ping(timeout=0.5):
                    return
            except Exception:  # broker not ready yet
                pass
            time.sleep(0.2)
        raise RuntimeError("Celery worker did not answer a ping:\n" + self.log_tail())


@pytest.fixture(scope="session")
def celery_worker_env(django_db_setup: None, django_db_blocker: Any) -> dict[str, str]:
    """Environment for a worker process that uses the test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    env = dict(os.environ)
    env.update(
        {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test", "TEST_DATABASE_NAME": ""}
    )
    return env


@pytest.fixture(scope="session")
def celery_worker(
    celery_worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real `celery worker` subprocess on the real Redis broker, sharing the test database.

    Tests that use it need committed data: mark them `django_db(transaction=True)`.
    """
    from config.celery import app

    app.control.purge()
    worker = WorkerProcess(celery_worker_env, tmp_path_factory.mktemp("celery") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


class BeatProcess(_CeleryProcess):
    """A real `celery beat` subprocess: it publishes CELERY_BEAT_SCHEDULE's tasks to the broker."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.log_path = folder / "beat.log"
        self.schedule_path = folder / "celerybeat-schedule"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as beat
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--schedule",
                str(self.schedule_path),
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def sent(self, entry: str) -> bool:
        """Beat has published the schedule entry `entry` at least once."""
        return f"Sending due task {entry} " in self.log_tail(400)


@pytest.fixture
def celery_beat(
    celery_worker: WorkerProcess, celery_worker_env: dict[str, str], tmp_path: Path
) -> Iterator[BeatProcess]:
    """A real `celery beat` next to the real worker, running every periodic job every second."""
    beat = BeatProcess({**celery_worker_env, "CELERY_BEAT_EVERY_SECONDS": "1"}, tmp_path)
    beat.start()
    yield beat
    beat.stop()


# --- Isolation -------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache. Cached hints are keyed by ids ("study 3 is full"),
    and SQLite reuses the ids of rolled-back rows, so a hint would leak into the next test."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()


# --- Common objects --------------------------------------------------------------------------
@pytest.fixture
def researcher(db: None) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="researcher")


@pytest.fixture
def demo_study(db: None, researcher: Any) -> Any:
    from experiments.demo import demo_study_create

    return demo_study_create(owner=researcher)


@pytest.fixture
def rich_demo_study(db: None, researcher: Any) -> Any:
    """The rich-feedback demo: a glitch variant per prompt and the two annotation tasks."""
    from experiments.demo import demo_study_create

    return demo_study_create(owner=researcher, slug="demo-rich", rich=True)
