"""Result files in the layouts users load (docs/protocol.md section 4). No Django, no pandas.

Per perspective ``d`` (1-based, in the study's perspective order):

- ``DATA/MOS/mosz{d}.mat`` (variable ``MOSz``) and ``DATA/STD/SD{d}.mat`` (variable ``SD``, the
  raw-score SD): N x 1 double column vectors in stimulus position order, as released with
  AIGCIQA2023 (``scipy.io.loadmat(path)['MOSz'][item][0]``);
- ``moz{d}.txt``: one value per line (the Hugging Face layout), ``nan`` where there is no MOS.

Plus ``mos.csv`` (one row per stimulus, every perspective), ``raters.csv`` (one row per rater
and perspective), ``raw_ratings.csv`` (streamed from any iterator of rows) and
``analysis.json`` (provenance).

Stimulus index ``k`` of the :class:`~analysis.stats.Ratings` given to the core must be the
stimulus at position ``k``; the ``stimuli`` metadata lists them in that same order.

Every CSV cell holding text that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage
return is prefixed with a single quote (CSV/formula injection), header cells included (a
perspective key is part of ``mos.csv``'s column names); numbers are written as numbers, floats
with the shortest repr that reads back exactly. Every file and column: docs/exports.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import numbers
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from analysis.stats import AnalysisResult
from analysis.stats.reliability import SplitHalf

__all__ = [
    "MOS_FIXED_COLUMNS",
    "RATER_COLUMNS",
    "RAW_COLUMNS",
    "iter_raw_ratings_csv",
    "raw_cell",
    "neutralise",
    "write_analysis_json",
    "write_json",
    "write_mat_files",
    "write_mos_csv",
    "write_moz_txt",
    "write_raters_csv",
    "write_raw_ratings",
    "write_results",
    "zip_directory",
]

RAW_COLUMNS = (
    "rater",
    "session",
    "stimulus",
    "stimulus_name",
    "perspective",
    "score",
    "role",
    "in_analysis",
    "qc_excluded",
    "pilot",
    "trial_index",
    "viewing_ms",
    "response_ms",
    "client_time",
    "server_time",
    # The language the questions were shown in, and the session's viewing conditions.
    "language",
    "viewport",
    "screen",
    "dpr",
    "zoom_changes",
    "ua_family",
)
MOS_FIXED_COLUMNS = ("position", "stimulus", "file", "model", "prompt")
MOS_PER_PERSPECTIVE = ("mos", "sd_raw", "sd", "n", "ci_low", "ci_high")
RATER_COLUMNS = (
    "rater",
    "perspective",
    "n",
    "t",
    "mean",
    "sd",
    "p",
    "q",
    "ratio1",
    "ratio2",
    "rejected",
    "reason",
    "bias",
    "inconsistency",
)
_INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

PathLike = str | Path


# --------------------------------------------------------------------------- cells


def neutralise(text: str) -> str:
    """Prefix a text cell with ``'`` if a spreadsheet would read it as a formula.

    >>> neutralise("=HYPERLINK(1)"), neutralise("-1"), neutralise("ok")
    ("'=HYPERLINK(1)", "'-1", 'ok')
    """
    return "'" + text if text.startswith(_INJECTION_PREFIXES) else text


def _cell(value: Any) -> Any:
    """One CSV cell: numbers as numbers, NaN/None empty, text neutralised."""
    kind = type(value)
    if kind is str:
        return "'" + value if value.startswith(_INJECTION_PREFIXES) else value
    if kind is int:
        return value
    if value is None:
        return ""
    # The exact types a database row holds come first: the ABC checks below cost a microsecond
    # each, and raw_ratings.csv has 25 cells per rating (3.6 million for 144,000 ratings).
    if kind is float:
        return "" if value != value else repr(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is dt.datetime:
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        x = float(value)
        return "" if math.isnan(x) else repr(x)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return neutralise(str(value))


def _ordered(results: Mapping[str, AnalysisResult], perspectives: Sequence[str]) -> list[AnalysisResult]:
    missing = [k for k in perspectives if k not in results]
    if missing:
        raise ValueError(f"no result for perspective(s) {', '.join(missing)}")
    return [results[k] for k in perspectives]


# --------------------------------------------------------------------------- MATLAB / txt


_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by analysis.exports".ljust(116, b" ")
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_DOUBLE, _MI_MATRIX = 1, 5, 6, 9, 14
_MX_DOUBLE_CLASS = 6


def _mat_element(kind: int, payload: bytes) -> bytes:
    pad = (-len(payload)) % 8
    return np.array([kind, len(payload)], dtype="<u4").tobytes() + payload + b"\0" * pad


def mat_bytes(name: str, column: np.ndarray) -> bytes:
    """A MATLAB 5 MAT-file holding one N x 1 double variable ``name``, as ``scipy.io.savemat``
    would write it (read it with ``scipy.io.loadmat(path)[name]``).

    Written by hand because scipy.io takes longer to import than the whole file takes to
    write; the header has no timestamp, so the same results give the same bytes.
    """
    values = np.ascontiguousarray(np.asarray(column, dtype="<f8").reshape(-1))
    body = (
        _mat_element(_MI_UINT32, np.array([_MX_DOUBLE_CLASS, 0], dtype="<u4").tobytes())
        + _mat_element(_MI_INT32, np.array([values.size, 1], dtype="<i4").tobytes())
        + _mat_element(_MI_INT8, name.encode("ascii"))
        + _mat_element(_MI_DOUBLE, values.tobytes())
    )
    header = _MAT_HEADER + b"\0" * 8 + np.array([0x0100], dtype="<u2").tobytes() + b"IM"
    return header + _mat_element(_MI_MATRIX, body)


def write_mat_files(
    out_dir: PathLike, results: Mapping[str, AnalysisResult], perspectives: Sequence[str]
) -> list[Path]:
    """Write ``DATA/MOS/mosz{d}.mat`` (``MOSz``) and ``DATA/STD/SD{d}.mat`` (``SD``)."""
    out = Path(out_dir)
    (out / "DATA" / "MOS").mkdir(parents=True, exist_ok=True)
    (out / "DATA" / "STD").mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for d, res in enumerate(_ordered(results, perspectives), start=1):
        mos_path = out / "DATA" / "MOS" / f"mosz{d}.mat"
        sd_path = out / "DATA" / "STD" / f"SD{d}.mat"
        mos_path.write_bytes(mat_bytes("MOSz", res.stimuli.mos))
        sd_path.write_bytes(mat_bytes("SD", res.stimuli.sd_raw))
        paths += [mos_path, sd_path]
    return paths


def write_moz_txt(
    out_dir: PathLike, results: Mapping[str, AnalysisResult], perspectives: Sequence[str]
) -> list[Path]:
    """Write ``moz{d}.txt``: one MOS per line, full precision, ``nan`` where missing."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for d, res in enumerate(_ordered(results, perspectives), start=1):
        path = out / f"moz{d}.txt"
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            # repr of a NaN is "nan"; map() keeps the 100,000-line loop in C.
            values = res.stimuli.mos.tolist()
            fh.write("\n".join(map(repr, values)) + ("\n" if values else ""))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CSVs


