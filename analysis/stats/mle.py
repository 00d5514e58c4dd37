"""Maximum-likelihood rater model of Li et al. 2020 (ITU-T P.910 Annex E, P.913 section 12.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import groupby, mle_fit, params
from .ratings import Ratings
from .report import rater_report, stimulus_count_notes
from .results import REASON_TOO_FEW, AnalysisResult, StimulusStats, empty_reasons
from .screening import bt500_screening
from .types import FloatArray, IntArray

__all__ = ["DEFAULTS", "NAME", "VERSION", "run", "solve", "validate"]

NAME = "mle"
# 1.1: same fixed point, solved by conjugate gradients per weight update (solver=exact).
# 1.2: default solver "accelerated" (mle_fit): Anderson-accelerated sweeps, exact fits on stiff
#      designs, canonical labels and order, biases centred per connected group. Every solver
#      sums the ratings in one canonical row order.
VERSION = "1.2"

DEFAULTS: Mapping[str, Any] = {"tol": 1e-8, "max_iter": 1000, "ci": 0.95, "solver": "accelerated"}
SOLVERS = ("accelerated", "sweeps", "exact")

#: Added to every v_i^2 before inverting it (sureal's EPSILON), so that a perfectly consistent
#: rater gets a large finite weight instead of an infinite one.
VARIANCE_FLOOR = mle_fit.EPSILON
#: Alternating sweeps tried before switching to exact weighted fits (see :func:`solve`).
ALTERNATING_SWEEPS = 50


def validate(p: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of :func:`run`; return them with defaults filled in."""
    out = params.check_known(NAME, p, DEFAULTS)
    out["tol"] = params.check_number(
        "tol", out["tol"], low=0, high=float("inf"), low_open=True, high_open=True
    )
    out["max_iter"] = params.check_int("max_iter", out["max_iter"], low=1)
    out["ci"] = params.check_number("ci", out["ci"], low=0, high=1, low_open=True, high_open=True)
    out["solver"] = params.check_choice("solver", out["solver"], SOLVERS)
    return out


