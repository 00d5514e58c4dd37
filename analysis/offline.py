"""``compute_mos``: score a long CSV of ratings offline with the pipeline of the online job.

Runs without Django, settings or services (``manage.py compute_mos`` hands over to
:func:`main` before Django starts), so it works from a fresh checkout with the virtualenv only::

    python -m analysis.offline --input raw_ratings.csv --output-dir out/
    python manage.py compute_mos --input raw_ratings.csv --output-dir out/      # the same

or from Python::

    from analysis import offline
    summary = offline.run("raw.csv", "out/", method="bt500_zscore")

Input: a CSV (UTF-8, with or without BOM) with at least the columns
``rater,stimulus,perspective,score``; other columns are ignored, except in an exported
``raw_ratings.csv`` (docs/exports.md): its ``in_analysis`` column selects the rows the online
run used, and the ``analysis.json`` next to it (the metadata of the export) gives the scale, the
stimulus list and the perspective order. With both, ``compute_mos`` with default options gives
the online run's files. Ids are text (surrounding whitespace stripped), compared as integers
when every id is one. Stimuli are ordered by the metadata, else the ``--stimuli`` file, else
their ids; raters by their ids.

Every problem with the input raises a subclass of :class:`OfflineInputError` whose message is
one line that says what is wrong and where; :func:`main` prints it and exits with status 2,
as it does when the output folder cannot be written (:class:`analysis.pipeline.OutputError`).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis import pipeline
from analysis.pipeline import AnalysisInput, OutputError, PerspectiveInfo, typed_order
from analysis.stats import DEFAULT_METHOD, METHODS, Ratings

__all__ = [
    "REQUIRED_COLUMNS",
    "DuplicateRatingError",
    "DuplicateStimulusError",
    "EmptyInputError",
    "InputNotFoundError",
    "InvalidParameterError",
    "MissingColumnsError",
    "MissingValueError",
    "NonNumericScoreError",
    "OfflineInputError",
    "OutputError",
    "RaggedRowError",
    "ScoreOutOfRangeError",
    "Summary",
    "UnknownMethodError",
    "UnknownPerspectiveError",
    "UnknownStimulusError",
    "csv_input_load",
    "main",
    "parse_params",
    "parse_scale",
    "read_ratings_csv",
    "run",
]

REQUIRED_COLUMNS = ("rater", "stimulus", "perspective", "score")
#: Without a scale, a score this large in magnitude is refused as absurd: it is no rating, and
#: its square overflows the variance of its rater (docs/exports.md, compute_mos).
ABSURD_SCORE = 1e9
DUPLICATE_POLICIES = ("refuse", "average")
_INT_ID = re.compile(r"^[+-]?\d+$")


class OfflineInputError(ValueError):
    """Bad input for the offline pipeline; ``str(exc)`` is one line for the user."""


class InputNotFoundError(OfflineInputError):
    """The input or stimuli file does not exist or cannot be read."""


class EmptyInputError(OfflineInputError):
    """The input file is empty or has a header and no rows."""


class MissingColumnsError(OfflineInputError):
    """A required column is missing from the header."""


class MissingValueError(OfflineInputError):
    """A required cell is empty."""


class NonNumericScoreError(OfflineInputError):
    """A score is not a finite number."""


class UnknownMethodError(OfflineInputError):
    """The method is not registered."""


class InvalidParameterError(OfflineInputError):
    """A method parameter is unknown, malformed or out of range."""


class UnknownPerspectiveError(OfflineInputError):
    """A requested perspective has no ratings in the input."""


class UnknownStimulusError(OfflineInputError):
    """A stimulus of the input is missing from the stimuli order file."""


class DuplicateStimulusError(OfflineInputError):
    """The stimuli order file lists an id twice."""


class RaggedRowError(OfflineInputError):
    """A row has more or fewer cells than the header, or a blank line sits between rows."""


class ScoreOutOfRangeError(OfflineInputError):
    """A score lies outside the scale, or is absurdly large when no scale is known."""


class DuplicateRatingError(OfflineInputError):
    """Two rows rate the same (rater, stimulus, perspective)."""


@dataclass(frozen=True)
class Summary:
    """What :func:`run` did."""

    output_dir: Path
    method: str
    version: str
    params: Mapping[str, Any]
    perspectives: tuple[str, ...]
    n_ratings: Mapping[str, int]
    n_rejected: Mapping[str, int]
    n_stimuli: int
    n_raters: int
    input_fingerprint: str
    files: tuple[Path, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable report, one line per perspective plus a header."""
        out = [
            f"{self.method} {self.version}: {self.n_stimuli} stimuli, {self.n_raters} raters, "
            f"{len(self.files)} files in {self.output_dir} ({self.timings.get('total', 0.0):.2f} s)"
        ]
        for key in self.perspectives:
            out.append(f"  {key}: {self.n_ratings[key]} ratings, {self.n_rejected[key]} raters rejected")
        return out


