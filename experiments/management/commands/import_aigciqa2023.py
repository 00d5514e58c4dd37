from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from experiments.management.commands._import_output import report_import
from experiments.models import StimulusImport, Study
from experiments.services import stimulus_import_run_local, study_create


class Command(BaseCommand):
    help = (
        "Import an AIGCIQA2023-shaped folder (Image/allimg/{N}.png and AIGCIQA2023_Prompts.xlsx) "
        "into a study, or into a new draft study with --owner. A subset of the 2400 images is "
        "accepted; each image's position is its N."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", help="folder (or .zip) holding Image/allimg and the prompt sheet")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--study", help="slug of an existing study")
        target.add_argument("--owner", help="username: create a new draft study owned by this researcher")
        parser.add_argument("--title", default="AIGCIQA2023", help="title of the new study (with --owner)")

    def handle(
        self, *args: Any, folder: str, study: str | None, owner: str | None, title: str, **options: Any
    ) -> None:
        if not Path(folder).exists():
            raise CommandError(f"{folder} does not exist")
        created = False
        if study:
            target = Study.objects.filter(slug=study).first()
            if target is None:
                raise CommandError(f"no study with the slug {study!r}")
        else:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"no user {owner!r}")
            target, created = study_create(owner=user, title=title), True
        stimulus_import = stimulus_import_run_local(
            study=target, path=folder, kind=StimulusImport.Kind.AIGCIQA2023
        )
        if created and stimulus_import.status == StimulusImport.Status.DONE:
            self.stdout.write(f"created the draft study {target.slug}")
        elif created:
            target.delete()  # nothing imported: leave no empty study behind
        report_import(self, stimulus_import)
