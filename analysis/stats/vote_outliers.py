"""Per-rater z-scores, then removal of single outlying votes (docs/protocol.md section 3.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import groupby, params
from .ratings import Ratings
from .report import rater_report, stimulus_count_notes
from .results import AnalysisResult, empty_reasons, stimulus_stats
from .screening import bt500_screening
from .zscore import rater_zscores, rescale

__all__ = ["DEFAULTS", "NAME", "VERSION", "run", "validate"]

NAME = "vote_outliers"
VERSION = "1.0"

DEFAULTS: Mapping[str, Any] = {"threshold": 3.29, "ci": 0.95}


def validate(p: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of :func:`run`; return them with defaults filled in."""
    out = params.check_known(NAME, p, DEFAULTS)
    out["threshold"] = params.check_number(
        "threshold", out["threshold"], low=0, high=float("inf"), low_open=True, high_open=True
    )
    out["ci"] = params.check_number("ci", out["ci"], low=0, high=1, low_open=True, high_open=True)
    return out


def run(r: Ratings, **p: Any) -> AnalysisResult:
    r"""Z-score each rater, drop single votes far from their stimulus' consensus, average.

    1. :math:`z_{ij} = (u_{ij} - \mu_i)/\sigma_i` per rater (N-1 SD). Raters with one score
       (``"too_few_ratings"``) or :math:`\sigma_i = 0` (``"zero_variance"``) are excluded.
    2. For each stimulus :math:`j`, over all z-scored votes it received, the mean
       :math:`\bar z_j` and the SD :math:`s_j` (N-1). A vote is an outlier when
       :math:`|z_{ij} - \bar z_j| / s_j \ge` ``threshold`` (3.29, the two-sided 0.1% normal
       quantile used by ITU-T P.808). One pass, not iterated. Stimuli with fewer than 2 votes
       or :math:`s_j = 0` lose no votes. Note that a vote can only reach
       :math:`(n_j - 1)/\sqrt{n_j}` SDs, so nothing is dropped below 13 votes at 3.29.
    3. :math:`\mathrm{MOS}_j` = mean of :math:`100 (z_{ij} + 3)/6` over the remaining votes,
       with their SD, Student-t CI, and the raw-score SD of the same votes.

    No rater is rejected for outlying votes; the notes give the number of votes dropped.

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 0, 1, 1], stimulus=[0, 1, 0, 1], score=[1, 3, 2, 4])
    >>> [round(float(x), 4) for x in run(r).stimuli.mos]
    [38.2149, 61.7851]
    """
    p = validate(p)
    n_r, n_s = r.n_raters, r.n_stimuli
    raw = groupby.moments(r.rater, r.score, n_r, ddof=1)
    zs = rater_zscores(r.rater, r.score, n_r)
    scr = bt500_screening(r.rater, r.stimulus, r.score, n_r, n_s)
    reason = empty_reasons(n_r, raw.count)
    unusable = (raw.count > 0) & ~zs.usable
    reason[unusable] = zs.reason[unusable]

    ok = zs.usable[r.rater]
    stim_idx, z, raw_score = r.stimulus[ok], zs.z[ok], r.score[ok]
    m = groupby.moments(stim_idx, z, n_s, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.abs(z - m.mean[stim_idx]) / m.sd[stim_idx]
        outlier = (m.count[stim_idx] >= 2) & (m.sd[stim_idx] > 0) & (dist >= p["threshold"])
    keep = ~outlier
    stim = stimulus_stats(stim_idx[keep], rescale(z[keep]), raw_score[keep], n_s, ci=p["ci"])

    notes = [
        f"dropped {int(outlier.sum())} of {int(ok.sum())} votes as outliers "
        f"(|z - mean| / sd >= {p['threshold']:g})"
    ]
    notes.extend(stimulus_count_notes(stim.n, n_s))
    raters = rater_report(raw, scr, rejected=unusable, reason=reason)
    return AnalysisResult(
        method=NAME, version=VERSION, params=p, stimuli=stim, raters=raters, notes=tuple(notes)
    )
