"""The researcher's view of the study's participants: status, time, QC, exclusion, panel decision.

One row per real (non-pilot) participant, built from two queries (participants, then their
sessions), so a study with thousands of participants is listed in a fraction of a second.
A participant's status is their latest session's: live sessions idle longer than the stall time
are "stalled" (likely abandoned, not yet expired by the sweep).

The suggested panel decision follows the reasons a researcher would give the panel:
- an analysis exclusion (rater screening, QC exclusion) or a failed QC check → reject;
- an unfinished session that expired → reject as incomplete;
- a completed session with none of the above → approve;
- in progress or stalled → no decision yet; declined consent → no decision (the participant
  returns the study: Prolific's convention for no consent, see ratings.panels).
The researcher's stored override (Participant.decision) wins over the suggestion.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from experiments.models import Study
from ratings import panels, qc
from ratings.models import PanelDecision, Participant, RatingSession, Trial

S = RatingSession.Status
STALL_AFTER = timedelta(minutes=10)
NO_DECISION = "none"


class ParticipantStatus:
    IN_PROGRESS = "in_progress"
    STALLED = "stalled"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SCREENED_OUT = "screened_out"
    DECLINED = "declined"

    LABELS = {
        IN_PROGRESS: gettext_lazy("In progress"),
        STALLED: gettext_lazy("Stalled"),
        COMPLETED: gettext_lazy("Completed"),
        EXPIRED: gettext_lazy("Returned / expired"),
        SCREENED_OUT: gettext_lazy("Screened out"),
        DECLINED: gettext_lazy("Declined consent"),
    }
    CHOICES = list(LABELS.items())


DECISION_LABELS = {
    PanelDecision.APPROVE: gettext_lazy("Approve"),
    PanelDecision.REJECT: gettext_lazy("Reject"),
    NO_DECISION: gettext_lazy("No decision yet"),
}
SORTS = {
    "started": lambda r: r.started_at,
    "time": lambda r: r.time_spent_seconds,
    "status": lambda r: r.status,
    "panel_id": lambda r: r.panel_id or "",
    "decision": lambda r: r.decision,
    "code": lambda r: r.code,
}


def stall_after(study: Study) -> timedelta:
    """Idle time after which a live session counts as stalled (before the expiry sweep ends it)."""
    return min(STALL_AFTER, timedelta(minutes=study.session_expiry_minutes) / 2)


def qc_failure_checks(failures: Any) -> list[str]:
    """The names of the failed checks in one session's `qc_failures`, read through the one record
    type the submission path writes (`ratings.qc.QcFailure`)."""
    return [failure.kind for failure in qc.failures_from_json(failures)]


@dataclass
class ParticipantRow:
    id: int
    code: str
    panel: str
    panel_id: str
    panel_data: dict[str, str]
    status: str
    sessions: int
    started_at: datetime
    last_seen_at: datetime
    time_spent_seconds: int
    trials_answered: int
    trials_total: int
    qc_failures: list[str]
    excluded_reason: str
    completion_code: str
    suggested_decision: str
    suggested_reason: str
    decision_override: str
    decision_message: str
    decided_at: datetime | None

    @property
    def status_display(self) -> str:
        return str(ParticipantStatus.LABELS[self.status])

    @property
    def time_spent_text(self) -> str:
        minutes, seconds = divmod(self.time_spent_seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"

    @property
    def decision(self) -> str:
        """The decision to send the panel: the researcher's override, else the suggestion."""
        return self.decision_override or self.suggested_decision

    @property
    def decision_display(self) -> str:
        return str(DECISION_LABELS.get(self.decision, self.decision))

    @property
    def message(self) -> str:
        """The reason told to the panel (and the participant) with the decision."""
        return self.decision_message if self.decision_override else self.suggested_reason

    @property
    def is_overridden(self) -> bool:
        return bool(self.decision_override)

    @property
    def assignment_id(self) -> str:
        return self.panel_data.get("assignmentId", "")

    @property
    def hit_id(self) -> str:
        return self.panel_data.get("hitId", "")


def _status(latest: dict[str, Any], now: datetime, stall: timedelta) -> str:
    status = latest["status"]
    if status in RatingSession.LIVE_STATUSES:
        return (
            ParticipantStatus.STALLED
            if now - latest["last_seen_at"] > stall
            else ParticipantStatus.IN_PROGRESS
        )
    return {
        S.COMPLETED: ParticipantStatus.COMPLETED,
        S.SCREENED_OUT: ParticipantStatus.SCREENED_OUT,
        S.DECLINED: ParticipantStatus.DECLINED,
    }.get(status, ParticipantStatus.EXPIRED)


def decision_suggest(
    *, status: str, excluded_reason: str, qc_failures: list[str], answered: int, total: int
) -> tuple[str, str]:
    """(approve | reject | none, the reason in words) for one participant."""
    if status in (ParticipantStatus.IN_PROGRESS, ParticipantStatus.STALLED):
        return NO_DECISION, _("Still taking part.")
    if status == ParticipantStatus.DECLINED:
        return NO_DECISION, _("Declined consent: asked to return the study (no payment, no rejection).")
    if excluded_reason:
        return PanelDecision.REJECT, _("Excluded from the analysis (%(reason)s).") % {
            "reason": excluded_reason
        }
    if qc_failures:
        checks = ", ".join(sorted(set(qc_failures)))
        return PanelDecision.REJECT, _("Failed the attention checks (%(checks)s).") % {"checks": checks}
    if status == ParticipantStatus.SCREENED_OUT:
        return PanelDecision.REJECT, _("Screened out during the session.")
    if status == ParticipantStatus.EXPIRED:
        return PanelDecision.REJECT, _(
            "Incomplete: rated %(n)d of %(total)d images before the session ended."
        ) % {
            "n": answered,
            "total": total,
        }
    return PanelDecision.APPROVE, _("Completed the study and passed the quality checks.")


