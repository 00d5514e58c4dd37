"""The offline pipeline behind ``manage.py compute_mos``: long CSV -> core -> result files.

No Django here, so it can be tested and run alone::

    from analysis import offline
    summary = offline.run("raw.csv", "out/", method="bt500_zscore")

Input: a CSV (UTF-8, with or without BOM) with at least the columns
``rater,stimulus,perspective,score``; other columns are ignored. Ids are text (surrounding
whitespace stripped). Perspectives are processed in their order of first appearance unless
given. Stimulus positions follow the ``stimuli_path`` file (one id per line) or else the ids
sorted (numerically when every id is an integer); raters are sorted the same way.

Every problem with the input raises a subclass of :class:`OfflineInputError` whose message is
one line that says what is wrong and where.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import exports
from analysis.stats import DEFAULT_METHOD, METHODS, AnalysisResult, Ratings, analyse, reliability

__all__ = [
    "REQUIRED_COLUMNS",
    "DuplicateStimulusError",
    "EmptyInputError",
    "InputNotFoundError",
    "InvalidParameterError",
    "MissingColumnsError",
    "MissingValueError",
    "NonNumericScoreError",
    "OfflineInputError",
    "Summary",
    "UnknownMethodError",
    "UnknownPerspectiveError",
    "UnknownStimulusError",
    "parse_params",
    "read_ratings_csv",
    "run",
]

REQUIRED_COLUMNS = ("rater", "stimulus", "perspective", "score")
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


# --------------------------------------------------------------------------- reading


def _line(row: int) -> int:
    """1-based line number of a data row (the header is line 1)."""
    return int(row) + 2


def read_ratings_csv(path: str | Path) -> pd.DataFrame:
    """Read the long CSV: ``rater``, ``stimulus``, ``perspective`` as stripped text, ``score``
    as float64. Raises an :class:`OfflineInputError` subclass on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"input file {str(path)!r} does not exist")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise EmptyInputError(f"input file {str(path)!r} is empty") from None
    except UnicodeDecodeError as exc:
        raise OfflineInputError(f"input file {str(path)!r} is not UTF-8: {exc.reason}") from None
    names = {str(c).strip(): c for c in header.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ", ".join(str(c) for c in header.columns) or "none"
        raise MissingColumnsError(
            f"input file {str(path)!r} lacks column(s) {', '.join(missing)} "
            f"(found: {found}; need {','.join(REQUIRED_COLUMNS)})"
        )
    usecols = [names[c] for c in REQUIRED_COLUMNS]
    text_cols = {names[c]: str for c in REQUIRED_COLUMNS[:3]}
    common: dict[str, Any] = {
        "encoding": "utf-8-sig",
        "usecols": usecols,
        "keep_default_na": False,
        "na_values": [],
    }
    try:
        frame = pd.read_csv(path, dtype={**text_cols, names["score"]: np.float64}, **common)
    except ValueError:
        frame = pd.read_csv(path, dtype={**text_cols, names["score"]: str}, **common)
        _raise_bad_score(frame[names["score"]])
        raise
    except UnicodeDecodeError as exc:  # pragma: no cover - header read catches most
        raise OfflineInputError(f"input file {str(path)!r} is not UTF-8: {exc.reason}") from None
    frame = frame.rename(columns={v: k for k, v in names.items() if v in usecols})
    if frame.empty:
        raise EmptyInputError(f"input file {str(path)!r} has a header but no ratings")
    bad = ~np.isfinite(frame["score"].to_numpy())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise NonNumericScoreError(
            f"line {_line(row)}: score {float(frame['score'].iloc[row])!r} is not a finite number"
        )
    for col in REQUIRED_COLUMNS[:3]:
        frame[col] = frame[col].str.strip()
        empty = (frame[col] == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise MissingValueError(f"line {_line(row)}: empty {col}")
    return frame


def _raise_bad_score(scores: pd.Series) -> None:
    numeric = pd.to_numeric(scores.str.strip(), errors="coerce")
    bad = numeric.isna().to_numpy()
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    value = scores.iloc[row]
    if value.strip() == "":
        raise MissingValueError(f"line {_line(row)}: empty score")
    raise NonNumericScoreError(f"line {_line(row)}: score {value!r} is not a number")


def _typed_sorted(ids: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
    """Order of ``ids`` (numeric when all are integers, else text) and their typed labels."""
    if all(_INT_ID.match(s) for s in ids):
        values = np.array([int(s) for s in ids], dtype=object)
        order = np.array(sorted(range(len(ids)), key=lambda k: values[k]), dtype=np.intp)
        return order, [int(values[k]) for k in order]
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable").astype(np.intp)
    return order, [ids[k] for k in order]


def _sorted_codes(column: pd.Series) -> tuple[np.ndarray, list[Any]]:
    codes, uniques = pd.factorize(column, sort=False)
    order, labels = _typed_sorted([str(u) for u in uniques])
    remap = np.empty(len(order), dtype=np.intp)
    remap[order] = np.arange(len(order), dtype=np.intp)
    return remap[codes], labels


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
    seen: dict[str, int] = {}
    for k, s in enumerate(ids):
        if s in seen:
            raise DuplicateStimulusError(f"stimuli file {str(p)!r} lists {s!r} twice")
        seen[s] = k
    return ids


def _stimulus_codes(column: pd.Series, stimuli_path: str | Path | None) -> tuple[np.ndarray, list[Any]]:
    if stimuli_path is None:
        return _sorted_codes(column)
    order = _read_stimuli_order(stimuli_path)
    codes, uniques = pd.factorize(column, sort=False)
    position = pd.Index(order).get_indexer(pd.Index(uniques))
    if (position < 0).any():
        first = int(np.flatnonzero(position < 0)[0])
        row = int(np.flatnonzero(codes == first)[0])
        raise UnknownStimulusError(
            f"line {_line(row)}: stimulus {str(uniques[first])!r} is not in stimuli file "
            f"{str(stimuli_path)!r}"
        )
    labels: list[Any] = [int(s) for s in order] if all(_INT_ID.match(s) for s in order) else order
    return position.astype(np.intp)[codes], labels


# --------------------------------------------------------------------------- run


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


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
    reliability_splits: int = 100,
    seed: int = 0,
) -> Summary:
    """Compute the scores of a long CSV and write the result files into ``output_dir``.

    Writes ``DATA/MOS/mosz{d}.mat``, ``DATA/STD/SD{d}.mat``, ``moz{d}.txt``, ``mos.csv``,
    ``raters.csv`` and ``analysis.json`` (no plots, no raw ratings). ``d`` follows
    ``perspectives`` (default: order of first appearance in the input). Split-half reliability
    uses ``reliability_splits`` random splits seeded by ``seed`` (0 disables it).

    Raises
    ------
    OfflineInputError
        (a subclass of it) for every input problem, with a one-line message.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    full_params = _check_method(method, dict(params or {}))
    wanted = [p.strip() for p in perspectives] if perspectives is not None else None
    if wanted is not None and (not wanted or any(not p for p in wanted)):
        raise UnknownPerspectiveError(
            f"perspective list {','.join(perspectives or [])!r} is empty or has an empty name"
        )

    frame = read_ratings_csv(input_path)
    fingerprint = _file_sha256(Path(input_path))
    pcodes, puniques = pd.factorize(frame["perspective"], sort=False)
    present = [str(p) for p in puniques]
    if wanted is None:
        keys = present
    else:
        unknown = [p for p in wanted if p not in present]
        if unknown:
            raise UnknownPerspectiveError(
                f"perspective(s) {', '.join(repr(p) for p in unknown)} not in the input; "
                f"found: {', '.join(present)}"
            )
        if len(set(wanted)) != len(wanted):
            raise UnknownPerspectiveError(f"perspective list {','.join(wanted)!r} repeats a name")
        keys = wanted
    rater, rater_ids = _sorted_codes(frame["rater"])
    stimulus, stimulus_ids = _stimulus_codes(frame["stimulus"], stimuli_path)
    score = frame["score"].to_numpy(dtype=np.float64)
    timings["read"] = time.perf_counter() - t0

    results: dict[str, AnalysisResult] = {}
    rel: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for key in keys:
        t = time.perf_counter()
        mask = pcodes == present.index(key)
        r = Ratings.from_arrays(
            rater=rater[mask],
            stimulus=stimulus[mask],
            score=score[mask],
            n_raters=len(rater_ids),
            n_stimuli=len(stimulus_ids),
        )
        results[key] = analyse(r, method, **full_params)
        timings[f"analyse_{key}"] = time.perf_counter() - t
        if reliability_splits > 0:
            t = time.perf_counter()
            rel[key] = reliability.split_half(r, rng=rng, n_splits=reliability_splits)
            timings[f"reliability_{key}"] = time.perf_counter() - t

    t = time.perf_counter()
    stimuli_meta = [{"position": k, "name": s} for k, s in enumerate(stimulus_ids)]
    files = exports.write_results(
        output_dir,
        results=results,
        perspectives=keys,
        stimuli=stimuli_meta,
        rater_ids=rater_ids,
        code_version=code_version(),
        input_fingerprint=fingerprint,
        timings=timings,
        reliability=rel or None,
        extra={"input": {"file": Path(input_path).name, "rows": int(len(frame))}},
    )
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    first = results[keys[0]]
    return Summary(
        output_dir=Path(output_dir),
        method=first.method,
        version=first.version,
        params=dict(first.params),
        perspectives=tuple(keys),
        n_ratings={k: int(results[k].raters.n.sum()) for k in keys},
        n_rejected={k: results[k].n_rejected for k in keys},
        n_stimuli=len(stimulus_ids),
        n_raters=len(rater_ids),
        input_fingerprint=fingerprint,
        files=tuple(files),
        timings=timings,
    )
