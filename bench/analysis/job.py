"""Driver of bench/analysis/job.sh (needs its database and Redis): prints the job's figures.

1. Builds an AIGCIQA2023-sized study: 2,400 test images (6 models x 400), 3 perspectives,
   120 participants each rating 400 images on every perspective = 144,000 ratings, written with
   bulk inserts (a benchmark fixture, not the rating path: that one is bench/load's subject).
2. Starts a real Celery worker, starts an analysis run (analysis_run_start, enqueued after
   commit) and waits for it: wall time from the start to "done", and the job's own timings.
3. Renders the results page with Django's test client, 5 times (best and median).

Baselines measured in the same run: reading the 144,000 ratings with one ``values_list`` query
(the least any job must do), and rendering the login page (the least any page costs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from analysis.models import AnalysisRun  # noqa: E402
from analysis.services import analysis_run_start  # noqa: E402
from experiments.models import Perspective, Stimulus, Study  # noqa: E402
from experiments.services import study_create  # noqa: E402
from ratings.models import Participant, Rating, RatingSession, Trial  # noqa: E402

MODELS = ("Controlnet", "DALLE", "Glide", "Lafite", "stable-diffusion", "Unidiffuser")
N_IMAGES, N_RATERS, PER_RATER = 2400, 120, 400  # 120 x 400 / 2400 = 20 ratings per image


def build_study() -> Study:
    import numpy as np

    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    study = study_create(owner=user, title="AIGCIQA2023-sized bench", slug="bench-analysis")
    Stimulus.objects.bulk_create(
        Stimulus(
            study=study,
            position=n,
            name=f"{n}.png",
            image=f"stimuli/bench/{n}.png",
            sha256=f"{n:064x}",
            width=512,
            height=512,
            format="PNG",
            prompt=f"prompt {(n % 400) // 4}",
            generator=MODELS[n // 400],
            categories={"challenge": f"c{n % 10}", "scene": f"s{(n // 10) % 10}"},
        )
        for n in range(N_IMAGES)
    )
    stimuli = list(study.stimuli.order_by("position").values_list("pk", flat=True))
    perspectives = list(Perspective.objects.filter(study=study).order_by("order"))
    rng = np.random.default_rng(0)
    truth = rng.uniform(1.5, 4.5, N_IMAGES)
    for i in range(N_RATERS):
        participant = Participant.objects.create(study=study, panel=study.panel, external_id=f"bench-{i}")
        session = RatingSession.objects.create(participant=participant, study=study, status="completed")
        mine = [(i * PER_RATER + k) % N_IMAGES for k in range(PER_RATER)]
        trials = Trial.objects.bulk_create(
            Trial(session=session, index=k, stimulus_id=stimuli[j], prompt_shown="p")
            for k, j in enumerate(mine)
        )
        spam = i % 10 == 0
        Rating.objects.bulk_create(
            Rating(
                session=session,
                trial=t,
                stimulus_id=t.stimulus_id,
                perspective=p,
                score=float(rng.integers(1, 6))
                if spam
                else float(np.clip(np.rint(truth[j] + rng.normal(0, 0.6)), 1, 5)),
                kind="test",
                prompt_shown="p",
                trial_index=t.index,
                idempotency_key=uuid.uuid4(),
            )
            for t, j in zip(trials, mine, strict=True)
            for p in perspectives
        )
    # Statistics as autovacuum keeps them on a live database (it analyses a table once a tenth of
    # it changed, within a minute): a study's ratings arrive over days, never in one second before
    # its analysis. Without them the planner guesses one rating per study and the job's read of
    # the 144,000 ratings takes 1.5 s instead of 0.3 s.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return study


def baseline_read(study: Study) -> float:
    t = time.perf_counter()
    rows = list(
        Rating.objects.filter(session__study=study).values_list(
            "session__participant_id", "stimulus_id", "perspective_id", "score"
        )
    )
    assert len(rows) == N_IMAGES * 20 * 3
    return time.perf_counter() - t


def _cpu_seconds(pid: int) -> float:
    """user + sys CPU seconds of process ``pid`` and its live children (the prefork pool)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_job(study: Study, log: Path) -> tuple[float, float, AnalysisRun]:
    worker = subprocess.Popen(
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
            "--loglevel=WARNING",
        ],  # fmt: skip
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        from config.celery import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start")
        cpu = _cpu_seconds(worker.pid)
        t = time.perf_counter()
        run = analysis_run_start(study=study, method="bt500_zscore")
        while True:
            run.refresh_from_db()
            if run.is_finished:
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t
        return wall, _cpu_seconds(worker.pid) - cpu, run
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def page_times(run: AnalysisRun) -> tuple[list[float], list[float]]:
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host in, as in the test suite
    client = Client()
    client.login(username="bench", password="bench-pw-123")
    page, login = [], []
    for _ in range(5):
        t = time.perf_counter()
        response = client.get(reverse("analysis:run-detail", args=[run.pk]))
        page.append(time.perf_counter() - t)
        assert response.status_code == 200
        t = time.perf_counter()
        Client().get(reverse("login"))
        login.append(time.perf_counter() - t)
    if os.environ.get("BENCH_PROFILE_PAGE"):  # one more render under cProfile, for looking into
        import cProfile

        cProfile.runctx(
            "client.get(url)",
            globals(),
            {"client": client, "url": reverse("analysis:run-detail", args=[run.pk])},
            os.environ["BENCH_PROFILE_PAGE"],
        )
    return page, login


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-log", type=Path, default=ROOT / "var" / "bench-analysis-worker.log")
    args = parser.parse_args()
    t = time.perf_counter()
    study = build_study()
    print(f"study built: {N_IMAGES} images x 3 perspectives, {N_RATERS} raters, "
          f"{Rating.objects.filter(session__study=study).count()} ratings ({time.perf_counter() - t:.1f} s)")  # fmt: skip
    base = min(baseline_read(study) for _ in range(3))
    print(f"load average before the job: {load_average()}")
    wall, cpu, run = run_job(study, args.worker_log)
    if run.status != AnalysisRun.Status.DONE:
        raise SystemExit(f"the run failed: {run.error}")
    print(f"analysis job (Celery, start to done): {wall:.2f} s (worker CPU user+sys {cpu:.2f} s)   target <= 5 s   "
          f"{'ok' if wall <= 5 else 'SLOW'}   = {wall / base:.1f} x reading the ratings ({base:.2f} s)   "
          f"load average {load_average()}")  # fmt: skip
    steps = {k: v for k, v in run.timings.items() if not k.startswith(("analyse_", "reliability_"))}
    print("  job steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print("  per perspective (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in run.timings.items() if k.startswith(("analyse_", "reliability_"))))  # fmt: skip
    print(f"  files: {len(run.files)}, plots: {sum(1 for f in run.files if f.endswith('.png'))}")
    page, login = page_times(run)
    best, median = min(page), statistics.median(page)
    print(f"results page: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms   target < 1 s   "
          f"{'ok' if median < 1 else 'SLOW'}   = {median / statistics.median(login):.1f} x the login page "
          f"({statistics.median(login) * 1000:.0f} ms)   load average {load_average()}")  # fmt: skip
    if os.environ.get("BENCH_PROFILE_JOB"):  # the job once more, in this process under cProfile
        profile_job(study, os.environ["BENCH_PROFILE_JOB"])


def profile_job(study: Study, path: str) -> None:
    import cProfile

    from analysis.services import analysis_run_execute

    with _no_enqueue():
        run = analysis_run_start(study=study, method="bt500_zscore")
    cpu, t = time.process_time(), time.perf_counter()
    cProfile.runctx("analysis_run_execute(run_id=run_id)", globals(), {
        "analysis_run_execute": analysis_run_execute, "run_id": run.pk}, path)  # fmt: skip
    run.refresh_from_db()
    print(
        f"in-process job under cProfile ({path}): {time.perf_counter() - t:.2f} s, "
        f"CPU {time.process_time() - cpu:.2f} s, status {run.status}; steps (s): "
        + ", ".join(
            f"{k} {v:.2f}" for k, v in run.timings.items() if not k.startswith(("analyse_", "reliability_"))
        )
    )


def _no_enqueue() -> Any:
    """Start a run without sending it to the (stopped) worker."""
    from unittest import mock

    import analysis.services

    return mock.patch.object(analysis.services, "analysis_run_enqueue", return_value=None)


if __name__ == "__main__":
    main()
