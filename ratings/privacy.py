"""Erasing what identifies a participant, on their request.

What is stored about a participant, and why:
- ``Participant.code``: our random pseudonym. Ratings, exports and analyses use it; it says
  nothing about the person and is kept.
- ``Participant.external_id`` and ``panel_data``: the panel's id (Prolific PID, MTurk worker and
  assignment ids, ...). Needed only to pay the person (completion redirect / MTurk submit) and to
  recognise a returning panel id (one session per person). Exports leave them out unless a run
  asks for ``include_panel_ids``.

``participant_forget`` erases the panel id and panel data and keeps the pseudonymous ratings, so
every analysis of the study stays as it was (decision: the ratings are not personal data once the
link to the panel id is gone). A returning panel id is then a stranger: it may take part again.
With ``delete_ratings=True`` the participant, their sessions and ratings are deleted too, and the
allocation counters are recounted so that their stimuli are topped up; analysis runs made before
keep their files (they are a record of what was computed then); later runs leave them out.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ratings import allocation
from ratings.models import Participant, Rating


@dataclass(frozen=True)
class ForgetResult:
    code: str
    had_panel_id: bool
    ratings_deleted: int


@transaction.atomic
def participant_forget(*, participant: Participant, delete_ratings: bool = False) -> ForgetResult:
    """Erase the participant's panel id and panel data; optionally delete them and their ratings.

    Idempotent: forgetting a forgotten participant changes nothing more.
    """
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    had_panel_id = bool(locked.external_id) or bool(locked.panel_data.keys() - {"forgotten_at"})
    if not delete_ratings:
        if had_panel_id:
            locked.external_id = None
            locked.panel_data = {"forgotten_at": timezone.now().isoformat()}
            locked.save(update_fields=["external_id", "panel_data"])
        return ForgetResult(code=locked.code, had_panel_id=had_panel_id, ratings_deleted=0)
    study_id = locked.study_id
    ratings = Rating.objects.filter(session__participant=locked).count()
    allocation.study_lock(study_id)
    locked.delete()  # sessions, trials and ratings go with it (CASCADE)
    allocation.stimulus_loads_recount(study_id=study_id)
    return ForgetResult(code=locked.code, had_panel_id=had_panel_id, ratings_deleted=ratings)


def participant_find(*, study_slug: str, panel_id: str) -> Participant:
    """The participant of this study with this panel id or participant code (case as given)."""
    matches = Participant.objects.filter(study__slug=study_slug, external_id=panel_id)
    if not matches.exists():
        matches = Participant.objects.filter(study__slug=study_slug, code=panel_id.upper())
    count = matches.count()
    if count != 1:
        raise Participant.DoesNotExist(
            f"{count} participants of study {study_slug!r} have the panel id or code {panel_id!r}"
        )
    return matches.get()
