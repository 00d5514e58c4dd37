"""Reads of analysis runs, with the researcher's access rules applied."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from analysis.models import AnalysisRun
from experiments.models import Study
from experiments.selectors import study_list_for_user


def analysis_run_list(*, study: Study) -> QuerySet[AnalysisRun]:
    """Runs of a study, newest first. The caller has checked access to the study."""
    return AnalysisRun.objects.filter(study=study).select_related("study", "created_by").order_by("-id")


def analysis_run_list_for_user(*, user: User | AnonymousUser) -> QuerySet[AnalysisRun]:
    """Runs of every study the user may see."""
    return AnalysisRun.objects.filter(study__in=study_list_for_user(user=user)).select_related("study")


def analysis_run_get_for_user(*, user: User | AnonymousUser, run_id: int) -> AnalysisRun:
    """The run if the user may see its study; 404 otherwise (no existence leak)."""
    try:
        return analysis_run_list_for_user(user=user).get(pk=run_id)
    except AnalysisRun.DoesNotExist:
        raise Http404("No such analysis run") from None


def analysis_run_latest(*, study: Study) -> AnalysisRun | None:
    """The study's most recent run, whatever its status."""
    return AnalysisRun.objects.filter(study=study).order_by("-id").first()


def analysis_run_file_name(*, run: AnalysisRun, relative: str) -> str:
    """Storage name of one result file of a done run, given its path inside the run folder.

    Only names the run recorded are answered, so a crafted path cannot reach other files.
    """
    base = run.summary.get("storage_dir", run.storage_dir)
    name = f"{base}/{relative}"
    if run.status != AnalysisRun.Status.DONE or name not in run.files:
        raise Http404("No such file")
    return name


def analysis_run_relative_files(*, run: AnalysisRun) -> list[str]:
    """The run's result files as paths inside the run folder, in a stable order."""
    base = run.summary.get("storage_dir", run.storage_dir) + "/"
    return sorted(f[len(base) :] for f in run.files if f.startswith(base))
