"""Writes on analysis runs: start, execute (claim, compute, store), sweep.

An execution claims the run with a conditional UPDATE and a fresh random token. Every later write
of that execution (progress, files, done/failed) is conditioned on the token, so an execution that
lost its claim (it was presumed dead and another worker re-claimed the run) can change nothing.
A run "running" whose heartbeat is older than ``ANALYSIS_RUN_STALE_SECONDS`` belongs to a dead
worker and may be claimed again; the input snapshot (``rating_id_max``) makes the new execution
read the same ratings and write the same files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from analysis import exports, loaders, pipeline, plots
from analysis.exceptions import AnalysisRunInvalid, ClaimLost, JobQueueUnavailable
from analysis.models import AnalysisRun
from analysis.offline import code_version
from analysis.stats import DEFAULT_METHOD, METHODS, AnalysisResult
from config.jobs import job_send
from experiments.models import Study
from ratings.models import Rating
from ratings.services import participants_exclude

logger = logging.getLogger(__name__)

Status = AnalysisRun.Status
RELIABILITY_SPLITS = pipeline.RELIABILITY_SPLITS
RELIABILITY_SEED = pipeline.RELIABILITY_SEED
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.ANALYSIS_RUN_STALE_SECONDS)


# --------------------------------------------------------------------------- start / enqueue


def _validated_parameters(method: str, parameters: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if method not in METHODS:
        raise AnalysisRunInvalid(f"Unknown method {method!r}; choose one of {', '.join(sorted(METHODS))}.")
    try:
        return METHODS[method].version, METHODS[method].validate(dict(parameters))
    except ValueError as exc:
        raise AnalysisRunInvalid(str(exc)) from None


@transaction.atomic
def analysis_run_start(
    *,
    study: Study,
    method: str,
    parameters: Mapping[str, Any] | None = None,
    user: User | None = None,
    include_pilot: bool = False,
    exclude_qc_failures: bool = True,
    include_panel_ids: bool = False,
    enqueue: bool = True,
    pilot_only: bool = False,
) -> AnalysisRun:
    """Create a pending run of ``method`` on the study's ratings so far and enqueue it after commit.

    Raises AnalysisRunInvalid for an unknown method or bad parameters (nothing is created).
    If the broker refuses the job, raises JobQueueUnavailable after commit: the run stays
    pending and ``analysis_runs_sweep`` enqueues it later.
    """
    version, params = _validated_parameters(method, parameters or {})
    last = Rating.objects.filter(session__study=study).aggregate(m=Max("id"))["m"]
    run = AnalysisRun(
        study=study,
        method=method,
        method_version=version,
        parameters=params,
        include_pilot=include_pilot or pilot_only,
        pilot_only=pilot_only,
        exclude_qc_failures=exclude_qc_failures,
        include_panel_ids=include_panel_ids,
        rating_id_max=last or 0,
        created_by=user if user is not None and user.is_authenticated else None,
        progress_message="Waiting for a worker",
    )
    run.full_clean()
    run.save()
    if enqueue:
        run_id = run.id
        transaction.on_commit(lambda: analysis_run_enqueue(run_id=run_id))
    return run


def analysis_run_enqueue(*, run_id: int) -> None:
    """Publish the execution task of a run; raise JobQueueUnavailable if the broker refuses it."""
    try:
        job_send("analysis.tasks.analysis_run_execute_task", run_id)
    except (KombuError, OSError) as exc:
        logger.warning("analysis run %s: could not publish the job: %s", run_id, exc)
        AnalysisRun.objects.filter(pk=run_id, status=Status.PENDING).update(
            progress_message="Waiting for the job queue (unavailable)"
        )
        raise JobQueueUnavailable(run_id) from exc
    AnalysisRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())


def analysis_runs_sweep(
    *, pending_after: timedelta | None = None, stale_after: timedelta | None = None
) -> list[int]:
    """Enqueue again the runs nobody is working on; return their ids.

    Those are pending runs not published for ``pending_after`` (the broker was down, or the
    message was lost) and running runs whose heartbeat is older than ``stale_after`` (the worker
    died). Duplicate messages are harmless: only one execution can claim a run.
    """
    now = timezone.now()
    # `is None`, not `or`: timedelta(0) ("every pending run, now") is falsy.
    if pending_after is None:
        pending_after = timedelta(seconds=settings.ANALYSIS_RUN_PENDING_SECONDS)
    if stale_after is None:
        stale_after = _stale_after()
    pending = Q(status=Status.PENDING) & (
        Q(enqueued_at__lt=now - pending_after)
        | Q(enqueued_at__isnull=True, created_at__lt=now - pending_after)
    )
    stale = Q(status=Status.RUNNING, heartbeat_at__lt=now - stale_after)
    ids = list(AnalysisRun.objects.filter(pending | stale).order_by("id").values_list("id", flat=True))
    enqueued = []
    for run_id in ids:
        try:
            analysis_run_enqueue(run_id=run_id)
        except JobQueueUnavailable:
            break  # the next sweep tries again
        enqueued.append(run_id)
    return enqueued


# --------------------------------------------------------------------------- claim and bookkeeping


def analysis_run_claim(*, run_id: int) -> str | None:
    """Claim a pending run, or a running one with a stale heartbeat; return the claim token.

    None when the run is done, failed, or held by a live worker: the caller must do nothing.
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, heartbeat_at__lt=now - _stale_after())
    claimed = AnalysisRun.objects.filter(claimable, pk=run_id).update(
        status=Status.RUNNING,
        claim_token=token,
        claimed_at=now,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
        progress=0.0,
        progress_message="Starting",
        error="",
    )
    return token if claimed else None


