"""Participant pages: entry and consent, questionnaire, display check, instructions, trials, end.

A session's pages live under /s/<slug>/t/<token>/: the token is the participant's key (it also
makes the resume link that works on another device). One GET page shows whatever stage the
session is in; each stage's form posts to its own URL and redirects back (post/redirect/get).
"""

import contextlib
import json
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from config.middleware import content_security_policy
from config.ratelimit import ratelimit
from experiments.models import Stimulus, Study
from experiments.services import study_foreign_panel_note
from ratings import panels
from ratings.exceptions import InvalidAnswers
from ratings.models import RatingSession, Trial
from ratings.pilot import PilotLinkInvalid, pilot_token_verify
from ratings.selectors import (
    participant_latest_session,
    perspectives_for_trial,
    session_get,
    session_message,
    session_trials,
    study_get_public,
    trial_payload,
)
from ratings.services import (
    participant_enter,
    session_display_check_pass,
    session_instructions_done,
    session_next_part,
    session_questionnaire_submit,
    session_resume,
)

Status = RatingSession.Status


def _panel_headers(response: HttpResponse, study: Study) -> HttpResponse:
    """MTurk shows ExternalQuestion pages in a frame on its own site: allow exactly those parents."""
    if study.panel == Study.Panel.MTURK:
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
        response["Content-Security-Policy"] = content_security_policy(
            frame_ancestors=("'self'", *panels.MTURK_FRAME_ANCESTORS),
            form_action=("'self'", *settings.CSP_FORM_ACTION_EXTRA),
        )
    return response


