"""Participant pages: entry and consent, questionnaire, display check, instructions, trials, end.

A session's pages live under /s/<slug>/t/<token>/: the token is the participant's key (it also
makes the resume link that works on another device). One GET page shows whatever stage the
session is in; each stage's form posts to its own URL and redirects back (post/redirect/get).
"""

import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models.functions import Length
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from analysis.stats.rich import tokenize_prompt
from config.errors import DomainError
from config.middleware import content_security_policy
from config.ratelimit import ratelimit
from experiments.models import Stimulus, Study
from experiments.services import study_foreign_panel_note
from ratings import devices, panels
from ratings.exceptions import InvalidAnswers
from ratings.languages import (
    language_pick,
    perspectives_in,
    questionnaire_in,
    study_in,
    study_languages,
    supported_languages,
)
from ratings.layout_texts import layout_texts
from ratings.models import RatingSession, Trial
from ratings.pilot_links import PilotLinkInvalid, pilot_link_verify
from ratings.selectors import (
    PageTrial,
    annotation_tasks_for_trial,
    image_url_builder,
    page_payload,
    page_trials,
    participant_latest_session,
    perspectives_for_trial,
    session_get,
    session_message,
    session_trials,
    study_get_public,
)
from ratings.services import (
    participant_enter,
    session_display_check_pass,
    session_instructions_done,
    session_language_set,
    session_next_part,
    session_questionnaire_submit,
    session_resume,
    session_withdraw,
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
    """Render in the active language, with the study's own texts in it."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    shown = study_in(study, language)
    response = render(
        request, template, {"study": shown, "LANGUAGE_CODE": language, **context}, status=status
    )
    response["Content-Language"] = language
    return _panel_headers(response, study)


def _session_language(session: RatingSession) -> str:
    return session.language or study_languages(session.study)[0]


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
        pilot_link_verify(study=study_get_public(slug=slug), token=token)
    except (PilotLinkInvalid, Http404):
        return False
    return True


@require_GET
@ratelimit("entry", limit="RATELIMIT_ENTRY_PER_MINUTE", exempt=_pilot_link)
def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study link: resume a known panel id, else show the study and its consent form."""
    study = study_get_public(slug=slug)
    with translation.override(language_pick(study=study, request=request, asked=request.GET.get("lang", ""))):
        return _study_entry(request, study)


def _study_entry(request: HttpRequest, study: Study) -> HttpResponse:
    entry = panels.panel_entry_parse(study=study, query=request.GET.dict())
    foreign = panels.foreign_panel(study=study, query=request.GET.dict())
    if foreign and study.foreign_panel_seen != foreign:  # the researcher is warned on the study page
        study_foreign_panel_note(study=study, panel=foreign)
    if entry.mturk_preview:
        return _page(request, study, "ratings/mturk_preview.html", {})
    if entry.problem:
        return _message(request, study, study.title, entry.problem, status=400)
    pilot = request.GET.get("pilot", "")
    if pilot:  # a simulated participant of a pilot run (pilot app): the link is signed
        try:
            pilot_link_verify(study=study, token=pilot)
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
    if _device_refused(request, study):
        return _device_refusal(request, study, entry)
    params = {**entry.params, "pilot": pilot} if pilot else entry.params
    longest = _longest_prompt_of_study(study)
    return _page(
        request,
        study,
        "ratings/study_entry.html",
        {
            "params": params,
            "language": translation.get_language(),
            "languages": _language_links(request, study, params),
            "refusal": _refusal_context(study, entry),
            "entry_data": {
                "largest": _largest_of_study(study),
                "longest_prompt": longest,
                "longest_tokens": tokenize_prompt(longest),
                "any_device": study.device_policy == Study.DevicePolicy.ANY,
                "texts": {"use_computer": layout_texts()["use_computer"]},
            },
            # The real question panel, measured hidden against the screen's size.
            "stimulus": Stimulus.objects.filter(study=study).first(),
            "prompt": "",
            "perspectives": perspectives_in(
                perspectives_for_trial(study=study), study, translation.get_language() or ""
            ),
            "annotation_tasks": annotation_tasks_for_trial(study=study),
            "preview": True,
        },
    )


def _language_links(request: HttpRequest, study: Study, params: dict[str, str]) -> list[dict[str, str]]:
    """The entry page's language switch: one link per study language, keeping the panel's parameters."""
    names = supported_languages()
    codes = study_languages(study)
    if len(codes) < 2:
        return []
    base = reverse("ratings:study-entry", kwargs={"slug": study.slug})
    return [{"code": c, "name": names[c], "url": f"{base}?{urlencode({**params, 'lang': c})}"} for c in codes]


# --- Device policy: phones and tablets told before consent -----------------------------------
def _device_refused(request: HttpRequest, study: Study, touch_mac: bool = False) -> bool:
    """A "computer only" study and a phone or tablet (from the user agent, its client hint, or
    the entry page's report of a touch screen on a "Mac", i.e. an iPad)."""
    if study.device_policy != Study.DevicePolicy.COMPUTER:
        return False
    kind = devices.device_class(
        request.headers.get("User-Agent", ""),
        mobile_hint=request.headers.get("Sec-CH-UA-Mobile", ""),
        touch_mac=touch_mac,
    )
    return kind != devices.COMPUTER


def _refusal_context(study: Study, entry: panels.PanelEntry) -> dict[str, Any]:
    """Where a participant who cannot take part goes: the panel, with the study's screen-out code."""
    code = panels.screenout_code(study)
    return {
        "code": code,
        "redirect_url": panels.finish_redirect_url(
            study=study, code=code, panel_data=entry.data, participant_code=""
        ),
        "mturk": panels.mturk_submit_form(study=study, panel_data=entry.data),
    }


def _device_refusal(request: HttpRequest, study: Study, entry: panels.PanelEntry) -> HttpResponse:
    """Nothing is recorded or allocated: the participant only learns why, and goes back."""
    return _page(request, study, "ratings/device_refused.html", {"refusal": _refusal_context(study, entry)})


@require_POST
@ratelimit("consent", limit="RATELIMIT_ENTRY_PER_MINUTE", exempt=_pilot_link)
def study_consent(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_public(slug=slug)
    language = language_pick(study=study, request=request, asked=request.POST.get("lang", ""))
    with translation.override(language):
        response = _study_consent(request, study)
    return response


def _study_consent(request: HttpRequest, study: Study) -> HttpResponse:
    entry = panels.panel_entry_parse(study=study, query=request.POST.dict())
    if _device_refused(request, study, touch_mac=request.POST.get("touch_mac") == "1"):
        return _device_refusal(request, study, entry)
    consent = request.POST.get("decision") == "agree"
    pilot = request.POST.get("pilot", "")
    try:
        if pilot:
            pilot_link_verify(study=study, token=pilot)
        language = translation.get_language() or settings.LANGUAGE_CODE
        session = participant_enter(
            study=study, entry=entry, consent=consent, pilot=bool(pilot), language=language
        )
    except PilotLinkInvalid as exc:
        return _message(request, study, study.title, str(exc), status=403)
    except DomainError as exc:
        return _message(
            request, study, study.title, str(exc), status=400 if exc.code != "study_full" else 200
        )
    session_language_set(session=session, language=language)  # a resumed session
    return redirect(session_url(session))


# --- The session page ----------------------------------------------------------------------
@require_GET
def session_page(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    if session.status in (*RatingSession.LIVE_STATUSES, Status.EXPIRED):
        session = session_resume(session=session)
    views: dict[str, Callable[[HttpRequest, RatingSession], HttpResponse]] = {
        Status.QUESTIONNAIRE: _questionnaire,
        Status.DISPLAY_CHECK: _display_check,
        Status.INSTRUCTIONS: _instructions,
        Status.TRAINING: _trials,
        Status.RATING: _trials,
        Status.COMPLETED: _completed,
    }
    with translation.override(_session_language(session)):
        return views.get(session.status, _ended)(request, session)


def _questionnaire(
    request: HttpRequest, session: RatingSession, errors: dict[str, str] | None = None
) -> HttpResponse:
    questions = [
        {
            **q,
            "error": (errors or {}).get(str(q.get("key")), ""),
            "value": request.POST.get(str(q.get("key")), ""),
        }
        for q in questionnaire_in(session.study, _session_language(session))
    ]
    return _page(
        request,
        session.study,
        "ratings/session_questionnaire.html",
        {"session": session, "questions": questions},
        status=400 if errors else 200,
    )


# --- The layout rule's inputs (static/js/trial.js applies it) ---------------------------------
def _largest_size(sizes: Iterable[tuple[int, int]]) -> dict[str, int]:
    """Width and height of the widest and of the tallest image (the layout must fit both)."""
    pairs = list(sizes) or [(0, 0)]
    return {"width": max(w for w, _ in pairs), "height": max(h for _, h in pairs)}


def _largest_of_study(study: Study) -> dict[str, int]:
    return _largest_size(Stimulus.objects.filter(study=study).values_list("width", "height").distinct())


def _longest_prompt_of_study(study: Study) -> str:
    longest = (
        Stimulus.objects.filter(study=study)
        .annotate(n=Length("prompt"))
        .order_by("-n")
        .values_list("prompt", flat=True)
        .first()
    )
    return longest or ""


def _layout_rule(session: RatingSession, trials: list[PageTrial] | None = None) -> dict[str, Any]:
    """The session's largest image and longest prompt: the display check and the trial page
    measure the same real question panel with this prompt and apply the same rule to it.
    `trials`: all the session's trials (`page_trials`), when the caller has them."""
    if trials is None:
        stimuli = Stimulus.objects.filter(trials__session=session)
        largest = _largest_size(stimuli.values_list("width", "height").distinct())
        prompts: Iterable[str] = session.trials.values_list("prompt_shown", flat=True)
    else:
        largest = _largest_size((t.width, t.height) for t in trials)
        prompts = (t.prompt_shown for t in trials)
    longest = max(prompts, key=len, default="")
    return {
        "largest": largest,
        "longest_prompt": longest,
        "longest_tokens": tokenize_prompt(longest),
        "any_device": session.study.device_policy == Study.DevicePolicy.ANY,
    }


def _shown_perspectives(session: RatingSession) -> list[dict[str, Any]]:
    return perspectives_in(
        perspectives_for_trial(study=session.study), session.study, _session_language(session)
    )


def _display_check(request: HttpRequest, session: RatingSession) -> HttpResponse:
    first = session_trials(session=session).first()
    return _page(
        request,
        session.study,
        "ratings/session_display_check.html",
        {
            "session": session,
            "display_data": _layout_rule(session),
            "texts": layout_texts(),
            # The real question panel, measured hidden (the trial page shows the same one).
            "stimulus": first.stimulus if first else None,
            "prompt": first.prompt_shown if first else "",
            "perspectives": _shown_perspectives(session),
            "annotation_tasks": annotation_tasks_for_trial(study=session.study),
            "preview": True,
        },
    )


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
            "perspectives": _shown_perspectives(session),
            "levels": scale_levels(study_in(study, _session_language(session)))
            if study.scale_kind == Study.ScaleKind.INTEGER
            else [],
            "has_training": has_training,
        },
    )


def _trials(request: HttpRequest, session: RatingSession) -> HttpResponse:
    study = session.study
    # One read of every trial: the page's trials from the current one on, and the whole
    # session's training count and layout rule.
    every = page_trials(session=session)
    rows = [t for t in every if t.index >= session.current_index]
    if not rows:  # every trial answered but the status not final: show the session as it is
        return redirect(session_url(session))
    url = image_url_builder()
    trials = [page_payload(t, url) for t in rows]
    training_total = sum(t.kind == Trial.Kind.TRAINING for t in every)
    first = rows[0]
    data = {
        "token": session.token,
        "submit_url": reverse("ratings-api:rating-submit", kwargs={"token": session.token}),
        "device_url": reverse("ratings-api:device-change", kwargs={"token": session.token}),
        "csrf_url": reverse("ratings-api:csrf", kwargs={"token": session.token}),
        "language": _session_language(session),
        "session_url": session_url(session),
        "csrf": get_token(request),
        **_layout_rule(session, every),
        "accepted": _accepted_window(session),
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
            "session_texts": {
                **_session_texts(),
                "training_feedback": study_in(study, _session_language(session)).training_feedback,
            },
            "stimulus": first,
            "prompt": first.prompt_shown,
            "perspectives": _shown_perspectives(session),
            "annotation_tasks": annotation_tasks_for_trial(study=study),
            "preview": False,
            "resume_url": request.build_absolute_uri(session_url(session)),
        },
    )


