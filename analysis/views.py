"""Researcher pages of analysis runs: list and start, one run's results, status JSON, files."""

from __future__ import annotations

import csv
import io
import mimetypes
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.formats import get_format
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from analysis.exceptions import AnalysisRunInvalid, JobQueueUnavailable
from analysis.forms import AnalysisRunStartForm
from analysis.models import AnalysisRun
from analysis.selectors import (
    analysis_run_file_name,
    analysis_run_get_for_user,
    analysis_run_list,
    analysis_run_relative_files,
)
from analysis.services import analysis_run_start
from config.auth import authenticated_user
from experiments.models import Stimulus
from experiments.selectors import study_get_for_user

# Rows shown on the page; the CSV downloads have all of them. The table rows are the page's main
# work (2,000 rows: 5 s on a loaded machine; 500 rows with the numbers formatted in the view:
# 0.5-0.9 s at a load average of 5-7, docs/performance.md).
TABLE_ROWS = 500


@login_required
@require_http_methods(["GET", "POST"])
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    # Viewers see the runs; starting one is a change (403 for them).
    study = study_get_for_user(user=request.user, slug=slug, change=request.method == "POST")
    form = AnalysisRunStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = analysis_run_start(
                study=study,
                method=form.cleaned_data["method"],
                parameters=form.parameters(),
                user=authenticated_user(request),
                include_pilot=form.cleaned_data["include_pilot"],
                exclude_qc_failures=form.cleaned_data["exclude_qc_failures"],
                include_panel_ids=form.cleaned_data["include_panel_ids"],
            )
        except AnalysisRunInvalid as exc:
            form.add_error(None, str(exc))
        except JobQueueUnavailable as exc:
            messages.error(request, str(exc))
            return redirect("analysis:run-detail", pk=exc.run_id)
        else:
            return redirect("analysis:run-detail", pk=run.pk)
    runs = analysis_run_list(study=study)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "analysis/run_list.html", {"study": study, "runs": runs, "form": form}, status=status
    )


def _status(run: AnalysisRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "status_label": run.get_status_display(),
        "progress": run.progress,
        "message": run.progress_message,
        "error": run.error,
        "finished": run.is_finished,
    }


def _csv_rows(name: str, limit: int = TABLE_ROWS) -> tuple[list[str], list[dict[str, str]], bool]:
    with default_storage.open(name, "rb") as fh:
        reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
        rows: list[dict[str, str]] = []
        for row in reader:
            if len(rows) == limit:
                return list(reader.fieldnames or []), rows, True
            rows.append(row)
        return list(reader.fieldnames or []), rows, False


def _results(run: AnalysisRun) -> dict[str, Any]:
    keys = [p["key"] for p in run.summary.get("perspectives", [])]
    _, stimuli, stimuli_cut = _csv_rows(analysis_run_file_name(run=run, relative="mos.csv"))
    _, raters, raters_cut = _csv_rows(analysis_run_file_name(run=run, relative="raters.csv"))
    files = analysis_run_relative_files(run=run)
    thumbs = _thumbnails(run, stimuli)
    fixed = _Fixed()
    return {
        "keys": keys,
        "stimuli": [
            {
                "row": row,
                "thumb": thumbs.get(str(row.get("position", ""))),
                "scores": [_score(row, key, fixed) for key in keys],
            }
            for row in stimuli
        ],
        "stimuli_cut": stimuli_cut,
        "raters": [_rater(row, fixed) for row in raters],
        "raters_cut": raters_cut,
        "files": [f for f in files if not f.endswith(".png") and f != run.zip_name],
        "rich": run.summary.get("rich"),
        "plots": [
            {"file": f, "caption": PLOT_CAPTIONS.get(f, "")}
            for f in sorted(
                (f for f in files if f.startswith("plots/") and f.endswith(".png")), key=_plot_order
            )
        ],
    }


# The tables' numbers are formatted here, once per value, to the text {{ x|floatformat:p }} gives
# (ROUND_HALF_UP, the active language's decimal separator): ~6,000 floatformat calls in the
# template were most of the page's time. Anything but a plain finite number, or grouped digits,
# goes to floatformat itself.
_RATER_DIGITS = {"mean": 2, "sd": 2, "ratio1": 3, "ratio2": 3}
_QUANTUM = {p: Decimal(1).scaleb(-p) for p in (1, 2, 3)}
_CONTEXT = Context(prec=60)


