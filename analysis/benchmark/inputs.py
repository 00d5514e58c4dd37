"""Read the two inputs of a metric benchmark: a run's ``mos.csv`` and a predictions CSV. No Django.

``mos.csv`` is the file :func:`analysis.exports.write_mos_csv` writes: ``position, stimulus,
file, model, prompt``, then the study's category columns, then per perspective ``<key>_mos,
<key>_sd_raw, <key>_sd, <key>_n, <key>_ci_low, <key>_ci_high``. Perspectives are found by
those suffixes, categories are the columns left over.

The predictions CSV has the columns ``stimulus`` (the stimulus's name or file name, or its
position), ``metric``, ``score`` and optionally ``split``. Every problem raises
:class:`BenchmarkInputError` whose message is one line.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BenchmarkInputError",
    "MosTable",
    "Predictions",
    "read_mos_table",
    "read_predictions",
]

FIXED = ("position", "stimulus", "file", "model", "prompt")
PER_PERSPECTIVE = ("mos", "sd_raw", "sd", "n", "ci_low", "ci_high")
REQUIRED = ("stimulus", "metric", "score")
SHOWN = 10  # ids quoted in one error line
_INT = re.compile(r"^\d+$")
_NEUTRALISED = re.compile(r"^'[=+\-@\t\r]")

Source = str | Path | IO[bytes] | IO[str] | bytes


class BenchmarkInputError(ValueError):
    """Bad benchmark input; ``str(exc)`` is one line for the user."""


@dataclass(frozen=True)
class MosTable:
    """One row per stimulus of an analysis run, in position order."""

    keys: tuple[str, ...]
    names: tuple[str, ...]
    files: tuple[str, ...]
    positions: tuple[int, ...]
    prompts: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]  # "model" and categories with at least two values
    mos: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Predictions:
    """Validated predictions: row ``r`` gives metric ``metrics[metric[r]]`` a ``score`` for
    stimulus index ``stimulus[r]`` (in split ``split[r]`` when ``split`` is not None)."""

    metrics: tuple[str, ...]
    metric: np.ndarray
    stimulus: np.ndarray
    score: np.ndarray
    split: np.ndarray | None
    by: str  # "name" or "position": how the stimulus column was read


def _quote(values: list[Any], total: int | None = None) -> str:
    total = len(values) if total is None else total
    shown = ", ".join(repr(v) for v in values[:SHOWN])
    return shown + (f", ... ({total - SHOWN} more)" if total > SHOWN else "")


def _open_text(source: Source, what: str) -> io.StringIO:
    try:
        if isinstance(source, (str, Path)):
            raw = Path(source).read_bytes()
        elif isinstance(source, bytes):
            raw = source
        else:
            data = source.read()
            raw = data.encode() if isinstance(data, str) else data
    except OSError as exc:
        raise BenchmarkInputError(f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return io.StringIO(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BenchmarkInputError(
            f"the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def _read_csv(source: Source, what: str) -> pd.DataFrame:
    import pandas as pd  # here only: pandas takes most of a second to import

    text = _open_text(source, what)
    try:
        frame = pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[], skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise BenchmarkInputError(f"the {what} is empty") from None
    except pd.errors.ParserError as exc:
        raise BenchmarkInputError(
            f"the {what} is not a valid CSV: {str(exc).strip().splitlines()[-1]}"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _unneutralise(text: str) -> str:
    """Undo the formula-injection quote that the exports put before ``=+-@``."""
    return text[1:] if _NEUTRALISED.match(text) else text


# --------------------------------------------------------------------------- mos.csv


def read_mos_table(source: Source) -> MosTable:
    """Read a run's ``mos.csv`` (a path, an open file or bytes)."""
    import pandas as pd  # here only: pandas takes most of a second to import

    frame = _read_csv(source, "mos.csv")
    missing = [c for c in ("position", "stimulus") if c not in frame.columns]
    keys = [
        c[: -len("_mos")] for c in frame.columns if c.endswith("_mos") and f"{c[:-4]}_sd_raw" in frame.columns
    ]
    if missing or not keys:
        raise BenchmarkInputError(
            "mos.csv lacks "
            + (f"column(s) {', '.join(missing)}" if missing else "any <perspective>_mos column")
        )
    if frame.empty:
        raise BenchmarkInputError("mos.csv lists no stimuli")
    per_key = {f"{k}_{f}" for k in keys for f in PER_PERSPECTIVE}
    categories = [c for c in frame.columns if c not in FIXED and c not in per_key]
    mos = {k: pd.to_numeric(frame[f"{k}_mos"], errors="coerce").to_numpy(dtype=np.float64) for k in keys}
    text = {c: tuple(_unneutralise(v.strip()) for v in frame[c]) for c in frame.columns if c not in per_key}
    groups = {}
    for col in ("model", *categories):
        values = text.get(col)
        if values and len({v for v in values if v}) >= 2:
            groups[col] = values
    return MosTable(
        keys=tuple(keys),
        names=text["stimulus"],
        files=text.get("file", text["stimulus"]),
        positions=tuple(int(float(p)) for p in frame["position"]),
        prompts=text.get("prompt", text["stimulus"]),
        groups=groups,
        mos=mos,
    )


# --------------------------------------------------------------------------- predictions


def _line(rows: np.ndarray) -> list[int]:
    return [int(r) + 2 for r in rows]  # the header is line 1


