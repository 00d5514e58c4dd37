from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from experiments.management.commands._import_output import report_import
from experiments.models import StimulusImport, Study
from experiments.services import stimulus_import_run_local


class Command(BaseCommand):
    help = (
        "Import stimuli into a study from a folder or a zip archive with a CSV manifest "
        "(columns file,prompt,model; optional position,challenge,scene,role,name,reference_<key>). "
        "Everything is validated first; with any problem nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="slug of the study")
        parser.add_argument("path", help="folder or .zip file")
        parser.add_argument("--manifest", help="CSV manifest outside the folder (default: the CSV inside it)")

    def handle(self, *args: Any, study: str, path: str, manifest: str | None, **options: Any) -> None:
        target = Study.objects.filter(slug=study).first()
        if target is None:
            raise CommandError(f"no study with the slug {study!r}")
        if not Path(path).exists():
            raise CommandError(f"{path} does not exist")
        manifest_bytes = Path(manifest).read_bytes() if manifest else None
        stimulus_import = stimulus_import_run_local(
            study=target, path=path, kind=StimulusImport.Kind.MANIFEST, manifest=manifest_bytes
        )
        report_import(self, stimulus_import)
