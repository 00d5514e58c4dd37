"""Writes on metric benchmarks: start (validate the upload, store it, enqueue) and execute.

The upload is validated against the run's ``mos.csv`` before anything is saved, so bad input
is answered at once with one line. The figures are computed by a job (a bootstrap over
thousands of stimuli takes seconds to minutes); it claims the benchmark with a conditional
UPDATE, so a redelivered message does nothing.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser, User
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from analysis.benchmark.inputs import BenchmarkInputError, MosTable, read_mos_table, read_predictions
from analysis.benchmark.models import MetricBenchmark
from analysis.models import AnalysisRun
from config.errors import DomainError
from config.jobs import job_send

if TYPE_CHECKING:  # compute and outputs load scipy.stats and matplotlib: imported where used
    from analysis.benchmark import compute

logger = logging.getLogger(__name__)

Status = MetricBenchmark.Status
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class MetricBenchmarkInvalid(DomainError):
    """Predictions that cannot be benchmarked against this run (the message says why)."""

    code = "benchmark_invalid"


def _mos_table(run: AnalysisRun) -> MosTable:
    base = run.summary.get("storage_dir", run.storage_dir)
    name = f"{base}/mos.csv"
    if run.status != AnalysisRun.Status.DONE or name not in run.files:
        raise MetricBenchmarkInvalid(f"Analysis run {run.pk} is not done; benchmark a finished run.")
    with default_storage.open(name, "rb") as fh:
        return read_mos_table(fh.read())


def _options(**values: object) -> compute.Options:
    from analysis.benchmark import compute

    try:
        return compute.Options(**values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise MetricBenchmarkInvalid(str(exc)) from None


@transaction.atomic
def metric_benchmark_start(
    *,
    run: AnalysisRun,
    content: bytes,
    filename: str,
    user: User | AnonymousUser | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    refit_bootstrap: bool = False,
    enqueue: bool = True,
) -> MetricBenchmark:
    """Validate the predictions against the run, store them, and enqueue the benchmark after commit.

    Raises MetricBenchmarkInvalid (nothing is saved) for a run that is not done, bad options,
    or predictions that fail validation.
    """
    if len(content) > MAX_UPLOAD_BYTES:
        raise MetricBenchmarkInvalid(f"The predictions file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    options = _options(n_boot=n_boot, seed=seed, refit_bootstrap=refit_bootstrap)
    table = _mos_table(run)
    try:
        preds = read_predictions(content, table)
    except BenchmarkInputError as exc:
        raise MetricBenchmarkInvalid(str(exc)) from None
    bench = MetricBenchmark(
        run=run,
        predictions_name=Path(filename or "predictions.csv").name[:255],
        metrics=list(preds.metrics),
        parameters=asdict(options),
        created_by=None if user is None or isinstance(user, AnonymousUser) else user,
    )
    bench.full_clean(exclude=["predictions"])
    bench.save()
    name = f"{bench.storage_dir}/predictions.csv"
    if default_storage.exists(name):
        default_storage.delete(name)
    bench.predictions = default_storage.save(name, ContentFile(content))
    bench.save(update_fields=["predictions"])
    if enqueue:
        bench_id = bench.pk
        transaction.on_commit(lambda: metric_benchmark_enqueue(benchmark_id=bench_id))
    return bench


def metric_benchmark_enqueue(*, benchmark_id: int) -> None:
    """Publish the job; if the broker refuses it, compute in this process instead."""
    try:
        job_send("analysis.benchmark.tasks.metric_benchmark_execute_task", benchmark_id)
    except (KombuError, OSError) as exc:  # broker down: a benchmark is small enough to finish here
        logger.warning(
            "benchmark %s: could not publish the job (%s); computing in-process", benchmark_id, exc
        )
        metric_benchmark_execute(benchmark_id=benchmark_id)


def _store(src: Path, prefix: str) -> list[str]:
    names = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        name = f"{prefix}/{path.relative_to(src).as_posix()}"
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as fh:
            names.append(default_storage.save(name, File(fh, name=path.name)))
    return names


def metric_benchmark_execute(*, benchmark_id: int) -> str:
    """Claim a pending benchmark and compute it; return "done", "failed" or "skipped"."""
    from analysis.benchmark import compute, outputs

    claimed = MetricBenchmark.objects.filter(pk=benchmark_id, status=Status.PENDING).update(
        status=Status.RUNNING
    )
    if not claimed:
        return "skipped"
    bench = MetricBenchmark.objects.select_related("run", "run__study").get(pk=benchmark_id)
    try:
        table = _mos_table(bench.run)
        with default_storage.open(bench.predictions, "rb") as fh:
            preds = read_predictions(fh.read(), table)
        options = compute.Options(**bench.parameters)
        doc = compute.benchmark(table, preds, options)
        splits = compute.splits_rows(
            table, n_splits=options.n_splits, test_fraction=options.test_fraction, seed=options.seed
        )
        with tempfile.TemporaryDirectory(prefix=f"benchmark-{bench.pk}-") as tmp:
            outputs.write_all(Path(tmp), doc, table, preds, splits)
            files = _store(Path(tmp), bench.storage_dir)
    except Exception as exc:  # deterministic: the same input fails the same way again
        logger.exception("benchmark %s failed", benchmark_id)
        text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        MetricBenchmark.objects.filter(pk=benchmark_id).update(
            status=Status.FAILED, error=text, finished_at=timezone.now()
        )
        return "failed"
    MetricBenchmark.objects.filter(pk=benchmark_id, status=Status.RUNNING).update(
        status=Status.DONE,
        results=outputs.json_safe(doc),
        files=[*files, bench.predictions],
        finished_at=timezone.now(),
    )
    return "done"


def splits_csv_for_run(*, run: AnalysisRun, n_splits: int = 10, seed: int = 0) -> bytes:
    """``splits.csv`` of a done run: prompt-grouped 80/20 train/test splits, made on the fly."""
    from analysis.benchmark import compute, outputs

    table = _mos_table(run)
    try:
        rows = compute.splits_rows(table, n_splits=n_splits, seed=seed)
    except ValueError as exc:
        raise MetricBenchmarkInvalid(str(exc)) from None
    with tempfile.TemporaryDirectory() as tmp:
        return outputs.write_splits_csv(Path(tmp) / "splits.csv", rows).read_bytes()
