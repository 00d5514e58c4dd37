"""Recruitment panels: what each panel puts in the study link and where a participant goes at the end.

Prolific opens the link with PROLIFIC_PID, STUDY_ID and SESSION_ID and expects a redirect to
https://app.prolific.com/submissions/complete?cc=CODE. MTurk's ExternalQuestion opens it (in a frame)
with assignmentId, hitId, workerId and turkSubmitTo, with assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE
while the worker only previews the HIT, and expects a form POST to turkSubmitTo + /mturk/externalSubmit.
Generic panels pass ?pid=; lab links pass ?invite= or nothing (a new participant each time).
"""

from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.utils.translation import gettext as _

from experiments.models import Study

PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete"
MTURK_PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
# Only MTurk's own hosts may receive the completion form (no open form target).
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
MTURK_FRAME_ANCESTORS = (
    "https://worker.mturk.com",
    "https://workersandbox.mturk.com",
    "https://www.mturk.com",
)
MAX_ID_LENGTH = 128

# Query parameters carried from the study link to the consent form, per panel.
PANEL_PARAMS: dict[str, tuple[str, ...]] = {
    Study.Panel.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    Study.Panel.MTURK: ("assignmentId", "hitId", "workerId", "turkSubmitTo"),
    Study.Panel.GENERIC: ("pid",),
    Study.Panel.LAB: ("invite",),
}


# Parameters that identify a panel beyond doubt when they arrive on a study set up for another one.
PANEL_MARKERS: dict[str, tuple[str, ...]] = {
    Study.Panel.PROLIFIC: ("PROLIFIC_PID",),
    Study.Panel.MTURK: ("workerId", "assignmentId"),
}


def foreign_panel(*, study: Study, query: dict[str, str]) -> str:
    """The panel whose parameters this link carries if it is not the study's panel, else ''."""
    for panel, markers in PANEL_MARKERS.items():
        if panel != study.panel and any(query.get(m) for m in markers):
            return str(panel)
    return ""


@dataclass(frozen=True)
class PanelEntry:
    """What a study link says about who arrives."""

    panel: str
    external_id: str | None
    data: dict[str, str] = field(default_factory=dict)
    mturk_preview: bool = False
    problem: str = ""  # why this link cannot start a session, for the participant

    @property
    def params(self) -> dict[str, str]:
        """The query parameters to carry along (consent form, redirects)."""
        return dict(self.data)


def _clean(value: str | None) -> str:
    return (value or "").strip()[:MAX_ID_LENGTH]


def panel_entry_parse(*, study: Study, query: dict[str, str]) -> PanelEntry:
    """Read the panel's parameters from a study link (GET) or the consent form (POST)."""
    panel = study.panel
    data = {key: _clean(query.get(key)) for key in PANEL_PARAMS[panel] if _clean(query.get(key))}
    if panel == Study.Panel.PROLIFIC:
        pid = data.get("PROLIFIC_PID")
        problem = (
            "" if pid else _("This study link must be opened from Prolific (the Prolific ID is missing).")
        )
        return PanelEntry(panel, pid or None, data, problem=problem)
    if panel == Study.Panel.MTURK:
        preview = data.get("assignmentId") == MTURK_PREVIEW_ASSIGNMENT
        worker = data.get("workerId")
        problem = ""
        if not preview and not (worker and data.get("assignmentId")):
            problem = _(
                "This study link must be opened from Amazon Mechanical Turk (the worker ID is missing)."
            )
        submit_to = data.get("turkSubmitTo", "")
        if submit_to and submit_to.rstrip("/") not in MTURK_SUBMIT_HOSTS:
            data.pop("turkSubmitTo")
        return PanelEntry(panel, worker or None, data, mturk_preview=preview, problem=problem)
    if panel == Study.Panel.GENERIC:
        # Without ?pid= the link still works, as an anonymous participant (a new one each time).
        return PanelEntry(panel, data.get("pid") or None, data)
    return PanelEntry(panel, data.get("invite") or None, data)


def completion_code(study: Study, participant_code: str) -> str:
    """The code a finishing participant reports: the study's, or our participant code."""
    return study.completion_code or participant_code


def screenout_code(study: Study) -> str:
    return study.screenout_code


def noconsent_code(study: Study) -> str:
    """The code of a participant who declined consent (not the screen-out code); "" if none."""
    return study.noconsent_code


def return_request(study: Study) -> str:
    """What a participant who declined consent is asked to do on their panel, in words."""
    if study.panel == Study.Panel.PROLIFIC and not study.noconsent_code:
        return _(
            'Please return your submission on Prolific (choose "Return"), so that your place goes to someone else.'
        )
    if study.panel == Study.Panel.MTURK:
        return _("Please return this HIT on Mechanical Turk, so that your place goes to someone else.")
    return ""


def finish_redirect_url(*, study: Study, code: str, panel_data: dict[str, str], participant_code: str) -> str:
    """Where a finished (or screened-out) participant is sent; "" when they stay on our page."""
    if not code:
        return ""
    if study.panel == Study.Panel.PROLIFIC:
        return f"{PROLIFIC_COMPLETE_URL}?{urlencode({'cc': code})}"
    if study.panel == Study.Panel.GENERIC and study.completion_url:
        # The researcher's URL may name {code} and {pid}; both are URL-encoded.
        return study.completion_url.replace("{code}", quote(code, safe="")).replace(
            "{pid}", quote(panel_data.get("pid", participant_code), safe="")
        )
    return ""


def mturk_submit_form(*, study: Study, panel_data: dict[str, str]) -> dict[str, str] | None:
    """The action and assignment of MTurk's externalSubmit form, or None for other panels."""
    if study.panel != Study.Panel.MTURK:
        return None
    submit_to = panel_data.get("turkSubmitTo", "").rstrip("/")
    assignment = panel_data.get("assignmentId", "")
    if submit_to not in MTURK_SUBMIT_HOSTS or not assignment:
        return None
    return {"action": f"{submit_to}/mturk/externalSubmit", "assignmentId": assignment}
