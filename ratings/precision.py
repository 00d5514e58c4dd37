"""Precision-driven allocation: spend ratings where an image's MOS is still uncertain.

The policy is pure (numpy and scipy, no Django) so that `bench/precision/run.py` simulates studies
with the very function the app calls when a session starts (`ratings.allocation.precision_pick`).

What is estimated, and why
--------------------------
For image j and perspective p the app keeps running sums of the *valid* raw ratings (participants not
excluded by the latest real analysis, sessions not screened out): n, sum x and sum x^2. From them:

* the image's score variance, with the N-1 divisor, **shrunk towards the perspective's pooled
  within-image variance** by ``prior_weight`` pseudo-ratings::

      s2_j = ((n_j - 1) * s2_raw_j + k * s2_pool) / (n_j - 1 + k)

  With 3 or 4 ratings the raw SD is very noisy; an image whose first raters happened to agree would
  otherwise retire at once. The pooled variance is the ratio of the summed within-image squared
  deviations to the summed degrees of freedom over images with at least 2 ratings. It is trusted
  only from ``POOL_MIN_DF`` degrees of freedom on: until then (the first minutes of a study) every
  image counts as unknown (infinite interval, so nothing retires and the open images are served
  fewest-ratings first). Without this, one image whose first two raters agreed made the pool 0 and
  retired every image at its minimum, ratings still in flight, and the study told new participants
  it was full.
* the half-width of the 95% confidence interval of the image's mean raw score (Student t with
  n - 1 degrees of freedom): ``h_j = t(0.975, n_j - 1) * s_j / sqrt(n_j)``.

Raw scores, not z-scores: a rater's z-scores move every time that rater adds a vote (their mean and
SD change), so running sums of z-scores would go stale with each rating and could only be kept by a
full re-analysis. Per-rater z-scoring removes the raters' biases, which the raw variance contains, so
the raw interval is the wider (conservative) one. Screening is applied through the sums: when an
analysis excludes raters, their ratings leave the sums (the recount rebuilds them), and the study
re-runs its screening periodically while it fills.

The rule
--------
``load`` is the app's counter per image (valid answered trials plus live assignments). An image is

1. *below minimum* while ``load < minimum``: these come first, fewest first (balanced up to the
   minimum, so every image reaches the minimum before any other gets more than minimum + 1);
2. *open* while ``load < maximum`` and the projected half-width, computed with ``n = load`` (the
   ratings already assigned are expected to land), exceeds the target in some perspective; open
   images are taken widest first relative to the target, ties by fewest ratings;
3. *retired* otherwise. The study is complete when no image is below minimum or open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["NAME", "VERSION", "Sums", "Target", "half_widths", "order", "status_counts"]

NAME = "precision_allocation"
# Degrees of freedom (summed over images) below which the pooled variance is not trusted.
POOL_MIN_DF = 10
VERSION = "1.0"


@dataclass(frozen=True)
class Target:
    """What a precision study aims for.

    ``half_width`` has one entry per perspective (95% CI half-width in raw scale points);
    ``minimum`` and ``maximum`` bound the valid ratings per image.
    """

    half_width: tuple[float, ...]
    minimum: int
    maximum: int
    confidence: float = 0.95
    prior_weight: float = 4.0

    def __post_init__(self) -> None:
        if not self.half_width or any(not (h > 0) for h in self.half_width):
            raise ValueError("every perspective needs a target half-width above 0")
        if self.minimum < 2:
            raise ValueError("the minimum number of ratings per image must be at least 2")
        if self.maximum < self.minimum:
            raise ValueError("the maximum number of ratings per image must be at least the minimum")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must lie between 0 and 1")


@dataclass(frozen=True)
class Sums:
    """Running sums of valid raw ratings; arrays of shape (images, perspectives)."""

    n: np.ndarray
    s1: np.ndarray
    s2: np.ndarray

    @classmethod
    def from_arrays(cls, n: ArrayLike, s1: ArrayLike, s2: ArrayLike) -> Sums:
        n_ = np.atleast_2d(np.asarray(n, dtype=np.float64))
        s1_ = np.atleast_2d(np.asarray(s1, dtype=np.float64))
        s2_ = np.atleast_2d(np.asarray(s2, dtype=np.float64))
        if not (n_.shape == s1_.shape == s2_.shape):
            raise ValueError(f"n, s1 and s2 must have one shape, got {n_.shape}, {s1_.shape}, {s2_.shape}")
        return cls(n_, s1_, s2_)

    @classmethod
    def of_ratings(cls, stimulus: ArrayLike, scores: ArrayLike, n_stimuli: int) -> Sums:
        """Sums from long-format ratings: ``scores`` has shape (ratings, perspectives)."""
        s = np.asarray(stimulus, dtype=np.intp)
        x = np.asarray(scores, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        n = np.bincount(s, minlength=n_stimuli).astype(np.float64)
        s1 = np.stack([np.bincount(s, weights=x[:, p], minlength=n_stimuli) for p in range(x.shape[1])], 1)
        s2 = np.stack(
            [np.bincount(s, weights=x[:, p] ** 2, minlength=n_stimuli) for p in range(x.shape[1])], 1
        )
        return cls(np.repeat(n[:, None], x.shape[1], 1), s1, s2)

    def squared_deviations(self) -> np.ndarray:
        """Sum of squared deviations from each image's mean (0 where n < 1), never negative."""
        with np.errstate(invalid="ignore", divide="ignore"):
            ss = self.s2 - np.where(self.n > 0, self.s1**2 / self.n, 0.0)
        return np.maximum(ss, 0.0)