def _weighted_fit(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    w: FloatArray,
    n_i: IntArray,
    n_stimuli: int,
    b0: FloatArray,
    pairs: tuple[IntArray, IntArray, FloatArray],
    *,
    rtol: float,
    max_iter: int,
) -> tuple[FloatArray, FloatArray, int]:
    r"""Minimise :math:`\sum w_i (u_{ij} - x_j - b_i)^2` over x and b, for fixed weights.

    x is eliminated (:math:`x_j(b)` = weighted mean of :math:`u_{ij} - b_i`), leaving the
    normal equations of b, :math:`A b = r`, with A symmetric positive semi-definite (its null
    space moves a constant between b and x). They are solved by Jacobi-preconditioned conjugate
    gradients from ``b0``: each step is two group-by sums over the ratings. This is the fixed
    point the alternating projection of sureal converges to, reached in tens of steps where
    alternation needs thousands on sparse designs.
    """
    n_r = w.shape[0]
    w_k = w[rater]
    big_w = groupby.sums(stimulus, w_k, n_stimuli)
    inv_w = groupby.divide(np.ones(n_stimuli), big_w)
    inv_w = np.where(np.isfinite(inv_w), inv_w, 0.0)

    def x_of(b: FloatArray) -> FloatArray:
        return groupby.sums(stimulus, w_k * (score - b[rater]), n_stimuli) * inv_w

    def apply(b: FloatArray) -> FloatArray:
        pb = groupby.sums(stimulus, w_k * b[rater], n_stimuli) * inv_w
        return w * (n_i * b - groupby.sums(rater, pb[stimulus], n_r))

    c = groupby.sums(stimulus, w_k * score, n_stimuli) * inv_w
    rhs = w * (groupby.sums(rater, score - c[stimulus], n_r))
    # Diagonal of A: w_i n_i - w_i^2 sum_j m_ij^2 / W_j (m_ij = ratings of i on j, 1 without repeats).
    pr, ps, m2 = pairs
    diag = w * n_i - w * w * groupby.sums(pr, m2 * inv_w[ps], n_r)
    inv_diag = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 0.0)

    b = np.where(n_i > 0, b0, 0.0)
    res = rhs - apply(b)
    z = inv_diag * res
    p = z.copy()
    rz = float(res @ z)
    stop = rtol * max(float(np.linalg.norm(rhs)), 1e-300)
    it = 0
    while it < max_iter and float(np.linalg.norm(res)) > stop:
        it += 1
        ap = apply(p)
        pap = float(p @ ap)
        if pap <= 0:
            break
        alpha = rz / pap
        b = b + alpha * p
        res = res - alpha * ap
        z = inv_diag * res
        rz_new = float(res @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x_of(b), b, it


def solve(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    n_raters: int,
    n_stimuli: int,
    *,
    tol: float,
    max_iter: int,
    exact: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray, int, float]:
    r"""Fit :math:`u_{ij} = x_j + b_i + e_{ij}`, :math:`e_{ij} \sim N(0, v_i^2)`.

    The maximum-likelihood fixed point of sureal's alternating projection (P.910 Annex E):

    - :math:`x_j = \sum_i w_i (u_{ij} - b_i) / \sum_i w_i`, :math:`w_i = 1/(v_i^2 + 10^{-8})`;
    - :math:`b_i = \mathrm{mean}_j (u_{ij} - x_j)`;
    - :math:`v_i^2 = \mathrm{mean}_j (u_{ij} - x_j - b_i)^2` (population, as sureal).

    This function holds the two older solvers; the default, ``solver="accelerated"``, is
    :func:`analysis.stats.mle_fit.fit` (same fixed point). With ``exact=False``
    (``solver="sweeps"``): sureal's alternating sweeps until the stopping rule or ``max_iter``. With ``exact=True`` (``solver="exact"``)
    it first runs sureal's alternating sweeps (one equation after the other), at most
    :data:`ALTERNATING_SWEEPS` of them: dense designs converge there, with sureal's numbers.
    If x still moves, each further iteration takes the weights from the current residuals and
    solves the first two equations together, exactly (:func:`_weighted_fit`, conjugate
    gradients), instead of one sweep. Either way it stops when
    :math:`\max_j |\Delta x_j| <` ``tol`` or after ``max_iter`` iterations in all. Finally :math:`\bar b` is moved into :math:`x` (the biases have zero mean) and
    :math:`v_i` is recomputed from the final residuals.

    Dense designs converge in about ten outer iterations. Sparse ones take longer for a reason
    of the model, not the solver: with 4 ratings per stimulus some raters can be fitted ever
    more exactly, their :math:`v_i` shrinks towards the floor by a constant factor per
    iteration and x follows them (a 20,000 x 400 study at 1% coverage: about 100 outer
    iterations, where the alternating sweeps stop unconverged at 1,000; docs/performance.md).

    Returns
    -------
    x, b, v, iterations, last max |dx|
        ``x`` is NaN for stimuli without ratings, ``b`` and ``v`` for raters without ratings.
    """
    # One order for every sum, whatever the order of the input rows (mle_fit.canonical_order).
    order = mle_fit.canonical_order(rater, stimulus, score)
    rater, stimulus, score = rater[order], stimulus[order], score[order]
    n_j = groupby.counts(stimulus, n_stimuli)
    n_i = groupby.counts(rater, n_raters)
    rated = n_j > 0
    has = n_i > 0
    x = groupby.divide(groupby.sums(stimulus, score, n_stimuli), n_j)
    b = groupby.divide(groupby.sums(rater, score - x[stimulus], n_raters), n_i)
    b = np.where(has, b, 0.0)
    x = np.where(rated, x, 0.0)
    keys, m = np.unique(rater.astype(np.int64) * n_stimuli + stimulus, return_counts=True)
    pairs = (
        (keys // n_stimuli).astype(np.intp),
        (keys % n_stimuli).astype(np.intp),
        m.astype(np.float64) ** 2,
    )
    step = np.inf
    it = 0
    # Sureal's alternating sweeps first: cheap, and enough for dense designs (about ten sweeps).
    while it < (min(max_iter, ALTERNATING_SWEEPS) if exact else max_iter):
        it += 1
        shifted = score - b[rater]
        resid = shifted - x[stimulus]
        v2 = groupby.divide(groupby.sums(rater, resid * resid, n_raters), n_i)
        w_k = (1.0 / (v2 + VARIANCE_FLOOR))[rater]
        x_new = groupby.divide(
            groupby.sums(stimulus, w_k * shifted, n_stimuli), groupby.sums(stimulus, w_k, n_stimuli)
        )
        b = groupby.divide(groupby.sums(rater, score - x_new[stimulus], n_raters), n_i)
        b = np.where(has, b, 0.0)
        step = float(np.max(np.abs(x_new[rated] - x[rated]))) if rated.any() else 0.0
        x = np.where(rated, x_new, 0.0)
        if step < tol:
            break
    # Still moving: sparse designs, where sweeps crawl; solve each weight update exactly instead.
    while step >= tol and it < max_iter:
        it += 1
        resid = score - x[stimulus] - b[rater]
        v2 = groupby.divide(groupby.sums(rater, resid * resid, n_raters), n_i)
        w = np.where(has, 1.0 / (np.where(has, v2, 0.0) + VARIANCE_FLOOR), 0.0)
        gauge = float(b[has].mean())
        x_new, b, _ = _weighted_fit(
            rater, stimulus, score, w, n_i, n_stimuli, b, pairs, rtol=min(1e-3 * tol, 1e-10), max_iter=10_000
        )
        # The fit may move a constant between b and x; keep the gauge so that successive x compare.
        shift = float(b[has].mean()) - gauge
        b = b - shift
        x_new = np.where(rated, x_new + shift, 0.0)
        step = float(np.max(np.abs(x_new[rated] - x[rated]))) if rated.any() else 0.0
        x = x_new
    mean_b = float(b[has].mean())
    b = np.where(has, b - mean_b, np.nan)
    x = np.where(rated, x + mean_b, np.nan)
    resid = score - x[stimulus] - b[rater]
    v = np.sqrt(groupby.divide(groupby.sums(rater, resid * resid, n_raters), n_i))
    return x, b, v, it, step


def _fit_accelerated(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    n_raters: int,
    n_stimuli: int,
    p: Mapping[str, Any],
    diagnostics: dict[str, Any],
    notes: list[str],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The default solver (:mod:`.mle_fit`); fills ``diagnostics`` and ``notes``."""
    f = mle_fit.fit(rater, stimulus, score, n_raters, n_stimuli, tol=p["tol"], max_iter=p["max_iter"])
    diagnostics.update(
        converged=f.converged,
        iterations=f.iterations,
        last_max_dx=f.step,
        exact_steps=f.exact_steps,
        stiffness=f.stiffness,
        raters_at_floor=f.raters_at_floor,
    )
    if f.converged:
        notes.append(f"MLE converged in {f.iterations} iterations")
    else:
        notes.append(
            f"MLE did not converge in {f.iterations} iterations (last max change = {f.step:.3g}, "
            f"tolerance {p['tol']:.3g}): treat its scores as approximate"
        )
    if f.raters_at_floor:
        notes.append(
            f"MLE: {f.raters_at_floor} rater(s) fitted exactly (inconsistency below 1e-4, the variance floor); "
            "the scores of their stimuli follow them. Too few ratings per stimulus for this model "
            "to tell a precise rater from a lucky one"
        )
    return f.x, f.b, f.v


def run(r: Ratings, **p: Any) -> AnalysisResult:
    r"""Estimate true scores, rater biases and rater inconsistencies by maximum likelihood.

    Model: :func:`solve`; solvers: :func:`solve` and :func:`analysis.stats.mle_fit.fit`. Raters with a single rating are excluded
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
    diagnostics: dict[str, Any] = {"converged": False, "iterations": 0, "last_max_dx": None, "tol": p["tol"]}
    if keep.any() and p["solver"] == "accelerated":
        x, b, v = _fit_accelerated(rater, stim_idx, score, n_r, n_s, p, diagnostics, notes)
    elif keep.any():
        x, b, v, it, step = solve(
            rater,
            stim_idx,
            score,
            n_r,
            n_s,
            tol=p["tol"],
            max_iter=p["max_iter"],
            exact=p["solver"] == "exact",
        )
        diagnostics.update(converged=bool(step < p["tol"]), iterations=int(it), last_max_dx=float(step))
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
    from scipy import special  # only here: start-up of every process imports this module

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
        method=NAME,
        version=VERSION,
        params=p,
        stimuli=stim,
        raters=raters,
        notes=tuple(notes),
        diagnostics=diagnostics,
    )
