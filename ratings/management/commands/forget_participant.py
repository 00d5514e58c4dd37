from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ratings.models import Participant
from ratings.privacy import participant_find, participant_forget


class Command(BaseCommand):
    help = (
        "Erase a participant's panel id and panel data on their request (their pseudonymous "
        "ratings stay, so analyses are unchanged). With --delete-ratings, delete the participant "
        "and their ratings too; their stimuli are then topped up."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="slug of the study")
        parser.add_argument("panel_id", help="the panel's id for the participant (or our participant code)")
        parser.add_argument(
            "--delete-ratings", action="store_true", help="delete the participant and their ratings"
        )

    def handle(self, *args: Any, study: str, panel_id: str, delete_ratings: bool, **options: Any) -> None:
        try:
            participant = participant_find(study_slug=study, panel_id=panel_id)
        except Participant.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        result = participant_forget(participant=participant, delete_ratings=delete_ratings)
        if delete_ratings:
            self.stdout.write(f"Deleted participant {result.code} and {result.ratings_deleted} rating(s).")
        elif result.had_panel_id:
            self.stdout.write(
                f"Erased the panel id of participant {result.code}; their ratings are kept under that code."
            )
        else:
            self.stdout.write(f"Participant {result.code} had no panel id left; nothing changed.")
