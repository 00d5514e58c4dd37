"""Maximum-likelihood rater model of Li et al. 2020 (ITU-T P.910 Annex E, P.913 section 12.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import special

from . import groupby, params
from .ratings import Ratings
from .report import rater_report, stimulus_count_notes
from .results import REASON_TOO_FEW, AnalysisResult, StimulusStats, empty_reasons
from .screening import bt500_screening
from .types import FloatArray, IntArray

__all__ = ["DEFAULTS", "NAME", "VERSION", "run", "solve", "validate"]

NAME = "mle"
VERSION = "1.0"

DEFAULTS: Mapping[str, Any] = {"tol": 1e-8, "max_iter": 1000, "ci": 0.95}

#: Added to every v_i^2 before inverting it (sureal's EPSILON), so that a perfectly consistent
#: rater gets a large finite weight instead of an infinite one.
VARIANCE_FLOOR = 1e-8


def validate(p: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of :func:`run`; return them with defaults filled in."""
    out = params.check_known(NAME, p, DEFAULTS)
    out["tol"] = params.check_number(
        "tol", out["tol"], low=0, high=float("inf"), low_open=True, high_open=True
    )
    out["max_iter"] = params.check_int("max_iter", out["max_iter"], low=1)
    out["ci"] = params.check_number("ci", out["ci"], low=0, high=1, low_open=True, high_open=True)
    return out


def solve(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    n_raters: int,
    n_stimuli: int,
    *,
    tol: float,
    max_iter: int,
) -> tuple[FloatArray, FloatArray, FloatArray, int, float]:
    r"""Fit :math:`u_{ij} = x_j + b_i + e_{ij}`, :math:`e_{ij} \sim N(0, v_i^2)`.

    Start from :math:`x_j = \mathrm{mean}_i\, u_{ij}`, :math:`b_i = \mathrm{mean}_j (u_{ij} - x_j)`,
    then repeat

    - :math:`v_i^2 = \mathrm{mean}_j (u_{ij} - x_j - b_i)^2` (population, as sureal);
    - :math:`x_j = \sum_i w_i (u_{ij} - b_i) / \sum_i w_i`, :math:`w_i = 1/(v_i^2 + 10^{-8})`;
    - :math:`b_i = \mathrm{mean}_j (u_{ij} - x_j)`;

    until :math:`\max_j |\Delta x_j| <` ``tol`` or ``max_iter`` iterations. Finally
    :math:`\bar b` is moved into :math:`x` (so the biases have zero mean) and :math:`v_i` is
    recomputed from the final residuals.

    Returns
    -------
    x, b, v, iterations, last max |dx|
        ``x`` is NaN for stimuli without ratings, ``b`` and ``v`` for raters without ratings.
    """
    n_j = groupby.counts(stimulus, n_stimuli)
    n_i = groupby.counts(rater, n_raters)
    x = groupby.divide(groupby.sums(stimulus, score, n_stimuli), n_j)
    b = groupby.divide(groupby.sums(rater, score - x[stimulus], n_raters), n_i)
    rated = n_j > 0
    step = np.inf
    it = 0
    while it < max_iter:
        it += 1
        shifted = score - b[rater]
        resid = shifted - x[stimulus]
        v2 = groupby.divide(groupby.sums(rater, resid * resid, n_raters), n_i)
        w = 1.0 / (v2 + VARIANCE_FLOOR)
        w_k = w[rater]
        x_new = groupby.divide(
            groupby.sums(stimulus, w_k * shifted, n_stimuli), groupby.sums(stimulus, w_k, n_stimuli)
        )
        b = groupby.divide(groupby.sums(rater, score - x_new[stimulus], n_raters), n_i)
        step = float(np.max(np.abs(x_new[rated] - x[rated]))) if rated.any() else 0.0
        x = x_new
        if step < tol:
            break
    has = n_i > 0
    mean_b = float(b[has].mean())
    b = b - mean_b
    x = x + mean_b
    resid = score - x[stimulus] - b[rater]
    v = np.sqrt(groupby.divide(groupby.sums(rater, resid * resid, n_raters), n_i))
    return x, b, v, it, step


