"""The researcher's panel decisions: overrides of the suggested approve/reject, and the exports
that carry them to the panel (Prolific, MTurk, any panel by CSV).

Panel ids leave the app only here and on the participants page; MOS files never carry them.
Every text cell of the CSVs is neutralised against spreadsheet formula injection.
"""

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import DomainError
from experiments.models import Study
from ratings.models import PanelDecision, Participant
from ratings.participants import NO_DECISION, ParticipantRow, participant_rows

FOLLOW_SUGGESTION = ""
EXPORT_KINDS = ("prolific-approve", "prolific-reject", "mturk", "csv")
MTURK_COLUMNS = ["AssignmentId", "WorkerId", "HITId", "Approve", "Reject"]
GENERIC_COLUMNS = [
    "participant_code",
    "panel",
    "panel_id",
    "status",
    "decision",
    "message",
    "suggested_decision",
    "overridden",
    "completion_code",
    "time_spent_seconds",
    "trials_answered",
    "trials_total",
    "qc_failures",
    "excluded_reason",
]


# The prefixes a spreadsheet reads as a formula (as in analysis.exports, not imported: ratings
# does not depend on the analysis app).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Prefix a text cell with ' when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


class DecisionInvalid(DomainError):
    code = "decision_invalid"


@transaction.atomic
def participant_decision_set(*, participant: Participant, decision: str, message: str = "") -> Participant:
    """Store the researcher's approve/reject for the panel; "" goes back to the suggestion.

    A rejection needs a message: the panel shows it to the participant.
    """
    if decision not in (*PanelDecision.values, FOLLOW_SUGGESTION):
        raise DecisionInvalid(_("The decision must be approve, reject or empty (follow the suggestion)."))
    message = message.strip()
    if decision == PanelDecision.REJECT and not message:
        raise DecisionInvalid(_("A rejection needs a message for the participant."))
    locked = Participant.objects.select_for_update().get(pk=participant.pk)
    locked.decision = decision
    locked.decision_message = message if decision else ""
    locked.decided_at = timezone.now() if decision else None
    locked.full_clean(validate_constraints=False)
    locked.save(update_fields=["decision", "decision_message", "decided_at"])
    return locked


def _csv(rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([neutralise(c) if isinstance(c, str) else c for c in row])
    return out.getvalue()


def _decided(rows: list[ParticipantRow], decision: str) -> list[ParticipantRow]:
    return [r for r in rows if r.decision == decision and r.panel_id]


def prolific_approve_list(rows: list[ParticipantRow]) -> str:
    """Prolific ids to approve, one a line (Prolific's bulk approve takes this list)."""
    return "".join(f"{neutralise(r.panel_id)}\n" for r in _decided(rows, PanelDecision.APPROVE))


def prolific_reject_csv(rows: list[ParticipantRow]) -> str:
    """Prolific ids to reject, each with the message for the participant."""
    return _csv(
        [
            ["participant_id", "message"],
            *([r.panel_id, r.message] for r in _decided(rows, PanelDecision.REJECT)),
        ]
    )


def mturk_batch_csv(rows: list[ParticipantRow]) -> str:
    """MTurk's batch-results upload: an "x" under Approve, or the reason text under Reject."""
    lines: list[list[Any]] = [MTURK_COLUMNS]
    for r in rows:
        if r.decision == NO_DECISION or not r.assignment_id:
            continue
        approve = "x" if r.decision == PanelDecision.APPROVE else ""
        reject = r.message if r.decision == PanelDecision.REJECT else ""
        lines.append([r.assignment_id, r.panel_id, r.hit_id, approve, reject])
    return _csv(lines)


def generic_csv(rows: list[ParticipantRow]) -> str:
    lines: list[list[Any]] = [GENERIC_COLUMNS]
    for r in rows:
        lines.append(
            [
                r.code,
                r.panel,
                r.panel_id,
                r.status,
                r.decision,
                r.message,
                r.suggested_decision,
                "yes" if r.is_overridden else "no",
                r.completion_code,
                r.time_spent_seconds,
                r.trials_answered,
                r.trials_total,
                "; ".join(r.qc_failures),
                r.excluded_reason,
            ]
        )
    return _csv(lines)


def decisions_export(*, study: Study, kind: str) -> tuple[str, str, str]:
    """(file name, content type, text) of one panel export of the study's decisions."""
    rows = participant_rows(study=study, sort="started")
    if kind == "prolific-approve":
        return f"{study.slug}-prolific-approve.txt", "text/plain", prolific_approve_list(rows)
    if kind == "prolific-reject":
        return f"{study.slug}-prolific-reject.csv", "text/csv", prolific_reject_csv(rows)
    if kind == "mturk":
        return f"{study.slug}-mturk-batch-results.csv", "text/csv", mturk_batch_csv(rows)
    if kind == "csv":
        return f"{study.slug}-participants.csv", "text/csv", generic_csv(rows)
    raise DecisionInvalid(
        _("Unknown export %(kind)r; choose one of: %(kinds)s.")
        % {"kind": kind, "kinds": ", ".join(EXPORT_KINDS)}
    )
