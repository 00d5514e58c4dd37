"""How well a quality metric's predictions agree with the MOS: SRCC, KRCC, PLCC, RMSE.

The conventions of the IQA literature (VQEG FR-TV Phase II; Sheikh, Sabir and Bovik 2006,
"A statistical evaluation of recent full reference image quality assessment algorithms"):

- **SRCC** is Spearman's rank correlation and **KRCC** Kendall's tau-b, both on the raw
  predictions (``scipy.stats.spearmanr`` / ``kendalltau``; ties get average ranks).
- **PLCC** and **RMSE** are computed after mapping the predictions to the MOS scale with the
  five-parameter logistic (:func:`logistic5`) fitted by least squares (Levenberg-Marquardt,
  ``scipy.optimize.leastsq`` with the analytic Jacobian: the MINPACK routine that
  ``curve_fit`` wraps, called directly so that a fit that runs out of evaluations still
  yields its best point; tolerances 1e-12, at most 2,000 evaluations): PLCC = Pearson(mapped, MOS),
  RMSE = sqrt(mean((mapped - MOS)^2)).

The fit works on standardised predictions ``z = (x - mean(x)) / sd(x)`` (so that its initial
values suit every metric's scale; the fitted curve is the same function of ``x``, only the
parameters are re-expressed). Initial values, in ``z`` units::

    b1 = max(MOS) - min(MOS)     height of the sigmoid
    b2 = sign(Pearson(x, MOS))   slope; negative for "lower is better" metrics
    b3 = 0                       centre at the mean prediction
    b4 = 0                       no linear term
    b5 = mean(MOS)               value at the centre

When the fit fails (the optimiser raises, gives non-finite parameters or values, or ends with a
larger residual than the straight line, which the logistic family contains with ``b1 = 0``),
the mapping falls back to the least-squares line and says so (``Mapping.kind == "linear"``).
When it runs out of evaluations in a flat valley but beats the line, the best point is kept
with a note.

Bootstrap confidence intervals resample stimuli with replacement (``n_boot`` resamples, drawn
with the caller's ``rng``); the same resamples serve every metric of a perspective, so the
difference of two metrics' SRCC on the same resample is a paired statistic. PLCC and RMSE
apply the full-sample mapping to every resample (intervals conditional on the mapping; pass
``refit=True`` to refit the logistic on every resample, much slower). The interval is the
percentile interval.

**Significance test** (:func:`compare`): paired bootstrap of the difference of absolute SRCC,
``d = |SRCC_a| - |SRCC_b|``. The two-sided p-value is ``min(1, 2 min(P*(d <= 0), P*(d >= 0)))``
with the ``(count + 1) / (B + 1)`` correction, where ``P*`` is over the bootstrap resamples;
the metrics differ significantly when ``p < alpha`` (0.05). Absolute values make a "lower is
better" metric (negative SRCC) comparable with the others.

Prompt-grouped splits (:func:`prompt_splits`) put every prompt's images on one side.

Pure numpy/scipy: no Django, no pandas, no I/O, no hidden randomness.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .types import FloatArray, IntArray

try:  # the O(n log n) discordant-pair count behind scipy.stats.kendalltau
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover
    _kendall_dis = None

__all__ = [
    "ALPHA",
    "COLUMNS",
    "MIN_STIMULI",
    "NAME",
    "VERSION",
    "Bootstrap",
    "Comparison",
    "Figures",
    "Mapping",
    "best_index",
    "bootstrap",
    "compare",
    "figures",
    "fit_mapping",
    "kendall_tau_b",
    "logistic5",
    "prompt_splits",
    "resample_indices",
]

NAME = "metric_benchmark"
VERSION = "1.0"
COLUMNS = ("srcc", "krcc", "plcc", "rmse")
ALPHA = 0.05
MIN_STIMULI = 5  # fewer stimuli than this give no figures (NaN): a 5-parameter fit needs them
_FIT_TOL = 1e-12
_MAXFEV = 2_000  # flat valleys stop here with their best point (see fit_mapping)


def logistic5(x: FloatArray, b1: float, b2: float, b3: float, b4: float, b5: float) -> FloatArray:
    """Five-parameter logistic of VQEG / Sheikh et al. 2006.

    ``f(x) = b1 (1/2 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5``

    >>> float(logistic5(np.array([0.0]), 2.0, 1.0, 0.0, 0.0, 3.0)[0])
    3.0
    """
    with np.errstate(over="ignore"):
        return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def _logistic5_jacobian(z: FloatArray, p: FloatArray) -> FloatArray:
    """Partial derivatives of :func:`logistic5` in b1..b5, shape (n, 5)."""
    b1, b2, b3, _, _ = p
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(b2 * (z - b3)))
    ds = s * (1.0 - s)
    return np.column_stack([0.5 - s, b1 * ds * (z - b3), -b1 * ds * b2, z, np.ones_like(z)])


@dataclass(frozen=True)
class Mapping:
    """A fitted monotonic mapping of predictions to the MOS scale.

    ``kind`` is ``"logistic5"`` (``params`` = b1..b5 on standardised predictions) or
    ``"linear"`` (``params`` = slope, intercept on standardised predictions, the fallback);
    ``x_mean`` and ``x_sd`` standardise the predictions; ``note`` says why a fit fell back.
    """

    kind: str
    params: tuple[float, ...]
    x_mean: float
    x_sd: float
    note: str = ""

    def __call__(self, x: FloatArray) -> FloatArray:
        z = (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_sd
        if self.kind == "logistic5":
            return logistic5(z, *self.params)
        slope, intercept = self.params
        return slope * z + intercept


def _linear(z: FloatArray, y: FloatArray) -> tuple[float, float]:
    slope, intercept = np.polyfit(z, y, 1)
    return float(slope), float(intercept)


def fit_mapping(x: FloatArray, y: FloatArray, *, p0: Sequence[float] | None = None) -> Mapping:
    """Fit the five-parameter logistic from ``x`` (predictions) to ``y`` (MOS).

    ``p0`` overrides the documented initial values (in standardised units). Falls back to the
    least-squares line when the fit fails (see the module docstring).

    >>> x = np.linspace(0, 1, 20); m = fit_mapping(x, 3 * x + 1)
    >>> bool(np.allclose(m(x), 3 * x + 1, atol=1e-6))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, sd = float(x.mean()), float(x.std())
    if not sd > 0:
        raise ValueError("constant predictions cannot be mapped to the MOS")
    z = (x - mean) / sd
    line = _linear(z, y)
    line_rss = float(np.sum((line[0] * z + line[1] - y) ** 2))
    if p0 is None:
        sign = 1.0 if float(np.sum(z * (y - y.mean()))) >= 0 else -1.0
        p0 = (float(y.max() - y.min()), sign, 0.0, 0.0, float(y.mean()))
    note = ""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            params, _, _, _, ier = optimize.leastsq(
                lambda p: logistic5(z, *p) - y,
                np.asarray(p0, dtype=np.float64),
                Dfun=lambda p: _logistic5_jacobian(z, p),
                full_output=True,
                ftol=_FIT_TOL,
                xtol=_FIT_TOL,
                gtol=_FIT_TOL,
                maxfev=_MAXFEV,
            )
        fitted = logistic5(z, *params)
        rss = float(np.sum((fitted - y) ** 2))
        if not (np.all(np.isfinite(params)) and np.all(np.isfinite(fitted))):
            note = "logistic fit gave non-finite values"
        elif rss > line_rss * (1 + 1e-9) + 1e-12:
            note = "logistic fit ended worse than a straight line"
    except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
        note = f"logistic fit failed ({str(exc).splitlines()[0][:80]})"
    if note:
        return Mapping("linear", line, mean, sd, note + "; used the least-squares line")
    # A flat valley (a nearly straight relation) can exhaust the budget before the tolerances
    # are met; the best point reached is kept, since it already beats the line, and said so.
    stopped = (
        "" if ier in (1, 2, 3, 4) else f"logistic fit stopped after {_MAXFEV} evaluations; best point kept"
    )
    return Mapping("logistic5", tuple(float(p) for p in params), mean, sd, stopped)


@dataclass(frozen=True)
class Figures:
    """Point figures of one metric on one set of stimuli."""

    n: int
    srcc: float
    krcc: float
    plcc: float
    rmse: float
    mapping: Mapping | None

    def value(self, column: str) -> float:
        return float(getattr(self, column))


_NAN = float("nan")


def figures(x: FloatArray, y: FloatArray, *, p0: Sequence[float] | None = None) -> Figures:
    """SRCC, KRCC (tau-b), and PLCC, RMSE after the logistic mapping, of predictions ``x``
    against MOS ``y`` (same length, finite). NaN figures below :data:`MIN_STIMULI` stimuli or
    for constant predictions or MOS.

    >>> f = figures(np.arange(6.0), np.array([1.0, 2, 3, 5, 4, 6]))
    >>> round(f.srcc, 4), round(f.krcc, 4)
    (0.9429, 0.8667)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = int(x.size)
    if n < MIN_STIMULI or not np.ptp(x) > 0 or not np.ptp(y) > 0:
        return Figures(n, _NAN, _NAN, _NAN, _NAN, None)
    srcc = float(stats.spearmanr(x, y).statistic)
    krcc = float(stats.kendalltau(x, y).statistic)
    mapping = fit_mapping(x, y, p0=p0)
    mapped = mapping(x)
    plcc = float(stats.pearsonr(mapped, y).statistic) if np.ptp(mapped) > 0 else _NAN
    rmse = float(np.sqrt(np.mean((mapped - y) ** 2)))
    return Figures(n, srcc, krcc, plcc, rmse, mapping)


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap distributions of one metric: ``values[column]`` has one entry per resample
    (NaN where a resample gave none); ``ci[column]`` is the percentile interval."""

    values: dict[str, FloatArray]
    ci: dict[str, tuple[float, float]]


def _rowwise_pearson(a: FloatArray, b: FloatArray) -> FloatArray:
    da = a - a.mean(axis=1, keepdims=True)
    db = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (da * db).sum(axis=1) / den, np.nan)


