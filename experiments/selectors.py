"""Reads of studies and stimuli, with the researcher's access rules applied."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from experiments.models import Study


def study_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Study]:
    """Studies the user owns or collaborates on (every study for staff)."""
    if not user.is_authenticated:
        return Study.objects.none()
    if user.is_staff:
        return Study.objects.all()
    return Study.objects.filter(Q(owner=user) | Q(collaborators=user)).distinct()


def study_get_for_user(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> Study:
    """The study with this slug if the user may see it; 404 otherwise (no existence leak)."""
    try:
        return study_list_for_user(user=user).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


def user_can_access_study(*, user: AbstractBaseUser | AnonymousUser, study: Study) -> bool:
    return study_list_for_user(user=user).filter(pk=study.pk).exists()
