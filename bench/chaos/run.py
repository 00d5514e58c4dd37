#!/usr/bin/env python
"""Fault injection with figures. One command: `.venv/bin/python bench/chaos/run.py [scenario ...]`.

Starts the production-shaped stack (bench/chaos/stack.py: PostgreSQL with fsync on, Redis as
broker and cache, a Celery worker, gunicorn 2 workers x 4 threads) and runs, with simulated
participants over real HTTP (pilot.simulator: retries with the same idempotency key on
connection errors and 5xx, as the trial page does):

1. gunicorn   SIGKILL a random gunicorn worker every 1.5 s during participant load (a worker
              takes about a second to boot again on 2 busy cores).
2. postgres   Stop PostgreSQL (fast shutdown) twice during participant sessions, 3 s each.
3. redis      Kill Redis: participants keep rating; an analysis start says the job queue is
              unavailable and the run stays pending; Redis back, the sweep enqueues it, done.
4. celery     SIGKILL the Celery worker mid-analysis, restart it: the run completes once,
              with the files of an undisturbed run.

Each prints: ratings acknowledged (201/200 to a client), stored, duplicated, lost, stored
without acknowledgement; jobs lost. Results also go to var/bench-chaos/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "bench-chaos"
sys.path.insert(0, str(ROOT))

from bench.chaos.stack import Stack  # noqa: E402
from pilot import simulator  # noqa: E402  (stdlib only)

SCENARIOS = ("gunicorn", "postgres", "redis", "celery")
KILL_EVERY = 1.5  # seconds between gunicorn worker kills


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def fresh_db() -> None:
    from django.db import close_old_connections, connections

    close_old_connections()
    for conn in connections.all():
        conn.close()


# --- Data ---------------------------------------------------------------------------------------
def open_study(tag: str, *, stimuli: int = 60, per_session: int = 10) -> Any:
    from experiments.models import Study
    from tests.factories import StimulusFactory, StudyFactory, UserFactory

    owner = UserFactory(username=f"chaos-{tag}")
    study = StudyFactory(
        owner=owner,
        slug=f"chaos-{tag}",
        title=f"Chaos {tag}",
        stimuli_per_session=per_session,
        training_count=0,
        min_viewing_ms=0,
        break_every=0,
        target_ratings=10_000,
        check_straightlining=False,
    )
    for i in range(stimuli):
        StimulusFactory(study=study, prompt=f"prompt {i % 20}", name=f"{tag}-{i}.png")
    study.status = Study.Status.OPEN
    study.save()
    return study


def ledger(study: Any, result: simulator.SimulationResult) -> dict[str, Any]:
    """Acknowledged answers (per perspective) against the database."""
    from django.db.models import Count

    from ratings.models import Rating

    fresh_db()
    acked: dict[tuple[str, int, str], float] = {}
    for p in result.participants:
        for answer in p.stored:
            for key, score in answer["scores"].items():
                acked[(p.token, answer["index"], key)] = float(score)
    rows = list(
        Rating.objects.filter(session__study=study).values_list(
            "session__token", "trial_index", "perspective__key", "score"
        )
    )
    stored = {(t, i, k): s for t, i, k, s in rows}
    dup_groups = (
        Rating.objects.filter(session__study=study)
        .values("session_id", "stimulus_id", "perspective_id", "repetition")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return {
        "acknowledged": len(acked),
        "stored": sum(1 for k, s in acked.items() if stored.get(k) == s),
        "duplicated": sum(g["n"] - 1 for g in dup_groups),
        "lost": sum(1 for k in acked if k not in stored),
        "changed": sum(1 for k, s in acked.items() if k in stored and stored[k] != s),
        "stored_unacknowledged": sum(1 for k in stored if k not in acked),
        "participants": result.outcomes(),
        "client_retries": result.stats.retries,
        "client_errors": len(result.stats.errors),
        "client_error_examples": [e[:160] for e in result.stats.errors[:3]],
    }


def simulate_in_background(
    stack: Stack, slug: str, n: int, concurrency: int, think: tuple[float, float], retries: int = 12
) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def go() -> None:
        out["result"] = simulator.simulate(
            stack.url,
            slug,
            n,
            concurrency=concurrency,
            think=think,
            population=simulator.Population(seed=7, spammers=0.0, straightliners=0.0, abandoners=0.0),
            client_options={"max_retries": retries, "backoff": 0.2, "max_backoff": 2.0},
        )

    thread = threading.Thread(target=go, name="participants")
    thread.start()
    return thread, out


# --- Scenarios ------------------------------------------------------------------------------------
def scenario_gunicorn(stack: Stack) -> dict[str, Any]:
    study = open_study("gunicorn")
    # The trial page never gives up (answers wait in the browser); the simulated client retries
    # 30 times with backoff up to 2 s, about a minute of outage.
    thread, out = simulate_in_background(
        stack, study.slug, n=96, concurrency=16, think=(0.005, 0.03), retries=30
    )
    kills = 0
    rng = random.Random(1)
    time.sleep(0.5)
    while thread.is_alive():
        workers = stack.gunicorn_workers()
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills += 1
        time.sleep(KILL_EVERY)
    thread.join()
    return {"worker_kills": kills, **ledger(study, out["result"]), "healthz_after": stack.healthz()}


def scenario_postgres(stack: Stack) -> dict[str, Any]:
    study = open_study("postgres")
    master, workers = stack.gunicorn_master(), sorted(stack.gunicorn_workers())
    thread, out = simulate_in_background(
        stack, study.slug, n=24, concurrency=8, think=(0.05, 0.15), retries=15
    )
    outages = []
    for _ in range(2):
        time.sleep(1.5)
        down_at = time.monotonic()
        stack.postgres_stop()
        health_down = stack.healthz()
        time.sleep(3)
        stack.postgres_start()
        outages.append({"seconds": round(time.monotonic() - down_at, 1), "healthz_during": health_down})
    thread.join()
    recovered = stack.healthz()
    return {
        "outages": outages,
        **ledger(study, out["result"]),
        "healthz_after": recovered,
        "server_restarted": stack.gunicorn_master() != master or sorted(stack.gunicorn_workers()) != workers,
    }


def _api(
    stack: Stack, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(
        method,
        path,
        body=data,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    raw = response.read()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")[:300]


def _wait_run(run_id: int, done: Any, timeout: float = 120) -> Any:
    from analysis.models import AnalysisRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh_db()
        run = AnalysisRun.objects.get(pk=run_id)
        if done(run):
            return run
        time.sleep(0.3)
    return AnalysisRun.objects.get(pk=run_id)


def scenario_redis(stack: Stack) -> dict[str, Any]:
    from rest_framework.authtoken.models import Token

    from analysis.models import AnalysisRun
    from analysis.services import analysis_runs_sweep

    study = open_study("redis")
    token = Token.objects.create(user=study.owner).key
    stack.redis_kill()
    thread, out = simulate_in_background(stack, study.slug, n=12, concurrency=6, think=(0.0, 0.02))
    thread.join()
    ratings = ledger(study, out["result"])
    started = time.monotonic()
    status, body = _api(stack, "POST", f"/api/studies/{study.slug}/analysis-runs/", token, {"method": "mos"})
    answer_seconds = round(time.monotonic() - started, 2)
    fresh_db()
    run = AnalysisRun.objects.filter(study=study).order_by("-pk").first()
    pending_while_down = run.status if run else None
    stack.redis_start()
    time.sleep(2)  # the worker reconnects on its own
    swept = analysis_runs_sweep(pending_after=timedelta(0))  # what the periodic sweep does
    run = _wait_run(run.pk, lambda r: r.is_finished) if run else None
    return {
        **ratings,
        "analysis_start_while_down": {
            "status": status,
            "message": body.get("detail") if isinstance(body, dict) else body,
            "seconds": answer_seconds,
        },
        "run_status_while_down": pending_while_down,
        "swept_after_redis_back": swept,
        "run_status_after": run.status if run else None,
        "jobs_lost": 0 if run and run.status == AnalysisRun.Status.DONE else 1,
    }


def scenario_celery(stack: Stack) -> dict[str, Any]:
    from django.core.files.storage import default_storage

    from analysis import services
    from analysis.models import AnalysisRun
    from tests.factories import rated_study_create

    study, _items, _people = rated_study_create(stimuli=300, raters=40, spammers=4, slug="chaos-celery")
    reference = services.analysis_run_start(study=study, method="bt500_zscore", enqueue=False)
    services.analysis_run_execute(run_id=reference.id)
    reference.refresh_from_db()
    run = services.analysis_run_start(study=study, method="bt500_zscore")
    running = _wait_run(run.pk, lambda r: r.status == AnalysisRun.Status.RUNNING, timeout=60)
    time.sleep(0.3)
    progress_at_kill = _wait_run(run.pk, lambda r: True).progress
    stack.celery_kill()
    killed_at = time.monotonic()
    stack.celery_start()
    # The sweep re-enqueues a running run once its heartbeat is older than ANALYSIS_RUN_STALE_SECONDS.
    swept: list[int] = []
    while not swept and time.monotonic() - killed_at < 120:
        time.sleep(1)
        fresh_db()
        swept = services.analysis_runs_sweep()
    run = _wait_run(run.pk, lambda r: r.is_finished, timeout=180)
    same = {}
    if run.status == AnalysisRun.Status.DONE:
        for rel in ("moz1.txt", "moz2.txt", "moz3.txt", "mos.csv", "raters.csv"):
            with (
                default_storage.open(f"{run.storage_dir}/{rel}") as a,
                default_storage.open(f"{reference.storage_dir}/{rel}") as b,
            ):
                same[rel] = a.read() == b.read()
    time.sleep(3)  # let a redelivered duplicate message arrive: it must change nothing
    fresh_db()
    after = AnalysisRun.objects.get(pk=run.pk)
    return {
        "status_when_killed": running.status,
        "progress_when_killed": round(progress_at_kill, 2),
        "swept": swept,
        "status_after": run.status,
        "attempts": run.attempts,
        "recovery_seconds": round(time.monotonic() - killed_at, 1),
        "same_files_as_undisturbed_run": same,
        "same_fingerprint": run.input_fingerprint == reference.input_fingerprint,
        "unchanged_after_duplicate_delivery": (after.finished_at, after.claim_token)
        == (run.finished_at, run.claim_token),
        "jobs_lost": 0 if run.status == AnalysisRun.Status.DONE else 1,
    }


# --- Report ---------------------------------------------------------------------------------------
def report(results: dict[str, Any]) -> None:
    print("\n== bench/chaos: faults and what survived them")
    print(
        f"{'scenario':<10} {'acknowledged':>12} {'stored':>7} {'duplicated':>10} {'lost':>5} {'unacked-stored':>14} {'jobs lost':>9}"
    )
    for name in SCENARIOS:
        r = results.get(name)
        if not r:
            continue
        cells = [
            r.get(k, "-") for k in ("acknowledged", "stored", "duplicated", "lost", "stored_unacknowledged")
        ]
        print(
            f"{name:<10} {cells[0]:>12} {cells[1]:>7} {cells[2]:>10} {cells[3]:>5} {cells[4]:>14} {r.get('jobs_lost', 0):>9}"
        )
    for name in SCENARIOS:
        if name in results:
            extra = {
                k: v
                for k, v in results[name].items()
                if k not in ("acknowledged", "stored", "duplicated", "lost", "stored_unacknowledged")
            }
            print(f"\n[{name}] " + json.dumps(extra, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    stack = Stack(
        VAR,
        extra_env={
            "DJANGO_CACHE_URL": "",  # set below, once the Redis port is known
            "ANALYSIS_RUN_STALE_SECONDS": "8",  # a killed worker's run is re-claimed after 8 s without heartbeat
            "CELERY_VISIBILITY_TIMEOUT": "30",  # and its unacknowledged message is redelivered after 30 s
        },
    )
    stack.extra_env["DJANGO_CACHE_URL"] = f"redis://127.0.0.1:{stack.redis_port}/1"
    results: dict[str, Any] = {}
    try:
        print("starting PostgreSQL (fsync on), Redis, Celery, gunicorn in", VAR.relative_to(ROOT), flush=True)
        stack.start()
        django_setup(stack.env)
        for name in args.scenarios:
            print(f"-- {name}", flush=True)
            started = time.monotonic()
            results[name] = globals()[f"scenario_{name}"](stack)
            results[name]["seconds"] = round(time.monotonic() - started, 1)
            print(json.dumps(results[name], default=str), flush=True)
    finally:
        stack.stop()
    (VAR / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report(results)
    bad = [
        n
        for n, r in results.items()
        if r.get("lost") or r.get("duplicated") or r.get("jobs_lost") or r.get("changed")
    ]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