def _resolve_stimuli(ids: pd.Series, table: MosTable) -> tuple[np.ndarray, str]:
    """Stimulus index of every row: by name or file name (or its last path part), else by position."""
    import pandas as pd  # here only: pandas takes most of a second to import

    lookup: dict[str, int] = {}
    for k, (name, file) in enumerate(zip(table.names, table.files, strict=True)):
        lookup.setdefault(file, k)
        lookup.setdefault(name, k)
    uniques = pd.unique(ids)
    index = {u: lookup.get(u, lookup.get(re.split(r"[\\/]", u)[-1], -1)) for u in uniques}
    unknown = [u for u in uniques if index[u] < 0]
    if unknown and len(unknown) == len(uniques) and all(_INT.match(u) for u in uniques):
        by_position = {p: k for k, p in enumerate(table.positions)}
        index = {u: by_position.get(int(u), -1) for u in uniques}
        unknown = [u for u in uniques if index[u] < 0]
        by = "position"
    else:
        by = "name"
    if unknown:
        what = "positions" if by == "position" else "names"
        raise BenchmarkInputError(
            f"{len(unknown)} stimulus {what} of the predictions are not in the run's mos.csv: {_quote(unknown)}"
        )
    return ids.map(index).to_numpy(dtype=np.intp), by


def _check_scores(frame: pd.DataFrame) -> np.ndarray:
    import pandas as pd  # here only: pandas takes most of a second to import

    score = pd.to_numeric(frame["score"].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(score))
    if bad.size:
        shown = [
            f"line {ln}: {frame['score'].iloc[r]!r}"
            for ln, r in zip(_line(bad[:SHOWN]), bad[:SHOWN], strict=True)
        ]
        more = f", ... ({bad.size - SHOWN} more)" if bad.size > SHOWN else ""
        raise BenchmarkInputError(f"{bad.size} score(s) are not finite numbers: {'; '.join(shown)}{more}")
    return score


def _check_duplicates(frame: pd.DataFrame, stimulus: np.ndarray, table: MosTable, split: bool) -> None:
    cols = ["metric", "_stimulus"] + (["split"] if split else [])
    keyed = frame.assign(_stimulus=stimulus)
    dup = keyed.duplicated(cols, keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = keyed.iloc[rows[0]]
        same = rows[(keyed.iloc[rows][cols] == first[cols]).all(axis=1).to_numpy()]
        where = f" in split {first['split']!r}" if split else ""
        raise BenchmarkInputError(
            f"{int(dup.sum())} rows repeat a (metric, stimulus{', split' if split else ''}): lines "
            f"{', '.join(map(str, _line(same)))} all score {table.names[int(first['_stimulus'])]!r} "
            f"for metric {first['metric']!r}{where}"
        )


def _check_coverage(
    metrics: tuple[str, ...], metric: np.ndarray, stimulus: np.ndarray, table: MosTable
) -> None:
    rated = np.zeros(table.n, dtype=bool)
    for key in table.keys:
        rated |= np.isfinite(table.mos[key])
    for m, name in enumerate(metrics):
        have = np.zeros(table.n, dtype=bool)
        have[stimulus[metric == m]] = True
        lacking = np.flatnonzero(rated & ~have)
        if lacking.size:
            raise BenchmarkInputError(
                f"metric {name!r} has no prediction for {lacking.size} of {int(rated.sum())} stimuli with a MOS: "
                f"{_quote([table.names[k] for k in lacking[:SHOWN]], int(lacking.size))}"
            )


def _check_constant(frame: pd.DataFrame, score: np.ndarray, split: bool) -> None:
    cols = ["metric", "split"] if split else ["metric"]
    spread = frame.assign(_score=score).groupby(cols, sort=False)["_score"].agg(["min", "max", "size"])
    flat = spread[spread["min"] == spread["max"]]
    if len(flat):
        key = flat.index[0]
        metric, where = (key[0], f" in split {key[1]!r}") if split else (key, "")
        raise BenchmarkInputError(
            f"metric {metric!r} gives the same score ({flat['min'].iloc[0]:g}) to all its "
            f"{int(flat['size'].iloc[0])} stimuli{where}: a constant prediction cannot be benchmarked"
        )


def read_predictions(source: Source, table: MosTable) -> Predictions:
    """Read and validate a predictions CSV against a run's stimuli.

    Rejects (one line each): missing columns, empty cells, scores that are not finite numbers,
    stimuli not in ``mos.csv``, a (metric, stimulus[, split]) given twice, and a metric with
    the same score everywhere (within a split, with ``split``). Without ``split``, every metric
    must score every stimulus that has a MOS in some perspective.
    """
    import pandas as pd  # here only: pandas takes most of a second to import

    frame = _read_csv(source, "predictions CSV")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns) or "none"
        raise BenchmarkInputError(
            f"the predictions CSV lacks column(s) {', '.join(missing)} (found: {found}; need stimulus, metric, score"
            " and optionally split)"
        )
    if frame.empty:
        raise BenchmarkInputError("the predictions CSV has a header but no rows")
    has_split = "split" in frame.columns
    cols = [*REQUIRED, *(["split"] if has_split else [])]
    frame = frame[cols].copy()
    for col in ("stimulus", "metric", *(["split"] if has_split else [])):
        frame[col] = frame[col].str.strip()
        empty = np.flatnonzero((frame[col] == "").to_numpy())
        if empty.size:
            raise BenchmarkInputError(
                f"{empty.size} row(s) have an empty {col}: lines {_quote(_line(empty))}"
            )
    score = _check_scores(frame)
    stimulus, by = _resolve_stimuli(frame["stimulus"], table)
    _check_duplicates(frame, stimulus, table, has_split)
    codes, uniques = pd.factorize(frame["metric"], sort=False)
    metrics = tuple(str(u) for u in uniques)
    if not has_split:
        _check_coverage(metrics, codes, stimulus, table)
    _check_constant(frame, score, has_split)
    return Predictions(
        metrics=metrics,
        metric=codes.astype(np.intp),
        stimulus=stimulus,
        score=score,
        split=frame["split"].to_numpy(dtype=object) if has_split else None,
        by=by,
    )
