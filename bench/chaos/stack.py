"""The production-shaped stack for fault injection, on loopback ports under var/bench-chaos/:
PostgreSQL (fsync on), Redis, a Celery worker, gunicorn (gthread). Each part can be killed,
stopped and started again by the scenarios; everything is stopped by `stop()`.

Only processes started here are signalled, always by their own pid.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct children of a process we started (gunicorn's workers, Celery's pool)."""
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return []
    return [int(x) for x in out.split()]


class Stack:
    def __init__(
        self,
        var: Path,
        *,
        web_workers: int = 2,
        web_threads: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.var = var
        self.web_workers, self.web_threads = web_workers, web_threads
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pg_running = False

    # --- whole stack
    def start(self) -> None:
        self._bash(f'stop_postgres "{self.var}/pg"')  # left over from an interrupted run
        shutil.rmtree(self.var, ignore_errors=True)
        (self.var / "logs").mkdir(parents=True)
        self.postgres_start()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"postgres://app:app@127.0.0.1:{self.pg_port}/app",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DJANGO_MEDIA_ROOT": str(self.var / "media"),
            "DJANGO_STATIC_ROOT": str(self.var / "static"),
            "DJANGO_LOG_LEVEL": "WARNING",
            # Many simulated participants from one address: the limits would refuse them.
            "RATELIMIT_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }
        self.redis_start()
        for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run(
                [str(PY), "manage.py", *args], check=True, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL
            )
        self.celery_start()
        self.gunicorn_start()

    def stop(self) -> None:
        for name in ("gunicorn", "celery", "redis"):
            proc = self.procs.pop(name, None)
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.pg_running:
            self.postgres_stop()

    # --- parts
    def _bash(self, script: str) -> None:
        subprocess.run(
            ["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; {script}'],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.var / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env or None, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def postgres_start(self) -> None:
        self._bash(f'PG_FSYNC=on start_postgres "{self.var}/pg" {self.pg_port}')
        self.pg_running = True

    def postgres_stop(self) -> None:
        """A fast shutdown: open connections are cut, in-flight transactions roll back."""
        self._bash(f'stop_postgres "{self.var}/pg"')
        self.pg_running = False

    def redis_start(self) -> None:
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.var),
            ],
        )
        self._wait(lambda: self._tcp(self.redis_port), "Redis")

    def redis_kill(self) -> None:
        proc = self.procs.pop("redis")
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def celery_start(self) -> None:
        self._spawn(
            "celery",
            [
                str(PY),
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
        )

    def celery_kill(self) -> None:
        """SIGKILL the worker and its pool: no chance to finish, acknowledge or clean up."""
        proc = self.procs.pop("celery")
        for child in children(proc.pid):
            os.kill(child, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def gunicorn_start(self) -> None:
        self._spawn(
            "gunicorn",
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.web_workers),
                "--threads",
                str(self.web_threads),
                "--worker-class",
                "gthread",
                "--no-control-socket",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
        )
        self._wait(self.healthy, "gunicorn")

    def gunicorn_workers(self) -> list[int]:
        return children(self.procs["gunicorn"].pid)

    def gunicorn_master(self) -> int:
        return self.procs["gunicorn"].pid

    # --- probes
    def _tcp(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def healthz(self) -> int:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            return conn.getresponse().status
        except OSError:
            return 0

    def healthy(self) -> bool:
        return self.healthz() == 200

    def _wait(self, probe: object, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not come up; see {self.var / 'logs'}")
