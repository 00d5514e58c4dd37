#!/usr/bin/env python
"""The whole study loop on the production-shaped stack, with figures.

One command: `.venv/bin/python bench/loop/run.py [--stimuli 60 --per-session 15 --target 8]`.

Starts PostgreSQL, Redis, a Celery worker, Celery beat (every periodic job every 2 s) and gunicorn
(bench/chaos/stack.py) and runs rounds until the study is complete: simulated participants
(pilot.simulator: honest, random and straight-lining) come over HTTP until the study tells them
it is full; an analysis over real data runs on the worker and excludes the bad ones; the study
reopens by itself (the recount the analysis publishes) for the valid ratings now missing; the next
round comes. Prints per round: participants who came, sessions, test ratings given, raters
excluded (by planted kind), ratings still needed; then the valid ratings per stimulus (min, median),
the final MOS's ratings per stimulus and perspective (min), rounds to completion and wall time.
The baseline of the same run: the fewest participants that could have filled the study
(stimuli x target / per session) against those who rated. Results also go to
var/bench-loop/results.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "bench-loop"
sys.path.insert(0, str(ROOT))

from bench.chaos.run import django_setup, fresh_db  # noqa: E402
from bench.chaos.stack import PY, Stack  # noqa: E402
from pilot import simulator  # noqa: E402  (stdlib only)


class LoopStack(Stack):
    """The chaos stack, patient with a loaded machine (gunicorn may take minutes to boot there)."""

    def _wait(self, probe: object, what: str, timeout: float = 600) -> None:
        super()._wait(probe, what, timeout)


def open_study(*, stimuli: int, per_session: int, target: int) -> Any:
    from experiments.models import Study
    from tests.factories import StimulusFactory, StudyFactory, UserFactory

    study = StudyFactory(
        owner=UserFactory(username="loop"),
        slug="loop",
        title="Study loop",
        stimuli_per_session=per_session,
        training_count=0,
        min_viewing_ms=0,
        break_every=0,
        target_ratings=target,
        check_straightlining=True,
        traps_per_session=1,
    )
    for i in range(stimuli):
        StimulusFactory(study=study, prompt=f"prompt {i % max(4, stimuli // 4)}", name=f"loop-{i}.png")
    study.status = Study.Status.OPEN
    study.save()
    return study


def open_slots(study: Any) -> int:
    from ratings.models import StimulusLoad

    fresh_db()
    loads = StimulusLoad.objects.filter(study=study).values_list("load", flat=True)
    return sum(max(0, study.target_ratings - load) for load in loads)


def wait_until(condition: Any, timeout: float = 300, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def analyse(study: Any) -> Any:
    """An analysis over real data, run by the stack's worker."""
    from analysis.models import AnalysisRun
    from analysis.services import analysis_run_start
    from analysis.stats import DEFAULT_METHOD

    run = analysis_run_start(study=study, method=DEFAULT_METHOD)
    if not wait_until(lambda: (fresh_db(), AnalysisRun.objects.get(pk=run.pk).is_finished)[1]):
        raise RuntimeError("the analysis did not finish; see var/bench-loop/logs/celery.log")
    run.refresh_from_db()
    if run.status != AnalysisRun.Status.DONE:
        raise RuntimeError(f"analysis failed: {run.error}")
    return run


def needed_now(study: Any) -> int:
    from experiments.dashboard import study_dashboard

    fresh_db()
    return study_dashboard(study=study).ratings_needed


def excluded_by_kind(study: Any, kinds: dict[str, str]) -> dict[str, int]:
    from ratings.selectors import participants_excluded

    out: dict[str, int] = {}
    for pid in participants_excluded(study=study).values_list("external_id", flat=True):
        kind = kinds.get(pid or "", "?")
        out[kind] = out.get(kind, 0) + 1
    return out