_PREFIX_CHARS = frozenset(_INJECTION_PREFIXES)


def _text_cells(values: Sequence[Any]) -> list[Any]:
    """Cells of a column of Python values; fast paths for all-int and all-str columns."""
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        return list(values)
    if kinds <= {str}:
        return ["'" + v if v[:1] in _PREFIX_CHARS else v for v in values]
    # The same cells as _cell gives, a column at a time (raw_ratings.csv's scores and flags).
    if kinds <= {float}:
        return ["" if v != v else repr(v) for v in values]
    if kinds <= {bool}:
        return ["true" if v else "false" for v in values]
    return [_cell(v) for v in values]


def _column_cells(values: Any) -> list[Any]:
    """One column as CSV cells, vectorised for numeric arrays (floats as their shortest repr)."""
    if not isinstance(values, np.ndarray):
        return _text_cells(list(values))
    arr = values
    kind = arr.dtype.kind
    if kind == "f":
        return ["" if x != x else repr(x) for x in arr.tolist()]
    if kind in "iu":
        return arr.tolist()
    if kind == "b":
        return ["true" if x else "false" for x in arr.tolist()]
    return _text_cells(arr.tolist())


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _quoted(text: str) -> str:
    """A cell as csv.writer (minimal quoting) writes it inside a row of several cells."""
    if _NEEDS_QUOTES.search(text) is None:
        return text
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text, ""])
    return buf.getvalue()[: -len(",\n")]