def _mine(run_id: int, token: str) -> Any:
    return AnalysisRun.objects.filter(pk=run_id, claim_token=token, status=Status.RUNNING)


def _progress(run_id: int, token: str, progress: float, message: str, **fields: Any) -> None:
    """Record progress and refresh the heartbeat; raise ClaimLost if the claim is gone."""
    updated = _mine(run_id, token).update(
        progress=round(progress, 3), progress_message=message[:200], heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise ClaimLost(run_id)


def _heartbeat_every(rows: Iterable[Any], run_id: int, token: str, every: int = 50_000) -> Iterator[Any]:
    for k, row in enumerate(rows, start=1):
        if k % every == 0:
            _progress(run_id, token, 0.7, f"Writing raw ratings ({k} rows)")
        yield row


#: How often the job tells it is alive while it waits for its raw_ratings.csv thread.
RAW_WAIT_HEARTBEAT_S = 30.0


class _RawRatings:
    """``raw_ratings.csv`` of a run, written while the run analyses and draws (PostgreSQL).

    On PostgreSQL the database makes the file's lines (``loaders.raw_ratings_csv_blocks``), so
    writing it is mostly waiting: a thread with its own connection does it into a file of its
    own, next to the analysis, and :meth:`place` moves it into the run's files. Inside a
    transaction (a test's) another connection would not see the ratings, so the file is written
    by :meth:`place` itself, as on SQLite (``raw_rating_rows`` and the Python writer).
    """

    def __init__(self, run: AnalysisRun, keys: Sequence[str]) -> None:
        self.run = run
        self.options: dict[str, Any] = {
            "include_pilot": run.include_pilot,
            "rating_id_max": run.rating_id_max,
            "include_panel_ids": run.include_panel_ids,
            "pilot_only": run.pilot_only,
            "exclude_qc_failures": run.exclude_qc_failures,
            "perspectives": list(keys),
        }
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.tmp = tempfile.TemporaryDirectory(prefix=f"analysis-run-{run.id}-raw-")
            self.thread = threading.Thread(target=self._write, name=f"raw-ratings-{run.id}", daemon=True)
            self.thread.start()

    @property
    def _path(self) -> Path:
        assert self.tmp is not None
        return Path(self.tmp.name) / "raw_ratings.csv"

    def _write(self) -> None:
        try:
            blocks = loaders.raw_ratings_csv_blocks(self.run.study, **self.options)
            exports.write_raw_ratings_text(self._path, blocks)
        except BaseException as exc:  # re-raised by place(), in the job's thread
            self.error = exc
        finally:
            connections.close_all()  # this thread's connection only

    def place(self, dest: Path, token: str) -> None:
        """Put the file at ``dest``: wait for the thread (re-raising its error), or write it now."""
        if self.thread is None:
            rows = loaders.raw_rating_rows(self.run.study, **self.options)
            exports.write_raw_ratings(dest, _heartbeat_every(rows, self.run.id, token))
            return
        # The run's heartbeat goes on while the export thread finishes (a huge study's file).
        self.thread.join(timeout=RAW_WAIT_HEARTBEAT_S)
        while self.thread.is_alive():
            _progress(self.run.id, token, 0.75, "Writing raw ratings")
            self.thread.join(timeout=RAW_WAIT_HEARTBEAT_S)
        if self.error is not None:
            raise self.error
        shutil.move(self._path, dest)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.tmp is not None:
            self.tmp.cleanup()


# --------------------------------------------------------------------------- execute


def analysis_run_execute(*, run_id: int) -> str:
    """Claim the run and compute it; return what happened ("done", "failed", "skipped", "lost").

    Deterministic errors mark the run failed with their message. Transient database errors
    give the claim back (pending) and propagate, so that the task retries.
    """
    token = analysis_run_claim(run_id=run_id)
    if token is None:
        return "skipped"
    run = AnalysisRun.objects.select_related("study").get(pk=run_id)
    try:
        _execute(run, token)
    except ClaimLost:
        logger.warning("analysis run %s: claim lost to another worker; stopped", run_id)
        return "lost"
    except TRANSIENT_ERRORS:
        # Still down: the run goes stale and the sweep enqueues it again.
        with contextlib.suppress(*TRANSIENT_ERRORS):
            _mine(run_id, token).update(
                status=Status.PENDING, claim_token="", progress_message="Retrying after a database error"
            )
        raise
    except Exception as exc:  # deterministic: the same input fails the same way again
        logger.exception("analysis run %s failed", run_id)
        _mine(run_id, token).update(
            status=Status.FAILED,
            error=_error_text(exc),
            progress_message="Failed",
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        return "failed"
    return "done"


def _error_text(exc: Exception) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "The analysis took longer than the time limit of the job queue."
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


class _Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(now - since, 4)
        return now


def _execute(run: AnalysisRun, token: str) -> None:
    """Load -> analyse -> write with the one pipeline (analysis.pipeline), then store the files."""
    clock = _Clock()
    _progress(run.id, token, 0.02, "Loading ratings")
    t = time.perf_counter()
    data = loaders.study_ratings_load(
        run.study,
        include_pilot=run.include_pilot,
        exclude_qc_failures=run.exclude_qc_failures,
        rating_id_max=run.rating_id_max,
        pilot_only=run.pilot_only,
        include_panel_ids=run.include_panel_ids,
    )
    t = clock.lap("load", t)
    _progress(run.id, token, 0.15, "Computing scores", input_fingerprint=data.fingerprint)
    inp = data.pipeline_input()
    raw = _RawRatings(run, inp.keys)
    try:
        _analyse_and_write(run, token, data, inp, clock, raw)
    finally:
        raw.close()


def _analyse_and_write(
    run: AnalysisRun,
    token: str,
    data: loaders.StudyRatings,
    inp: pipeline.AnalysisInput,
    clock: _Clock,
    raw: _RawRatings,
) -> None:
    n = len(inp.keys)

    def scored(k: int, key: str) -> None:
        _progress(run.id, token, 0.15 + 0.4 * (k + 1) / n, f"Scored {key}")

    an = pipeline.analyse(inp, method=run.method, params=run.parameters, progress=scored)
    clock.timings.update({k: round(v, 4) for k, v in an.timings.items()})
    t = time.perf_counter()
    rich = loaders.study_annotations_load(
        run.study,
        data,
        include_pilot=run.include_pilot,
        pilot_only=run.pilot_only,
        rating_id_max=run.rating_id_max,
    )
    rich_result = pipeline.rich_analyse(rich, an.results) if rich is not None else None
    t = clock.lap("rich_feedback", t) if rich is not None else t
    with tempfile.TemporaryDirectory(prefix=f"analysis-run-{run.id}-") as tmp:
        out = Path(tmp) / "run"
        if rich is not None and rich_result is not None:
            _progress(run.id, token, 0.55, "Writing rich feedback")
            pipeline.write_rich(out, rich, rich_result, list(data.rater_ids))
            t = clock.lap("rich_files", t)
        _write_files(run, token, data, inp, an, clock, out, raw)
        _progress(run.id, token, 0.9, "Storing files")
        t = time.perf_counter()
        files = _store(out, run.storage_dir)
        clock.lap("store", t)
    clock.timings["total"] = round(time.perf_counter() - clock.t0, 4)
    summary = _summary(run, data, an, files)
    if rich is not None and rich_result is not None:
        summary["rich"] = _json_safe(pipeline.rich_summary(rich, rich_result, list(data.rater_ids)))
    _finish(run, token, data, an.results, summary, files, clock.timings)


def _write_files(
    run: AnalysisRun,
    token: str,
    data: loaders.StudyRatings,
    inp: pipeline.AnalysisInput,
    an: pipeline.Analysis,
    clock: _Clock,
    out: Path,
    raw: _RawRatings,
) -> None:
    t = time.perf_counter()
    pipeline.write_results(
        out,
        inp,
        an,
        code_version=code_version(),
        # Timings would make analysis.json differ between identical runs; they live on the run.
        timings={},
        extra={
            "run": {"id": run.id, "study": run.study.slug},
            # A pilot-including run is for looking only: it sets no exclusions, changes no allocation.
            "pilot_included": run.pilot_included,
            "options": {
                "include_pilot": run.include_pilot,
                "pilot_only": run.pilot_only,
                "exclude_qc_failures": run.exclude_qc_failures,
                "include_panel_ids": run.include_panel_ids,
                "rating_id_max": run.rating_id_max,
            },
            "quality_control_excluded": [{"rater": q.code, "reason": q.reason} for q in data.qc_excluded],
            "stimulus_order": "test stimuli by position; row k = k-th test stimulus",
            # Marks this file as the metadata of raw_ratings.csv for compute_mos (docs/exports.md).
            "export": {"raw_ratings": "raw_ratings.csv", "rows_used": "in_analysis = true"},
        },
    )
    t = clock.lap("write", t)
    _progress(run.id, token, 0.6, "Drawing plots")
    plots.write_plots(
        out, an.results, inp.keys, inp.stimuli, labels={p.key: p.label for p in inp.perspectives}
    )
    t = clock.lap("plots", t)
    # On PostgreSQL written meanwhile (_RawRatings): this is the wait for what is left of it.
    _progress(run.id, token, 0.75, "Writing raw ratings")
    raw.place(out / "raw_ratings.csv", token)
    t = clock.lap("raw_ratings", t)
    _progress(run.id, token, 0.85, "Zipping")
    exports.zip_directory(out, out / run.zip_name)
    clock.lap("zip", t)


def _store(src: Path, prefix: str) -> list[str]:
    """Copy every file under ``src`` to the default storage under ``prefix``; return the names."""
    names = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        name = f"{prefix}/{path.relative_to(src).as_posix()}"
        # Same name, same bytes: a re-execution replaces the files of the dead attempt.
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as fh:
            names.append(default_storage.save(name, File(fh, name=path.name)))
    return names


def _summary(
    run: AnalysisRun, data: loaders.StudyRatings, an: pipeline.Analysis, files: list[str]
) -> dict[str, Any]:
    per = []
    for d, info in enumerate(data.perspectives, start=1):
        item = exports.perspective_summary(info.key, an.results[info.key], list(data.rater_ids))
        rel = an.reliability.get(info.key, {})
        item.update(
            d=d,
            label=info.label,
            screening_check=an.screening[info.key],
            reliability={
                "split_half": rel.get("split_half"),
                "rater_vs_rest": {k: v for k, v in rel.get("rater_vs_rest", {}).items() if k != "per_rater"},
            },
        )
        per.append(item)
    return _json_safe(
        {
            "storage_dir": run.storage_dir,
            "counts": {
                "stimuli": len(data.stimuli),
                "raters": len(data.participant_ids),
                "ratings": data.n_ratings,
                "perspectives": len(data.perspectives),
                "quality_control_excluded": len(data.qc_excluded),
            },
            "perspectives": per,
            "rejected_raters": _rejections(data, an.results),
            "quality_control_excluded": [{"rater": q.code, "reason": q.reason} for q in data.qc_excluded],
            "screening_warnings": [
                {"perspective": p["key"], "message": p["screening_check"]["message"]}
                for p in per
                if p["screening_check"]["message"]
            ],
            "notes": list(data.notes),
            "plots": [f for f in files if "/plots/" in f],
        }
    )


def _json_safe(value: Any) -> Any:
    """Plain JSON values for a JSONField: NaN and infinities become None (jsonb has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rejections(data: loaders.StudyRatings, results: Mapping[str, AnalysisResult]) -> list[dict[str, Any]]:
    """One entry per rejected rater: their code and reasons per perspective."""
    by_rater: dict[int, list[str]] = {}
    for key in data.keys:
        rs = results[key].raters
        for i in np.flatnonzero(rs.rejected).tolist():
            by_rater.setdefault(i, []).append(f"{rs.reason[i]} ({key})")
    return [
        {"rater": data.rater_ids[i], "participant": data.participant_ids[i], "reason": "; ".join(r)}
        for i, r in sorted(by_rater.items())
    ]


def _finish(
    run: AnalysisRun,
    token: str,
    data: loaders.StudyRatings,
    results: Mapping[str, AnalysisResult],
    summary: dict[str, Any],
    files: list[str],
    timings: dict[str, float],
) -> None:
    with transaction.atomic():
        # Serialises the finishing runs of one study, so that the latest one sets exclusions last.
        Study.objects.select_for_update().filter(pk=run.study_id).first()
        first = results[data.keys[0]]
        done = _mine(run.id, token).update(
            status=Status.DONE,
            progress=1.0,
            progress_message=f"{len(files)} files written",
            method_version=first.version,
            parameters=dict(first.params),
            summary=summary,
            files=files,
            timings=timings,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        if not done:
            raise ClaimLost(run.id)
        # Exclusions (which drive allocation) come from the latest analysis of real data only:
        # a run that includes pilot data never sets them.
        newer = AnalysisRun.objects.filter(
            study_id=run.study_id, status=Status.DONE, pk__gt=run.pk, include_pilot=False
        )
        if not run.include_pilot and not newer.exists():
            participants_exclude(study=run.study, reasons=_exclusion_reasons(data, summary))


def precision_screenings_start() -> list[int]:
    """Start a real analysis (default method) of every open precision study that has ratings newer
    than its last real analysis and none waiting or running; return the new runs' ids.

    Precision allocation counts valid ratings only, so its rater screening must keep up while the
    study fills: the run's exclusions reach the allocation through `participants_exclude` and the
    recount it enqueues, as for any real analysis. A run that failed is not retried until new
    ratings arrive. Safe to run twice at once: the study row is locked while deciding.
    """
    started: list[int] = []
    studies = Study.objects.filter(
        status=Study.Status.OPEN, allocation_mode=Study.AllocationMode.PRECISION
    ).order_by("pk")
    for study_id in studies.values_list("pk", flat=True):
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            real = AnalysisRun.objects.filter(study=study, include_pilot=False)
            if real.filter(status__in=[AnalysisRun.Status.PENDING, AnalysisRun.Status.RUNNING]).exists():
                continue
            analysed = real.aggregate(m=Max("rating_id_max"))["m"] or 0
            newest = Rating.objects.filter(session__study=study, session__is_pilot=False).aggregate(
                m=Max("id")
            )["m"]
            if newest is None or newest <= analysed:
                continue
            started.append(analysis_run_start(study=study, method=DEFAULT_METHOD).pk)
    return started


def _exclusion_reasons(data: loaders.StudyRatings, summary: dict[str, Any]) -> dict[int, str]:
    """{participant id: reason} of the run's rejected and QC-failed raters."""
    reasons: dict[int, str] = {q.participant_id: q.reason for q in data.qc_excluded}
    for item in summary["rejected_raters"]:
        reasons[item["participant"]] = f"analysis: {item['reason']}"[:200]
    return reasons
