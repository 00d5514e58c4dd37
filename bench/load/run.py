#!/usr/bin/env python
"""Load benchmark of the participant path. One command: `.venv/bin/python bench/load/run.py`.

Starts the stack as in production (docs/deploy.md) on loopback ports, in var/bench-load/: a private
PostgreSQL with fsync ON (honest durability), Redis, a Celery worker, gunicorn with the
recommended settings (config/gunicorn.py: 2 gthread workers x 4 threads forked from a preloaded
master, replaced after about 2,000 requests), DEBUG off, collected static files.
The URLconf is the real one plus a bare reference endpoint (bench/load/reference.py: plain
Django, one INSERT of a rating-shaped row with two indexes), selected with DJANGO_ROOT_URLCONF.

Measures, printing every figure (and writing var/bench-load/results.json):

1. Allocation under load: 64 participants answer the consent form at the same instant (the POST
   that starts the session and allocates its trials), twice (the second wave fills the study and
   some are told it is full). Client-side and server-side (gunicorn's request time) p50/p99; the
   spread of the allocation counters sampled every few ms while the study fills; at the end, the
   ratings per stimulus once every session is rated.
2. Rating submissions at 16 and 64 concurrent participants: sessions are first created through
   the real HTTP flow (pilot.simulator); then each virtual participant submits its trials in
   order on its own keep-alive connection. The same load generator then drives the reference
   endpoint with the same number of requests at the same concurrency. Throughput, p50/p99,
   errors; then PostgreSQL is checked: every acknowledged answer stored exactly once.

The load generator shares the 2 cores with the server: it is kept cheap (pre-encoded requests on
raw keep-alive sockets, no HTTP library in the timed loop), but its CPU use still competes.
Everything started is stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "bench-load"
PY = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(ROOT))

from pilot import simulator  # noqa: E402  (stdlib only: importable before Django is set up)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def ms(values: list[float], p: float) -> float:
    return round(1000 * pct(values, p), 2)


# --- The stack ----------------------------------------------------------------------------------
class Stack:
    """PostgreSQL (fsync on), Redis, Celery worker and gunicorn, all under VAR, all stopped by stop()."""

    def __init__(self, var: Path, web_workers: int, web_threads: int) -> None:
        self.var = var
        self.workers, self.threads = web_workers, web_threads
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg_started = False
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}

    def _bash(self, script: str) -> None:
        subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; {script}'], check=True, cwd=ROOT)

    def start(self) -> None:
        self._bash(f'stop_postgres "{self.var}/pg"')  # a cluster left by an interrupted run
        shutil.rmtree(self.var, ignore_errors=True)
        (self.var / "logs").mkdir(parents=True)
        pg_port, redis_port = free_port(), free_port()
        self._bash(f'PG_FSYNC=on start_postgres "{self.var}/pg" {pg_port}')
        self.pg_started = True
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"postgres://app:app@127.0.0.1:{pg_port}/app",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "DJANGO_MEDIA_ROOT": str(self.var / "media"),
            "DJANGO_STATIC_ROOT": str(self.var / "static"),
            "DJANGO_ROOT_URLCONF": "bench.load.urls",
            "DJANGO_LOG_LEVEL": "WARNING",
            # As in production with several hosts: the rate limits' counters live in Redis. The limits
            # stay on (their cost is measured) but high: every virtual participant comes from
            # 127.0.0.1 and answers far faster than a person.
            "DJANGO_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
            "RATELIMIT_ENTRY_PER_MINUTE": "1000000",
            "RATELIMIT_RATING_PER_MINUTE": "1000000",
            "RATELIMIT_RATING_IP_PER_MINUTE": "1000000",
            "PYTHONPATH": str(ROOT),
        }
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(redis_port),
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
        for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run(
                [str(PY), "manage.py", *args], check=True, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL
            )
        self._spawn(
            "celery",
            [
                str(PY),
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=2",
                "--without-mingle",
                "--without-gossip",
                "--max-tasks-per-child",
                "50",
                "--loglevel=WARNING",
            ],
        )
        self._spawn(
            "gunicorn",
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "--config",
                str(ROOT / "config" / "gunicorn.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--access-logfile",
                str(self.var / "logs" / "access.log"),
                "--access-logformat",
                "%(m)s %(U)s %(s)s %(D)s %(p)s",
            ],
        )
        self._wait_healthy()

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.var / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs.append(
            subprocess.Popen(args, cwd=ROOT, env=self.env or None, stdout=log, stderr=subprocess.STDOUT)
        )

    def _wait_healthy(self, timeout: float = 60) -> None:
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not become healthy; see " + str(self.var / "logs"))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        if self.pg_started:
            self._bash(f'stop_postgres "{self.var}/pg"')
            self.pg_started = False

    def profile(self, name: str) -> subprocess.Popen[bytes]:
        """py-spy (pip install py-spy) on the gunicorn workers until interrupted: collapsed stacks."""
        gunicorn = next(p for p in self.procs if "gunicorn" in str(p.args))
        out = self.var / f"profile-{name}.txt"
        spy = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "py-spy"),
                "record",
                "--pid",
                str(gunicorn.pid),
                "--subprocesses",
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)  # attached before the load starts
        return spy

    def access_times(self, pattern: str) -> list[float]:
        """Server-side request times (s) of the access-log lines matching `pattern`."""
        out = []
        for line in (self.var / "logs" / "access.log").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and re.search(pattern, f"{parts[0]} {parts[1]}"):
                out.append(int(parts[3]) / 1e6)
        return out


# --- A cheap load generator -----------------------------------------------------------------------
class Closed(Exception):
    pass


class RawConnection:
    """HTTP/1.1 keep-alive on a raw socket: send pre-encoded bytes, read one response."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""
        self.reconnects = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def roundtrip(self, data: bytes) -> tuple[int, bytes]:
        for attempt in range(4):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port))
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(data)
                return self._response()
            except (OSError, Closed):
                # gunicorn recycles a worker after --max-requests; the retry is safe: rating
                # submissions carry their idempotency key.
                self.close()
                self.reconnects += 1
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed
        return chunk

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, _sep, rest = self.buf.partition(b"\r\n\r\n")
        lower = head.lower()
        status = int(head[9:12])
        m = re.search(rb"content-length:\s*(\d+)", lower)
        length = int(m.group(1)) if m else 0
        while len(rest) < length:
            rest += self._recv()
        body, self.buf = rest[:length], rest[length:]
        if b"connection: close" in lower:
            self.close()
        return status, body