_NONE = type(None)
_BOOL_TEXT = {True: "true", False: "false"}


def _strs(cells: list[Any]) -> list[str]:
    return [c if type(c) is str else str(c) for c in cells]


def _list_text(values: list[Any]) -> list[str]:
    """:func:`_text_cells` as text (before quoting), with the loops in C for the column types a
    database row holds: ints, datetimes, each possibly with empty (None) cells."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return list(map(str, values))
    if kinds <= {str}:
        # Few distinct texts in a column (raters, stimuli, perspectives, browsers): neutralise
        # each once, then look the cells up in C.
        neutral = {v: "'" + v if v[:1] in _PREFIX_CHARS else v for v in set(values)}
        return list(map(neutral.__getitem__, values))
    if kinds <= {bool}:
        return list(map(_BOOL_TEXT.__getitem__, values))
    if kinds <= {float}:
        text = list(map(repr, values))
        if any(map(math.isnan, values)):
            text = ["" if v != v else t for v, t in zip(values, text, strict=True)]
        return text
    if kinds <= {int, _NONE}:
        return ["" if v is None else str(v) for v in values]
    if kinds <= {dt.datetime}:
        return list(map(dt.datetime.isoformat, values))
    if kinds <= {dt.datetime, _NONE}:
        return ["" if v is None else v.isoformat() for v in values]
    return _strs(_text_cells(values))


def _column_text(values: Any) -> list[str]:
    """One column as the text csv.writer writes for its cells (see _column_cells)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        # Numbers never need quotes; map() keeps the loop over 100,000 values in C.
        if values.dtype.kind in "iu":
            return list(map(str, values.tolist()))
        text = list(map(repr, values.tolist()))
        for k in np.flatnonzero(np.isnan(values)).tolist():
            text[k] = ""
        return text
    text = _list_text(list(values)) if not isinstance(values, np.ndarray) else _strs(_column_cells(values))
    if _NEEDS_QUOTES.search("".join(text)) is None:  # the usual case: nothing to quote
        return text
    return [_quoted(c) for c in text]


def _write_csv(path: PathLike, columns: Mapping[str, Any]) -> Path:
    """Write columns (name -> values of one length) as a CSV, header neutralised too.

    The same bytes as csv.writer with minimal quoting and "\\n" line ends (for rows of two or
    more cells: csv.writer quotes a lone empty cell), but each column is turned into text at
    once and the rows joined in C: csv.writer took about a second for the 1.1 million cells of
    a 100,000-stimulus mos.csv, this about a sixth of that.
    """
    cells = [_column_text(v) for v in columns.values()]
    if len({len(c) for c in cells}) > 1:
        raise ValueError(f"columns of different lengths: {[len(c) for c in cells]}")
    header = ",".join(_quoted(neutralise(str(name))) for name in columns)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("\n".join([header, *map(",".join, zip(*cells, strict=True))]) + "\n")
    return Path(path)


