"""Reliability of the MOS: split-half correlation and each rater's agreement with the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import groupby
from .ratings import Ratings
from .types import FloatArray, IntArray
from .zscore import rater_zscores

__all__ = ["NAME", "VERSION", "SplitHalf", "rater_vs_rest", "split_half"]

NAME = "reliability"
VERSION = "1.0"

Scores = Literal["raw", "zscore"]


@dataclass(frozen=True)
class SplitHalf:
    """Spearman-Brown corrected split-half reliability over random rater halves.

    ``mean_r`` is the mean over splits, ``sd`` their SD (N-1), ``ci_low``/``ci_high`` the
    2.5 and 97.5 percentiles of the splits; ``n_splits`` counts the splits that gave a value
    (at least 3 stimuli rated in both halves, with non-zero variance). ``scores`` says whether
    the halves' MOS are means of raw scores or of per-rater z-scores.
    """

    mean_r: float
    sd: float
    ci_low: float
    ci_high: float
    n_splits: int
    scores: str


def _values(r: Ratings, scores: Scores) -> tuple[IntArray, IntArray, FloatArray]:
    if scores == "raw":
        return r.rater, r.stimulus, r.score
    if scores == "zscore":
        zs = rater_zscores(r.rater, r.score, r.n_raters)
        ok = zs.usable[r.rater]
        return r.rater[ok], r.stimulus[ok], zs.z[ok]
    raise ValueError(f"scores must be 'raw' or 'zscore'; got {scores!r}")


def _pearson(a: FloatArray, b: FloatArray) -> float:
    if a.size < 3:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    den = float(np.sqrt((da * da).sum() * (db * db).sum()))
    return float((da * db).sum() / den) if den > 0 else float("nan")


def split_half(
    r: Ratings, *, rng: np.random.Generator, n_splits: int = 100, scores: Scores = "zscore"
) -> SplitHalf:
    r"""Split-half reliability of the MOS.

    Each split assigns the raters with ratings to two halves at random (sizes differing by at
    most one), computes each stimulus' mean in each half (``scores="zscore"``: of per-rater
    z-scores, raters with one score or zero variance left out; ``"raw"``: of raw scores), and
    correlates the two (Pearson, over stimuli rated in both halves). The correlation is
    corrected to the full panel with Spearman-Brown, :math:`r_{SB} = 2r / (1 + r)`.

    Cost: O(n_splits x number of ratings).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.repeat(np.arange(6), 4); k = np.tile(np.arange(4), 6)
    >>> r = Ratings.from_arrays(rater=k, stimulus=s, score=s + 0.1 * k)
    >>> round(split_half(r, rng=rng, n_splits=5, scores="raw").mean_r, 6)
    1.0
    """
    rater, stimulus, value = _values(r, scores)
    active = np.flatnonzero(groupby.counts(rater, r.n_raters) > 0)
    n_s = r.n_stimuli
    out: list[float] = []
    for _ in range(n_splits):
        half = np.zeros(r.n_raters, dtype=bool)
        half[rng.permutation(active)[: active.size // 2]] = True
        in_a = half[rater]
        n_a = groupby.counts(stimulus, n_s, where=in_a)
        n_b = groupby.counts(stimulus, n_s, where=~in_a)
        both = (n_a > 0) & (n_b > 0)
        sum_all = groupby.sums(stimulus, value, n_s)
        sum_a = groupby.sums(stimulus[in_a], value[in_a], n_s)
        mos_a = sum_a[both] / n_a[both]
        mos_b = (sum_all[both] - sum_a[both]) / n_b[both]
        rho = _pearson(mos_a, mos_b)
        if np.isfinite(rho) and rho > -1.0:
            out.append(2.0 * rho / (1.0 + rho))
    arr = np.asarray(out)
    if arr.size == 0:
        nan = float("nan")
        return SplitHalf(nan, nan, nan, nan, 0, scores)
    lo, hi = np.percentile(arr, [2.5, 97.5])
    return SplitHalf(
        mean_r=float(arr.mean()),
        sd=float(arr.std(ddof=1)) if arr.size > 1 else float("nan"),
        ci_low=float(lo),
        ci_high=float(hi),
        n_splits=int(arr.size),
        scores=scores,
    )


def rater_vs_rest(r: Ratings, *, scores: Scores = "raw") -> FloatArray:
    r"""Correlation of each rater's scores with the mean of the other raters, per rater.

    For rater :math:`i` and each stimulus :math:`j` they rated, the rater's own mean score on
    :math:`j` is paired with the mean of the other raters' scores on :math:`j` (all of rater
    :math:`i`'s repetitions excluded). The result is the Pearson correlation over those pairs,
    NaN with fewer than 3 such stimuli or zero variance. ``scores="zscore"`` uses per-rater
    z-scores instead of raw scores (the correlation itself is invariant to the rater's own
    scale; the rest's mean is not).

    Examples
    --------
    >>> s = np.repeat(np.arange(4), 3); k = np.tile(np.arange(3), 4)
    >>> r = Ratings.from_arrays(rater=k, stimulus=s, score=s * (1.0 + k) + (k == 2) * (s % 2) * 5)
    >>> [round(float(c), 3) for c in rater_vs_rest(r)]
    [0.949, 0.928, 0.894]
    """
    rater, stimulus, value = _values(r, scores)
    n_r, n_s = r.n_raters, r.n_stimuli
    pair_key = rater.astype(np.int64) * n_s + stimulus
    keys, pair = np.unique(pair_key, return_inverse=True)
    n_pairs = keys.size
    pair_rater = (keys // n_s).astype(np.intp)
    pair_stim = (keys % n_s).astype(np.intp)
    pair_sum = groupby.sums(pair, value, n_pairs)
    pair_n = groupby.counts(pair, n_pairs)
    stim_sum = groupby.sums(stimulus, value, n_s)
    stim_n = groupby.counts(stimulus, n_s)
    own = pair_sum / pair_n
    rest = groupby.divide(stim_sum[pair_stim] - pair_sum, stim_n[pair_stim] - pair_n)
    ok = np.isfinite(rest)
    pr, x, y = pair_rater[ok], own[ok], rest[ok]
    n = groupby.counts(pr, n_r)
    dx = x - groupby.divide(groupby.sums(pr, x, n_r), n)[pr]
    dy = y - groupby.divide(groupby.sums(pr, y, n_r), n)[pr]
    sxy = groupby.sums(pr, dx * dy, n_r)
    sxx = groupby.sums(pr, dx * dx, n_r)
    syy = groupby.sums(pr, dy * dy, n_r)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = sxy / np.sqrt(sxx * syy)
    return np.where((n >= 3) & (sxx > 0) & (syy > 0), corr, np.nan)
