#!/usr/bin/env python
"""Start-up benchmark. One command: `.venv/bin/python bench/startup/run.py [--baseline REF]`.

Measures, for this checkout and (with --baseline) for another commit exported next to it
(`git archive`, same virtualenv, same services, same run), each several times:

1. `manage.py check`: wall time and CPU time of the process.
2. A gunicorn worker boot (`gunicorn config.wsgi:application`, 1 gthread worker x 4 threads, as
   docs/deploy.md but one worker): from the worker's fork to the first response it serves
   (`/healthz`: the first request also imports the URLconf and every view module); the app load
   alone (fork -> gunicorn's post_worker_init) is printed too. From the command to the first
   response as well.
3. A Celery worker boot (`celery -A config worker`, docs/deploy.md's options): from the command to
   the worker's "ready" line (Django set up, every task module imported, pool started, broker
   connected).
4. What a process imports before doing any work (bench/startup/probe.py: django.setup(), every
   URLconf, every task module): which heavy modules (matplotlib, openpyxl, scipy.stats, pandas)
   are loaded, and the top offenders of `python -X importtime` (self time per top-level package,
   and the first-party modules with the largest cumulative time).

Every figure is min and median over --repeat runs after one warm-up run (which compiles the
.pyc files). The machine's load average is printed at the start and the end: the machine is
shared, so wall times are noisy; CPU times less so. Services: a private PostgreSQL (fsync off)
and Redis under var/bench-startup/, stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "bench-startup"
PY = ROOT / ".venv" / "bin" / "python"
HOOKS = Path(__file__).resolve().parent / "gunicorn_hooks.py"
PROBE = Path(__file__).resolve().parent / "probe.py"
TARGET_SECONDS = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Figures:
    values: list[float]

    @property
    def min(self) -> float:
        return round(min(self.values), 3)

    @property
    def median(self) -> float:
        return round(statistics.median(self.values), 3)

    def __str__(self) -> str:
        return f"min {self.min:.2f} s, median {self.median:.2f} s"


# --- Services --------------------------------------------------------------------------------------
class Services:
    """PostgreSQL and Redis for /healthz and the Celery broker; nothing else is needed to boot."""

    def __init__(self) -> None:
        self.pg_dir = VAR / "pg"
        self.redis: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def _bash(self, script: str) -> None:
        subprocess.run(
            ["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; {script}'],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._bash(f'stop_postgres "{self.pg_dir}"')
        shutil.rmtree(VAR, ignore_errors=True)
        VAR.mkdir(parents=True)
        pg_port, redis_port = free_port(), free_port()
        self._bash(f'PG_FSYNC=off start_postgres "{self.pg_dir}" {pg_port}')
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(VAR)],
            stdout=subprocess.DEVNULL,
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"postgres://app:app@127.0.0.1:{pg_port}/app",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DJANGO_MEDIA_ROOT": str(VAR / "media"),
            "DJANGO_STATIC_ROOT": str(VAR / "static"),
            "DJANGO_LOG_LEVEL": "WARNING",
        }

    def stop(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        self._bash(f'stop_postgres "{self.pg_dir}"')


# --- One tree (this checkout or the baseline) --------------------------------------------------------
def export_tree(ref: str) -> Path:
    """The files of commit `ref` under var/bench-startup/baseline (no git metadata is changed)."""
    dest = VAR / "baseline"
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    tar_path = VAR / "baseline.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    tar_path.unlink()
    return dest


class Tree:
    def __init__(self, name: str, path: Path, services: Services) -> None:
        self.name, self.path = name, path
        # Bytecode as a deployed process has it: written by the warm-up run, read by the measured
        # ones. scripts/test and some shells export PYTHONDONTWRITEBYTECODE=1, which made every
        # measured process compile the project's ~110 modules again (0.3 s of CPU per start).
        # The prefix keeps the .pyc files out of the source trees (and apart per tree).
        env = {k: v for k, v in services.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        pycache = VAR / f"pycache-{name.split()[0]}"
        self.env = {
            **env,
            "PYTHONPATH": str(path),
            "DJANGO_LOG_LEVEL": "INFO",
            "PYTHONPYCACHEPREFIX": str(pycache),
        }

    def log(self, name: str) -> Any:
        return open(VAR / f"{name}-{self.name.split()[0]}.log", "ab")  # noqa: SIM115 - closed with the process

    def run_check(self) -> tuple[float, float]:
        """`manage.py check`: (wall seconds, CPU seconds of the process)."""
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(PY), "manage.py", "check"], cwd=self.path, env=self.env, stdout=subprocess.DEVNULL
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise RuntimeError(f"manage.py check failed in {self.path}")
        return wall, usage.ru_utime + usage.ru_stime

    def gunicorn_boot(self) -> dict[str, float]:
        """Start gunicorn (1 worker), wait for the first /healthz answer, stop it."""
        port = free_port()
        hooks_out = VAR / f"hooks-{self.name}-{secrets.token_hex(4)}.txt"
        t0 = time.time()
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi:application"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4", "--worker-class", "gthread"]
            + ["--no-control-socket", "--config", str(HOOKS), "--log-level", "warning"],
            cwd=self.path,
            env={**self.env, "BENCH_STARTUP_HOOKS": str(hooks_out)},
            stdout=self.log("gunicorn"),
            stderr=subprocess.STDOUT,
        )
        try:
            status = first_response(port, "/healthz", deadline=time.monotonic() + 60)
            answered = time.time()
            if status != 200:
                raise RuntimeError(f"/healthz answered {status} in {self.path}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        events = dict(line.split() for line in hooks_out.read_text().splitlines())
        fork, loaded = float(events["fork"]), float(events["app_loaded"])
        return {"worker_boot": answered - fork, "app_load": loaded - fork, "command_to_first": answered - t0}

    def celery_boot(self) -> float:
        """From the command to the worker's "ready" line."""
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(PY), "-m", "celery", "-A", "config", "worker", "--concurrency=2"]
            + ["--without-mingle", "--without-gossip", "--max-tasks-per-child", "50", "--loglevel=INFO"],
            cwd=self.path,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if re.search(rb"celery@\S+ ready\.", raw):
                    return time.perf_counter() - t0
            raise RuntimeError(f"the Celery worker in {self.path} stopped before it was ready")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def probe(self) -> dict[str, Any]:
        out = subprocess.run(
            [str(PY), str(PROBE)], cwd=self.path, env=self.env, check=True, capture_output=True, text=True
        ).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))

    def importtime(self, top: int = 10) -> dict[str, list[tuple[str, float]]]:
        err = subprocess.run(
            [str(PY), "-X", "importtime", str(PROBE)],
            cwd=self.path,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stderr
        per_package: Counter[str] = Counter()
        first_party: dict[str, float] = {}
        ours = ("config", "experiments", "ratings", "analysis")
        for line in err.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if not m:
                continue
            self_us, cumulative_us, name = int(m.group(1)), int(m.group(2)), m.group(4)
            per_package[name.split(".")[0]] += self_us
            if name.split(".")[0] in ours:
                first_party[name] = max(first_party.get(name, 0.0), cumulative_us / 1e6)
        return {
            "self_time_per_package": [(k, round(v / 1e6, 3)) for k, v in per_package.most_common(top)],
            "first_party_cumulative": sorted(first_party.items(), key=lambda kv: -kv[1])[:top],
        }


def first_response(port: int, path: str, deadline: float) -> int:
    """Connect as soon as the port listens; GET until a 200, answered once a worker is ready."""
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            time.sleep(0.01)
            continue
        with sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            head = b""
            while b"\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
            if head and int(head[9:12]) == 200:
                return 200
            # Anything else (the services still starting): ask again, the figure is the first 200.
        time.sleep(0.01)
    raise RuntimeError("no response before the deadline")


def repeat(fn: Callable[[], Any], n: int) -> list[Any]:
    fn()  # warm-up: compiles .pyc files, fills the page cache
    return [fn() for _ in range(n)]


def measure(tree: Tree, n: int) -> dict[str, Any]:
    print(f"[{tree.name}] manage.py check x{n} ...", flush=True)
    checks = repeat(tree.run_check, n)
    print(f"[{tree.name}] gunicorn worker boot x{n} ...", flush=True)
    boots = repeat(tree.gunicorn_boot, n)
    print(f"[{tree.name}] Celery worker boot x{n} ...", flush=True)
    celery = repeat(tree.celery_boot, n)
    print(f"[{tree.name}] imports ...", flush=True)
    probes = repeat(tree.probe, n)
    return {
        "check_wall": Figures([w for w, _c in checks]),
        "check_cpu": Figures([c for _w, c in checks]),
        "gunicorn_worker_boot": Figures([b["worker_boot"] for b in boots]),
        "gunicorn_app_load": Figures([b["app_load"] for b in boots]),
        "gunicorn_command_to_first": Figures([b["command_to_first"] for b in boots]),
        "celery_boot": Figures(celery),
        "probe": Figures([p["seconds"] for p in probes]),
        "heavy": probes[-1]["heavy"],
        "modules": probes[-1]["modules"],
        "importtime": tree.importtime(),
    }


# --- Report ----------------------------------------------------------------------------------------
ROWS = [
    ("check_wall", "manage.py check (wall)", True),
    ("check_cpu", "manage.py check (CPU user+sys)", False),
    ("gunicorn_worker_boot", "gunicorn worker boot: fork -> first response", True),
    ("gunicorn_app_load", "  of which app load: fork -> post_worker_init", False),
    ("gunicorn_command_to_first", "gunicorn command -> first response", False),
    ("celery_boot", "Celery worker boot: command -> ready", True),
    ("probe", "setup + every URLconf + every task module", False),
]


def report(results: dict[str, dict[str, Any]], n: int, load_before: str, load_after: str) -> None:
    print()
    print(
        f"== bench/startup on {os.cpu_count()} cores, {n} runs each after a warm-up; "
        f"load average {load_before} before, {load_after} after"
    )
    names = list(results)
    for key, label, targeted in ROWS:
        cells = [f"{name}: {results[name][key]}" for name in names]
        line = f"{label:<48} " + " | ".join(cells)
        if len(names) == 2:
            base, new = results[names[1]][key].median, results[names[0]][key].median
            line += f" | ratio {new / base:.2f}x" if base else ""
        if targeted:
            ok = results[names[0]][key].median < TARGET_SECONDS
            line += f"  [target < {TARGET_SECONDS} s: {'met' if ok else 'NOT met'} by median]"
        print(line)
    for name in names:
        r = results[name]
        print(f"-- {name}: {r['modules']} modules loaded; heavy modules loaded: {r['heavy'] or 'none'}")
        top = ", ".join(f"{k} {v:.3f}" for k, v in r["importtime"]["self_time_per_package"])
        print(f"   importtime, self seconds per package: {top}")
        ours = ", ".join(f"{k} {v:.3f}" for k, v in r["importtime"]["first_party_cumulative"][:8])
        print(f"   importtime, first-party modules (cumulative s): {ours}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a git ref measured the same way, side by side (e.g. main)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs of each figure")
    args = parser.parse_args()
    services = Services()
    results: dict[str, dict[str, Any]] = {}
    load_before = loadavg()
    try:
        services.start()
        trees = [Tree("this checkout", ROOT, services)]
        if args.baseline:
            trees.append(Tree(f"baseline {args.baseline}", export_tree(args.baseline), services))
        for tree in trees:
            results[tree.name] = measure(tree, args.repeat)
    finally:
        services.stop()
    load_after = loadavg()
    report(results, args.repeat, load_before, load_after)
    serialisable = {
        name: {k: (v.values if isinstance(v, Figures) else v) for k, v in r.items()}
        for name, r in results.items()
    }
    (VAR / "results.json").write_text(json.dumps(serialisable, indent=2))
    print(f"(figures also in {VAR.relative_to(ROOT)}/results.json)")


if __name__ == "__main__":
    main()
