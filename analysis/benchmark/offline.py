"""The offline benchmark behind ``manage.py benchmark_metrics``. No Django.

from analysis.benchmark import offline
doc, files = offline.run("export/run-12", "preds.csv", "out/")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.benchmark import compute, outputs
from analysis.benchmark.inputs import BenchmarkInputError, MosTable, Source, read_mos_table, read_predictions

__all__ = ["find_mos_csv", "run", "write_splits"]


def find_mos_csv(mos_dir: str | Path) -> Path:
    """``mos.csv`` of an exported run folder (or the file itself); one-line error if absent."""
    path = Path(mos_dir)
    if path.is_file():
        return path
    if not path.is_dir():
        raise BenchmarkInputError(f"{str(path)!r} is neither an exported run folder nor a mos.csv file")
    direct = path / "mos.csv"
    if direct.is_file():
        return direct
    found = sorted(path.rglob("mos.csv"))
    if len(found) != 1:
        raise BenchmarkInputError(
            f"{str(path)!r} holds {'no' if not found else len(found)} mos.csv file(s); point --mos-dir at one run's folder"
        )
    return found[0]


def load_table(mos_dir: str | Path) -> MosTable:
    return read_mos_table(find_mos_csv(mos_dir))


def run(
    mos_dir: str | Path,
    predictions: Source,
    output_dir: str | Path,
    options: compute.Options | None = None,
    *,
    plots: bool = True,
) -> tuple[dict[str, Any], list[Path]]:
    """Benchmark the predictions against the run's MOS; write every result file into ``output_dir``."""
    options = options or compute.Options()
    table = load_table(mos_dir)
    preds = read_predictions(predictions, table)
    doc = compute.benchmark(table, preds, options)
    try:
        splits = compute.splits_rows(
            table, n_splits=options.n_splits, test_fraction=options.test_fraction, seed=options.seed
        )
    except ValueError as exc:
        splits = []
        doc["notes"].append(f"No splits.csv: {exc}")
    return doc, outputs.write_all(Path(output_dir), doc, table, preds, splits, plots=plots)


def write_splits(mos_dir: str | Path, output_dir: str | Path, options: compute.Options | None = None) -> Path:
    """Only ``splits.csv``: prompt-grouped train/test splits to train a learned metric on."""
    options = options or compute.Options()
    table = load_table(mos_dir)
    try:
        rows = compute.splits_rows(
            table, n_splits=options.n_splits, test_fraction=options.test_fraction, seed=options.seed
        )
    except ValueError as exc:
        raise BenchmarkInputError(str(exc)) from None
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return outputs.write_splits_csv(out / "splits.csv", rows)
