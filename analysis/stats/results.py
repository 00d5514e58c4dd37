"""What every method returns: per-stimulus and per-rater arrays plus provenance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import groupby
from .types import BoolArray, FloatArray, IntArray, ObjectArray

__all__ = [
    "REASON_NO_RATINGS",
    "REASON_SCREENING",
    "REASON_TOO_FEW",
    "REASON_ZERO_VARIANCE",
    "AnalysisResult",
    "RaterStats",
    "StimulusStats",
    "stimulus_stats",
    "t_interval",
]

REASON_SCREENING = "screening"
REASON_ZERO_VARIANCE = "zero_variance"
REASON_TOO_FEW = "too_few_ratings"
REASON_NO_RATINGS = "no_ratings"


@dataclass(frozen=True, eq=False)
class StimulusStats:
    """Per-stimulus results; every array has length ``n_stimuli``, NaN where there is no data.

    Attributes
    ----------
    mos : float array
        The method's score of each stimulus.
    sd : float array
        Sample SD (N-1) of the values that were averaged into ``mos`` (for ``bt500_zscore``:
        the rescaled z-scores).
    sd_raw : float array
        Sample SD (N-1) of the raw scores of the ratings that entered ``mos``; this is what the
        released ``SD{d}.mat`` files hold.
    n : int array
        Number of ratings that entered ``mos``.
    ci_low, ci_high : float array
        Confidence interval of ``mos``; NaN when it is undefined (e.g. ``n < 2``).
    """

    mos: FloatArray
    sd: FloatArray
    sd_raw: FloatArray
    n: IntArray
    ci_low: FloatArray
    ci_high: FloatArray


@dataclass(frozen=True, eq=False)
class RaterStats:
    """Per-rater report; every array has length ``n_raters``.

    Attributes
    ----------
    n : int array
        Number of ratings the rater gave (all of them, before any exclusion).
    mean, sd : float array
        Mean and sample SD (N-1) of the rater's raw scores; NaN when undefined.
    t : int array
        ``T_i`` of BT.500 screening: the number of ratings screened for the rater (or the number
        of stimuli, with ``screening_denominator="total"``).
    p, q : int array
        BT.500 counts of the rater's scores above / below the stimulus' mean by the kurtosis-
        dependent multiple of its SD.
    ratio1 : float array
        ``(P + Q) / T`` (NaN when ``T = 0``).
    ratio2 : float array
        ``|P - Q| / (P + Q)`` (NaN when ``P + Q = 0``).
    rejected : bool array
        True when none of the rater's ratings entered the MOS because of ``reason``.
    reason : object array of str
        ``""`` (kept), ``"screening"``, ``"zero_variance"``, ``"too_few_ratings"`` or
        ``"no_ratings"`` (the rater has no ratings here; ``rejected`` is False because nothing
        was removed).
    bias, inconsistency : float array
        The rater model's ``b_i`` and ``v_i``; NaN for methods without a rater model.
    """

    n: IntArray
    mean: FloatArray
    sd: FloatArray
    t: IntArray
    p: IntArray
    q: IntArray
    ratio1: FloatArray
    ratio2: FloatArray
    rejected: BoolArray
    reason: ObjectArray
    bias: FloatArray
    inconsistency: FloatArray


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    """The result of :func:`analysis.stats.analyse` for one perspective.

    ``params`` holds every parameter, defaults included, so that ``method``, ``version`` and
    ``params`` reproduce the result from the same ratings.
    """

    method: str
    version: str
    params: Mapping[str, Any]
    stimuli: StimulusStats
    raters: RaterStats
    notes: tuple[str, ...]
    #: Solver facts for analysis.json, e.g. the MLE's ``converged``, ``iterations``, ``last_max_dx``.
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """Number of raters whose ratings were removed."""
        return int(self.raters.rejected.sum())


def t_interval(mean: FloatArray, sd: FloatArray, n: IntArray, ci: float) -> tuple[FloatArray, FloatArray]:
    r"""Student-t confidence interval of a mean, per group.

    .. math:: \bar x \pm t_{(1+c)/2,\,n-1}\, s / \sqrt{n}

    NaN where ``n < 2``. The t quantile is evaluated once per distinct ``n`` (cheap for
    100,000 stimuli).

    Examples
    --------
    >>> lo, hi = t_interval(np.array([3.0]), np.array([1.0]), np.array([4]), 0.95)
    >>> round(float(hi[0] - 3.0), 4)  # t(0.975, 3) / 2
    1.5912
    """
    half = np.full(mean.shape, np.nan)
    ok = n >= 2
    if ok.any():
        values, inverse = np.unique(n[ok], return_inverse=True)
        # stdtrit is what scipy.stats.t.ppf evaluates; scipy.special loads far faster than scipy.stats,
        # and only here: the web processes import this module (the analysis forms) at start-up.
        from scipy import special

        tq = np.asarray(special.stdtrit(values - 1, 0.5 + ci / 2.0), dtype=np.float64)[inverse]
        half[ok] = tq * sd[ok] / np.sqrt(n[ok])
    return mean - half, mean + half


def stimulus_stats(
    stimulus: IntArray,
    values: FloatArray,
    raw: FloatArray,
    n_stimuli: int,
    *,
    ci: float,
) -> StimulusStats:
    """MOS, SDs, n and Student-t CI of ``values`` per stimulus (docs/protocol.md section 3 step 4).

    ``values`` are what is averaged (e.g. rescaled z-scores), ``raw`` the raw scores of the
    same ratings (for ``sd_raw``).

    Examples
    --------
    >>> s = stimulus_stats(np.array([0, 0, 1]), np.array([1.0, 3.0, 5.0]),
    ...                    np.array([1.0, 3.0, 5.0]), 3, ci=0.95)
    >>> s.mos.tolist(), s.n.tolist(), s.sd.tolist()
    ([2.0, 5.0, nan], [2, 1, 0], [1.4142135623730951, nan, nan])
    """
    m = groupby.moments(stimulus, values, n_stimuli, ddof=1)
    raw_var = groupby.moments(stimulus, raw, n_stimuli, ddof=1).var
    lo, hi = t_interval(m.mean, m.sd, m.count, ci)
    return StimulusStats(mos=m.mean, sd=m.sd, sd_raw=np.sqrt(raw_var), n=m.count, ci_low=lo, ci_high=hi)


def empty_reasons(n_raters: int, rater_counts: IntArray) -> ObjectArray:
    """Reason array with ``"no_ratings"`` for raters without ratings and ``""`` elsewhere."""
    reason = np.full(n_raters, "", dtype=object)
    reason[rater_counts == 0] = REASON_NO_RATINGS
    return reason
