"""Researcher pages of metric benchmarks: upload on a done run, one benchmark's results, files."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from analysis.benchmark.forms import MetricBenchmarkForm
from analysis.benchmark.models import MetricBenchmark
from analysis.benchmark.selectors import (
    metric_benchmark_file_name,
    metric_benchmark_get_for_user,
    metric_benchmark_list,
    metric_benchmark_relative_files,
)
from analysis.benchmark.services import MetricBenchmarkInvalid, metric_benchmark_start, splits_csv_for_run
from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_get_for_user

COLUMN_LABELS = {"srcc": "SRCC", "krcc": "KRCC", "plcc": "PLCC", "rmse": "RMSE"}


@login_required
@require_http_methods(["GET", "POST"])
def benchmark_list(request: HttpRequest, pk: int) -> HttpResponse:
    run = analysis_run_get_for_user(user=request.user, run_id=pk)
    form = MetricBenchmarkForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["predictions"]
        try:
            bench = metric_benchmark_start(
                run=run,
                content=upload.read(),
                filename=upload.name,
                user=request.user,
                n_boot=form.cleaned_data["n_boot"],
                seed=form.cleaned_data["seed"],
            )
        except MetricBenchmarkInvalid as exc:
            form.add_error("predictions", str(exc))
        else:
            return redirect("analysis:benchmark-detail", pk=bench.pk)
    context = {
        "run": run,
        "study": run.study,
        "form": form,
        "benchmarks": metric_benchmark_list(run=run),
        "run_done": run.status == AnalysisRun.Status.DONE,
    }
    return render(request, "analysis/benchmark_list.html", context, status=400 if form.errors else 200)


def _status(bench: MetricBenchmark) -> dict[str, Any]:
    return {
        "id": bench.pk,
        "status": bench.status,
        "status_label": bench.get_status_display(),
        "error": bench.error,
        "finished": bench.is_finished,
    }


def _cell(row: dict[str, Any], col: str, best: str | None) -> dict[str, Any]:
    low, high = row.get(f"{col}_low"), row.get(f"{col}_high")
    return {
        "value": row.get(col),
        "low": low,
        "high": high,
        "best": best is not None and best == row["metric"],
    }


def _tables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    from analysis.stats.metric_benchmark import COLUMNS  # scipy.stats: loaded on first use

    """Per perspective: the overall table (best marked), and one table per grouping."""
    out = []
    for key in doc.get("perspectives", []):
        best = doc.get("best", {}).get(key, {})
        rows = [r for r in doc["results"] if r["perspective"] == key]
        overall = [
            {"metric": r["metric"], "n": r["n"], "cells": [_cell(r, c, best.get(c)) for c in COLUMNS]}
            for r in rows
            if r["group_by"] == "all"
        ]
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["group_by"] != "all":
                groups.setdefault(r["group_by"], []).append(
                    {
                        "metric": r["metric"],
                        "group": r["group"],
                        "n": r["n"],
                        "cells": [_cell(r, c, None) for c in COLUMNS],
                    }
                )
        comparisons = [c for c in doc.get("comparisons", []) if c["perspective"] == key]
        out.append({"key": key, "overall": overall, "groups": groups, "comparisons": comparisons})
    return out


@login_required
@require_GET
def benchmark_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from analysis.stats.metric_benchmark import COLUMNS

    bench = metric_benchmark_get_for_user(user=request.user, benchmark_id=pk)
    context: dict[str, Any] = {
        "bench": bench,
        "run": bench.run,
        "study": bench.run.study,
        "status": _status(bench),
        "columns": [COLUMN_LABELS[c] for c in COLUMNS],
    }
    if bench.status == MetricBenchmark.Status.DONE:
        files = metric_benchmark_relative_files(benchmark=bench)
        context.update(
            tables=_tables(bench.results),
            plots=[f for f in files if f.startswith("plots/")],
            files=[f for f in files if not f.startswith("plots/")],
        )
    return render(request, "analysis/benchmark_detail.html", context)


@login_required
@require_GET
def benchmark_status(request: HttpRequest, pk: int) -> JsonResponse:
    bench = metric_benchmark_get_for_user(user=request.user, benchmark_id=pk)
    return JsonResponse(_status(bench))


def benchmark_file_response(bench: MetricBenchmark, relative: str) -> FileResponse:
    from django.core.files.storage import default_storage

    name = metric_benchmark_file_name(benchmark=bench, relative=relative)
    inline = relative.startswith("plots/") and relative.endswith(".png")
    response = FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=not inline,
        filename=f"benchmark-{bench.pk}_{relative.replace('/', '_')}",
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def benchmark_file(request: HttpRequest, pk: int, path: str) -> FileResponse:
    bench = metric_benchmark_get_for_user(user=request.user, benchmark_id=pk)
    return benchmark_file_response(bench, path)


@login_required
@require_GET
def run_splits(request: HttpRequest, pk: int) -> HttpResponse:
    run = analysis_run_get_for_user(user=request.user, run_id=pk)
    try:
        body = splits_csv_for_run(run=run)
    except MetricBenchmarkInvalid as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}_splits.csv"'
    return response
