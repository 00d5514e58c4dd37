"""Reads of studies and stimuli, with the researcher's access rules applied."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404

from experiments.models import Stimulus, StimulusImport, Study


def study_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Study]:
    """Studies the user owns or collaborates on (every study for superusers).

    The one access rule for the researcher's pages, API, admin and draft media. Staff status only
    opens the admin; it does not show other researchers' studies.
    """
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    # A subquery, not a join: no duplicate rows, so callers may aggregate or lock freely.
    shared = Study.collaborators.through.objects.filter(user_id=user.pk).values("study_id")
    return Study.objects.filter(Q(owner_id=user.pk) | Q(pk__in=shared))


def study_get_for_user(*, user: User | AnonymousUser, slug: str) -> Study:
    """The study with this slug if the user may see it; 404 otherwise (no existence leak)."""
    try:
        return study_list_for_user(user=user).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


def user_can_access_study(*, user: User | AnonymousUser, study: Study) -> bool:
    """Can this user see and change this study (owner, collaborator or superuser)."""
    return study_list_for_user(user=user).filter(pk=study.pk).exists()


def study_has_ratings(*, study: Study) -> bool:
    """True once any real participant has rated: the trial design is then locked (pilot data,
    removable at any time, does not lock it)."""
    # Imported here: ratings depends on experiments at import time, not the other way round.
    from ratings.models import Rating

    return Rating.objects.filter(session__study=study, session__is_pilot=False).exists()


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