def encode(method: str, path: str, port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Job:
    requests: list[bytes]
    tags: list[Any]


@dataclass
class DriveResult:
    seconds: float
    latencies: list[float]
    acked: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def drive(port: int, jobs: list[Job]) -> DriveResult:
    """One thread and one connection per job; each job's requests in order; all start together."""
    barrier = threading.Barrier(len(jobs) + 1, timeout=120)
    lock = threading.Lock()
    result = DriveResult(0.0, [])

    def worker(job: Job) -> None:
        conn = RawConnection(port)
        lat: list[float] = []
        acked: list[Any] = []
        errors: list[str] = []
        clock = time.perf_counter
        barrier.wait()
        for data, tag in zip(job.requests, job.tags, strict=True):
            t0 = clock()
            try:
                status, body = conn.roundtrip(data)
            except (OSError, Closed) as exc:
                errors.append(f"connection: {exc!r}")
                continue
            lat.append(clock() - t0)
            if status in (200, 201):
                acked.append(tag)
            else:
                errors.append(f"HTTP {status}: {body[:160]!r}")
        conn.close()
        with lock:
            result.latencies.extend(lat)
            result.acked.extend(acked)
            result.errors.extend(errors)
            result.reconnects += conn.reconnects

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


# --- Set-up in the database (this process, Django set up on the same settings) -----------------------
def django_setup(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DJANGO", "DATABASE", "REDIS"))})
    import django

    django.setup()


def study_make(slug: str, *, stimuli: int, per_session: int, target: int) -> Any:
    import io

    from django.contrib.auth import get_user_model
    from PIL import Image

    from experiments.models import Study
    from experiments.services import stimulus_create, study_create

    user, _ = get_user_model().objects.get_or_create(username="bench")
    study = study_create(
        owner=user,
        title=f"Bench {slug}",
        slug=slug,
        stimuli_per_session=per_session,
        target_ratings=target,
        training_count=0,
        min_viewing_ms=0,
        break_every=0,
        check_straightlining=False,
    )
    for k in range(stimuli):
        img = Image.new("RGB", (64, 64), ((k * 37) % 256, (k * 91) % 256, k % 256))
        img.putpixel((k % 64, (k // 64) % 64), (255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        stimulus_create(
            study=study, data=buf.getvalue(), name=f"s{k}.png", prompt=f"prompt {k % 40}", position=k
        )
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    study.status = Study.Status.OPEN
    return study


def reference_table() -> None:
    from django.db import connection

    from bench.load.reference import TABLE_SQL

    with connection.cursor() as cursor:
        for statement in filter(str.strip, TABLE_SQL.split(";")):
            cursor.execute(statement)


# --- 1. Allocation under load -------------------------------------------------------------------
def spread_sampler(study_id: int, stop: threading.Event, out: dict[str, Any]) -> None:
    from django.db import connection

    worst, samples = 0, 0
    with connection.cursor() as cursor:
        while not stop.is_set():
            cursor.execute(
                "SELECT max(load) - min(load), max(load) FROM ratings_stimulusload WHERE study_id = %s",
                [study_id],
            )
            spread, top = cursor.fetchone()
            if spread is not None:
                worst, samples = max(worst, spread), samples + 1
                out["max_load"] = max(out.get("max_load", 0), top)
            time.sleep(0.003)
    connection.close()
    out.update(max_spread=worst, samples=samples)


def allocation_bench(
    stack: Stack, study: Any, n: int = 64, waves: int = 2, profile: bool = False
) -> dict[str, Any]:
    """`waves` times: n participants open the link, then all answer the consent form at once."""
    clients_all: list[simulator.ParticipantClient] = []
    client_ms: list[float] = []
    outcomes: dict[str, int] = {}
    stop, spread = threading.Event(), {}
    cpu: dict[str, float] = {}
    sampler = threading.Thread(target=spread_sampler, args=(study.pk, stop, spread))
    sampler.start()
    for wave in range(waves):
        clients = [
            simulator.ParticipantClient(stack.url, study.slug, {"pid": f"alloc-{wave}-{i}"}) for i in range(n)
        ]
        with ThreadPoolExecutor(16) as pool:
            forms = list(pool.map(lambda c: c.get_page(c.entry_url(), kind="entry").form("consent"), clients))
        if any(form is None for form in forms):
            raise RuntimeError("a study link showed no consent form (rate limit? see logs/access.log)")
        barrier = threading.Barrier(n, timeout=60)

        def consent(
            k: int,
            clients: list[simulator.ParticipantClient] = clients,
            forms: list[Any] = forms,
            barrier: threading.Barrier = barrier,
        ) -> tuple[float, int, str]:
            c, form = clients[k], forms[k]
            body = "&".join(f"{a}={b}" for a, b in {**form["fields"], "decision": "agree"}.items()).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": c.origin}
            barrier.wait()
            t0 = time.perf_counter()
            response = c.request("POST", form["action"], body, headers, kind="consent")
            return time.perf_counter() - t0, response.status, response.headers.get("location", "")

        spy = stack.profile(f"starts-{wave}") if profile else None
        c0 = group_cpu(stack)
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(consent, range(n)))
        c1 = group_cpu(stack)
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
        for k, v in c1.items():
            cpu[k] = cpu.get(k, 0.0) + v - c0.get(k, 0.0)
        for c, (seconds, status, location) in zip(clients, answers, strict=True):
            client_ms.append(seconds)
            outcome = "session" if status == 302 and "/t/" in location else f"http {status}"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == "session":
                c.session_url = c._path(location)
                clients_all.append(c)
    stop.set()
    sampler.join()
    server = stack.access_times(rf"^POST /s/{study.slug}/consent/")
    rated = rate_all(clients_all)
    return {
        "participants": n * waves,
        "outcomes": outcomes,
        "session_start_client_ms": {
            "p50": ms(client_ms, 50),
            "p99": ms(client_ms, 99),
            "max": ms(client_ms, 100),
        },
        "session_start_server_ms": {"p50": ms(server, 50), "p99": ms(server, 99), "max": ms(server, 100)},
        # during the bursts, per start (the spread sampler's queries included)
        "cpu_ms_per_start": {k: round(1000 * v / (n * waves), 2) for k, v in cpu.items() if k in PARTS},
        "load_spread_max": spread.get("max_spread"),
        "load_max": spread.get("max_load"),
        "spread_samples": spread.get("samples"),
        "target": study.target_ratings,
        "final": final_spread(study),
        "rated_sessions": rated,
    }


def rate_all(clients: list[simulator.ParticipantClient]) -> int:
    """Every allocated participant goes through the stages and rates its trials (16 at a time)."""
    rater = simulator.Rater(0, simulator.HONEST, 0.0, 0.4, None, 0.5)

    def one(c: simulator.ParticipantClient) -> int:
        page = c.through_stages(c.page())
        if page.stage != "trials":
            return 0
        keys = [p["key"] for p in c.config["perspectives"]]
        scale = simulator.Scale.from_config(c.config)
        for trial in c.session_data["trials"]:
            c.submit(trial, simulator.rater_scores(rater, trial, keys, scale, 0))
        c.close()
        return 1

    with ThreadPoolExecutor(16) as pool:
        return sum(pool.map(one, clients))


def final_spread(study: Any) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min(n), max(n), count(*) FROM (
              SELECT s.id, count(r.id) / 3 AS n FROM experiments_stimulus s
              LEFT JOIN ratings_rating r ON r.stimulus_id = s.id AND r.kind = 'test'
              WHERE s.study_id = %s AND s.role = 'test' GROUP BY s.id) per
            """,
            [study.pk],
        )
        lo, hi, count = cursor.fetchone()
    return {"ratings_per_stimulus_min": lo, "ratings_per_stimulus_max": hi, "stimuli": count}


# --- 2. Rating submissions ------------------------------------------------------------------------
@dataclass
class Prepared:
    jobs: list[Job]
    reference_jobs: list[Job]
    sessions: int
    setup_seconds: float


def prepare(stack: Stack, study: Any, n: int, tag: str) -> Prepared:
    """n sessions through the real HTTP flow; then every submission pre-encoded, for both endpoints."""
    started = time.perf_counter()
    clients = [simulator.ParticipantClient(stack.url, study.slug, {"pid": f"{tag}-{i}"}) for i in range(n)]
    with ThreadPoolExecutor(16) as pool:
        pages = list(pool.map(lambda c: c.through_stages(c.enter()), clients))
    clients = [c for c, p in zip(clients, pages, strict=True) if p.stage == "trials"]
    for c in clients:
        c.close()
    rater = simulator.Rater(0, simulator.HONEST, 0.0, 0.4, None, 0.5)
    jobs, refs = [], []
    for c in clients:
        keys = [p["key"] for p in c.config["perspectives"]]
        scale = simulator.Scale.from_config(c.config)
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": c.session_data["csrf"],
            "Cookie": f"csrftoken={c.cookies['csrftoken']}",
            "Origin": c.origin,
        }
        requests, ref_requests, tags = [], [], []
        for trial in c.session_data["trials"]:
            key = str(uuid.uuid4())
            body = json.dumps(
                {
                    "index": trial["index"],
                    "stimulus": trial["stimulus"],
                    "scores": simulator.rater_scores(rater, trial, keys, scale, 0),
                    "key": key,
                    "viewing_ms": 2400,
                    "response_ms": 1700,
                    "client_time": "2026-01-01T12:00:00+00:00",
                }
            ).encode()
            requests.append(encode("POST", c.session_data["submit_url"], stack.port, body, headers))
            ref_requests.append(encode("POST", "/bench/reference/", stack.port, body, headers))
            tags.append((c.session_data["token"], trial["index"], key))
        jobs.append(Job(requests, tags))
        refs.append(Job(ref_requests, tags))
    return Prepared(jobs, refs, len(clients), time.perf_counter() - started)


def check_stored(study_id: int, acked: list[tuple[str, int, str]], perspectives: int) -> dict[str, int]:
    """Every acknowledged answer stored exactly once (one row per perspective), with its key."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.token, r.trial_index, r.idempotency_key::text, count(*)
            FROM ratings_rating r JOIN ratings_ratingsession s ON s.id = r.session_id
            WHERE s.study_id = %s GROUP BY 1, 2, 3
            """,
            [study_id],
        )
        rows = {(token, index): (key, n) for token, index, key, n in cursor.fetchall()}
        cursor.execute(
            """SELECT count(*) FROM (SELECT 1 FROM ratings_rating r JOIN ratings_ratingsession s ON s.id = r.session_id
               WHERE s.study_id = %s GROUP BY r.session_id, r.stimulus_id, r.perspective_id, r.repetition
               HAVING count(*) > 1) d""",
            [study_id],
        )
        duplicated = cursor.fetchone()[0]
    lost = sum(1 for token, index, key in acked if rows.get((token, index), ("", 0)) != (key, perspectives))
    acked_keys = {(t, i) for t, i, _k in acked}
    tokens = {t for t, _i, _k in acked}  # this run's sessions only (the study holds earlier runs too)
    unacknowledged = sum(1 for k in rows if k[0] in tokens and k not in acked_keys)
    return {
        "acknowledged": len(acked),
        "stored_answers": len(rows),
        "lost": lost,
        "duplicated": duplicated,
        "stored_without_ack": unacknowledged,
    }


def rating_bench(
    stack: Stack, study: Any, concurrency: int, tag: str, profile: bool = False, rounds: int = 1
) -> dict[str, Any]:
    """`rounds` alternating pairs (full path, then reference), each full round with fresh sessions:
    the ratio of each pair, their median, and each side's CPU per request by process."""
    preps = [prepare(stack, study, concurrency, f"{tag}r{r}") for r in range(rounds)]
    pairs, acked = [], []
    for r, prepared in enumerate(preps):
        spy = stack.profile(f"full-{concurrency}") if profile and r == 0 else None
        c0 = group_cpu(stack)
        full = drive(stack.port, prepared.jobs)
        c1 = group_cpu(stack)
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its file on SIGINT
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        c2 = group_cpu(stack)
        ref = drive(stack.port, prepared.reference_jobs)
        c3 = group_cpu(stack)
        acked.extend(full.acked)
        pairs.append(
            {
                "full": summary(full),
                "reference": summary(ref),
                "ratio": round(full.rate / ref.rate, 3) if ref.rate else None,
                "full_cpu_ms_per_request": cpu_used(c0, c1, full.count),
                "reference_cpu_ms_per_request": cpu_used(c2, c3, ref.count),
                "full_machine_percent": machine_share(c0, c1),
                "reference_machine_percent": machine_share(c2, c3),
            }
        )
    stored = check_stored(study.pk, acked, perspectives=3)
    ratios = sorted(p["ratio"] for p in pairs if p["ratio"] is not None)
    return {
        "concurrency": concurrency,
        "sessions": sum(p.sessions for p in preps),
        "session_setup_s": round(sum(p.setup_seconds for p in preps), 2),
        **pairs[0],
        "rounds": pairs,
        "ratio_median": ratios[len(ratios) // 2] if ratios else None,
        "db": stored,
    }


def summary(r: DriveResult) -> dict[str, Any]:
    return {
        "requests": r.count,
        "seconds": round(r.seconds, 2),
        "per_second": round(r.rate, 1),
        "p50_ms": ms(r.latencies, 50),
        "p99_ms": ms(r.latencies, 99),
        "errors": len(r.errors),
        "error_samples": r.errors[:3],
        "reconnects": r.reconnects,
    }


# --- 3. Open loop: participants arrive over time and think between answers -------------------------
@dataclass
class OpenParticipant:
    token: str
    page_path: str
    submit_path: str
    trials: list[tuple[int, int]]  # (index, stimulus id) in order
    next: int = 0


def open_participants(study: Any, n: int, tag: str) -> list[OpenParticipant]:
    """n sessions ready to rate, made in this process through the real services (consent,
    display check, instructions), n at a time in 4 threads: faster than over HTTP for 1,000s."""
    from django.db import connection

    from ratings.models import Trial
    from ratings.panels import PanelEntry
    from ratings.services import participant_enter, session_display_check_pass, session_instructions_done

    def one(i: int) -> OpenParticipant:
        try:
            pid = f"{tag}-{i}"
            entry = PanelEntry(panel=study.panel, external_id=pid, data={"pid": pid})
            session = participant_enter(study=study, entry=entry, consent=True)
            session = session_display_check_pass(
                session=session, device={"fits": True, "screen": "1920x1080"}
            )
            session = session_instructions_done(session=session)
            trials = list(
                Trial.objects.filter(session=session).order_by("index").values_list("index", "stimulus_id")
            )
            return OpenParticipant(
                session.token,
                f"/s/{study.slug}/t/{session.token}/",
                f"/api/participant/{session.token}/ratings/",
                trials,
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


@dataclass
class LevelResult:
    participants: int
    seconds: float
    submit: list[float] = field(default_factory=list)
    pages: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    peak_concurrent: int = 0

    def passed(self, p99_ms: float) -> bool:
        pages_ok = not self.pages or pct(self.pages, 99) * 1000 <= p99_ms
        return bool(self.submit) and pct(self.submit, 99) * 1000 <= p99_ms and pages_ok and not self.errors

    def summary(self, p99_ms: float) -> dict[str, Any]:
        return {
            "participants": self.participants,
            "peak_concurrent": self.peak_concurrent,
            "submissions": len(self.submit),
            "submissions_per_second": round(len(self.submit) / self.seconds, 1),
            "submit_p50_ms": ms(self.submit, 50),
            "submit_p99_ms": ms(self.submit, 99),
            "page_loads": len(self.pages),
            "page_p99_ms": ms(self.pages, 99) if self.pages else None,
            "errors": len(self.errors),
            "error_samples": self.errors[:3],
            "passed": self.passed(p99_ms),
        }


async def _http(port: int, data: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection (a person thinks 4-8 s: longer than any keep-alive)."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    if len(raw) < 12:
        raise ConnectionError("empty response")
    return int(raw[9:12]), raw.partition(b"\r\n\r\n")[2]


async def _open_level(
    port: int,
    people: list[OpenParticipant],
    csrf: str,
    scale: tuple[list[str], int, int],
    *,
    reference: bool,
    ramp: float,
    hold: float,
    seed: int,
) -> LevelResult:
    import asyncio

    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5
    end = t0 + ramp + hold
    result = LevelResult(len(people), ramp + hold)
    active = [0]
    headers = {
        "Content-Type": "application/json",
        "X-CSRFToken": csrf,
        "Cookie": f"csrftoken={csrf}",
        "Origin": f"http://127.0.0.1:{port}",
        "Connection": "close",
    }
    # Poisson arrivals: exponential gaps with the mean that brings everyone in over the ramp.
    arrivals, at = [], t0
    for _ in people:
        at += rng.expovariate(len(people) / ramp)
        arrivals.append(at)

    async def timed(kind: list[float], data: bytes, scheduled: float) -> None:
        try:
            status, body = await _http(port, data)
        except (TimeoutError, OSError, ConnectionError) as exc:
            result.errors.append(f"connection: {exc!r}")
            return
        kind.append(
            loop.time() - scheduled
        )  # from the intended time: lateness counts (no coordinated omission)
        if status not in (200, 201):
            result.errors.append(f"HTTP {status}: {body[:160]!r}")

    async def person(p: OpenParticipant, arrive: float, prng: random.Random) -> None:
        await asyncio.sleep(max(0.0, arrive - loop.time()))
        active[0] += 1
        result.peak_concurrent = max(result.peak_concurrent, active[0])
        if not reference:
            page = encode("GET", p.page_path, port, b"", {"Connection": "close"})
            await timed(result.pages, page, arrive)
        when = loop.time() + prng.uniform(4, 8)
        while when < end and p.next < len(p.trials):
            await asyncio.sleep(max(0.0, when - loop.time()))
            index, stimulus = p.trials[p.next]
            body = json.dumps(
                {
                    "index": index,
                    "stimulus": stimulus,
                    "scores": {k: prng.randint(scale[1], scale[2]) for k in scale[0]},
                    "key": str(uuid.uuid4()),
                    "viewing_ms": 2400,
                    "response_ms": 1700,
                    "client_time": "2026-01-01T12:00:00+00:00",
                }
            ).encode()
            path = "/bench/reference/" if reference else p.submit_path
            await timed(result.submit, encode("POST", path, port, body, headers), when)
            p.next += 1
            when = loop.time() + prng.uniform(4, 8)  # the next image is shown, the person thinks
        active[0] -= 1

    await asyncio.gather(
        *(person(p, a, random.Random(rng.random())) for p, a in zip(people, arrivals, strict=True))
    )
    return result


def open_loop_bench(
    stack: Stack,
    study: Any,
    *,
    start: int,
    cap: int,
    ramp: float,
    hold: float,
    p99_ms: float,
    levels_only: list[int] | None = None,
    sides: tuple[str, ...] = ("full", "reference"),
) -> dict[str, Any]:
    """Largest participant count with p99 <= p99_ms and no error: double from `start` until a level
    fails (or `cap`), then one level halfway between the last pass and the first failure (halve
    from `start` instead while no level has passed, down to 10); or exactly `levels_only`. The same
    levels, arrival times and think times drive the full path and the bare insert reference."""
    import asyncio

    from django.middleware.csrf import _get_new_csrf_string  # type: ignore[attr-defined]

    csrf = _get_new_csrf_string()  # the unmasked secret is a valid token for cookie and header alike
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    scale = (keys, int(study.scale_min), int(study.scale_max))
    started = time.perf_counter()
    people = open_participants(study, max(levels_only) if levels_only else cap, "open")
    setup = time.perf_counter() - started
    out: dict[str, Any] = {"sessions": len(people), "session_setup_s": round(setup, 1), "levels": {}}
    for name, reference in (("full", False), ("reference", True)):
        if name not in sides:
            continue
        levels: list[dict[str, Any]] = []
        best, failed, n = 0, 0, start
        todo = list(levels_only or [])
        if todo:
            n = todo.pop(0)
        while n:
            print(f"   open loop, {name}: {n} participants ...", flush=True)
            level = asyncio.run(
                _open_level(
                    stack.port, people[:n], csrf, scale, reference=reference, ramp=ramp, hold=hold, seed=n
                )
            )
            summary = level.summary(p99_ms)
            levels.append(summary)
            print(
                f"     peak {summary['peak_concurrent']} concurrent, {summary['submissions_per_second']} answers/s, "
                f"submit p99 {summary['submit_p99_ms']} ms, page p99 {summary['page_p99_ms']} ms, "
                f"errors {summary['errors']} -> {'pass' if summary['passed'] else 'FAIL'}",
                flush=True,
            )
            if summary["passed"]:
                best = max(best, n)
            else:
                failed = n if not failed else min(failed, n)
            if levels_only:
                n = todo.pop(0) if todo else 0
            elif not best and failed:  # even the first level failed: halve until one passes
                n = n // 2 if n // 2 >= 10 and len(levels) < 8 else 0
            elif not failed:
                n = n * 2 if n * 2 <= cap else (cap if n < cap else 0)
            else:
                mid = (best + failed) // 2
                n = (
                    mid
                    if best and mid not in (best, failed) and len(levels) < 8 and mid - best >= start // 2
                    else 0
                )
        out["levels"][name] = levels
        out[f"{name}_max_participants"] = best
    return out


# --- Main ------------------------------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    return sum(st[1] for st in map(_proc_stat, pids) if st is not None)


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its children that ended) from /proc: a
    worker replaced or a database connection closed still counts, in its parent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def group_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (each root process and its descendants),
    and by this load generator."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _cpu) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> float:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += stats[pid][1] if pid in stats else 0.0
            todo.extend(children.get(pid, []))
        return total

    roots: dict[str, int] = {}
    for proc in stack.procs:
        name = next((n for n in ("gunicorn", "celery", "redis") if n in " ".join(map(str, proc.args))), "")
        if name:
            roots[name] = proc.pid
    pidfile = stack.var / "pg" / "data" / "postmaster.pid"
    if pidfile.exists():
        roots["postgres"] = int(pidfile.read_text().split()[0])
    out = {name: round(tree(pid), 2) for name, pid in roots.items()}
    out["generator"] = round(cpu_seconds([os.getpid()]), 2)
    return {**out, **machine_seconds()}


def cpu_used(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each part between two `group_cpu` readings."""
    return {
        k: round(1000 * (after[k] - before.get(k, 0.0)) / max(requests, 1), 2) for k in after if k in PARTS
    }


PARTS = ("gunicorn", "celery", "redis", "postgres", "generator")
#: /proc/stat's first line: user nice system idle iowait irq softirq steal (clock ticks, all cores)
MACHINE = {"idle": 3, "iowait": 4, "steal": 7}


def machine_seconds() -> dict[str, float]:
    """All cores' idle, I/O-wait and stolen (by the hypervisor) seconds so far, and the time."""
    ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    out = {k: int(ticks[i]) / os.sysconf("SC_CLK_TCK") for k, i in MACHINE.items()}
    out["wall"] = time.monotonic()
    return out


def machine_share(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Between two `group_cpu` readings: the share (%) of the machine's cores idle, waiting for
    I/O and stolen by the hypervisor (other virtual machines on the host)."""
    capacity = (after["wall"] - before["wall"]) * (os.cpu_count() or 1)
    return {k: round(100 * (after[k] - before[k]) / max(capacity, 1e-9), 1) for k in MACHINE}


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # run the finally clauses: stop everything that was started


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per session in the rating runs")
    parser.add_argument(
        "--keep", action="store_true", help="leave var/bench-load/ in place (it is stopped anyway)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the workers during the session starts and the full-path runs",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (docs/deploy.md: 2)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per worker (docs/deploy.md: 4)")
    parser.add_argument("--only-ratings", action="store_true", help="skip the allocation part")
    parser.add_argument("--no-closed", action="store_true", help="skip the closed-loop rating runs")
    parser.add_argument(
        "--closed", default="16,64", help="closed loop: concurrent participants, comma-separated"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="closed loop: alternating full/reference pairs per level"
    )
    parser.add_argument("--no-open", action="store_true", help="skip the open-loop runs")
    parser.add_argument("--open-start", type=int, default=100, help="open loop: first participant count")
    parser.add_argument(
        "--open-levels",
        default="",
        help="open loop: these participant counts only (comma-separated), no search",
    )
    parser.add_argument(
        "--open-sides", default="full,reference", help="open loop: which paths to drive (full, reference)"
    )
    parser.add_argument(
        "--open-cap", type=int, default=1600, help="open loop: largest participant count tried"
    )
    parser.add_argument(
        "--open-ramp", type=float, default=10.0, help="open loop: seconds over which they arrive"
    )
    parser.add_argument("--open-hold", type=float, default=30.0, help="open loop: seconds all of them stay")
    parser.add_argument(
        "--open-p99-ms", type=float, default=100.0, help="open loop: the p99 a level must meet"
    )
    args = parser.parse_args()
    stack = Stack(VAR, web_workers=args.web_workers, web_threads=args.web_threads)
    results: dict[str, Any] = {
        "cores": os.cpu_count(),
        "gunicorn": f"{args.web_workers} workers x {args.web_threads} threads (gthread)",
        "postgres": "fsync=on, synchronous_commit=on",
        "cache": "Redis (rate-limit counters), limits on but high",
    }
    try:
        print("starting PostgreSQL (fsync on), Redis, Celery, gunicorn in", VAR.relative_to(ROOT), flush=True)
        stack.start()
        django_setup(stack.env)
        reference_table()
        alloc_study = study_make("bench-alloc", stimuli=300, per_session=10, target=4)
        rate_study = study_make("bench-rate", stimuli=600, per_session=args.trials, target=1000)
        if not args.only_ratings:
            print("allocation under load: 2 waves of 64 simultaneous session starts ...", flush=True)
            results["allocation"] = allocation_bench(stack, alloc_study, profile=args.profile)
        for conc in () if args.no_closed else [int(c) for c in args.closed.split(",")]:
            print(f"rating submissions at {conc} concurrent participants ...", flush=True)
            cpu0 = cpu_seconds([os.getpid()])
            results[f"ratings_{conc}"] = rating_bench(
                stack, rate_study, conc, f"rate{conc}", profile=args.profile, rounds=args.rounds
            )
            results[f"ratings_{conc}"]["generator_cpu_s"] = round(cpu_seconds([os.getpid()]) - cpu0, 2)
        if not args.no_open:
            print(
                f"open loop: Poisson arrivals over {args.open_ramp} s, then {args.open_hold} s; one answer every 4-8 s ...",
                flush=True,
            )
            open_study = study_make("bench-open", stimuli=600, per_session=args.trials, target=100_000)
            results["open_loop"] = open_loop_bench(
                stack,
                open_study,
                start=args.open_start,
                cap=args.open_cap,
                ramp=args.open_ramp,
                hold=args.open_hold,
                p99_ms=args.open_p99_ms,
                levels_only=[int(n) for n in args.open_levels.split(",") if n.strip()],
                sides=tuple(args.open_sides.split(",")),
            )
            results["open_loop"]["p99_ms_limit"] = args.open_p99_ms
    finally:
        stack.stop()
    (VAR / "results.json").write_text(json.dumps(results, indent=2))
    report(results)


def report(r: dict[str, Any]) -> None:
    print()
    print(
        f"== bench/load on {r['cores']} cores; gunicorn {r['gunicorn']}; PostgreSQL {r['postgres']}; "
        f"cache {r['cache']}"
    )
    a = r.get("allocation")
    if a:
        report_allocation(a)
    report_ratings(r)
    if "open_loop" in r:
        report_open(r["open_loop"])
    print(f"(figures also in {VAR.relative_to(ROOT)}/results.json)")


def report_allocation(a: dict[str, Any]) -> None:
    print(f"-- allocation: {a['participants']} session starts in 2 waves of 64 at once -> {a['outcomes']}")
    print(
        f"   session start (consent POST, allocates the trials): client p50 {a['session_start_client_ms']['p50']} ms, "
        f"p99 {a['session_start_client_ms']['p99']} ms; server p50 {a['session_start_server_ms']['p50']} ms, "
        f"p99 {a['session_start_server_ms']['p99']} ms"
    )
    print(
        f"   allocation counters while filling: max spread {a['load_spread_max']} over {a['spread_samples']} samples, "
        f"max load {a['load_max']} (target {a['target']}); after rating every session: "
        f"{a['final']['ratings_per_stimulus_min']}..{a['final']['ratings_per_stimulus_max']} ratings per stimulus"
    )
    print(f"   CPU ms per session start during the bursts: {a['cpu_ms_per_start']}")


def report_open(o: dict[str, Any]) -> None:
    print(
        f"-- open loop: participants arrive as a Poisson process and answer one trial every 4-8 s "
        f"({o['sessions']} sessions made in {o['session_setup_s']} s); a level passes with p99 <= "
        f"{o['p99_ms_limit']} ms for submissions and page loads and no error"
    )
    for name in ("full", "reference"):
        for lv in o["levels"].get(name, []):
            print(
                f"   {name:<9}: {lv['participants']:>5} participants (peak {lv['peak_concurrent']} at once): "
                f"{lv['submissions_per_second']} answers/s, submit p50 {lv['submit_p50_ms']} ms p99 {lv['submit_p99_ms']} ms, "
                f"page p99 {lv['page_p99_ms']} ms, errors {lv['errors']} -> {'pass' if lv['passed'] else 'FAIL'}"
            )
            for e in lv["error_samples"]:
                print("      error:", e)
    print(
        f"   largest participant count held: full path {o.get('full_max_participants', '-')}, "
        f"bare insert reference {o.get('reference_max_participants', '-')}"
    )


def report_ratings(r: dict[str, Any]) -> None:
    for key in sorted(k for k in r if k.startswith("ratings_")):
        x = r[key]
        db = x["db"]
        print(
            f"-- ratings at {x['concurrency']} concurrent participants ({x['sessions']} sessions made through the "
            f"real flow in {x['session_setup_s']} s), {len(x['rounds'])} alternating rounds"
        )
        for i, pair in enumerate(x["rounds"], 1):
            f, ref = pair["full"], pair["reference"]
            print(
                f"   round {i}: full path {f['requests']} in {f['seconds']} s = {f['per_second']}/s "
                f"(p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, errors {f['errors']}, reconnects {f['reconnects']}); "
                f"reference {ref['per_second']}/s (p50 {ref['p50_ms']} ms, p99 {ref['p99_ms']} ms, errors "
                f"{ref['errors']}); ratio {pair['ratio']}"
            )
            print(
                f"      CPU ms per request, full path: {pair['full_cpu_ms_per_request']}; "
                f"machine %: {pair['full_machine_percent']}"
            )
            print(
                f"      CPU ms per request, reference: {pair['reference_cpu_ms_per_request']}; "
                f"machine %: {pair['reference_machine_percent']}"
            )
            for e in f["error_samples"] + ref["error_samples"]:
                print("      error:", e)
        print(
            f"   ratio full/reference: median {x['ratio_median']}; database: {db['acknowledged']} acknowledged, "
            f"{db['lost']} lost, {db['duplicated']} duplicated, {db['stored_without_ack']} stored without an ack; "
            f"load generator CPU {x['generator_cpu_s']} s"
        )


if __name__ == "__main__":
    main()
