"""Plain MOS: the mean of the raw scores, no screening, no z-scores (docs/protocol.md section 3.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import groupby, params
from .ratings import Ratings
from .report import rater_report, stimulus_count_notes
from .results import AnalysisResult, empty_reasons, stimulus_stats
from .screening import bt500_screening

__all__ = ["DEFAULTS", "NAME", "VERSION", "run", "validate"]

NAME = "mos"
VERSION = "1.0"

DEFAULTS: Mapping[str, Any] = {"ci": 0.95}


def validate(p: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of :func:`run`; return them with defaults filled in."""
    out = params.check_known(NAME, p, DEFAULTS)
    out["ci"] = params.check_number("ci", out["ci"], low=0, high=1, low_open=True, high_open=True)
    return out


def run(r: Ratings, **p: Any) -> AnalysisResult:
    r"""Mean opinion score of the raw scores of every rating.

    .. math:: \mathrm{MOS}_j = \frac{1}{n_j} \sum_{i} u_{ij}

    with the SD (N-1), n and the Student-t CI (``ci``, n-1 df). ``sd`` and ``sd_raw`` are
    equal. Nobody is rejected; the rater report still carries the BT.500 P/Q counts on the raw
    scores (default conventions) for information.

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 1, 0], stimulus=[0, 0, 1], score=[1, 4, 5])
    >>> run(r).stimuli.mos.tolist()
    [2.5, 5.0]
    """
    p = validate(p)
    n_r, n_s = r.n_raters, r.n_stimuli
    raw = groupby.moments(r.rater, r.score, n_r, ddof=1)
    scr = bt500_screening(r.rater, r.stimulus, r.score, n_r, n_s)
    stim = stimulus_stats(r.stimulus, r.score, r.score, n_s, ci=p["ci"])
    raters = rater_report(raw, scr, rejected=np.zeros(n_r, dtype=bool), reason=empty_reasons(n_r, raw.count))
    notes = tuple(stimulus_count_notes(stim.n, n_s))
    return AnalysisResult(method=NAME, version=VERSION, params=p, stimuli=stim, raters=raters, notes=notes)
