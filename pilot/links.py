"""The signed pilot link: `?pilot=...` in the study link of a simulated participant.

Signed with the secret key (`django.core.signing`) and bound to the study and to a running pilot:
nobody without the secret key can make one. The participant flow verifies it through the checker
this app registers in `ratings.pilot_links` (see `pilot.apps`).
"""

from django.core import signing
from django.utils.translation import gettext as _

from experiments.models import Study
from pilot.models import PilotRun
from ratings.pilot_links import PilotLinkInvalid

TOKEN_SALT = "ratings.pilot-link"  # unchanged by the move to pilot/: links already handed out stay valid
TOKEN_MAX_AGE = 24 * 3600  # seconds: a pilot link outlives no pilot


def pilot_token_make(run: PilotRun) -> str:
    return signing.dumps({"study": run.study_id, "run": run.pk}, salt=TOKEN_SALT)


def pilot_token_verify(*, study: Study, token: str) -> PilotRun:
    """The running pilot this study link belongs to; PilotLinkInvalid for anything else
    (bad signature, another study, expired, or a pilot that is not simulating any more)."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise PilotLinkInvalid(_("This pilot link is not valid.")) from None
    run_id = data.get("run") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("study") != study.pk or not isinstance(run_id, int):
        raise PilotLinkInvalid(_("This pilot link is not valid."))
    run = PilotRun.objects.filter(pk=run_id, study=study, status=PilotRun.Status.RUNNING).first()
    if run is None:
        raise PilotLinkInvalid(_("This pilot has ended."))
    return run


def panel_query(panel: str, pid: str) -> dict[str, str]:
    """The study-link parameters a panel would send for this participant id."""
    if panel == Study.Panel.PROLIFIC:
        return {"PROLIFIC_PID": pid, "STUDY_ID": "pilot", "SESSION_ID": pid}
    if panel == Study.Panel.MTURK:
        return {"workerId": pid, "assignmentId": f"A-{pid}", "hitId": "pilot"}
    if panel == Study.Panel.LAB:
        return {"invite": pid}
    return {"pid": pid}


def pilot_link_check(study: Study, token: str) -> None:
    """The checker registered with `ratings.pilot_links`."""
    pilot_token_verify(study=study, token=token)
