"""Reads for the participant flow."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from analysis.stats.rich import tokenize_prompt
from experiments.models import AnnotationTask, Perspective, Study
from ratings.models import Participant, RatingSession, Trial


def study_get_public(*, slug: str) -> Study:
    try:
        return Study.objects.get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


def session_get(*, slug: str, token: str) -> RatingSession:
    """The session of this token in this study; 404 for anything else (the token is the key)."""
    try:
        return RatingSession.objects.select_related("study", "participant").get(token=token, study__slug=slug)
    except RatingSession.DoesNotExist:
        raise Http404("No such session") from None


def participant_latest_session(*, study: Study, panel: str, external_id: str) -> RatingSession | None:
    return (
        RatingSession.objects.filter(
            participant__study=study, participant__panel=panel, participant__external_id=external_id
        )
        .order_by("-number")
        .first()
    )


def perspectives_for_trial(*, study: Study) -> list[dict[str, Any]]:
    """The perspectives as the trial page shows them: question and one description per level."""
    return [
        {"key": p.key, "label": p.label, "question": p.question, "levels": list(p.level_descriptions)}
        for p in Perspective.objects.filter(study=study).order_by("order")
    ]


def annotation_tasks_for_trial(*, study: Study) -> list[dict[str, Any]]:
    """The study's annotation tasks as the trial page shows them, in order."""
    return [
        {"key": t.key, "kind": t.kind, "label": t.label, "instructions": t.instructions}
        for t in AnnotationTask.objects.filter(study=study).order_by("order")
    ]


def scale_levels(study: Study) -> list[dict[str, Any]]:
    """[{value, label}] of an integer scale: a label per level when the study gives one each."""
    values = list(range(study.scale_min, study.scale_max + 1))
    labels = [str(label) for label in study.scale_labels or []]
    if len(labels) == len(values):
        return [{"value": v, "label": label} for v, label in zip(values, labels, strict=True)]
    ends = {values[0]: labels[0], values[-1]: labels[-1]} if len(labels) >= 2 else {}
    return [{"value": v, "label": ends.get(v, "")} for v in values]


def session_trials(*, session: RatingSession, start: int = 0) -> QuerySet[Trial]:
    return (
        Trial.objects.filter(session=session, index__gte=start).select_related("stimulus").order_by("index")
    )


def trial_payload(trial: Trial) -> dict[str, Any]:
    """What the page needs to show a trial. Training trials carry their reference answers;
    gold references never leave the server."""
    stimulus = trial.stimulus
    data: dict[str, Any] = {
        "index": trial.index,
        "kind": trial.kind,
        "stimulus": stimulus.pk,
        "url": stimulus.image_url,
        "width": stimulus.width,
        "height": stimulus.height,
        "prompt": trial.prompt_shown,
        # The words task's toggles: the analysis reads marks as indices into these tokens.
        "tokens": tokenize_prompt(trial.prompt_shown),
    }
    if trial.kind == Trial.Kind.TRAINING and stimulus.reference_scores:
        data["reference"] = stimulus.reference_scores
    return data


def seen_stimulus_ids(*, participant: Participant) -> list[int]:
    """Every stimulus this participant was given in any session (never given twice)."""
    return list(
        Trial.objects.filter(session__participant=participant)
        .values_list("stimulus_id", flat=True)
        .distinct()
    )


def session_message(status: str) -> str:
    messages: dict[str, str] = {
        RatingSession.Status.DECLINED: _("You chose not to take part. Thank you for your time."),
        RatingSession.Status.SCREENED_OUT: _(
            "Thank you. Unfortunately this session cannot continue: some control answers did not match."
        ),
    }
    return messages.get(status, "")


def session_get_by_token(*, token: str) -> RatingSession:
    try:
        return RatingSession.objects.select_related("study").get(token=token)
    except RatingSession.DoesNotExist:
        raise Http404("No such session") from None


def participants_excluded(*, study: Study) -> QuerySet[Participant]:
    """Real participants excluded by the latest analysis of real data (their ratings are not valid
    and their stimuli were allocated again), with the reason in `excluded_reason`."""
    return Participant.objects.filter(study=study, is_pilot=False).exclude(excluded_reason="").order_by("pk")
