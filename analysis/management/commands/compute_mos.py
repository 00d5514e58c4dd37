"""``manage.py compute_mos``: score any long CSV of ratings offline (see analysis.offline)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import offline
from analysis.stats import DEFAULT_METHOD, METHODS


class Command(BaseCommand):
    help = (
        "Compute MOS from a long CSV (columns rater,stimulus,perspective,score) and write "
        "mosz*.mat, SD*.mat, moz*.txt, mos.csv, raters.csv and analysis.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, help="long CSV of ratings")
        parser.add_argument("--output-dir", required=True, help="directory for the result files")
        parser.add_argument(
            "--method",
            default=DEFAULT_METHOD,
            help=f"one of {', '.join(sorted(METHODS))} (default {DEFAULT_METHOD})",
        )
        parser.add_argument(
            "--perspectives",
            help="comma-separated perspective keys in file order (default: order in the input)",
        )
        parser.add_argument("--stimuli", help="file with one stimulus id per line, in position order")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="method parameter, repeatable (e.g. --param screen_on=zscores)",
        )
        parser.add_argument(
            "--reliability-splits",
            type=int,
            default=100,
            help="random rater splits for split-half reliability (0 disables; default 100)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the reliability splits")

    def handle(self, *args: Any, **options: Any) -> None:
        perspectives = options["perspectives"].split(",") if options["perspectives"] else None
        try:
            summary = offline.run(
                options["input"],
                options["output_dir"],
                method=options["method"],
                perspectives=perspectives,
                stimuli_path=options["stimuli"],
                params=offline.parse_params(options["param"]),
                reliability_splits=options["reliability_splits"],
                seed=options["seed"],
            )
        except offline.OfflineInputError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for line in summary.lines():
            self.stdout.write(line)
