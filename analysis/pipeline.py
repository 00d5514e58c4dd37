"""The one analysis pipeline: load -> analyse -> write, shared by ``compute_mos`` and the job.

Two loaders build an :class:`AnalysisInput`: :mod:`analysis.offline` from a long CSV (no Django)
and :mod:`analysis.loaders` from the database. :func:`analyse` computes every perspective with
the pure core (:mod:`analysis.stats`), and :func:`write_results` writes the result files into a
folder. Because both sides go through the same two functions with the same ordering rules
(:func:`typed_order` for raters and stimuli), ``compute_mos`` on an exported
``raw_ratings.csv`` gives the online run's files (docs/exports.md, "Reproducing a run").

No Django and no pandas here: this module loads in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.stats import (
    METHODS,
    REASON_SCREENING,
    REASON_ZERO_VARIANCE,
    AnalysisResult,
    Ratings,
    reliability,
)
from analysis.stats import analyse as analyse_one
from analysis.stats.rich import RegionAnswers, RichResult, WordAnswers
from analysis.stats.rich import analyse as analyse_rich

__all__ = [
    "RELIABILITY_SEED",
    "RELIABILITY_SPLITS",
    "Analysis",
    "AnalysisInput",
    "OutputError",
    "PerspectiveInfo",
    "analyse",
    "screening_feasibility",
    "staged_output",
    "typed_order",
    "RichInput",
    "rich_analyse",
    "rich_excluded",
    "rich_summary",
    "write_rich",
]

RELIABILITY_SPLITS = 100
RELIABILITY_SEED = 0
_INT_ID = re.compile(r"^[+-]?\d+$")

#: BT.500 screening can count a vote only when its stimulus has at least this many ratings: with
#: the N-1 SD no vote lies more than (N-1)/sqrt(N) SDs from the mean of N votes, below 2 for
#: N <= 5 (docs/protocol.md section 3, step 1).
MIN_RATINGS_FOR_SCREENING = 6
#: The same bound for vote-level outliers at |z| >= 3.29: (N-1)/sqrt(N) >= 3.29 from N = 13.
MIN_RATINGS_FOR_VOTE_OUTLIERS = 13


class OutputError(OSError):
    """The output folder cannot be written; ``str(exc)`` is one line for the user."""


@dataclass(frozen=True)
class PerspectiveInfo:
    key: str
    label: str


@dataclass(frozen=True)
class AnalysisInput:
    """What a loader hands to :func:`analyse`: the counted ratings of every perspective.

    ``stimuli[k]`` describes stimulus index ``k`` (``position``, ``name``, and for studies
    ``file``, ``model``, ``prompt``, ``categories``); ``rater_ids[i]`` names rater index ``i``.
    Every :class:`~analysis.stats.Ratings` shares these two index spaces.
    """

    perspectives: tuple[PerspectiveInfo, ...]
    stimuli: tuple[Mapping[str, Any], ...]
    rater_ids: tuple[Any, ...]
    ratings: Mapping[str, Ratings]
    fingerprint: str
    scale: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.perspectives]


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyse` computed: per perspective, the result, reliability and screening check."""

    method: str
    version: str
    params: Mapping[str, Any]
    results: Mapping[str, AnalysisResult]
    reliability: Mapping[str, dict[str, Any]]
    screening: Mapping[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- ordering


def typed_order(ids: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
    """Order of ``ids`` and their labels: numeric when every id is an integer, else by text.

    Both loaders number raters and stimuli with this function, so that the online job and
    ``compute_mos`` on the exported CSV put them in the same rows.

    >>> typed_order(["10", "9", "2"])
    (array([2, 1, 0]), [2, 9, 10])
    >>> typed_order(["b", "a", "10"])[1]
    ['10', 'a', 'b']
    """
    if ids and all(_INT_ID.match(s) for s in ids):
        values = np.array([int(s) for s in ids], dtype=np.int64)
        order = np.argsort(values, kind="stable").astype(np.intp)
        return order, [int(values[k]) for k in order]
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable").astype(np.intp)
    return order, [ids[k] for k in order]


# --------------------------------------------------------------------------- analyse


def _counts_summary(n: np.ndarray) -> dict[str, float]:
    rated = n[n > 0]
    if rated.size == 0:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": int(rated.min()), "median": float(np.median(rated)), "max": int(rated.max())}


def screening_feasibility(r: Ratings, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the method's outlier rule can flag anything with this many ratings per stimulus.

    BT.500 screening cannot count a single vote on a stimulus with 5 or fewer ratings, and
    vote-level outliers need 13 (docs/protocol.md section 3). When most stimuli have fewer,
    the method silently rejects nobody; this says so and names the method that works for such
    a design: ``mle``, whose per-rater inconsistency needs no minimum per stimulus.
    """
    n = np.bincount(r.stimulus, minlength=r.n_stimuli)
    counts = _counts_summary(n)
    if method == "bt500_zscore" and params.get("screen", True):
        need, rule = MIN_RATINGS_FOR_SCREENING, "BT.500 rater screening"
    elif method == "vote_outliers":
        need, rule = MIN_RATINGS_FOR_VOTE_OUTLIERS, "vote-level outlier removal"
    else:
        return {"applies": False, "possible": True, "ratings_per_stimulus": counts, "message": ""}
    rated = n[n > 0]
    share = float((rated >= need).mean()) if rated.size else 0.0
    possible = share >= 0.5
    message = ""
    if not possible:
        message = (
            f"{rule} cannot work here: {share:.0%} of the stimuli have the {need} or more ratings it "
            f"needs (median {counts['median']:g} per stimulus), so it rejects (almost) nobody whatever "
            f"the raters did. Use method 'mle' (rater bias and inconsistency, no minimum per stimulus) "
            f"or collect at least {need} ratings per stimulus."
        )
    return {
        "applies": True,
        "possible": possible,
        "min_ratings_needed": need,
        "share_of_stimuli_with_enough": share,
        "ratings_per_stimulus": counts,
        "suggested_method": "" if possible else "mle",
        "message": message,
    }


def _reliability(
    r: Ratings, rater_ids: Sequence[Any], rng: np.random.Generator, splits: int
) -> dict[str, Any]:
    split = reliability.split_half(r, rng=rng, n_splits=splits)
    vs_rest = reliability.rater_vs_rest(r)
    finite = vs_rest[np.isfinite(vs_rest)]
    return {
        "split_half": {**split.__dict__, "n_splits_requested": splits},
        "rater_vs_rest": {
            "median": float(np.median(finite)) if finite.size else None,
            "min": float(finite.min()) if finite.size else None,
            "n_raters": int(finite.size),
            "per_rater": dict(zip(rater_ids, vs_rest.tolist(), strict=True)),
        },
    }


def analyse(
    inp: AnalysisInput,
    *,
    method: str,
    params: Mapping[str, Any],
    reliability_splits: int = RELIABILITY_SPLITS,
    seed: int = RELIABILITY_SEED,
    progress: Any = None,
) -> Analysis:
    """Compute every perspective of ``inp`` with ``method``; perspectives in ``inp`` order.

    Split-half reliability draws its random halves from one generator seeded by ``seed`` and
    shared by the perspectives in order (0 splits disables it). ``progress(k, key)`` is called
    after each perspective when given.
    """
    full = METHODS[method].validate(dict(params))
    results: dict[str, AnalysisResult] = {}
    rel: dict[str, dict[str, Any]] = {}
    screening: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    rng = np.random.default_rng(seed)
    for k, key in enumerate(inp.keys):
        r = inp.ratings[key]
        t = time.perf_counter()
        results[key] = analyse_one(r, method, **full)
        timings[f"analyse_{key}"] = time.perf_counter() - t
        screening[key] = screening_feasibility(r, method, full)
        if reliability_splits > 0:
            t = time.perf_counter()
            rel[key] = _reliability(r, inp.rater_ids, rng, reliability_splits)
            timings[f"reliability_{key}"] = time.perf_counter() - t
        if progress is not None:
            progress(k, key)
    first = results[inp.keys[0]]
    return Analysis(
        method=first.method,
        version=first.version,
        params=dict(first.params),
        results=results,
        reliability=rel,
        screening=screening,
        timings=timings,
    )


# --------------------------------------------------------------------------- write


def _describe(exc: OSError, path: Path) -> str:
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot write the output folder {str(path)!r}: {reason}"


@contextlib.contextmanager
def staged_output(dest: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``dest``; on success move it into place as ``dest``.

    So a run never leaves files of an earlier run next to its own, nor half its files when it
    fails: the temporary folder is removed on any error. A non-empty ``dest`` is refused unless
    ``force`` (then it is replaced as a whole, after the new files are complete).

    Raises
    ------
    OutputError
        ``dest`` is a file, is not empty (without ``force``), or cannot be written (read-only,
        permission, full disk); one line that says which.
    """
    out = Path(dest)
    if out.exists() and not out.is_dir():
        raise OutputError(f"the output path {str(out)!r} is a file, not a folder")
    for ancestor in out.absolute().parents:
        if ancestor.exists() and not ancestor.is_dir():
            raise OutputError(f"the output folder {str(out)!r} cannot be made: {str(ancestor)!r} is a file")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(
            f"the output folder {str(out)!r} is not empty; choose another folder or pass --force to replace it"
        )
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise OutputError(_describe(exc, out)) from None
    try:
        yield tmp
        _move_into_place(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(_describe(exc, out)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, out: Path) -> None:
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a result folder is as readable as any other
    if not out.exists():
        os.replace(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.resolve().parent))
    os.replace(out, aside / "old")
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(aside / "old", out)  # put the previous results back
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def analysis_document(
    inp: AnalysisInput,
    an: Analysis,
    *,
    code_version: str,
    timings: Mapping[str, float],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``analysis.json`` (docs/exports.md); NaN becomes null when written."""
    from analysis import exports

    per = []
    for info in inp.perspectives:
        item = exports.perspective_summary(info.key, an.results[info.key], list(inp.rater_ids))
        item["label"] = info.label
        item["screening_check"] = an.screening[info.key]
        if info.key in an.reliability:
            item["reliability"] = an.reliability[info.key]
        per.append(item)
    first = an.results[inp.keys[0]]
    doc: dict[str, Any] = {
        "format": "analysis-json-2",
        "method": an.method,
        "version": an.version,
        "parameters": dict(an.params),
        "code_version": code_version,
        "input_fingerprint": inp.fingerprint,
        "scale": {"min": inp.scale[0], "max": inp.scale[1]} if inp.scale else None,
        "counts": {
            "perspectives": len(per),
            "stimuli": int(first.stimuli.n.shape[0]),
            "ratings": sum(p["counts"]["ratings"] for p in per),
        },
        "rejected_raters": {p["key"]: p["rejected_raters"] for p in per},
        "reliability": {p["key"]: p.get("reliability") for p in per},
        "screening_warnings": [
            f"{p['key']}: {p['screening_check']['message']}" for p in per if p["screening_check"]["message"]
        ],
        "notes": list(inp.notes),
        "timings": dict(timings),
        "perspectives": per,
        "stimuli": [dict(s) for s in inp.stimuli],
    }
    if extra:
        doc.update(extra)
    return doc


def write_results(
    out_dir: str | Path,
    inp: AnalysisInput,
    an: Analysis,
    *,
    code_version: str,
    timings: Mapping[str, float],
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``mosz{d}.mat``, ``SD{d}.mat``, ``moz{d}.txt``, ``mos.csv``, ``raters.csv`` and
    ``analysis.json`` into ``out_dir``; return their paths (docs/exports.md)."""
    from analysis import exports

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = inp.keys
    paths = exports.write_mat_files(out, an.results, keys)
    paths += exports.write_moz_txt(out, an.results, keys)
    paths.append(exports.write_mos_csv(out / "mos.csv", an.results, keys, inp.stimuli))
    paths.append(exports.write_raters_csv(out / "raters.csv", an.results, keys, list(inp.rater_ids)))
    doc = analysis_document(inp, an, code_version=code_version, timings=timings, extra=extra)
    paths.append(exports.write_json(out / "analysis.json", doc))
    return paths


# --------------------------------------------------------------------------- rich feedback


@dataclass(frozen=True)
class RichInput:
    """The annotation answers of a run (issue 17), in the rater index space of its scores.

    ``images[k]`` (an :class:`analysis.rich_exports.RichImage`) is stimulus index ``k``, the
    same rows as ``mos.csv``; ``regions``/``words`` are None when the study has no such task.
    ``task_labels`` maps "regions"/"words" to the task's label.
    """

    images: tuple[Any, ...]
    regions: RegionAnswers | None
    words: WordAnswers | None
    task_labels: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def rich_excluded(results: Mapping[str, AnalysisResult]) -> set[int]:
    """Rater indices the scores' screening rejected in any perspective (BT.500 screening or zero
    variance): the rich-feedback analysis leaves them out too. Raters short of ratings are kept:
    having few ratings says nothing about their marks."""
    out: set[int] = set()
    for res in results.values():
        reasons = np.asarray(res.raters.reason, dtype=object)
        hit = res.raters.rejected & np.isin(reasons, [REASON_SCREENING, REASON_ZERO_VARIANCE])
        out.update(np.flatnonzero(hit).tolist())
    return out


def rich_analyse(rich: RichInput, results: Mapping[str, AnalysisResult]) -> RichResult:
    """Heatmaps, word rates, agreement and flags of ``rich`` (analysis.stats.rich)."""
    return analyse_rich(
        rich.regions,
        rich.words,
        sizes=[img.size for img in rich.images],
        tokens=[img.tokens for img in rich.images],
        excluded_raters=rich_excluded(results),
    )


def write_rich(
    out_dir: str | Path, rich: RichInput, result: RichResult, rater_ids: Sequence[Any]
) -> list[Path]:
    """Write the ``rich/`` files (docs/exports.md, "Rich feedback")."""
    from analysis import rich_exports

    return rich_exports.write_rich(
        out_dir,
        result=result,
        images=rich.images,
        regions=rich.regions,
        words=rich.words,
        rater_ids=rater_ids,
    )


#: Images the results page shows rich feedback for (the files have them all).
RICH_PAGE_IMAGES = 200


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def rich_summary(rich: RichInput, result: RichResult, rater_ids: Sequence[Any]) -> dict[str, Any]:
    """What the results page shows of the rich feedback: study figures, and per image (the first
    :data:`RICH_PAGE_IMAGES`) its overlay, peak, agreement and word rates."""
    from analysis.rich_exports import overlay_names

    overlays = overlay_names(rich.images)
    images = []
    for i, img in enumerate(rich.images[:RICH_PAGE_IMAGES]):
        words = [
            {
                "token": tok,
                "marked": int(result.word_marked[i][t]),
                "rate": _finite_or_none(result.word_rates[i][t]),
            }
            for t, tok in enumerate(img.tokens)
        ]
        images.append(
            {
                "name": img.name,
                "overlay": f"rich/overlays/{overlays[i]}" if result.has_regions else None,
                "peak": [float(v) for v in result.peaks[i]] if np.isfinite(result.peaks[i]).all() else None,
                "region_raters": int(result.region_raters[i]),
                "region_markers": int(result.region_markers[i]),
                "agreement": _finite_or_none(result.heatmap_agreement[i]),
                "word_raters": int(result.word_raters[i]),
                "top_word": int(result.top_word[i]),
                "words": words if result.has_words else [],
            }
        )
    flagged = result.rater_ids[result.random_marker].tolist()
    return {
        "tasks": dict(rich.task_labels),
        "has_regions": result.has_regions,
        "has_words": result.has_words,
        "images_total": len(rich.images),
        "images_shown": len(images),
        "heatmap_agreement_mean": _finite_or_none(result.heatmap_agreement_mean),
        "word_alpha": _finite_or_none(result.word_alpha),
        "raters": int(result.rater_ids.size),
        "random_markers": [rater_ids[r] for r in flagged],
        "screened_out": [rater_ids[r] for r in result.excluded_raters],
        "notes": list(rich.notes),
        "images": images,
    }