# --------------------------------------------------------------------------- parameters


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if _INT_ID.match(text.strip()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text.strip()


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings: ``true``/``false`` -> bool, integers, floats, else text.

    >>> parse_params(["screen=false", "ci=0.9", "screen_on=zscores", "max_iter=50"])
    {'screen': False, 'ci': 0.9, 'screen_on': 'zscores', 'max_iter': 50}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"parameter {item!r} must look like key=value")
        out[key.strip()] = _parse_value(value)
    return out


def _check_method(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in METHODS:
        raise UnknownMethodError(f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}")
    try:
        return METHODS[method].validate(params)
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None


def parse_scale(text: str) -> tuple[float, float]:
    """Parse ``MIN..MAX`` (e.g. ``1..5`` or ``0..100``).

    >>> parse_scale("1..5")
    (1.0, 5.0)
    """
    low, sep, high = text.partition("..")
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        lo = hi = float("nan")
    if not sep or not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise InvalidParameterError(f"scale {text!r} must look like MIN..MAX with MIN < MAX, e.g. 1..5")
    return lo, hi


# --------------------------------------------------------------------------- reading


@dataclass
class _Table:
    """The columns read from the CSV, and the file line of every data row."""

    columns: dict[str, Any]
    line_of_row: np.ndarray | None  # None: row k is on line k + 2

    def line(self, row: int) -> int:
        return int(self.line_of_row[row]) if self.line_of_row is not None else int(row) + 2


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputNotFoundError(f"input file {str(path)!r} does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputNotFoundError(f"input file {str(path)!r} cannot be read: {exc.strerror}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        raise EmptyInputError(f"input file {str(path)!r} is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OfflineInputError(f"input file {str(path)!r} is not UTF-8: {exc.reason}") from None
    return data


def _header(data: bytes) -> list[str]:
    first = data.split(b"\n", 1)[0].decode("utf-8")
    return [c.strip() for c in next(csv.reader([first]))]


def _shape_check(data: bytes, n_fields: int) -> np.ndarray | None:
    """Refuse ragged rows and blank lines between rows; return the line of each row if quoted.

    Without quotes in the file, cells are counted with numpy over the bytes (a few passes);
    with quotes, the csv module reads the file, and a quoted cell may span lines, so the line
    number of every row is returned.
    """
    if b'"' in data:
        return _shape_check_quoted(data, n_fields)
    buf = np.frombuffer(data, dtype=np.uint8)
    newline = np.flatnonzero(buf == 10)
    ends = newline if buf[-1] == 10 else np.r_[newline, buf.size]
    starts = np.r_[0, newline + 1][: ends.size]
    # Commas per line: the commas before each line's end, counted by a binary search in the
    # (sorted) comma positions. np.add.reduceat over the bytes cast 20 MB of booleans to int64
    # and took half a second on the 1M-rating file; this is a few milliseconds.
    commas = np.flatnonzero(buf == 44)
    before_end = np.searchsorted(commas, ends)
    cells = np.diff(before_end, prepend=0) + 1
    length = ends - starts
    length = length - ((length > 0) & (buf[np.maximum(ends - 1, 0)] == 13))
    _refuse_bad_rows(cells, length == 0, n_fields, np.arange(1, cells.size + 1))
    return None


def _shape_check_quoted(data: bytes, n_fields: int) -> np.ndarray:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    cells: list[int] = []
    blank: list[bool] = []
    first_lines: list[int] = []
    previous = 0
    for row in reader:
        first_lines.append(previous + 1)
        previous = reader.line_num
        cells.append(len(row))
        blank.append(not row)
    # Lines of the file are rows here, except that a quoted cell may span several lines.
    _refuse_bad_rows(np.asarray(cells), np.asarray(blank), n_fields, np.asarray(first_lines))
    rows = np.asarray(first_lines[1:])
    return rows[~np.asarray(blank[1:])]


def _refuse_bad_rows(cells: np.ndarray, blank: np.ndarray, n_fields: int, lines: np.ndarray) -> None:
    filled = np.flatnonzero(~blank)
    last = int(filled[-1]) if filled.size else 0
    inner_blank = np.flatnonzero(blank[:last])
    if inner_blank.size:
        raise RaggedRowError(
            f"line {int(lines[inner_blank[0]])} is blank; remove it (rows follow without gaps)"
        )
    ragged = np.flatnonzero(~blank & (cells != n_fields))
    if ragged.size:
        k = int(ragged[0])
        raise RaggedRowError(
            f"line {int(lines[k])} has {int(cells[k])} columns, the header has {n_fields} "
            "(a stray comma? quote cells that contain commas)"
        )


def _looks_integer(data: bytes, index: int) -> bool:
    """Whether column ``index`` holds integers in the first thousand rows (a hint, not a rule)."""
    sample = data[:65536].decode("utf-8", errors="ignore").splitlines()[1:1001]
    rows = [r for r in csv.reader(sample) if len(r) > index]
    return bool(rows) and all(_INT_ID.match(r[index].strip()) for r in rows)


def _pandas_read(data: bytes, usecols: list[str], dtype: dict[str, Any]) -> Any:
    import pandas as pd  # here only: pandas takes most of a second to import

    return pd.read_csv(
        io.BytesIO(data),
        usecols=usecols,
        dtype=dtype,
        keep_default_na=False,
        na_values=[],
        skipinitialspace=True,
        encoding="utf-8",
    )


def _read_columns(data: bytes, names: list[str], wanted: list[str]) -> dict[str, Any]:
    """Read ``wanted`` columns: ids as int64 when they all are integers (fast), else text."""
    ints = [c for c in ("rater", "stimulus") if _looks_integer(data, names.index(c))]
    text = {c: object for c in wanted if c not in ("score",)}
    attempts: list[dict[str, Any]] = [
        {**text, **dict.fromkeys(ints, np.int64), "score": np.float64},
        {**text, "score": np.float64},
    ]
    for dtype in attempts:
        try:
            frame = _pandas_read(data, wanted, dtype)
        except (ValueError, OverflowError):
            continue
        return {c: frame[c].to_numpy() for c in wanted}
    frame = _pandas_read(data, wanted, {**text, "score": object})
    return {c: frame[c].to_numpy() for c in wanted}


def read_ratings_csv(path: str | Path, *, extra: Sequence[str] = ()) -> _Table:
    """Read the long CSV: ids and perspective (int64 or text), ``score`` as float64, plus the
    ``extra`` columns that exist. Raises an :class:`OfflineInputError` subclass on any problem
    (missing column, ragged row, blank line between rows, empty cell, non-numeric score), with
    the line number."""
    path = Path(path)
    data = _read_bytes(path)
    names = _header(data)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise MissingColumnsError(
            f"input file {str(path)!r} lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(names) or 'none'}; need {','.join(REQUIRED_COLUMNS)})"
        )
    lines = _shape_check(data, len(names))
    wanted = list(REQUIRED_COLUMNS) + [c for c in extra if c in names]
    columns = _read_columns(data, names, wanted)
    table = _Table(columns=columns, line_of_row=lines)
    if columns["score"].size == 0:
        raise EmptyInputError(f"input file {str(path)!r} has a header but no ratings")
    if columns["score"].dtype == object:
        _raise_bad_score(table)
    bad = ~np.isfinite(columns["score"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NonNumericScoreError(
            f"line {table.line(row)}: score {float(columns['score'][row])!r} is not a finite number"
        )
    return table


def _raise_bad_score(table: _Table) -> None:
    for row, value in enumerate(table.columns["score"].tolist()):
        text = str(value).strip()
        if text == "":
            raise MissingValueError(f"line {table.line(row)}: empty score")
        try:
            float(text)
        except ValueError:
            raise NonNumericScoreError(f"line {table.line(row)}: score {text!r} is not a number") from None
    raise OfflineInputError("score column could not be read")  # pragma: no cover - pandas said so


def _codes(table: _Table, name: str) -> tuple[np.ndarray, list[str]]:
    """Codes of a column by first appearance, and its distinct values as stripped text."""
    import pandas as pd

    values = table.columns[name]
    if values.dtype.kind in "iu":
        low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
        if low >= 0 and high < 4 * values.size + 1_000_000:
            # Dense non-negative ids (the usual case): O(n) with a lookup table, no sort.
            present = np.flatnonzero(np.bincount(values, minlength=1))
            lookup = np.zeros(high + 1, dtype=np.intp)
            lookup[present] = np.arange(present.size)
            return lookup[values], [str(u) for u in present.tolist()]
        uniques, codes = np.unique(values, return_inverse=True)
        return codes.astype(np.intp), [str(int(u)) for u in uniques]
    codes, uniques = pd.factorize(values, sort=False)
    stripped = [str(u).strip() for u in uniques]
    if len(set(stripped)) != len(stripped) or stripped != [str(u) for u in uniques]:
        again, merged = pd.factorize(np.asarray(stripped, dtype=object), sort=False)
        codes, stripped = again[codes], [str(u) for u in merged]
    if "" in stripped:
        row = int(np.flatnonzero(codes == stripped.index(""))[0])
        raise MissingValueError(f"line {table.line(row)}: empty {name}")
    return np.asarray(codes, dtype=np.intp), stripped


def _present(codes: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of ``codes`` (ints in [0, n)), ascending: O(len) with a bincount."""
    return np.flatnonzero(np.bincount(codes, minlength=n))


def _norm_id(text: str) -> str:
    return str(int(text)) if _INT_ID.match(text) else text


def _relabel(codes: np.ndarray, uniques: list[str], *, numeric: bool = False) -> tuple[np.ndarray, list[Any]]:
    if numeric:  # integer ids from an int64 column: _codes returned them ascending already
        return codes, [int(u) for u in uniques]
    order, labels = typed_order(uniques)
    remap = np.empty(len(order), dtype=np.intp)
    remap[order] = np.arange(len(order), dtype=np.intp)
    return remap[codes], labels


# --------------------------------------------------------------------------- metadata and order


def _read_stimuli_order(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"stimuli file {str(p)!r} does not exist")
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise OfflineInputError(f"stimuli file {str(p)!r} is not UTF-8: {exc.reason}") from None
    ids = [s.strip() for s in lines if s.strip()]
    if not ids:
        raise EmptyInputError(f"stimuli file {str(p)!r} lists no stimuli")
    seen: set[str] = set()
    for s in ids:
        if s in seen:
            raise DuplicateStimulusError(f"stimuli file {str(p)!r} lists {s!r} twice")
        seen.add(s)
    return ids


def export_metadata(
    input_path: str | Path, metadata: str | Path | bool | None = True
) -> dict[str, Any] | None:
    """The metadata of an exported ``raw_ratings.csv``: the ``analysis.json`` written with it.

    ``metadata=True`` looks for ``analysis.json`` beside the input and uses it only if it says
    it describes a file of the input's name; a path uses that file; False/None uses none.
    """
    if not metadata:
        return None
    path = Path(input_path).with_name("analysis.json") if metadata is True else Path(metadata)
    if not path.is_file():
        if metadata is True:
            return None
        raise InputNotFoundError(f"metadata file {str(path)!r} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OfflineInputError(f"metadata file {str(path)!r} is not readable JSON: {exc}") from None
    export = doc.get("export") if isinstance(doc, dict) else None
    if not isinstance(export, dict) or "stimuli" not in doc:
        if metadata is True:
            return None
        raise OfflineInputError(f"metadata file {str(path)!r} is not the analysis.json of an export")
    if metadata is True and export.get("raw_ratings") != Path(input_path).name:
        return None
    return dict(doc, metadata_file=str(path))


def _stimulus_index(
    table: _Table, rows: np.ndarray, order: list[str] | None, source: str
) -> tuple[np.ndarray, list[Any], list[str]]:
    """Stimulus index of every row (-1 for stimuli outside the analysed ``rows``), the label of
    each index, and the labels without ratings. Only the analysed rows must name known stimuli:
    training and gold stimuli of an export are not in its stimulus list."""
    codes, uniques = _codes(table, "stimulus")
    used = _present(codes[rows], len(uniques))
    if order is None:
        numeric = table.columns["stimulus"].dtype.kind in "iu"
        index, found = _relabel(np.arange(used.size), [uniques[k] for k in used], numeric=numeric)
        mapped = np.full(len(uniques), -1, dtype=np.intp)
        mapped[used] = index
        return mapped[codes], found, []
    position = {_norm_id(s): k for k, s in enumerate(order)}
    mapped = np.asarray([position.get(_norm_id(u), -1) for u in uniques], dtype=np.intp)
    unknown = used[mapped[used] < 0]
    if unknown.size:
        first = int(unknown[0])
        row = int(rows[np.flatnonzero(codes[rows] == first)[0]])
        raise UnknownStimulusError(f"line {table.line(row)}: stimulus {uniques[first]!r} is not in {source}")
    labels: list[Any] = [int(s) for s in order] if all(_INT_ID.match(s) for s in order) else list(order)
    rated = np.zeros(len(order), dtype=bool)
    rated[mapped[used]] = True
    return mapped[codes], labels, [str(labels[k]) for k in np.flatnonzero(~rated)]


# --------------------------------------------------------------------------- checks


def _check_scores(table: _Table, score: np.ndarray, scale: tuple[float, float] | None, source: str) -> None:
    if scale is None:
        bad = np.abs(score) > ABSURD_SCORE
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ScoreOutOfRangeError(
                f"line {table.line(row)}: score {score[row]:g} is not a plausible rating "
                f"(|score| > {ABSURD_SCORE:g}); give the scale with --scale MIN..MAX"
            )
        return
    lo, hi = scale
    bad = (score < lo) | (score > hi)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ScoreOutOfRangeError(
            f"line {table.line(row)}: score {score[row]:g} is outside the scale {lo:g}..{hi:g} ({source})"
        )


def _duplicates(
    table: _Table, rows: np.ndarray, key: np.ndarray, score: np.ndarray, policy: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Refuse rows that repeat a (rater, stimulus, perspective), or average them.

    Returns the rows kept, their scores and the number of rows merged away.
    """
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    same = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if same.size == 0:
        return rows, score, 0
    if policy == "refuse":
        a, b = sorted((int(rows[order[same[0]]]), int(rows[order[same[0] + 1]])))
        raise DuplicateRatingError(
            f"lines {table.line(a)} and {table.line(b)} rate the same stimulus from the same rater and "
            "perspective; remove one, or pass --duplicates average to average such rows"
        )
    firsts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[firsts, sorted_key.size])
    means = np.add.reduceat(score[order], firsts) / counts
    return rows[order[firsts]], means, int(key.size - firsts.size)


# --------------------------------------------------------------------------- the CSV loader


def _perspective_keys(
    present: list[str], wanted: Sequence[str] | None, meta: Mapping[str, Any] | None
) -> list[PerspectiveInfo]:
    labels: dict[str, str] = {}
    if meta:
        labels = {str(p["key"]): str(p.get("label") or p["key"]) for p in meta.get("perspectives", [])}
    if wanted is not None:
        keys = [p.strip() for p in wanted]
        if not keys or any(not k for k in keys):
            raise UnknownPerspectiveError(
                f"perspective list {','.join(wanted)!r} is empty or has an empty name"
            )
        unknown = [k for k in keys if k not in present]
        if unknown:
            raise UnknownPerspectiveError(
                f"perspective(s) {', '.join(repr(k) for k in unknown)} not in the input; "
                f"found: {', '.join(present)}"
            )
        if len(set(keys)) != len(keys):
            raise UnknownPerspectiveError(f"perspective list {','.join(keys)!r} repeats a name")
    elif labels:
        keys = [k for k in labels if k in present] + [k for k in present if k not in labels]
    else:
        keys = present
    return [PerspectiveInfo(k, labels.get(k, k)) for k in keys]


def csv_input_load(
    input_path: str | Path,
    *,
    perspectives: Sequence[str] | None = None,
    stimuli_path: str | Path | None = None,
    scale: tuple[float, float] | None = None,
    duplicates: str = "refuse",
    metadata: str | Path | bool | None = True,
    all_rows: bool = False,
) -> tuple[AnalysisInput, list[str], dict[str, Any]]:
    """Load a long CSV into the pipeline's input; return it, warnings, and facts for analysis.json."""
    if duplicates not in DUPLICATE_POLICIES:
        raise InvalidParameterError(
            f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}; got {duplicates!r}"
        )
    meta = export_metadata(input_path, metadata)
    table = read_ratings_csv(input_path, extra=("in_analysis",))
    score_all = np.asarray(table.columns["score"], dtype=np.float64)
    source = "--scale"
    if scale is None and meta and isinstance(meta.get("scale"), dict):
        scale, source = (
            (float(meta["scale"]["min"]), float(meta["scale"]["max"])),
            "from the export's metadata",
        )
    _check_scores(table, score_all, scale, source)

    warnings: list[str] = []
    rows = np.arange(score_all.size)
    used = table.columns.get("in_analysis")
    if used is not None and not all_rows:
        keep = np.asarray([str(v).strip().lower() == "true" for v in used.tolist()], dtype=bool)
        rows = rows[keep]
        if rows.size == 0:
            raise EmptyInputError("no row has in_analysis=true; pass --all-rows to analyse every row")

    pcodes, puniques = _codes(table, "perspective")
    present_codes = _present(pcodes[rows], len(puniques))
    present = [puniques[k] for k in sorted(present_codes.tolist(), key=lambda k: int(np.argmax(pcodes == k)))]
    infos = _perspective_keys(present, perspectives, meta)

    rcodes, runiques = _codes(table, "rater")
    rater, rater_ids = _relabel(rcodes, runiques, numeric=table.columns["rater"].dtype.kind in "iu")
    used_raters = _present(rater[rows], len(rater_ids))
    if used_raters.size != len(rater_ids):  # raters present only in rows left out
        remap = np.full(len(rater_ids), -1, dtype=np.intp)
        remap[used_raters] = np.arange(used_raters.size)
        rater, rater_ids = remap[rater], [rater_ids[k] for k in used_raters]

    order: list[str] | None
    if meta is not None and stimuli_path is None:
        order = [str(s.get("position", k)) for k, s in enumerate(meta["stimuli"])]
        stimulus, labels, unrated = _stimulus_index(
            table, rows, order, f"the stimulus list of {meta['metadata_file']!r}"
        )
        stimuli_meta = [dict(s) for s in meta["stimuli"]]
    else:
        order = _read_stimuli_order(stimuli_path) if stimuli_path is not None else None
        stimulus, labels, unrated = _stimulus_index(table, rows, order, f"stimuli file {str(stimuli_path)!r}")
        stimuli_meta = [{"position": k, "name": s} for k, s in enumerate(labels)]
    if order is None:
        warnings.append(
            "stimuli are the ones found in the input, in id order; a stimulus without ratings has no row "
            "(pass --stimuli FILE to fix the rows)"
        )
    elif unrated:
        shown = ", ".join(unrated[:5]) + (", ..." if len(unrated) > 5 else "")
        warnings.append(f"{len(unrated)} stimuli have no ratings (their rows are NaN): {shown}")

    n_p = len(puniques)
    key = (rater[rows].astype(np.int64) * len(labels) + stimulus[rows]) * n_p + pcodes[rows]
    rows, score, merged = _duplicates(table, rows, key, score_all[rows], duplicates)
    if merged:
        warnings.append(f"averaged {merged} duplicate rows (same rater, stimulus and perspective)")

    per: dict[str, Ratings] = {}
    for info in infos:
        mask = pcodes[rows] == puniques.index(info.key)
        per[info.key] = Ratings.from_arrays(
            rater=rater[rows][mask],
            stimulus=stimulus[rows][mask],
            score=score[mask],
            n_raters=len(rater_ids),
            n_stimuli=len(labels),
        )
    fingerprint = "sha256:" + hashlib.sha256(Path(input_path).read_bytes()).hexdigest()
    inp = AnalysisInput(
        perspectives=tuple(infos),
        stimuli=tuple(stimuli_meta),
        rater_ids=tuple(rater_ids),
        ratings=per,
        fingerprint=fingerprint,
        scale=scale,
        notes=tuple(warnings),
    )
    facts = {
        "file": Path(input_path).name,
        "rows": int(score_all.size),
        "rows_used": int(rows.size + merged),
        "rows_selected_by": "in_analysis" if used is not None and not all_rows else "all rows",
        "duplicates": {"policy": duplicates, "rows_merged": merged},
        "metadata": meta["metadata_file"] if meta else None,
        "stimulus_order": "metadata" if meta and stimuli_path is None else ("file" if order else "ids"),
    }
    return inp, warnings, facts


# --------------------------------------------------------------------------- run


def code_version() -> str:
    """The git commit of the code, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def run(
    input_path: str | Path,
    output_dir: str | Path,
    method: str = DEFAULT_METHOD,
    perspectives: Sequence[str] | None = None,
    stimuli_path: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    reliability_splits: int = pipeline.RELIABILITY_SPLITS,
    seed: int = pipeline.RELIABILITY_SEED,
    scale: tuple[float, float] | None = None,
    duplicates: str = "refuse",
    metadata: str | Path | bool | None = True,
    all_rows: bool = False,
    force: bool = False,
) -> Summary:
    """Compute the scores of a long CSV and write the result files into ``output_dir``.

    Writes ``DATA/MOS/mosz{d}.mat``, ``DATA/STD/SD{d}.mat``, ``moz{d}.txt``, ``mos.csv``,
    ``raters.csv`` and ``analysis.json`` (docs/exports.md) into a temporary folder moved into
    place at the end: a non-empty ``output_dir`` is refused unless ``force``, and a failure leaves
    nothing behind. Split-half reliability uses ``reliability_splits`` random splits seeded by
    ``seed`` (0 disables it).

    Raises
    ------
    OfflineInputError
        (a subclass of it) for every input problem, with a one-line message.
    OutputError
        when the output folder cannot be written, with a one-line message.
    """
    t0 = time.perf_counter()
    full_params = _check_method(method, dict(params or {}))
    inp, warnings, facts = csv_input_load(
        input_path,
        perspectives=perspectives,
        stimuli_path=stimuli_path,
        scale=scale,
        duplicates=duplicates,
        metadata=metadata,
        all_rows=all_rows,
    )
    timings: dict[str, float] = {"read": time.perf_counter() - t0}
    out = Path(output_dir)
    with pipeline.staged_output(out, force=force) as tmp:
        an = pipeline.analyse(
            inp, method=method, params=full_params, reliability_splits=reliability_splits, seed=seed
        )
        timings.update(an.timings)
        t = time.perf_counter()
        written = pipeline.write_results(
            tmp, inp, an, code_version=code_version(), timings=timings, extra={"input": facts}
        )
        timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    warnings += [an.screening[k]["message"] for k in inp.keys if an.screening[k]["message"]]
    return Summary(
        output_dir=out,
        method=an.method,
        version=an.version,
        params=dict(an.params),
        perspectives=tuple(inp.keys),
        n_ratings={k: int(an.results[k].raters.n.sum()) for k in inp.keys},
        n_rejected={k: an.results[k].n_rejected for k in inp.keys},
        n_stimuli=len(inp.stimuli),
        n_raters=len(inp.rater_ids),
        input_fingerprint=inp.fingerprint,
        files=tuple(out / p.relative_to(tmp) for p in written),
        timings=timings,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- command line


def build_parser(prog: str = "compute_mos") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Compute MOS from a long CSV (columns rater,stimulus,perspective,score) and write "
            "mosz*.mat, SD*.mat, moz*.txt, mos.csv, raters.csv and analysis.json (docs/exports.md)."
        ),
    )
    parser.add_argument(
        "--input", required=True, help="long CSV of ratings (e.g. an exported raw_ratings.csv)"
    )
    parser.add_argument("--output-dir", required=True, help="folder for the result files (new or empty)")
    parser.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        help=f"one of {', '.join(sorted(METHODS))} (default {DEFAULT_METHOD})",
    )
    parser.add_argument("--perspectives", help="comma-separated perspective keys in file order")
    parser.add_argument("--stimuli", help="file with one stimulus id per line, in row order")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter, repeatable"
    )
    parser.add_argument(
        "--scale",
        help="MIN..MAX of the rating scale; scores outside are refused "
        "(default: from the export's analysis.json, else no range check)",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="refuse",
        help="rows repeating a (rater, stimulus, perspective): refuse them (default) or average them",
    )
    parser.add_argument(
        "--metadata", help="the export's analysis.json (default: the one beside --input, if any)"
    )
    parser.add_argument("--no-metadata", action="store_true", help="ignore the export's analysis.json")
    parser.add_argument(
        "--all-rows", action="store_true", help="analyse every row, not only those with in_analysis=true"
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    parser.add_argument(
        "--reliability-splits",
        type=int,
        default=pipeline.RELIABILITY_SPLITS,
        help="random rater splits for split-half reliability (0 disables; default 100)",
    )
    parser.add_argument(
        "--seed", type=int, default=pipeline.RELIABILITY_SEED, help="seed of the reliability splits"
    )
    return parser


def _prefetch_imports() -> threading.Thread:
    """Import pandas and scipy.special on the other core while this one reads the input.

    Every run needs both (the CSV reader; the Student t intervals) and together they take half
    a second to import, which the reading and checking of the input's bytes (numpy, outside the
    GIL) can hide. A failed import is left for the main thread to meet and report.
    """

    def load() -> None:
        try:
            import pandas  # noqa: F401
            from scipy import special  # noqa: F401
        except ImportError:
            pass

    thread = threading.Thread(target=load, name="compute_mos-imports")
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None, *, prog: str = "compute_mos") -> int:
    """Run ``compute_mos`` with command-line arguments; return the exit status (2: bad input/output)."""
    args = build_parser(prog).parse_args(argv)
    prefetch = _prefetch_imports()
    try:
        return _main(args, prog)
    finally:
        prefetch.join()  # an early error must not leave an import running at interpreter exit


def _main(args: argparse.Namespace, prog: str) -> int:
    metadata: str | bool = False if args.no_metadata else (args.metadata or True)
    try:
        summary = run(
            args.input,
            args.output_dir,
            method=args.method,
            perspectives=args.perspectives.split(",") if args.perspectives else None,
            stimuli_path=args.stimuli,
            params=parse_params(args.param),
            reliability_splits=args.reliability_splits,
            seed=args.seed,
            scale=parse_scale(args.scale) if args.scale else None,
            duplicates=args.duplicates,
            metadata=metadata,
            all_rows=args.all_rows,
            force=args.force,
        )
    except (OfflineInputError, OutputError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    for line in summary.warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in summary.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
