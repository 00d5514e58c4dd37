"""BT.500 screening, per-rater z-scores, 0..100 rescaling, MOS (docs/protocol.md section 3, 1-4).

This is the processing of the AIGCIQA2023 release and the project's default method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import groupby, params
from .ratings import Ratings
from .report import rater_report, stimulus_count_notes
from .results import REASON_SCREENING, AnalysisResult, empty_reasons, stimulus_stats
from .screening import bt500_screening
from .zscore import rater_zscores, rescale

__all__ = ["DEFAULTS", "NAME", "VERSION", "run", "validate"]

NAME = "bt500_zscore"
VERSION = "1.0"

DEFAULTS: Mapping[str, Any] = {
    "screen": True,
    "screen_on": "raw",
    "screening_sd": "sample",
    "screening_denominator": "rated",
    "degenerate_stimuli": "skip",
    "ci": 0.95,
}

NOTE_ALL_REJECTED = "every rater would be rejected by BT.500 screening; none rejected"


def validate(p: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of :func:`run`; return them with defaults filled in."""
    out = params.check_known(NAME, p, DEFAULTS)
    out["screen"] = params.check_bool("screen", out["screen"])
    out["screen_on"] = params.check_choice("screen_on", out["screen_on"], ("raw", "zscores"))
    out["screening_sd"] = params.check_choice("screening_sd", out["screening_sd"], ("sample", "population"))
    out["screening_denominator"] = params.check_choice(
        "screening_denominator", out["screening_denominator"], ("rated", "total")
    )
    out["degenerate_stimuli"] = params.check_choice(
        "degenerate_stimuli", out["degenerate_stimuli"], ("skip", "count")
    )
    out["ci"] = params.check_number("ci", out["ci"], low=0, high=1, low_open=True, high_open=True)
    return out


def run(r: Ratings, **p: Any) -> AnalysisResult:
    r"""Screen raters (BT.500-13), z-score each kept rater, rescale to 0..100 and average.

    Steps (docs/protocol.md section 3):

    1. BT.500-13 Annex 2 section 2.3.1 screening (:func:`~analysis.stats.screening.bt500_screening`)
       on the raw scores (``screen_on="raw"``, default) or on the z-scores
       (``screen_on="zscores"``, sureal's order). If every rater would be rejected, none is and
       a note says so.
    2. :math:`z_{ij} = (u_{ij} - \mu_i)/\sigma_i` per kept rater (N-1 SD). Raters with one
       score (``"too_few_ratings"``) or :math:`\sigma_i = 0` (``"zero_variance"``) are excluded.
    3. :math:`z'_{ij} = 100 (z_{ij} + 3) / 6`.
    4. :math:`\mathrm{MOS}_j = \frac{1}{n_j} \sum_i z'_{ij}`, with the SD of the
       :math:`z'_{ij}`, the Student-t CI (``ci``, n-1 df) and the SD of the raw scores of the
       same ratings.

    Parameters
    ----------
    r : Ratings
    screen : bool, default True
        False computes the P/Q counts but rejects nobody.
    screen_on : {"raw", "zscores"}, default "raw"
    screening_sd : {"sample", "population"}, default "sample"
    screening_denominator : {"rated", "total"}, default "rated"
    degenerate_stimuli : {"skip", "count"}, default "skip"
        See :func:`~analysis.stats.screening.bt500_screening` (``sd``, ``denominator``,
        ``degenerate``). The non-defaults reproduce sureal's ``ZscoringSubjrejMosModel``.
    ci : float, default 0.95

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 0, 1, 1], stimulus=[0, 1, 0, 1], score=[1, 3, 2, 4])
    >>> res = run(r)
    >>> [round(float(x), 4) for x in res.stimuli.mos]  # z = -0.7071 / +0.7071
    [38.2149, 61.7851]
    """
    p = validate(p)
    n_r, n_s = r.n_raters, r.n_stimuli
    raw = groupby.moments(r.rater, r.score, n_r, ddof=1)
    zs = rater_zscores(r.rater, r.score, n_r)
    reason = empty_reasons(n_r, raw.count)
    screen_kw: dict[str, Any] = {
        "sd": p["screening_sd"],
        "denominator": p["screening_denominator"],
        "degenerate": p["degenerate_stimuli"],
    }

    if p["screen_on"] == "raw":
        scr = bt500_screening(r.rater, r.stimulus, r.score, n_r, n_s, **screen_kw)
        screened_out = scr.rejected if p["screen"] else np.zeros(n_r, dtype=bool)
        reason[screened_out] = REASON_SCREENING
        unusable = (raw.count > 0) & ~zs.usable & ~screened_out
        reason[unusable] = zs.reason[unusable]
    else:
        unusable = (raw.count > 0) & ~zs.usable
        reason[unusable] = zs.reason[unusable]
        ok = zs.usable[r.rater]
        scr = bt500_screening(r.rater[ok], r.stimulus[ok], zs.z[ok], n_r, n_s, **screen_kw)
        screened_out = scr.rejected if p["screen"] else np.zeros(n_r, dtype=bool)
        reason[screened_out] = REASON_SCREENING

    rejected = screened_out | unusable
    keep = ~rejected[r.rater]
    values = rescale(zs.z[keep])
    stim = stimulus_stats(r.stimulus[keep], values, r.score[keep], n_s, ci=p["ci"])

    notes: list[str] = []
    if p["screen"] and scr.all_rejected:
        notes.append(NOTE_ALL_REJECTED)
    notes.extend(stimulus_count_notes(stim.n, n_s))
    raters = rater_report(raw, scr, rejected=rejected, reason=reason)
    return AnalysisResult(
        method=NAME, version=VERSION, params=p, stimuli=stim, raters=raters, notes=tuple(notes)
    )
