"""manage.py pilot <slug> --raters N [--seed S] [--base-url URL]: run a pilot in this process.

The server at the base URL (default PILOT_BASE_URL, then SITE_URL) must be running: the simulated
participants go through its real participant flow.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import DomainError
from experiments.models import Study
from pilot.models import PilotRun
from pilot.services import pilot_base_url, pilot_data_remove, pilot_run_execute, pilot_run_start


class Command(BaseCommand):
    help = "Dry-run a study with simulated participants over HTTP, analyse them, compare with the truth."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--raters", type=int, default=20)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--base-url", default="", help="server to drive (default: PILOT_BASE_URL, SITE_URL)"
        )
        parser.add_argument("--spammers", type=float, default=0.1, help="share of random raters (0..1)")
        parser.add_argument("--straightliners", type=float, default=0.05)
        parser.add_argument("--abandoners", type=float, default=0.05)
        parser.add_argument(
            "--noise", type=float, default=0.5, help="inconsistency of honest raters, scale points"
        )
        parser.add_argument(
            "--difficulty", type=float, default=0.0, help="spread of image difficulty (log-SD, 0..2)"
        )
        parser.add_argument(
            "--compare-modes",
            action="store_true",
            help="also simulate the whole study in balanced and precision allocation",
        )
        parser.add_argument("--remove", action="store_true", help="remove the study's pilot data and exit")
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["slug"]).first()
        if study is None:
            raise CommandError(f"No study {options['slug']!r}.")
        if options["remove"]:
            self.stdout.write(json.dumps(pilot_data_remove(study=study)))
            return
        base_url = options["base_url"] or pilot_base_url()
        try:
            run = pilot_run_start(
                study=study,
                raters=options["raters"],
                base_url=base_url,
                seed=options["seed"],
                spammers=options["spammers"],
                straightliners=options["straightliners"],
                abandoners=options["abandoners"],
                noise=options["noise"],
                difficulty=options["difficulty"],
                compare_modes=options["compare_modes"],
                enqueue=False,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"pilot {run.pk}: {run.raters} simulated raters against {run.base_url} (seed {run.seed})"
        )
        pilot_run_execute(run_id=run.pk)
        run = PilotRun.objects.get(pk=run.pk)
        if run.status != PilotRun.Status.DONE:
            raise CommandError(f"pilot {run.pk} {run.status}: {run.error}")
        self._print(run, as_json=options["json"])

    def _print(self, run: PilotRun, *, as_json: bool) -> None:
        report = run.report
        if as_json:
            self.stdout.write(json.dumps({"simulation": run.simulation, "report": report}, indent=2))
            return
        sim = run.simulation
        self.stdout.write(
            f"simulated in {sim['seconds']} s: outcomes {sim['outcomes']}, {sim['answers']} answers, "
            f"{sim['retries']} retries"
        )
        for p in report["perspectives"]:
            self.stdout.write(
                f"  {p['key']:>15}: Pearson {p['pearson']:.3f}  Spearman {p['spearman']:.3f}  "
                f"RMSE {p['rmse']:.3f} scale points (n={p['n']})"
            )
        s = report["screening"]
        self.stdout.write(
            f"screening: caught {s['caught_bad']} of {s['planted_bad']} planted bad raters; "
            f"{s['false_alarms']} honest raters left out; per kind {s['kinds']}"
        )
        t = report["target"]
        self.stdout.write(
            f"target: {t['participants']} complete participants needed "
            f"({t['test_stimuli']} x {t['target']} / {t['per_session']}); usable share "
            f"{t['usable_share']:.2f} -> recruit {t['recruit']}"
        )
        r = report.get("rich")
        if r:
            self.stdout.write(
                f"rich feedback: heatmap peak in the planted artefact {r['peak_in_region']} of "
                f"{r['artefact_images']} images; planted missing word top-rated {r['missing_word_top']} of "
                f"{r['missing_word_images']} images (target share {r['target']})"
            )
        self.stdout.write(f"plot: {run.plot}")
        if report.get("modes"):
            self._print_modes(report["modes"])

    def _print_modes(self, m: dict[str, Any]) -> None:
        self.stdout.write(
            f"allocation modes ({m['images']} images, targets {m['target_half_width']}, "
            f"min {m['minimum']}, max {m['maximum']}):"
        )
        for mode, r in m["modes"].items():
            self.stdout.write(
                f"  {mode:>9}: {r['valid']} valid ratings, {r['sessions']} sessions, p95 half-width "
                f"{r['p95']:.3f}, Pearson {r['pearson']:.3f}, RMSE {r['rmse']:.3f} ({r['stopped']})"
            )
        self.stdout.write(f"saving: {m['saving_percent']} % of the valid ratings")
