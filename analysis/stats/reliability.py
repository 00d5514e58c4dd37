"""Reliability of the MOS: split-half correlation and each rater's agreement with the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import groupby
from .ratings import Ratings
from .types import FloatArray, IntArray
from .zscore import rater_zscores

__all__ = ["NAME", "VERSION", "SplitHalf", "rater_vs_rest", "spearman_brown", "split_half", "splits_for"]

NAME = "reliability"
VERSION = "1.1"  # 1.1: Spearman-Brown values clamped to [-1, 1]; fewer splits past 100,000 ratings

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


#: Rating-splits (ratings x splits) :func:`split_half` spends at most, unless fewer than
#: :data:`MIN_SPLITS` splits would remain: a study with a million ratings gets 10 splits, any
#: study up to 100,000 ratings the 100 asked for. The spread between splits shrinks as the
#: number of ratings grows, so large studies need fewer splits for the same precision.
SPLIT_BUDGET = 10_000_000
MIN_SPLITS = 10


def splits_for(n_ratings: int, n_splits: int) -> int:
    """Number of splits :func:`split_half` draws for ``n_ratings`` ratings when asked for ``n_splits``.

    >>> splits_for(48_000, 100), splits_for(1_000_000, 100), splits_for(10**8, 100), splits_for(10, 0)
    (100, 10, 10, 0)
    """
    if n_splits <= 0:
        return 0
    return min(n_splits, max(MIN_SPLITS, SPLIT_BUDGET // max(1, n_ratings)))


def _pearson(a: FloatArray, b: FloatArray) -> float:
    if a.size < 3:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    den = float(np.sqrt((da * da).sum() * (db * db).sum()))
    return float((da * db).sum() / den) if den > 0 else float("nan")


def spearman_brown(rho: FloatArray) -> FloatArray:
    r"""Step a half-panel correlation up to the full panel, clamped to [-1, 1].

    :math:`r_{SB} = 2r / (1 + r)` maps :math:`(-1, 1]` onto :math:`(-\infty, 1]`: a negative
    half correlation below -1/3 would give a "reliability" below -1, which no correlation can
    be. Such values are clamped to -1 (docs/protocol.md section 3, reliability).

    >>> spearman_brown(np.array([0.5, 0.0, -0.5])).tolist()
    [0.6666666666666666, 0.0, -1.0]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        sb = 2.0 * rho / (1.0 + rho)
    return np.clip(sb, -1.0, 1.0)


def split_half(
    r: Ratings, *, rng: np.random.Generator, n_splits: int = 100, scores: Scores = "zscore"
) -> SplitHalf:
    r"""Split-half reliability of the MOS.

    Each split assigns the raters with ratings to two halves at random (sizes differing by at
    most one), computes each stimulus' mean in each half (``scores="zscore"``: of per-rater
    z-scores, raters with one score or zero variance left out; ``"raw"``: of raw scores), and
    correlates the two (Pearson, over stimuli rated in both halves). The correlation is
    corrected to the full panel with Spearman-Brown, :math:`r_{SB} = 2r / (1 + r)`, clamped to
    [-1, 1] (:func:`spearman_brown`). ``ci_low``/``ci_high`` are the 2.5 and 97.5 percentiles
    of the split values, so they stay within [-1, 1] too.

    The number of splits is ``splits_for(number of ratings, n_splits)``: at most ``n_splits``,
    fewer for very large studies, so that the cost stays O(number of ratings) (at most
    :data:`SPLIT_BUDGET` rating-splits). Each split is a few vectorised passes over the ratings
    (no sort), memory O(number of ratings).

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
    # Per-stimulus sums by np.bincount: no sort, each split two scatter passes in rating order.
    n_all = np.bincount(stimulus, minlength=r.n_stimuli).astype(float)
    sum_all = np.bincount(stimulus, weights=value, minlength=r.n_stimuli)
    out = np.empty(splits_for(int(stimulus.size), n_splits))
    for k in range(out.size):
        half = np.zeros(r.n_raters)
        half[rng.permutation(active)[: active.size // 2]] = 1.0
        in_a = half[rater]
        n_a = np.bincount(stimulus, weights=in_a, minlength=r.n_stimuli)
        sum_a = np.bincount(stimulus, weights=value * in_a, minlength=r.n_stimuli)
        n_b = n_all - n_a
        both = (n_a > 0) & (n_b > 0)
        out[k] = _pearson(sum_a[both] / n_a[both], (sum_all[both] - sum_a[both]) / n_b[both])
    arr = spearman_brown(out[np.isfinite(out) & (out > -1.0)])
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