class _Fixed:
    """``floatformat(text, places)`` for the active language, the per-call lookups done once."""

    def __init__(self) -> None:
        self.separator = str(get_format("DECIMAL_SEPARATOR", get_language(), use_l10n=True))
        self.exact = not settings.USE_THOUSAND_SEPARATOR

    def __call__(self, text: str, places: int) -> str:
        try:
            d = Decimal(text)
        except InvalidOperation:
            return floatformat(text, places)
        if not (self.exact and d.is_finite() and abs(d) < _LIMIT):
            return floatformat(text, places)
        _, digits, exponent = d.as_tuple()
        if len(digits) + abs(int(exponent)) > 200:  # floatformat returns those as they are
            return floatformat(text, places)
        rounded = d.quantize(_QUANTUM[places], ROUND_HALF_UP, _CONTEXT)
        out = f"{rounded:f}"
        if rounded.is_zero() and out.startswith("-"):  # floatformat drops the sign of a zero
            out = out[1:]
        return out.replace(".", self.separator) if self.separator != "." else out


_LIMIT = Decimal(10) ** 40


def _score(row: dict[str, str], key: str, fixed: _Fixed) -> dict[str, str]:
    score = {k: row.get(f"{key}_{k}", "") for k in ("mos", "ci_low", "ci_high", "n")}
    score["mos_text"] = fixed(score["mos"], 2)
    score["ci_text"] = f"{fixed(score['ci_low'], 1)}–{fixed(score['ci_high'], 1)}"
    return score


def _rater(row: dict[str, str], fixed: _Fixed) -> dict[str, str]:
    return {**row, **{f"{k}_text": fixed(row.get(k, ""), d) for k, d in _RATER_DIGITS.items()}}


def _thumbnails(run: AnalysisRun, rows: list[dict[str, str]]) -> dict[str, str]:
    """Image URL per position of the rows shown (the table's thumbnails)."""
    positions = [int(r["position"]) for r in rows if str(r.get("position", "")).isdigit()]
    stimuli = Stimulus.objects.filter(study_id=run.study_id, position__in=positions).only(
        "position", "sha256", "image"
    )
    patterns: dict[str, str] = {}  # per request: reverse() reads the request's script prefix
    return {str(s.position): _image_url(s, patterns) for s in stimuli}


_HEX = re.compile(r"[0-9a-f]{64}")
_MARK = "f" * 64


def _image_url(stimulus: Stimulus, patterns: dict[str, str]) -> str:
    """``stimulus.image_url`` with one URL reversal per file type, not per row (500 reversals
    were a fifth of the page's time); a hash that is not plain hex takes the model's path."""
    if not _HEX.fullmatch(stimulus.sha256):
        return str(stimulus.image_url)  # type: ignore[attr-defined]
    ext = stimulus.image.name.rsplit(".", 1)[-1] if stimulus.image.name else "png"
    if ext not in patterns:
        patterns[ext] = reverse("stimulus-image", kwargs={"sha256": _MARK, "ext": ext})
    return patterns[ext].replace(_MARK, stimulus.sha256, 1)


#: The plots the job draws (analysis.plots), in page order, with what each shows.
PLOT_CAPTIONS = {
    "plots/mos_by_model.png": "Mean MOS per generating model, with its 95% confidence interval, per perspective.",
    "plots/mos_histogram.png": "How the MOS values are distributed, per perspective.",
    "plots/mos_ci.png": "Every stimulus' MOS in increasing order, with its confidence interval.",
    "plots/screening.png": "Which raters the BT.500 screening rejected, and why (see the text under the plot).",
}


def _plot_order(name: str) -> tuple[int, str]:
    order = list(PLOT_CAPTIONS)
    return (order.index(name) if name in order else len(order), name)


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = analysis_run_get_for_user(user=request.user, run_id=pk)
    context: dict[str, Any] = {"run": run, "study": run.study, "status": _status(run)}
    if run.status == AnalysisRun.Status.DONE:
        context.update(_results(run))
    return render(request, "analysis/run_detail.html", context)


@login_required
@require_GET
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = analysis_run_get_for_user(user=request.user, run_id=pk)
    return JsonResponse(_status(run))


def file_response(run: AnalysisRun, relative: str, *, inline: bool = False) -> FileResponse:
    """Stream one result file of the run, as an attachment unless ``inline`` (plots, overlays)."""
    name = analysis_run_file_name(run=run, relative=relative)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    download = relative.replace("/", "_") if relative != run.zip_name else run.zip_name
    response = FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=not inline,
        filename=f"run-{run.pk}_{download}" if relative != run.zip_name else download,
        content_type=content_type,
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def run_file(request: HttpRequest, pk: int, path: str) -> FileResponse:
    run = analysis_run_get_for_user(user=request.user, run_id=pk)
    inline = path.startswith(("plots/", "rich/overlays/")) and path.endswith(".png")
    return file_response(run, path, inline=inline)
