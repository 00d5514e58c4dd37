"""Reads of metric benchmarks, with the researcher's access rules applied."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from analysis.benchmark.models import MetricBenchmark
from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_list_for_user


def metric_benchmark_list(*, run: AnalysisRun) -> QuerySet[MetricBenchmark]:
    """Benchmarks of a run, newest first. The caller has checked access to the run."""
    return MetricBenchmark.objects.filter(run=run).select_related("run", "run__study").order_by("-id")


def metric_benchmark_get_for_user(*, user: User | AnonymousUser, benchmark_id: int) -> MetricBenchmark:
    """The benchmark if the user may see its study; 404 otherwise (no existence leak)."""
    runs = analysis_run_list_for_user(user=user)
    try:
        return MetricBenchmark.objects.select_related("run", "run__study").get(pk=benchmark_id, run__in=runs)
    except MetricBenchmark.DoesNotExist:
        raise Http404("No such benchmark") from None


def metric_benchmark_file_name(*, benchmark: MetricBenchmark, relative: str) -> str:
    """Storage name of one result file, given its path inside the benchmark folder.

    Only names the benchmark recorded are answered, so a crafted path cannot reach other files.
    """
    name = f"{benchmark.storage_dir}/{relative}"
    if benchmark.status != MetricBenchmark.Status.DONE or name not in benchmark.files:
        raise Http404("No such file")
    return name


def metric_benchmark_relative_files(*, benchmark: MetricBenchmark) -> list[str]:
    prefix = benchmark.storage_dir + "/"
    return sorted(f[len(prefix) :] for f in benchmark.files if f.startswith(prefix))