def _t_quantile(q: float, df: np.ndarray) -> np.ndarray:
    """Student t quantile for each df (>= 1), vectorised and exact (scipy.special)."""
    # Imported here, not at module level: scipy.special costs a quarter of a second, and this
    # module is loaded by every process of the app (allocation, admin), not only when a
    # precision study allocates.
    from scipy import special

    return np.asarray(special.stdtrit(df, q), dtype=np.float64)


def pooled_variance(sums: Sums, min_df: float = 1.0) -> np.ndarray:
    """Per perspective: summed squared deviations over summed degrees of freedom (NaN below `min_df`)."""
    df = np.where(sums.n >= 2, sums.n - 1, 0.0)
    ss = np.where(sums.n >= 2, sums.squared_deviations(), 0.0)
    total_df = df.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_df >= max(min_df, 1.0), ss.sum(0) / total_df, np.nan)


def variances(sums: Sums, prior_weight: float) -> np.ndarray:
    """Per-image variances (images, perspectives); NaN where nothing is known yet.

    ``prior_weight=0``: each image's own sample variance. Otherwise shrunk towards the pooled
    variance, and NaN everywhere while the pool rests on fewer than ``POOL_MIN_DF`` degrees of freedom.
    """
    df = np.maximum(sums.n - 1, 0.0)
    if prior_weight <= 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums.squared_deviations() / df
    pool = pooled_variance(sums, POOL_MIN_DF)
    if not np.all(np.isfinite(pool)):
        return np.full(sums.n.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums.squared_deviations() + prior_weight * pool[None, :]) / (df + prior_weight)


def half_widths(
    sums: Sums, *, confidence: float = 0.95, prior_weight: float = 0.0, n: ArrayLike | None = None
):
    """Confidence-interval half-widths of each image's mean (images, perspectives).

    ``prior_weight=0`` gives the plain Student-t interval of the valid ratings (what an analysis
    reports); the allocation uses the shrunk variance. ``n`` (one count per image) projects the
    interval to that many ratings with the same variance. Images with fewer than 2 ratings get inf.
    """
    var = variances(sums, prior_weight)
    count = sums.n if n is None else np.repeat(np.asarray(n, dtype=np.float64)[:, None], sums.n.shape[1], 1)
    q = 0.5 + confidence / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = _t_quantile(q, np.maximum(count - 1, 1.0))
        h = t * np.sqrt(var / count)
    return np.where((count >= 2) & np.isfinite(h), h, np.inf)


def ratios(sums: Sums, load: ArrayLike, target: Target) -> np.ndarray:
    """Projected half-width over target, worst perspective, per image (inf while unknown)."""
    ld = np.asarray(load, dtype=np.float64)
    h = half_widths(
        sums, confidence=target.confidence, prior_weight=target.prior_weight, n=np.maximum(ld, sums.n.min(1))
    )
    if h.shape[1] != len(target.half_width):
        raise ValueError(f"{h.shape[1]} perspectives in the sums, {len(target.half_width)} targets")
    return (h / np.asarray(target.half_width)[None, :]).max(1)


BELOW_MINIMUM, OPEN, RETIRED, AT_MAXIMUM = "below_minimum", "open", "retired", "at_maximum"


def classify(sums: Sums, load: ArrayLike, target: Target) -> np.ndarray:
    """Each image's state: below_minimum, open, retired (target met) or at_maximum."""
    ld = np.asarray(load)
    r = ratios(sums, ld, target)
    state = np.full(ld.shape[0], OPEN, dtype=object)
    state[(ld >= target.maximum)] = AT_MAXIMUM
    state[(ld < target.maximum) & (r <= 1.0)] = RETIRED
    state[ld < target.minimum] = BELOW_MINIMUM
    return state


def order(sums: Sums, load: ArrayLike, target: Target, rng: np.random.Generator) -> np.ndarray:
    """Indices of the images that still need ratings, most needed first.

    Below-minimum images first (fewest ratings first, random among equals), then open images by
    projected half-width relative to the target (widest first, ties by fewest ratings). Retired and
    maxed-out images are left out.
    """
    ld = np.asarray(load, dtype=np.float64)
    r = ratios(sums, ld, target)
    tie = np.asarray(rng.random(ld.shape[0]), dtype=np.float64)
    below = np.flatnonzero(ld < target.minimum)
    below = below[np.lexsort((tie[below], ld[below]))]
    open_ = np.flatnonzero((ld >= target.minimum) & (ld < target.maximum) & (r > 1.0))
    open_ = open_[np.lexsort((tie[open_], ld[open_], -r[open_]))]
    return np.concatenate([below, open_]).astype(np.intp)


def status_counts(sums: Sums, load: ArrayLike, target: Target) -> dict[str, int]:
    """How many images are in each state (for the dashboard)."""
    state = classify(sums, load, target)
    return {s: int((state == s).sum()) for s in (BELOW_MINIMUM, OPEN, RETIRED, AT_MAXIMUM)}


def ratings_still_needed(sums: Sums, load: ArrayLike, target: Target) -> int:
    """Estimated further ratings: per image, the n at which the projected interval meets the target.

    Solved per image from the current variance estimate (t quantile at the current n, a slight
    over-estimate for large n), capped at the maximum, at least the minimum, minus the current load.
    """
    ld = np.asarray(load, dtype=np.float64)
    var = variances(sums, target.prior_weight)
    q = 0.5 + target.confidence / 2
    t = _t_quantile(q, np.maximum(ld - 1, 1.0))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        need = np.ceil((t**2) * var / np.asarray(target.half_width)[None, :] ** 2).max(1)
    need = np.where(np.isfinite(need), need, target.maximum)
    need = np.clip(need, target.minimum, target.maximum)
    return int(np.maximum(need - ld, 0).sum())
