"""Pure statistics core of the study tool: MOS, rater screening, rater models, reliability.

Imports only numpy, scipy and the standard library; no Django, no pandas, no I/O, no logging,
no hidden randomness (functions that sample take an ``rng: np.random.Generator``).

Typical use, one perspective at a time::

    r = Ratings.from_arrays(rater=..., stimulus=..., score=...)
    res = analyse(r, method="bt500_zscore")
    res.stimuli.mos, res.raters.rejected, res.notes

Every computation works on long-format arrays with group-by sums (``numpy.bincount``): its
cost grows with the number of ratings, never with stimuli x raters.
"""

from __future__ import annotations

from . import reliability
from .ratings import Ratings
from .registry import DEFAULT_METHOD, METHODS, Method, analyse
from .results import (
    REASON_NO_RATINGS,
    REASON_SCREENING,
    REASON_TOO_FEW,
    REASON_ZERO_VARIANCE,
    AnalysisResult,
    RaterStats,
    StimulusStats,
)

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "REASON_NO_RATINGS",
    "REASON_SCREENING",
    "REASON_TOO_FEW",
    "REASON_ZERO_VARIANCE",
    "AnalysisResult",
    "Method",
    "RaterStats",
    "Ratings",
    "StimulusStats",
    "analyse",
    "reliability",
]