def run(r: Ratings, **p: Any) -> AnalysisResult:
    r"""Estimate true scores, rater biases and rater inconsistencies by maximum likelihood.

    Model and solver: :func:`solve`. Raters with a single rating are excluded
    (``"too_few_ratings"``): their residual is 0 by construction, which would give them an
    unbounded weight. Nobody else is rejected; the rater report gives ``bias`` :math:`b_i` and
    ``inconsistency`` :math:`v_i`, plus the BT.500 counts on the raw scores for information.

    Per stimulus: ``mos`` is :math:`x_j` on the raw scale; ``sd`` the SD (N-1) of the
    bias-corrected scores :math:`u_{ij} - b_i`; ``sd_raw`` the SD of the raw scores; the CI is
    :math:`x_j \pm z_{(1+c)/2}\, \mathrm{se}_j` with
    :math:`\mathrm{se}_j = 1/\sqrt{\sum_{i \to j} 1/v_i^2}` (1.96 se at ``ci=0.95``).

    If the design is disconnected (groups of raters who share no stimuli), only differences
    within a group are identified; the solver still converges. A rater whose scores the model
    fits exactly (e.g. the only rater of a few stimuli) gets :math:`v_i \to 0` and a weight
    near :math:`10^8`, so :math:`x_j` follows that rater; sureal behaves the same. This needs
    many ratings per rater to be harmless.

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 0, 1, 1], stimulus=[0, 1, 0, 1], score=[1, 3, 2, 4])
    >>> res = run(r)
    >>> [round(float(x), 6) for x in res.stimuli.mos], [round(float(b), 6) for b in res.raters.bias]
    ([1.5, 3.5], [-0.5, 0.5])
    """
    p = validate(p)
    n_r, n_s = r.n_raters, r.n_stimuli
    raw = groupby.moments(r.rater, r.score, n_r, ddof=1)
    scr = bt500_screening(r.rater, r.stimulus, r.score, n_r, n_s)
    reason = empty_reasons(n_r, raw.count)
    too_few = raw.count == 1
    reason[too_few] = REASON_TOO_FEW

    keep = ~too_few[r.rater]
    rater, stim_idx, score = r.rater[keep], r.stimulus[keep], r.score[keep]
    notes: list[str] = []
    if keep.any():
        x, b, v, it, step = solve(rater, stim_idx, score, n_r, n_s, tol=p["tol"], max_iter=p["max_iter"])
        if step >= p["tol"]:
            notes.append(f"MLE did not converge in {it} iterations (last max |dx| = {step:.3g})")
        else:
            notes.append(f"MLE converged in {it} iterations")
    else:
        x, b, v = np.full(n_s, np.nan), np.full(n_r, np.nan), np.full(n_r, np.nan)
        notes.append("no rater has 2 or more ratings; the MLE model cannot be fitted")

    corrected = score - b[rater]
    m = groupby.moments(stim_idx, corrected, n_s, ddof=1)
    raw_sd = groupby.moments(stim_idx, score, n_s, ddof=1).sd
    # The weights of the solver: se_j = 1 / sqrt(sum over j's raters of 1 / v_i^2).
    precision = groupby.sums(stim_idx, 1.0 / (v[rater] ** 2 + VARIANCE_FLOOR), n_s)
    se = 1.0 / np.sqrt(np.where(m.count > 0, precision, np.nan))
    zq = float(special.ndtri(0.5 + p["ci"] / 2.0))  # the normal quantile, as scipy.stats.norm.ppf
    stim = StimulusStats(
        mos=np.where(m.count > 0, x, np.nan),
        sd=m.sd,
        sd_raw=raw_sd,
        n=m.count,
        ci_low=x - zq * se,
        ci_high=x + zq * se,
    )
    notes.extend(stimulus_count_notes(stim.n, n_s))
    raters = rater_report(
        raw,
        scr,
        rejected=too_few.copy(),
        reason=reason,
        bias=np.where(too_few, np.nan, b),
        inconsistency=np.where(too_few, np.nan, v),
    )
    return AnalysisResult(
        method=NAME, version=VERSION, params=p, stimuli=stim, raters=raters, notes=tuple(notes)
    )