def _page(
    request: HttpRequest, study: Study, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return _panel_headers(render(request, template, {"study": study, **context}, status=status), study)


def _message(request: HttpRequest, study: Study, title: str, message: str, status: int = 200) -> HttpResponse:
    return _page(request, study, "ratings/study_message.html", {"title": title, "message": message}, status)


def session_url(session: RatingSession) -> str:
    return reverse("ratings:session", kwargs={"slug": session.study.slug, "token": session.token})


# --- Entry ---------------------------------------------------------------------------------
def _pilot_link(request: HttpRequest, slug: str) -> bool:
    """A simulated participant of a running pilot (signed link): not rate-limited, since a pilot
    run sends many participants from the server's own address."""
    token = request.GET.get("pilot") or request.POST.get("pilot")
    if not token:
        return False
    try:
        pilot_token_verify(study=study_get_public(slug=slug), token=token)
    except (PilotLinkInvalid, Http404):
        return False
    return True


@require_GET
@ratelimit("entry", limit="RATELIMIT_ENTRY_PER_MINUTE", exempt=_pilot_link)
def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study link: resume a known panel id, else show the study and its consent form."""
    study = study_get_public(slug=slug)
    entry = panels.panel_entry_parse(study=study, query=request.GET.dict())
    foreign = panels.foreign_panel(study=study, query=request.GET.dict())
    if foreign and study.foreign_panel_seen != foreign:  # the researcher is warned on the study page
        study_foreign_panel_note(study=study, panel=foreign)
    if entry.mturk_preview:
        return _page(request, study, "ratings/mturk_preview.html", {})
    if entry.problem:
        return _message(request, study, study.title, entry.problem, status=400)
    pilot = request.GET.get("pilot", "")
    if pilot:  # a simulated participant of a pilot run (ratings.pilot): the link is signed
        try:
            pilot_token_verify(study=study, token=pilot)
        except DomainError as exc:
            return _message(request, study, study.title, str(exc), status=403)
    if entry.external_id:
        existing = participant_latest_session(study=study, panel=entry.panel, external_id=entry.external_id)
        if existing and existing.is_pilot == bool(pilot):
            return redirect(session_url(existing))
    if study.status != Study.Status.OPEN and not (pilot and study.status != Study.Status.CLOSED):
        return _message(
            request, study, study.title, _("This study is not open at the moment. Please come back later.")
        )
    params = {**entry.params, "pilot": pilot} if pilot else entry.params
    return _page(request, study, "ratings/study_entry.html", {"params": params})


@require_POST
@ratelimit("consent", limit="RATELIMIT_ENTRY_PER_MINUTE", exempt=_pilot_link)
def study_consent(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_public(slug=slug)
    entry = panels.panel_entry_parse(study=study, query=request.POST.dict())
    consent = request.POST.get("decision") == "agree"
    pilot = request.POST.get("pilot", "")
    try:
        if pilot:
            pilot_token_verify(study=study, token=pilot)
        session = participant_enter(study=study, entry=entry, consent=consent, pilot=bool(pilot))
    except PilotLinkInvalid as exc:
        return _message(request, study, study.title, str(exc), status=403)
    except DomainError as exc:
        return _message(
            request, study, study.title, str(exc), status=400 if exc.code != "study_full" else 200
        )
    return redirect(session_url(session))


# --- The session page ----------------------------------------------------------------------
@require_GET
def session_page(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    if session.status in (*RatingSession.LIVE_STATUSES, Status.EXPIRED):
        session = session_resume(session=session)
    view = {
        Status.QUESTIONNAIRE: _questionnaire,
        Status.DISPLAY_CHECK: _display_check,
        Status.INSTRUCTIONS: _instructions,
        Status.TRAINING: _trials,
        Status.RATING: _trials,
        Status.COMPLETED: _completed,
    }.get(session.status, _ended)
    return view(request, session)


def _questionnaire(
    request: HttpRequest, session: RatingSession, errors: dict[str, str] | None = None
) -> HttpResponse:
    questions = [
        {
            **q,
            "error": (errors or {}).get(str(q.get("key")), ""),
            "value": request.POST.get(str(q.get("key")), ""),
        }
        for q in session.study.questionnaire
    ]
    return _page(
        request,
        session.study,
        "ratings/session_questionnaire.html",
        {"session": session, "questions": questions},
        status=400 if errors else 200,
    )


def _largest(session: RatingSession) -> dict[str, int]:
    sizes = list(
        Stimulus.objects.filter(trials__session=session).values_list("width", "height").distinct()
    ) or [(0, 0)]
    return {"width": max(w for w, _ in sizes), "height": max(h for _, h in sizes)}


def _display_check(request: HttpRequest, session: RatingSession) -> HttpResponse:
    perspectives = perspectives_for_trial(study=session.study)
    return _page(
        request,
        session.study,
        "ratings/session_display_check.html",
        {
            "session": session,
            "display_data": {"largest": _largest(session), "perspectives": len(perspectives)},
            "texts": _display_texts(),
        },
    )


def _display_texts() -> dict[str, str]:
    return {
        "too_small": _(
            "Your window shows %(window)s pixels; the images need %(image)s (plus room for the questions). "
            "Enlarge the window or zoom out."
        ),
        "fits": _("Your window shows %(window)s pixels: the images (%(image)s) fit. You can continue."),
    }


def _instructions(request: HttpRequest, session: RatingSession) -> HttpResponse:
    from ratings.selectors import scale_levels

    study = session.study
    has_training = session.trials.filter(kind=Trial.Kind.TRAINING).exists()
    return _page(
        request,
        study,
        "ratings/session_instructions.html",
        {
            "session": session,
            "perspectives": perspectives_for_trial(study=study),
            "levels": scale_levels(study) if study.scale_kind == Study.ScaleKind.INTEGER else [],
            "has_training": has_training,
        },
    )


def _trials(request: HttpRequest, session: RatingSession) -> HttpResponse:
    study = session.study
    trials = [trial_payload(t) for t in session_trials(session=session, start=session.current_index)]
    if not trials:  # every trial answered but the status not final: show the session as it is
        return redirect(session_url(session))
    training_total = session.trials.filter(kind=Trial.Kind.TRAINING).count()
    first = session_trials(session=session, start=session.current_index).first()
    assert first is not None
    data = {
        "token": session.token,
        "submit_url": reverse("ratings-api:rating-submit", kwargs={"token": session.token}),
        "device_url": reverse("ratings-api:device-change", kwargs={"token": session.token}),
        "session_url": session_url(session),
        "csrf": get_token(request),
        "current_index": session.current_index,
        "trial_count": session.trial_count,
        "training_count": training_total,
        "break_every": study.break_every,
        "trials": trials,
    }
    return _page(
        request,
        study,
        "ratings/session_trials.html",
        {
            "session": session,
            "session_data": data,
            "session_texts": _session_texts(),
            "stimulus": first.stimulus,
            "prompt": first.prompt_shown,
            "perspectives": perspectives_for_trial(study=study),
            "preview": False,
        },
    )


def _session_texts() -> dict[str, str]:
    return {
        "offline": _("Connection lost — your answers are kept and will be sent when the connection is back."),
        "practice": _("Practice %(n)s of %(total)s"),
        "progress": _("Image %(n)s of %(total)s"),
        "practice_done_title": _("Practice complete"),
        "practice_done": _("Now the study begins: from here on, your answers count."),
        "break_title": _("Time for a short break"),
        "break_text": _(
            "You have rated %(n)s of %(total)s images. Rest your eyes for a moment and continue when you are ready."
        ),
        "saving_title": _("Saving your answers"),
        "saving": _("One moment, please: your last answers are being saved."),
        "reference_title": _("Practice feedback"),
        "reference": _("%(label)s: your answer %(yours)s; the reference answer is %(reference)s."),
    }


def _completed(request: HttpRequest, session: RatingSession) -> HttpResponse:
    study = session.study
    participant = session.participant
    code = panels.completion_code(study, participant.code)
    redirect_url = panels.finish_redirect_url(
        study=study, code=code, panel_data=participant.panel_data, participant_code=participant.code
    )
    more = (
        study.allocation_mode == Study.AllocationMode.FULL
        and participant.sessions.filter(number__gt=session.number).count() == 0
        and Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST)
        .exclude(trials__session__participant=participant)
        .exists()
    )
    return _page(
        request,
        study,
        "ratings/session_complete.html",
        {
            "session": session,
            "code": code,
            "redirect_url": redirect_url,
            "mturk": panels.mturk_submit_form(study=study, panel_data=participant.panel_data),
            "more_parts": more,
            "resume_url": request.build_absolute_uri(session_url(session)),
            "finish_data": {"redirect_url": redirect_url, "delay_ms": 4000},
        },
    )


def _ended(request: HttpRequest, session: RatingSession) -> HttpResponse:
    study = session.study
    code = panels.screenout_code(study)
    redirect_url = panels.finish_redirect_url(
        study=study,
        code=code,
        panel_data=session.participant.panel_data,
        participant_code=session.participant.code,
    )
    return _page(
        request,
        study,
        "ratings/session_end.html",
        {
            "session": session,
            "message": session_message(session.status),
            "code": code,
            "redirect_url": redirect_url,
            "mturk": panels.mturk_submit_form(study=study, panel_data=session.participant.panel_data),
        },
    )


# --- Stage forms ---------------------------------------------------------------------------
@require_POST
def session_questionnaire(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    try:
        session_questionnaire_submit(session=session, answers=request.POST.dict())
    except InvalidAnswers as exc:
        return _questionnaire(request, session, errors=getattr(exc, "fields", {}))
    except DomainError:
        pass  # already done (back button, double submit): show the current stage
    return redirect(session_url(session))


@require_POST
def session_display(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    try:
        device = json.loads(request.POST.get("device", "{}"))
        session_display_check_pass(session=session, device=device if isinstance(device, dict) else {})
    except (ValueError, DomainError):
        pass  # the page checks again and shows why
    return redirect(session_url(session))


@require_POST
def session_instructions(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    with contextlib.suppress(DomainError):  # already done: show the current stage
        session_instructions_done(session=session)
    return redirect(session_url(session))


@require_POST
def session_next(request: HttpRequest, slug: str, token: str) -> HttpResponseRedirect | HttpResponse:
    session = session_get(slug=slug, token=token)
    try:
        following = session_next_part(session=session)
    except DomainError as exc:
        return _message(request, session.study, session.study.title, str(exc))
    return redirect(session_url(following))
