"""Observer screening of ITU-R BT.500-13 Annex 2 section 2.3.1, on long-format ratings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import groupby
from .types import BoolArray, FloatArray, IntArray

__all__ = ["NAME", "VERSION", "Screening", "bt500_screening"]

NAME = "bt500_screening"
VERSION = "1.0"

#: Rejection thresholds of BT.500-13 Annex 2 section 2.3.1.
RATIO1_LIMIT = 0.05
RATIO2_LIMIT = 0.3
#: Kurtosis range treated as normal, and the SD multiples inside / outside it.
NORMAL_KURTOSIS = (2.0, 4.0)
K_NORMAL = 2.0
K_OTHER = float(np.sqrt(20.0))

SdKind = Literal["sample", "population"]
Denominator = Literal["rated", "total"]
Degenerate = Literal["skip", "count"]


@dataclass(frozen=True, eq=False)
class Screening:
    """Counts and decision of BT.500 screening; arrays have length ``n_raters``.

    ``candidate`` is the raw rule; ``rejected`` is ``candidate`` unless every screened rater
    was a candidate, in which case nobody is rejected and ``all_rejected`` is True.
    """

    t: IntArray
    p: IntArray
    q: IntArray
    ratio1: FloatArray
    ratio2: FloatArray
    candidate: BoolArray
    rejected: BoolArray
    all_rejected: bool


def bt500_screening(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    n_raters: int,
    n_stimuli: int,
    *,
    sd: SdKind = "sample",
    denominator: Denominator = "rated",
    degenerate: Degenerate = "skip",
) -> Screening:
    r"""BT.500-13 Annex 2 section 2.3.1 observer screening, O(number of ratings).

    For each stimulus :math:`j` over the ratings it received: mean :math:`\bar u_j`, SD
    :math:`S_j` (divisor :math:`N-1`, or :math:`N` with ``sd="population"``) and Pearson
    kurtosis :math:`\beta_{2j} = m_4 / m_2^2` with population moments
    :math:`m_x = \frac1N \sum_i (u_{ij} - \bar u_j)^x`. With :math:`k_j = 2` when
    :math:`2 \le \beta_{2j} \le 4` and :math:`k_j = \sqrt{20}` otherwise (also when
    :math:`\beta_{2j}` is undefined),

    .. math:: P_i = \#\{j : u_{ij} \ge \bar u_j + k_j S_j\}, \quad
              Q_i = \#\{j : u_{ij} \le \bar u_j - k_j S_j\}

    and rater :math:`i` is rejected when :math:`(P_i + Q_i)/T_i > 0.05` and
    :math:`|P_i - Q_i| / (P_i + Q_i) < 0.3`. If every rater with ratings would be rejected,
    none is.

    Parameters
    ----------
    rater, stimulus, score : arrays
        Long-format ratings (the raw scores, or z-scores when screening those).
    n_raters, n_stimuli : int
        Sizes of the index spaces.
    sd : {"sample", "population"}
        Divisor of :math:`S_j`. Default ``"sample"`` (docs/protocol.md); sureal uses
        ``"population"``.
    denominator : {"rated", "total"}
        :math:`T_i`: the number of ratings rater :math:`i` gave (default; the standard's J K L for
        that observer), or ``n_stimuli`` for every rater (sureal's convention, which disables
        rejection in sparse designs).
    degenerate : {"skip", "count"}
        Stimuli with :math:`S_j = 0` or fewer than 2 ratings give no counts (``"skip"``,
        default). ``"count"`` applies the rule to them literally, as sureal does: with
        :math:`S_j = 0` every vote is both :math:`\ge` and :math:`\le` the mean, so it counts in
        both P and Q.

    Returns
    -------
    Screening

    Notes
    -----
    A rater who rated a stimulus several times contributes each rating; :math:`T_i` counts
    ratings. Comparisons are made exactly as written above (ties count).

    Examples
    --------
    Three raters agree, the fourth contradicts them on every stimulus, half high, half low:

    >>> u = np.array([[3, 3, 3, 5], [3, 3, 3, 1], [2, 2, 2, 5], [4, 4, 4, 1]], float)
    >>> s, r = np.divmod(np.arange(16), 4)
    >>> out = bt500_screening(r, s, u.ravel(), 4, 4)
    >>> out.p.tolist(), out.q.tolist(), out.rejected.tolist()
    ([0, 0, 0, 0], [0, 0, 0, 0], [False, False, False, False])

    Nobody is counted: with the N-1 SD no vote can lie more than
    :math:`(N-1)/\sqrt{N}` SDs from the mean of :math:`N` votes, which is below 2 for
    :math:`N \le 5` and below :math:`\sqrt{20}` for :math:`N \le 21`. Screening needs
    panels of at least 6 ratings per stimulus to count anything.
    """
    mom = groupby.moments(stimulus, score, n_stimuli, ddof=1)
    count, mean = mom.count, mom.mean
    dev = score - mean[stimulus]
    dev2 = dev * dev
    sum2 = mom.sq_dev
    sum4 = groupby.sums(stimulus, dev2 * dev2, n_stimuli)
    m2 = groupby.divide(sum2, count)
    m4 = groupby.divide(sum4, count)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta2 = m4 / (m2 * m2)
    normal = (beta2 >= NORMAL_KURTOSIS[0]) & (beta2 <= NORMAL_KURTOSIS[1])
    k = np.where(normal, K_NORMAL, K_OTHER)
    s_j = np.sqrt(groupby.divide(sum2, count - 1) if sd == "sample" else m2)
    if degenerate == "skip":
        usable = (count >= 2) & (s_j > 0)
    else:
        usable = count >= 1
        s_j = np.where(count >= 2, s_j, 0.0) if sd == "sample" else s_j
    margin = np.where(usable, k * s_j, np.nan)
    upper = (mean + margin)[stimulus]
    lower = (mean - margin)[stimulus]
    high = score >= upper
    low = score <= lower
    if degenerate == "count":
        # equal votes (up to rounding) all sit at the mean: each is both >= and <= it
        tie = mom.flat[stimulus]
        high |= tie
        low |= tie

    p = groupby.counts(rater, n_raters, where=high)
    q = groupby.counts(rater, n_raters, where=low)
    rated = groupby.counts(rater, n_raters)
    t = rated if denominator == "rated" else np.where(rated > 0, n_stimuli, 0).astype(np.intp)
    ratio1 = groupby.divide((p + q).astype(np.float64), t)
    ratio2 = groupby.divide(np.abs(p - q).astype(np.float64), p + q)
    with np.errstate(invalid="ignore"):
        candidate = (ratio1 > RATIO1_LIMIT) & (ratio2 < RATIO2_LIMIT)
    screened = rated > 0
    all_rejected = bool(screened.any() and candidate[screened].all())
    rejected = np.zeros(n_raters, dtype=bool) if all_rejected else candidate.copy()
    return Screening(
        t=t,
        p=p,
        q=q,
        ratio1=ratio1,
        ratio2=ratio2,
        candidate=candidate,
        rejected=rejected,
        all_rejected=all_rejected,
    )