def _code_shown(study: Study, status: str, participant_code: str) -> str:
    if status == ParticipantStatus.COMPLETED:
        return panels.completion_code(study, participant_code)
    if status == ParticipantStatus.SCREENED_OUT:
        return panels.screenout_code(study)
    if status == ParticipantStatus.DECLINED:
        return panels.noconsent_code(study)
    return ""


def _sessions_by_participant(study: Study) -> dict[int, list[dict[str, Any]]]:
    sessions = (
        RatingSession.objects.filter(study=study, is_pilot=False)
        .annotate(
            answered=Count(
                "trials", filter=Q(trials__answered_at__isnull=False) & ~Q(trials__kind=Trial.Kind.TRAINING)
            ),
            total=Count("trials", filter=~Q(trials__kind=Trial.Kind.TRAINING)),
        )
        .order_by("participant_id", "number")
        .values(
            "participant_id",
            "status",
            "started_at",
            "last_seen_at",
            "completed_at",
            "qc_failures",
            "answered",
            "total",
        )
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for s in sessions:
        out.setdefault(s["participant_id"], []).append(s)
    return out


def _row(
    study: Study, p: Participant, sessions: list[dict[str, Any]], now: datetime, stall: timedelta
) -> ParticipantRow:
    latest = sessions[-1]
    status = _status(latest, now, stall)
    spent = sum(
        ((s["completed_at"] or s["last_seen_at"]) - s["started_at"]).total_seconds()
        for s in sessions
        if s["status"] != S.DECLINED
    )
    failures = [name for s in sessions for name in qc_failure_checks(s["qc_failures"])]
    answered = sum(s["answered"] for s in sessions)
    total = sum(s["total"] for s in sessions)
    suggested, reason = decision_suggest(
        status=status, excluded_reason=p.excluded_reason, qc_failures=failures, answered=answered, total=total
    )
    return ParticipantRow(
        id=p.pk,
        code=p.code,
        panel=p.panel,
        panel_id=p.external_id or "",
        panel_data=p.panel_data,
        status=status,
        sessions=len(sessions),
        started_at=sessions[0]["started_at"],
        last_seen_at=max(s["last_seen_at"] for s in sessions),
        time_spent_seconds=max(int(spent), 0),
        trials_answered=answered,
        trials_total=total,
        qc_failures=failures,
        excluded_reason=p.excluded_reason,
        completion_code=_code_shown(study, status, p.code),
        suggested_decision=suggested,
        suggested_reason=reason,
        decision_override=p.decision,
        decision_message=p.decision_message,
        decided_at=p.decided_at,
    )


def participant_rows(
    *,
    study: Study,
    status: str = "",
    decision: str = "",
    q: str = "",
    sort: str = "-started",
    now: datetime | None = None,
) -> list[ParticipantRow]:
    """The study's real participants, filtered (status, effective decision, id or code) and sorted.

    `sort` is one of SORTS, with a leading "-" for descending order.
    """
    now = now or timezone.now()
    stall = stall_after(study)
    sessions = _sessions_by_participant(study)
    participants = Participant.objects.filter(study=study, is_pilot=False).only(
        "code",
        "panel",
        "external_id",
        "panel_data",
        "excluded_reason",
        "decision",
        "decision_message",
        "decided_at",
    )
    rows = [_row(study, p, sessions[p.pk], now, stall) for p in participants if p.pk in sessions]
    return rows_filter(rows, status=status, decision=decision, q=q, sort=sort)


def rows_filter(
    rows: Iterable[ParticipantRow],
    *,
    status: str = "",
    decision: str = "",
    q: str = "",
    sort: str = "-started",
) -> list[ParticipantRow]:
    """The rows with this status and decision whose panel id or code contains q, sorted."""
    needle = q.casefold()
    kept = [
        r
        for r in rows
        if (not status or r.status == status)
        and (not decision or r.decision == decision)
        and (not needle or needle in r.panel_id.casefold() or needle in r.code.casefold())
    ]
    key = sort.lstrip("-")
    kept.sort(key=SORTS.get(key, SORTS["started"]), reverse=sort.startswith("-"))
    return kept


def participant_get(*, study: Study, code: str) -> Participant:
    """A real participant of the study by our code; 404 otherwise."""
    try:
        return Participant.objects.get(study=study, code=code, is_pilot=False)
    except Participant.DoesNotExist:
        raise Http404("No such participant") from None


def user_owns_study(user: Any, study: Study) -> bool:
    return bool(user.is_superuser or study.owner_id == user.pk)


def participant_row(*, study: Study, code: str) -> ParticipantRow | None:
    """One participant's row by our participant code, or None."""
    return next((r for r in participant_rows(study=study, q=code) if r.code == code), None)


def status_counts(rows: Iterable[ParticipantRow]) -> dict[str, int]:
    counts = dict.fromkeys(ParticipantStatus.LABELS, 0)
    for r in rows:
        counts[r.status] += 1
    return counts