def write_mos_csv(
    path: PathLike,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    stimuli: Sequence[Mapping[str, Any]],
) -> Path:
    """Write ``mos.csv``: one row per stimulus, in the order of ``stimuli``.

    Each ``stimuli`` entry may have ``position``, ``name`` (or ``stimulus``), ``file``,
    ``model``, ``prompt`` and ``categories`` (a mapping; its keys become columns in order of
    first appearance). Entry ``k`` describes stimulus index ``k`` of the results. Columns:
    ``position, stimulus, file, model, prompt, <categories...>`` then, per perspective,
    ``<key>_mos, <key>_sd_raw, <key>_sd, <key>_n, <key>_ci_low, <key>_ci_high``.
    """
    ordered = _ordered(results, perspectives)
    n = len(stimuli)
    for key, res in zip(perspectives, ordered, strict=True):
        if res.stimuli.mos.shape[0] != n:
            raise ValueError(f"perspective {key!r} has {res.stimuli.mos.shape[0]} stimuli, metadata has {n}")
    categories: dict[str, None] = {}
    for s in stimuli:
        categories.update(dict.fromkeys(s.get("categories") or {}))
    columns: dict[str, Any] = {
        "position": [s.get("position", k) for k, s in enumerate(stimuli)],
        "stimulus": [s.get("name", s.get("stimulus", "")) for s in stimuli],
        "file": [s.get("file", "") for s in stimuli],
        "model": [s.get("model", "") for s in stimuli],
        "prompt": [s.get("prompt", "") for s in stimuli],
    }
    for cat in categories:
        columns[cat if cat not in columns else f"category_{cat}"] = [
            (s.get("categories") or {}).get(cat, "") for s in stimuli
        ]
    for key, res in zip(perspectives, ordered, strict=True):
        st = res.stimuli
        for field in MOS_PER_PERSPECTIVE:
            columns[f"{key}_{field}"] = np.asarray(getattr(st, field))
    return _write_csv(path, columns)


def write_raters_csv(
    path: PathLike,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    rater_ids: Sequence[Any] | Mapping[str, Sequence[Any]],
) -> Path:
    """Write ``raters.csv``: one row per rater and perspective (columns :data:`RATER_COLUMNS`).

    ``rater_ids[k]`` is the id of rater index ``k``; pass a mapping perspective -> ids if the
    perspectives use different rater index spaces.
    """
    columns: dict[str, list[Any]] = {name: [] for name in RATER_COLUMNS}
    for key, res in zip(perspectives, _ordered(results, perspectives), strict=True):
        ids = rater_ids[key] if isinstance(rater_ids, Mapping) else rater_ids
        rs = res.raters
        if len(ids) != rs.n.shape[0]:
            raise ValueError(f"perspective {key!r} has {rs.n.shape[0]} raters, {len(ids)} ids given")
        columns["rater"] += _text_cells(list(ids))
        columns["perspective"] += [_cell(key)] * len(ids)
        for field in RATER_COLUMNS[2:]:
            columns[field] += _column_cells(getattr(rs, field))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(RATER_COLUMNS)
        writer.writerows(zip(*columns.values(), strict=True))
    return Path(path)


#: Rows of raw_ratings.csv formatted together: a block is about 100 kB of text, so the
#: export stays in constant memory while each column is formatted in one pass.
RAW_BLOCK_ROWS = 512