def final_figures(study: Any, run: Any) -> dict[str, Any]:
    from django.core.files.storage import default_storage
    from django.db.models import Count

    from analysis.selectors import analysis_run_file_name
    from experiments.models import Stimulus
    from ratings.selectors import valid_trials

    per = dict(
        valid_trials(study=study)
        .values("stimulus_id")
        .annotate(n=Count("id"))
        .values_list("stimulus_id", "n")
    )
    valid = [
        per.get(pk, 0)
        for pk in Stimulus.objects.filter(study=study, role="test").values_list("pk", flat=True)
    ]
    with default_storage.open(analysis_run_file_name(run=run, relative="mos.csv"), "rb") as fh:
        rows = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    keys = [p["key"] for p in run.summary["perspectives"]]
    mos_n = {key: min(float(row[f"{key}_n"] or 0) for row in rows) for key in keys}
    return {
        "valid_per_stimulus_min": min(valid),
        "valid_per_stimulus_median": statistics.median(valid),
        "final_mos_n_min": mos_n,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stimuli", type=int, default=60)
    parser.add_argument("--per-session", type=int, default=15)
    parser.add_argument("--target", type=int, default=8)
    parser.add_argument("--spammers", type=float, default=0.2)
    parser.add_argument("--straightliners", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-rounds", type=int, default=8)
    args = parser.parse_args()

    stack = LoopStack(VAR, extra_env={"CELERY_BEAT_EVERY_SECONDS": "2"})
    t0 = time.perf_counter()
    try:
        stack.start()
        stack._spawn(
            "beat",
            [str(PY), "-m", "celery", "-A", "config", "beat", "--schedule", str(VAR / "beat-schedule")],
        )
        django_setup(stack.env)
        results = run_loop(stack, args)
    finally:
        beat = stack.procs.pop("beat", None)
        if beat and beat.poll() is None:
            beat.terminate()
            beat.wait(timeout=20)
        stack.stop()
    results["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print_results(results)
    (VAR / "results.json").write_text(json.dumps(results, indent=2))
    return 0 if results["complete"] else 1


def run_loop(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from ratings.models import RatingSession, Trial

    study = open_study(stimuli=args.stimuli, per_session=args.per_session, target=args.target)
    minimum = math.ceil(args.stimuli * args.target / args.per_session)
    kinds: dict[str, str] = {}
    rounds: list[dict[str, Any]] = []
    needed = needed_now(study)
    run = None
    started = time.perf_counter()
    for number in range(1, args.max_rounds + 1):
        if needed == 0:
            break
        before = RatingSession.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        people = math.ceil(needed / args.per_session) + args.concurrency
        t = time.perf_counter()
        sim = simulator.simulate(
            stack.url,
            study.slug,
            people,
            population=simulator.Population(
                seed=number, spammers=args.spammers, straightliners=args.straightliners, abandoners=0.0
            ),
            concurrency=args.concurrency,
        )
        for p in sim.participants:
            kinds[p.query["pid"]] = p.rater.kind
        fresh_db()
        given = Trial.objects.filter(
            session__study=study, session__pk__gt=before, kind=Trial.Kind.TEST
        ).count()
        simulate_s = time.perf_counter() - t
        t = time.perf_counter()
        run = analyse(study)
        needed_after = needed_now(study)
        reopened = wait_until(lambda n=needed_after: open_slots(study) == n)
        outcomes = sim.outcomes()
        rounds.append(
            {
                "round": number,
                "came": people,
                "sessions": people - outcomes.get("full", 0),
                "full": outcomes.get("full", 0),
                "needed_before": needed,
                "test_ratings_given": given,
                "given_equals_needed": given == needed,
                "excluded_by_kind": excluded_by_kind(study, kinds),
                "needed_after": needed_after,
                "reopened_by_itself": reopened,
                "simulate_s": round(simulate_s, 1),
                "analyse_and_reopen_s": round(time.perf_counter() - t, 1),
            }
        )
        print(f"round {number}: {json.dumps(rounds[-1])}", flush=True)
        needed = needed_after
    rated = sum(r["sessions"] for r in rounds)
    return {
        "study": {"stimuli": args.stimuli, "per_session": args.per_session, "target": args.target},
        "population": {"spammers": args.spammers, "straightliners": args.straightliners},
        "rounds": rounds,
        "rounds_to_completion": len(rounds) if needed == 0 else None,
        "complete": needed == 0,
        "participants_rated": rated,
        "participants_minimum": minimum,
        "participants_ratio": round(rated / minimum, 2),
        "loop_seconds": round(time.perf_counter() - started, 1),
        **(final_figures(study, run) if run is not None else {}),
    }


def print_results(r: dict[str, Any]) -> None:
    s = r["study"]
    print(
        f"\nStudy loop: {s['stimuli']} stimuli, {s['per_session']} per session, target {s['target']}; "
        f"population {r['population']}"
    )
    print(
        f"{'round':>5} {'came':>5} {'sessions':>8} {'full':>5} {'needed':>7} {'given':>6} {'excluded (all so far)':<40} {'needed after':>12} {'reopened':>8}"
    )
    for x in r["rounds"]:
        print(
            f"{x['round']:>5} {x['came']:>5} {x['sessions']:>8} {x['full']:>5} {x['needed_before']:>7} "
            f"{x['test_ratings_given']:>6} {json.dumps(x['excluded_by_kind']):<40} {x['needed_after']:>12} "
            f"{str(x['reopened_by_itself']):>8}"
        )
    print(f"rounds to completion: {r['rounds_to_completion']}  complete: {r['complete']}")
    print(
        f"participants who rated: {r['participants_rated']} (minimum possible {r['participants_minimum']}, "
        f"ratio {r['participants_ratio']})"
    )
    if "valid_per_stimulus_min" in r:
        print(
            f"valid ratings per stimulus: min {r['valid_per_stimulus_min']}, median {r['valid_per_stimulus_median']}"
        )
        print(f"final MOS ratings per stimulus, min per perspective: {r['final_mos_n_min']}")
    print(
        f"loop time {r['loop_seconds']} s; wall time (with the stack's start and stop) {r['wall_seconds']} s"
    )


if __name__ == "__main__":
    sys.exit(main())