def _accepted_window(session: RatingSession) -> dict[str, Any] | None:
    """The window the display check accepted: the trial page never refuses one at least as large."""
    device = session.device
    if not device.get("fits") or not isinstance(device.get("viewport"), dict):
        return None
    return {"viewport": device["viewport"], "dpr": device.get("dpr"), "layout": device.get("layout")}


def _session_texts() -> dict[str, str]:
    return {
        "offline": _("Connection lost — your answers are kept and will be sent when the connection is back."),
        "refused": _("This answer could not be saved: %(detail)s"),
        "answer_again": _("Answer this image again"),
        "forbidden": _(
            "The server did not accept this page's security check. Your answers are kept: "
            "reload the page to send them."
        ),
        "reload": _("Reload the page"),
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
    declined = session.status == Status.DECLINED
    # Declining consent is a "no consent" outcome, not a screen-out: its own code, or a request to
    # return the study on the panel (Prolific's convention); an MTurk worker returns the HIT.
    code = panels.noconsent_code(study) if declined else panels.screenout_code(study)
    redirect_url = panels.finish_redirect_url(
        study=study,
        code=code,
        panel_data=session.participant.panel_data,
        participant_code=session.participant.code,
    )
    message = session_message(session.status)
    if declined and not code:
        message = " ".join(filter(None, [message, panels.return_request(study)]))
    mturk = (
        None if declined else panels.mturk_submit_form(study=study, panel_data=session.participant.panel_data)
    )
    return _page(
        request,
        study,
        "ratings/session_end.html",
        {
            "session": session,
            "message": _withdrawn_message(session) or message,
            "code": code,
            "redirect_url": redirect_url,
            "mturk": mturk,
        },
    )


def _withdrawn_message(session: RatingSession) -> str:
    reason = session.device.get("withdrawn") if isinstance(session.device, dict) else None
    if reason == "display":
        return _(
            "This screen cannot show the study's images at full size, so your session ends here. "
            "Thank you for your time."
        )
    if reason:
        return _("You left the study. Thank you for your time.")
    return ""


# --- Stage forms ---------------------------------------------------------------------------
@require_POST
def session_questionnaire(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    session = session_get(slug=slug, token=token)
    try:
        session_questionnaire_submit(session=session, answers=request.POST.dict())
    except InvalidAnswers as exc:
        with translation.override(_session_language(session)):
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
        with translation.override(_session_language(session)):
            return _message(request, session.study, session.study.title, str(exc))
    return redirect(session_url(following))


@require_POST
def session_leave(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """The participant cannot (screen too small) or will not go on: end the session, release its
    trials, and show the way back to the panel."""
    session = session_get(slug=slug, token=token)
    reason = "display" if request.POST.get("reason") == "display" else "left"
    session_withdraw(session=session, reason=reason)
    return redirect(session_url(session))
