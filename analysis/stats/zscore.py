"""Per-rater z-scores and the 0..100 rescaling of docs/protocol.md section 3 steps 2-3."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import groupby
from .results import REASON_TOO_FEW, REASON_ZERO_VARIANCE
from .types import BoolArray, FloatArray, IntArray

__all__ = ["RaterZ", "rater_zscores", "rescale"]


@dataclass(frozen=True, eq=False)
class RaterZ:
    """Per-rating z-scores plus the per-rater figures they came from.

    ``z`` has one value per rating, NaN for the ratings of raters who cannot be z-scored;
    ``usable`` (per rater) is ``n >= 2 and sd > 0``; ``reason`` (per rater) says why a rater
    with ratings is not usable (``"too_few_ratings"`` / ``"zero_variance"``, else ``""``).
    """

    z: FloatArray
    count: IntArray
    mean: FloatArray
    sd: FloatArray
    usable: BoolArray
    reason: np.ndarray


def rater_zscores(rater: IntArray, score: FloatArray, n_raters: int) -> RaterZ:
    r"""Z-score every rating within its rater.

    .. math:: z_{ij} = (u_{ij} - \mu_i) / \sigma_i

    with :math:`\mu_i` the mean and :math:`\sigma_i` the SD (divisor N-1) of rater :math:`i`'s
    scores. A rater with a single score or :math:`\sigma_i = 0` cannot be z-scored: their
    z-scores are NaN and the reason is recorded.

    Examples
    --------
    >>> out = rater_zscores(np.array([0, 0, 0, 1, 2, 2]),
    ...                     np.array([1.0, 2.0, 3.0, 4.0, 2.0, 2.0]), 3)
    >>> out.z.tolist()[:3], out.usable.tolist(), out.reason.tolist()
    ([-1.0, 0.0, 1.0], [True, False, False], ['', 'too_few_ratings', 'zero_variance'])
    """
    m = groupby.moments(rater, score, n_raters, ddof=1)
    sd = m.sd
    with np.errstate(invalid="ignore"):
        usable = (m.count >= 2) & (sd > 0)
    reason = np.full(n_raters, "", dtype=object)
    reason[m.count == 1] = REASON_TOO_FEW
    reason[(m.count >= 2) & ~usable] = REASON_ZERO_VARIANCE
    safe_sd = np.where(usable, sd, np.nan)
    z = (score - m.mean[rater]) / safe_sd[rater]
    return RaterZ(z=z, count=m.count, mean=m.mean, sd=sd, usable=usable, reason=reason)


def rescale(z: FloatArray) -> FloatArray:
    r"""Map z-scores to the 0..100 range: :math:`z' = 100 (z + 3) / 6`.

    Examples
    --------
    >>> rescale(np.array([-3.0, 0.0, 3.0])).tolist()
    [0.0, 50.0, 100.0]
    """
    return 100.0 * (z + 3.0) / 6.0
