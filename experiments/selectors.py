"""Reads of studies and stimuli, with the researcher's access rules applied."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from experiments.models import Stimulus, StimulusImport, Study


def study_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Studies the user owns, edits or views as a collaborator (every study for superusers).

    The one access rule for the researcher's pages, API, admin and draft media. Staff status only
    opens the admin; it does not show other researchers' studies.
    """
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    # Subqueries, not joins: no duplicate rows, so callers may aggregate or lock freely.
    shared = Study.collaborators.through.objects.filter(user_id=user.pk).values("study_id")
    viewed = Study.viewers.through.objects.filter(user_id=user.pk).values("study_id")
    return Study.objects.filter(Q(owner_id=user.pk) | Q(pk__in=shared) | Q(pk__in=viewed))


def study_list_editable_by(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Studies the user may change: owned, shared as editor, or any for a superuser."""
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    shared = Study.collaborators.through.objects.filter(user_id=user.pk).values("study_id")
    return Study.objects.filter(Q(owner_id=user.pk) | Q(pk__in=shared))


def study_get_for_user(*, user: User | AnonymousUser, slug: str, change: bool = False) -> Study:
    """The study with this slug if the user may see it; 404 otherwise (no existence leak).

    With `change`, a viewer (who may see the study) gets 403: the study is shared read-only.
    """
    try:
        study = study_list_for_user(user=user).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None
    if change and not study_list_editable_by(user=user).filter(pk=study.pk).exists():
        raise PermissionDenied(
            _("This study is shared with you to view only; ask its owner for edit access.")
        )
    return study


def study_role(*, user: User | AnonymousUser, study: Study) -> str:
    """'owner', 'editor' or 'viewer': what the user is on a study they may see."""
    if study.owner_id == user.pk:
        return "owner"
    if study_list_editable_by(user=user).filter(pk=study.pk).exists():
        return "editor"
    return "viewer"


def user_can_access_study(*, user: User | AnonymousUser, study: Study, change: bool = False) -> bool:
    """Can this user see (or, with `change`, change) this study: owner, collaborator or superuser."""
    studies = study_list_editable_by(user=user) if change else study_list_for_user(user=user)
    return studies.filter(pk=study.pk).exists()


def study_has_ratings(*, study: Study) -> bool:
    """True once any real participant has rated: the trial design is then locked (pilot data,
    removable at any time, does not lock it)."""
    # Imported here: ratings depends on experiments at import time, not the other way round.
    from ratings.selectors import study_has_real_ratings

    return study_has_real_ratings(study=study)


def stimulus_list(*, study: Study, role: str = "", generator: str = "", q: str = "") -> QuerySet[Stimulus]:
    stimuli = Stimulus.objects.filter(study=study).order_by("position")
    if role:
        stimuli = stimuli.filter(role=role)
    if generator:
        stimuli = stimuli.filter(generator=generator)
    if q:
        stimuli = stimuli.filter(Q(prompt__icontains=q) | Q(name__icontains=q))
    return stimuli


def stimulus_get(*, study: Study, pk: int) -> Stimulus:
    try:
        return Stimulus.objects.get(study=study, pk=pk)
    except Stimulus.DoesNotExist:
        raise Http404("No such stimulus") from None


def stimulus_import_get(*, study: Study, pk: int) -> StimulusImport:
    try:
        return StimulusImport.objects.get(study=study, pk=pk)
    except StimulusImport.DoesNotExist:
        raise Http404("No such import") from None


def study_generators(*, study: Study) -> list[str]:
    return list(
        Stimulus.objects.filter(study=study)
        .exclude(generator="")
        .order_by("generator")
        .values_list("generator", flat=True)
        .distinct()
    )


def study_launch_warnings(*, study: Study) -> list[str]:
    """What a researcher would want to fix before launching: each warning in words.

    None of these stops a launch (study_launch refuses only what cannot run); the researcher
    confirms them on the launch page.
    """
    counts = {role: study.stimuli.filter(role=role).count() for role in Stimulus.Role.values}
    warnings = []
    if counts[Stimulus.Role.TEST] < study.stimuli_per_session:
        warnings.append(
            _("Only %(n)d test stimuli for %(per)d per session: sessions will be shorter than set.")
            % {"n": counts[Stimulus.Role.TEST], "per": study.stimuli_per_session}
        )
    if study.training_count and not counts[Stimulus.Role.TRAINING]:
        warnings.append(
            _(
                "Practice trials are set (%(n)d) but there are no training images: participants get no practice."
            )
            % {"n": study.training_count}
        )
    if study.gold_per_session and not counts[Stimulus.Role.GOLD]:
        warnings.append(
            _(
                "Gold checks are set (%(n)d per session) but there are no gold stimuli: no gold check will run."
            )
            % {"n": study.gold_per_session}
        )
    if not study.consent_text.strip():
        warnings.append(_("The consent text is empty: participants agree to nothing in particular."))
    if not study.instructions.strip():
        warnings.append(_("The instructions are empty."))
    if study.panel in (Study.Panel.PROLIFIC, Study.Panel.MTURK) and not study.completion_code:
        warnings.append(
            _(
                "No completion code: each participant is shown their own code, which %(panel)s cannot check in bulk."
            )
            % {"panel": study.get_panel_display()}
        )
    return warnings


PROLIFIC_PLACEHOLDERS = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
MTURK_EXTERNAL_QUESTION = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2006-07-14/ExternalQuestion.xsd">\n'
    "  <ExternalURL>{url}</ExternalURL>\n"
    "  <FrameHeight>0</FrameHeight>\n"
    "</ExternalQuestion>"
)


def study_panel_links(*, study: Study, participant_url: str) -> list[dict[str, Any]]:
    """The texts a researcher pastes into the panel: each with a label and a hint."""
    links: list[dict[str, Any]] = []
    if study.panel == Study.Panel.PROLIFIC:
        links.append(
            {
                "id": "prolific-url",
                "label": _("Prolific study URL"),
                "value": f"{participant_url}?{PROLIFIC_PLACEHOLDERS}",
                "hint": _("Paste as the study URL in Prolific; it fills in the {{%…%}} placeholders."),
            }
        )
    elif study.panel == Study.Panel.MTURK:
        links.append(
            {
                "id": "mturk-xml",
                "label": _("MTurk ExternalQuestion XML"),
                "value": MTURK_EXTERNAL_QUESTION.format(url=participant_url),
                "multiline": True,
                "hint": _("The Question of your HIT (CreateHIT); MTurk adds the worker and assignment ids."),
            }
        )
    elif study.panel == Study.Panel.GENERIC:
        links.append(
            {
                "id": "generic-url",
                "label": _("Study link with the panel's participant id"),
                "value": f"{participant_url}?pid=PARTICIPANT_ID",
                "hint": _("Replace PARTICIPANT_ID with your panel's placeholder for the participant id."),
            }
        )
    else:
        links.append(
            {
                "id": "lab-url",
                "label": _("Lab link"),
                "value": participant_url,
                "hint": _("Each opening starts a new participant; add ?invite=NAME to tell them apart."),
            }
        )
    if study.completion_code:
        hints: dict[str, str] = {
            str(Study.Panel.PROLIFIC): _("Enter it as the completion code in Prolific."),
            str(Study.Panel.MTURK): _("Shown to workers at the end; the HIT is submitted to MTurk for them."),
        }
        hint = hints.get(study.panel, _("Shown to participants at the end."))
        links.append(
            {
                "id": "completion-code",
                "label": _("Completion code"),
                "value": study.completion_code,
                "hint": hint,
            }
        )
    return links


def study_list_with_progress(*, user: User | AnonymousUser, archived: bool) -> QuerySet[Study]:
    """The study list: test stimuli and valid answered trials per study, archived ones or the others."""
    from ratings.selectors import valid_trial_count_per_study

    # The dashboard's rule (ratings.selectors.valid_trials), for every listed study at once.
    valid = valid_trial_count_per_study(study=OuterRef("pk"))
    return (
        study_list_for_user(user=user)
        .filter(archived_at__isnull=not archived)
        .annotate(
            stimulus_count=Count("stimuli", filter=Q(stimuli__role=Stimulus.Role.TEST)),
            valid_ratings=Coalesce(Subquery(valid), 0),
        )
        .select_related("owner")
        .order_by("-created_at")
    )
