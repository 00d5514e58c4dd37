"""``manage.py analysis_run <study-slug>``: start an analysis of a study's ratings.

By default the run is enqueued for the workers and the command returns. ``--wait`` follows it
until it ends; ``--sync`` computes it in this process (no worker needed). ``--sweep`` instead
re-enqueues runs that the queue lost or that dead workers left running.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import offline
from analysis.exceptions import AnalysisRunInvalid, JobQueueUnavailable
from analysis.models import AnalysisRun
from analysis.services import (
    analysis_run_execute,
    analysis_run_start,
    analysis_runs_sweep,
)
from analysis.stats import DEFAULT_METHOD, METHODS
from experiments.models import Study


class Command(BaseCommand):
    help = "Start an analysis run of a study (enqueued, --wait for it, or --sync in this process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", nargs="?", help="slug of the study")
        parser.add_argument(
            "--method",
            default=DEFAULT_METHOD,
            help=f"one of {', '.join(sorted(METHODS))} (default {DEFAULT_METHOD})",
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="method parameter, repeatable (e.g. --param screen_on=zscores)",
        )
        parser.add_argument("--include-pilot", action="store_true", help="include pilot participants")
        parser.add_argument(
            "--keep-qc-failures",
            action="store_true",
            help="keep raters who failed quality-control checks (left out by default)",
        )
        parser.add_argument(
            "--include-panel-ids",
            action="store_true",
            help="name raters by panel id in raw_ratings.csv",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="enqueue, then wait until the run ends")
        mode.add_argument("--sync", action="store_true", help="compute in this process, no worker")
        mode.add_argument("--sweep", action="store_true", help="re-enqueue lost and stale runs, then exit")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits (default 1800)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sweep"]:
            ids = analysis_runs_sweep()
            self.stdout.write(
                f"re-enqueued {len(ids)} run(s){': ' + ', '.join(map(str, ids)) if ids else ''}"
            )
            return
        if not options["study"]:
            raise CommandError("give the study slug (or --sweep)")
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        try:
            params = offline.parse_params(options["param"])
            run = analysis_run_start(
                study=study,
                method=options["method"],
                parameters=params,
                include_pilot=options["include_pilot"],
                exclude_qc_failures=not options["keep_qc_failures"],
                include_panel_ids=options["include_panel_ids"],
                enqueue=not options["sync"],
            )
        except (AnalysisRunInvalid, offline.OfflineInputError) as exc:
            raise CommandError(str(exc)) from exc
        except JobQueueUnavailable as exc:
            raise CommandError(f"{exc} Use --sync to compute without a worker.") from exc
        self.stdout.write(f"run {run.pk}: {run.method} on {study.slug}")
        if options["sync"]:
            analysis_run_execute(run_id=run.pk)
        elif options["wait"]:
            self._wait(run.pk, options["timeout"])
        else:
            self.stdout.write("enqueued; follow it with the run page or the API")
            return
        self._report(AnalysisRun.objects.get(pk=run.pk))

    def _wait(self, run_id: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            run = AnalysisRun.objects.get(pk=run_id)
            line = f"  {run.status} {run.progress:.0%} {run.progress_message}"
            if line != last:
                self.stdout.write(line)
                last = line
            if run.is_finished:
                return
            time.sleep(0.5)
        raise CommandError(f"run {run_id} did not finish within {timeout:g} s; it goes on in the worker")

    def _report(self, run: AnalysisRun) -> None:
        if run.status == AnalysisRun.Status.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")
        counts = run.summary.get("counts", {})
        self.stdout.write(
            f"run {run.pk} done: {counts.get('stimuli')} stimuli, {counts.get('raters')} raters, "
            f"{counts.get('ratings')} ratings, {len(run.summary.get('rejected_raters', []))} raters rejected"
        )
        self.stdout.write(
            f"files in storage under {run.summary.get('storage_dir')}/ ({len(run.files)} files)"
        )
