"""Assembly of the per-rater report shared by every method."""

from __future__ import annotations

import numpy as np

from .groupby import GroupMoments
from .results import RaterStats
from .screening import Screening
from .types import BoolArray, FloatArray, ObjectArray

__all__ = ["rater_report", "stimulus_count_notes"]


def rater_report(
    raw: GroupMoments,
    screening: Screening,
    *,
    rejected: BoolArray,
    reason: ObjectArray,
    bias: FloatArray | None = None,
    inconsistency: FloatArray | None = None,
) -> RaterStats:
    """Combine raw descriptives, screening counts and the method's decision per rater.

    ``raw`` are the moments (ddof=1) of each rater's raw scores.
    """
    n = raw.count.shape[0]
    nan = np.full(n, np.nan)
    return RaterStats(
        n=raw.count,
        mean=raw.mean,
        sd=raw.sd,
        t=screening.t,
        p=screening.p,
        q=screening.q,
        ratio1=screening.ratio1,
        ratio2=screening.ratio2,
        rejected=rejected,
        reason=reason,
        bias=nan if bias is None else bias,
        inconsistency=nan.copy() if inconsistency is None else inconsistency,
    )


def stimulus_count_notes(n_per_stimulus: np.ndarray, n_stimuli: int) -> list[str]:
    """Notes on stimuli left without data."""
    empty = int((n_per_stimulus == 0).sum())
    if empty == 0:
        return []
    return [f"{empty} of {n_stimuli} stimuli have no ratings in the result; their rows are NaN"]