def _tie_pairs(ranks: IntArray) -> int:
    cnt = np.bincount(ranks)
    cnt = cnt[cnt > 1].astype(np.int64)
    return int((cnt * (cnt - 1) // 2).sum())


def kendall_tau_b(x: FloatArray, y: FloatArray) -> float:
    """Kendall's tau-b as ``scipy.stats.kendalltau`` computes it, without its per-call overhead
    (about 1 ms, which dominates a bootstrap). Knight's O(n log n) algorithm on dense ranks.

    >>> x, y = np.array([1.0, 2, 2, 3, 4]), np.array([1.0, 3, 2, 2, 5])
    >>> bool(abs(kendall_tau_b(x, y) - stats.kendalltau(x, y).statistic) < 1e-15)
    True
    """
    if _kendall_dis is None:  # pragma: no cover - scipy moved its private helper
        return float(stats.kendalltau(x, y).statistic)
    perm = np.argsort(y)
    x, y = x[perm], y[perm]
    yr = np.r_[True, y[1:] != y[:-1]].cumsum(dtype=np.intp)
    perm = np.argsort(x, kind="mergesort")
    x, yr = x[perm], yr[perm]
    xr = np.r_[True, x[1:] != x[:-1]].cumsum(dtype=np.intp)
    dis = int(_kendall_dis(xr, yr))
    obs = np.r_[True, (xr[1:] != xr[:-1]) | (yr[1:] != yr[:-1]), True]
    cnt = np.diff(np.nonzero(obs)[0]).astype(np.int64)
    ntie = int((cnt * (cnt - 1) // 2).sum())
    xtie, ytie = _tie_pairs(xr), _tie_pairs(yr)
    tot = (x.size * (x.size - 1)) // 2
    if xtie == tot or ytie == tot:
        return _NAN
    con_minus_dis = tot - xtie - ytie + ntie - 2 * dis
    tau = con_minus_dis / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    return float(min(1.0, max(-1.0, tau)))


def _percentiles(values: FloatArray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (_NAN, _NAN)
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))


def resample_indices(n: int, *, n_boot: int, rng: np.random.Generator) -> IntArray:
    """``n_boot`` resamples of ``n`` stimuli with replacement, shape (n_boot, n)."""
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap(
    x: FloatArray,
    y: FloatArray,
    idx: IntArray,
    *,
    mapping: Mapping | None,
    refit: bool = False,
    level: float = 0.95,
    chunk: int = 200,
) -> Bootstrap:
    """Bootstrap distributions and percentile CIs of the four figures over the resamples
    ``idx`` (from :func:`resample_indices`; share them between metrics for paired tests).

    SRCC is computed for all resamples at once (Pearson of average ranks, as ``spearmanr``);
    KRCC per resample with ``kendalltau``. PLCC and RMSE use the full-sample ``mapping`` on
    every resample (intervals conditional on the fitted mapping, and fast); with
    ``refit=True`` the mapping is refitted on every resample, starting from ``mapping``
    (slower: one nonlinear fit per resample).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_boot = idx.shape[0]
    srcc, plcc, rmse = np.empty(n_boot), np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    mapped = mapping(x) if mapping is not None else None
    for lo in range(0, n_boot, chunk):
        part = idx[lo : lo + chunk]
        yp = y[part]
        srcc[lo : lo + chunk] = _rowwise_pearson(stats.rankdata(x[part], axis=1), stats.rankdata(yp, axis=1))
        if mapped is not None and not refit:
            mp = mapped[part]
            plcc[lo : lo + chunk] = _rowwise_pearson(mp, yp)
            rmse[lo : lo + chunk] = np.sqrt(np.mean((mp - yp) ** 2, axis=1))
    krcc = np.full(n_boot, np.nan)
    for b in range(n_boot):
        xb, yb = x[idx[b]], y[idx[b]]
        if not (np.ptp(xb) > 0 and np.ptp(yb) > 0):
            continue
        krcc[b] = kendall_tau_b(xb, yb)
        if refit and mapping is not None:
            m = fit_mapping(xb, yb, p0=_rescaled_p0(mapping, xb))
            mb = m(xb)
            plcc[b] = float(np.corrcoef(mb, yb)[0, 1]) if np.ptp(mb) > 0 else _NAN
            rmse[b] = float(np.sqrt(np.mean((mb - yb) ** 2)))
    values = {"srcc": srcc, "krcc": krcc, "plcc": plcc, "rmse": rmse}
    return Bootstrap(values=values, ci={k: _percentiles(v, level) for k, v in values.items()})


def _rescaled_p0(start: Mapping, xb: FloatArray) -> list[float] | None:
    """The full-sample logistic re-expressed for the resample's own standardisation."""
    if start.kind != "logistic5":
        return None
    mean, sd = float(xb.mean()), float(xb.std())
    b1, b2, b3, b4, b5 = start.params
    # z = (x - m0)/s0 and z' = (x - mean)/sd, so z = (sd z' + mean - m0) / s0.
    k, c = sd / start.x_sd, (mean - start.x_mean) / start.x_sd
    return [b1, b2 * k, (b3 - c) / k, b4 * k, b5 + b4 * c]


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap test of ``|SRCC_a| - |SRCC_b|`` (see the module docstring)."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


def compare(
    srcc_a: float,
    srcc_b: float,
    boot_a: FloatArray,
    boot_b: FloatArray,
    *,
    level: float = 0.95,
    alpha: float = ALPHA,
) -> Comparison:
    """Compare two metrics' SRCC on the same resamples (``boot_*`` from :func:`bootstrap`).

    >>> a = np.array([0.9, 0.91, 0.92, 0.93]); b = np.array([0.5, 0.52, 0.49, 0.51])
    >>> c = compare(0.91, 0.5, a, b)
    >>> round(c.diff, 2), round(c.p_value, 2), c.significant
    (0.41, 0.4, False)
    """
    d = np.abs(np.asarray(boot_a)) - np.abs(np.asarray(boot_b))
    d = d[np.isfinite(d)]
    diff = abs(srcc_a) - abs(srcc_b)
    if d.size == 0 or not math.isfinite(diff):
        return Comparison(diff, _NAN, _NAN, _NAN, False)
    lo, hi = _percentiles(d, level)
    below = (np.count_nonzero(d <= 0) + 1) / (d.size + 1)
    above = (np.count_nonzero(d >= 0) + 1) / (d.size + 1)
    p = min(1.0, 2 * min(below, above))
    return Comparison(float(diff), lo, hi, float(p), bool(p < alpha))


# --------------------------------------------------------------------------- ranking, splits


def best_index(values: Sequence[float], column: str) -> int | None:
    """Index of the best metric in one column: largest absolute correlation, smallest RMSE.

    >>> best_index([0.5, -0.9, float("nan")], "srcc"), best_index([3.0, 2.0], "rmse")
    (1, 1)
    """
    arr = np.asarray(values, dtype=np.float64)
    score = -arr if column == "rmse" else np.abs(arr)
    if not np.isfinite(score).any():
        return None
    return int(np.nanargmax(np.where(np.isfinite(score), score, -np.inf)))


def prompt_splits(
    groups: IntArray,
    *,
    n_splits: int = 10,
    test_fraction: float = 0.2,
    rng: np.random.Generator,
) -> np.ndarray:
    """Random train/test splits that keep every group (prompt) on one side.

    ``groups[j]`` is the group code of stimulus ``j``. Each split draws
    ``max(1, round(test_fraction * n_groups))`` groups for the test side. Returns a boolean
    array (n_splits, n_stimuli), True = test.

    >>> s = prompt_splits(np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]), n_splits=2, rng=np.random.default_rng(0))
    >>> s.shape, s.sum(axis=1).tolist(), bool((s[:, ::2] == s[:, 1::2]).all())
    ((2, 10), [2, 2], True)
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction}")
    groups = np.asarray(groups)
    uniques, codes = np.unique(groups, return_inverse=True)
    n_test = max(1, round(test_fraction * uniques.size))
    if n_test >= uniques.size:
        raise ValueError(
            f"{uniques.size} prompt group(s) cannot be split {1 - test_fraction:.0%}/{test_fraction:.0%}"
        )
    out = np.zeros((n_splits, groups.size), dtype=bool)
    for s in range(n_splits):
        test_groups = rng.permutation(uniques.size)[:n_test]
        out[s] = np.isin(codes, test_groups)
    return out