def _raw_blocks(rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> Iterator[tuple[int, str]]:
    """``raw_ratings.csv`` without its header, as (row count, text) blocks of up to
    :data:`RAW_BLOCK_ROWS` rows.

    Column-wise: each block is transposed and every column turned into text at once
    (:func:`_column_text`, the bytes csv.writer writes for :func:`_cell`'s cells), then the
    rows are joined in C. Writing the 3 million cells of 144,000 ratings row by row through
    ``_cell`` and csv.writer took most of an analysis job.
    """
    width = len(RAW_COLUMNS)
    it = iter(rows)
    start = 0
    while True:
        block: list[Sequence[Any]] = []
        for row in itertools.islice(it, RAW_BLOCK_ROWS):
            if type(row) is not tuple and isinstance(row, Mapping):  # the ABC check costs per row
                row = [row.get(c) for c in RAW_COLUMNS]
            elif len(row) != width:
                raise ValueError(
                    f"raw rating row {start + len(block)} has {len(row)} values, expected {width}"
                )
            block.append(row)
        if not block:
            return
        columns = [_column_text(list(col)) for col in zip(*block, strict=True)]
        yield len(block), "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"
        start += len(block)


_RAW_HEADER = ",".join(RAW_COLUMNS) + "\n"


def raw_cell(value: Any) -> str:
    """One cell of ``raw_ratings.csv`` as :func:`iter_raw_ratings_csv` writes it inside a row
    (neutralised, quoted when needed). The database-side writer formats its look-up values
    (raters, stimuli, scores, ...) with it, so both writers give the same bytes."""
    return _column_text([value])[0]


def write_raw_ratings_text(dest: PathLike, blocks: Iterable[tuple[int, str]]) -> int:
    """Write ``raw_ratings.csv`` from its header-less text in (row count, text) blocks, as
    :func:`analysis.loaders.raw_ratings_csv_blocks` yields them; return the row count."""
    count = 0
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        fh.write(_RAW_HEADER)
        for n, text in blocks:
            fh.write(text)
            count += n
    return count


def iter_raw_ratings_csv(rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> Iterator[str]:
    """Yield ``raw_ratings.csv`` in pieces: the header, then blocks of lines, one per row.

    Rows are mappings (missing keys are empty cells, extra keys ignored) or sequences in the
    order of :data:`RAW_COLUMNS`. Constant memory: suits a DB cursor and a streaming response.
    """
    yield _RAW_HEADER
    for _, text in _raw_blocks(rows):
        yield text


def write_raw_ratings(dest: PathLike | IO[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> int:
    """Stream ``rows`` to ``raw_ratings.csv`` (a path or an open text file); return the row count.

    Rows as in :func:`iter_raw_ratings_csv`; written a block at a time (constant memory).
    """
    if isinstance(dest, (str, Path)):
        with open(dest, "w", encoding="utf-8", newline="") as fh:
            return _write_raw(fh, rows)
    return _write_raw(dest, rows)


def _write_raw(fh: IO[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> int:
    fh.write(_RAW_HEADER)
    count = 0
    for n, text in _raw_blocks(rows):
        fh.write(text)
        count += n
    return count


# --------------------------------------------------------------------------- JSON


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, SplitHalf):
        return _jsonable(value.__dict__)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        x = float(value)
        return None if not math.isfinite(x) else x
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    return str(value)


def perspective_summary(key: str, res: AnalysisResult, rater_ids: Sequence[Any]) -> dict[str, Any]:
    """Counts, rejected raters and notes of one perspective, for ``analysis.json``."""
    rs, st = res.raters, res.stimuli
    rejected = np.flatnonzero(rs.rejected)
    return {
        "key": key,
        "method": res.method,
        "version": res.version,
        "parameters": dict(res.params),
        "counts": {
            "ratings": int(rs.n.sum()),
            "ratings_used": int(st.n.sum()),
            "raters": int((rs.n > 0).sum()),
            "raters_rejected": int(rejected.size),
            "stimuli": int(st.n.shape[0]),
            "stimuli_with_score": int((st.n > 0).sum()),
        },
        "rejected_raters": [{"rater": rater_ids[int(k)], "reason": rs.reason[k]} for k in rejected],
        "notes": list(res.notes),
        "diagnostics": dict(res.diagnostics),
    }


def write_analysis_json(
    path: PathLike,
    *,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    rater_ids: Sequence[Any] | Mapping[str, Sequence[Any]],
    code_version: str,
    input_fingerprint: str,
    timings: Mapping[str, float],
    reliability: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``analysis.json``: method, version, parameters, counts, rejected raters, notes,
    code version, input fingerprint, timings (seconds) and reliability, per perspective.

    NaN and infinities become ``null``.
    """
    ordered = _ordered(results, perspectives)
    per = []
    for key, res in zip(perspectives, ordered, strict=True):
        ids = rater_ids[key] if isinstance(rater_ids, Mapping) else rater_ids
        item = perspective_summary(key, res, ids)
        if reliability and key in reliability:
            item["reliability"] = reliability[key]
        per.append(item)
    first = ordered[0] if ordered else None
    doc: dict[str, Any] = {
        "format": "analysis-json-1",
        "method": first.method if first else None,
        "version": first.version if first else None,
        "parameters": dict(first.params) if first else {},
        "code_version": code_version,
        "input_fingerprint": input_fingerprint,
        "counts": {
            "perspectives": len(per),
            "stimuli": int(first.stimuli.n.shape[0]) if first else 0,
            "ratings": sum(p["counts"]["ratings"] for p in per),
        },
        "rejected_raters": {p["key"]: p["rejected_raters"] for p in per},
        "reliability": {p["key"]: p.get("reliability") for p in per},
        "timings": dict(timings),
        "perspectives": per,
    }
    if extra:
        doc.update(extra)
    return write_json(path, doc)


#: Keys of ``analysis.json`` whose (long) lists are written one item per line, compactly.
_COMPACT_LISTS = ("stimuli",)


def write_json(path: PathLike, doc: Mapping[str, Any]) -> Path:
    """Write ``doc`` as indented UTF-8 JSON; NaN and infinities become ``null``.

    The top-level ``stimuli`` list (100,000 entries in a large study) is written on one line:
    json's C encoder only runs without indentation, and the indented Python encoder would take
    seconds.
    """
    compact = {k: doc[k] for k in _COMPACT_LISTS if isinstance(doc.get(k), list)}
    rest = {k: ("\0" + k if k in compact else v) for k, v in doc.items()}
    text = json.dumps(_jsonable(rest), indent=1, ensure_ascii=False, allow_nan=False)
    for key, items in compact.items():
        body = json.dumps(items, ensure_ascii=False, allow_nan=False)
        text = text.replace(json.dumps("\0" + key), body, 1)
    Path(path).write_text(text + "\n", encoding="utf-8")
    return Path(path)


# --------------------------------------------------------------------------- bundles


def write_results(
    out_dir: PathLike,
    *,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    stimuli: Sequence[Mapping[str, Any]],
    rater_ids: Sequence[Any] | Mapping[str, Sequence[Any]],
    code_version: str,
    input_fingerprint: str,
    timings: Mapping[str, float],
    reliability: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write every result file except plots and raw ratings; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_mat_files(out, results, perspectives)
    paths += write_moz_txt(out, results, perspectives)
    paths.append(write_mos_csv(out / "mos.csv", results, perspectives, stimuli))
    paths.append(write_raters_csv(out / "raters.csv", results, perspectives, rater_ids))
    paths.append(
        write_analysis_json(
            out / "analysis.json",
            results=results,
            perspectives=perspectives,
            rater_ids=rater_ids,
            code_version=code_version,
            input_fingerprint=input_fingerprint,
            timings=timings,
            reliability=reliability,
            extra=extra,
        )
    )
    return paths


def zip_directory(src: PathLike, dest_zip: PathLike) -> Path:
    """Zip every file under ``src`` (paths relative to ``src``, sorted, deflated).

    ``dest_zip`` may lie inside ``src``; it is not added to itself.
    """
    src_path, dest = Path(src), Path(dest_zip)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(p for p in src_path.rglob("*") if p.is_file()):
            if file.resolve() in (dest.resolve(), tmp.resolve()):
                continue
            zf.write(file, file.relative_to(src_path).as_posix())
    tmp.replace(dest)
    return dest
