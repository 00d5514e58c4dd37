"""``manage.py benchmark_metrics``: benchmark quality metrics against an exported run's MOS.

    manage.py benchmark_metrics --mos-dir export/run-12 --predictions preds.csv --output-dir out/
    manage.py benchmark_metrics --mos-dir export/run-12 --splits-only --output-dir splits/

Reads the run folder's ``mos.csv`` (see analysis.benchmark.offline); writes results.csv,
results.json, results.tex, splits.csv and plots/scatter_*.png.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.benchmark import compute, offline
from analysis.benchmark.inputs import BenchmarkInputError
from analysis.stats.metric_benchmark import COLUMNS


class Command(BaseCommand):
    help = "Benchmark metric predictions against the MOS of an exported analysis run folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mos-dir", required=True, help="exported run folder (with mos.csv)")
        parser.add_argument("--predictions", help="CSV with stimulus, metric, score[, split]")
        parser.add_argument("--output-dir", required=True, help="folder for the result files")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the resamples and splits (default 0)"
        )
        parser.add_argument(
            "--refit-bootstrap", action="store_true", help="refit the logistic on every resample (slow)"
        )
        parser.add_argument("--splits", type=int, default=10, help="number of train/test splits (default 10)")
        parser.add_argument(
            "--test-fraction", type=float, default=0.2, help="share of prompts on the test side"
        )
        parser.add_argument("--splits-only", action="store_true", help="only write splits.csv")
        parser.add_argument("--no-plots", action="store_true", help="skip the scatter plots")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            opts = compute.Options(
                n_boot=options["bootstrap"],
                seed=options["seed"],
                refit_bootstrap=options["refit_bootstrap"],
                n_splits=options["splits"],
                test_fraction=options["test_fraction"],
            )
            if options["splits_only"]:
                path = offline.write_splits(options["mos_dir"], options["output_dir"], opts)
                self.stdout.write(f"wrote {path}")
                return
            if not options["predictions"]:
                raise CommandError("give --predictions (or --splits-only)")
            doc, files = offline.run(
                options["mos_dir"],
                options["predictions"],
                options["output_dir"],
                opts,
                plots=not options["no_plots"],
            )
        except (BenchmarkInputError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._report(doc, len(files), options["output_dir"])

    def _report(self, doc: dict[str, Any], n_files: int, out: str) -> None:
        width = max(len(m) for m in doc["metrics"])
        for key in doc["perspectives"]:
            self.stdout.write(
                f"{key}:  {'metric'.ljust(width)}  " + "  ".join(c.upper().rjust(7) for c in COLUMNS)
            )
            best = doc["best"].get(key, {})
            for r in (r for r in doc["results"] if r["perspective"] == key and r["group_by"] == "all"):
                cells = []
                for c in COLUMNS:
                    text = "—" if r[c] is None else f"{r[c]:.4f}"
                    cells.append((text + ("*" if best.get(c) == r["metric"] else " ")).rjust(8))
                self.stdout.write(f"{' ' * (len(key) + 3)}{r['metric'].ljust(width)} " + " ".join(cells))
        for note in doc["notes"]:
            self.stdout.write(f"note: {note}")
        self.stdout.write(f"* best per column; {n_files} files in {out}")
