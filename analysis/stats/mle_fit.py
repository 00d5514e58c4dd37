"""The default solver of the MLE rater model: sureal's fixed point, accelerated.

The fixed point is that of sureal's alternating sweeps (P.910 Annex E, see
:func:`analysis.stats.mle.solve`). One sweep is a map of the rater parameters alone,
:math:`\\theta = (b, v^2)`: x is a weighted mean given them. Plain sweeps converge linearly,
and on sparse designs very slowly for two reasons:

- some raters are fitted ever more exactly: their :math:`v_i^2` shrinks by a constant factor
  per sweep towards 0 (the weight stops at :math:`1/10^{-8}`). A contraction of the variances
  is what Anderson acceleration removes: it extrapolates from the last sweeps.
- once such a rater carries almost all the weight of its stimuli, moving its bias together with
  the x of its stimuli is resisted only by the other raters, and a sweep moves along that
  direction by a factor :math:`W_{\\text{others}} / W` (1e-8) of the way: each step is tiny
  although the answer is far. A small step does not mean convergence there ("stiff" design).
  Such designs are finished by exact weighted least-squares fits (the majorize-minimize step of
  the same likelihood): the x and b equations solved together for the current weights, the
  weights then updated and Anderson-accelerated.

Raters and stimuli get canonical labels (:func:`canonical_labels`) and the ratings one
canonical order (stimulus, rater, score) before any sum, so the answer depends neither on the
order of the input rows nor on the labels (bit for bit). This matters on stiff designs, where
the data pin the fixed point only to about 1e-8 (weights 1e8 against 1). The biases are centred
in each connected group of raters and stimuli (sureal's constraint, per group): the offset
between disconnected groups is not identified by the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import groupby
from .types import FloatArray, IntArray

__all__ = ["EPSILON", "Fit", "canonical_labels", "canonical_order", "components", "fit"]

#: Added to every v_i^2 before inverting it (sureal's EPSILON).
EPSILON = 1e-8
#: Plain sweeps before acceleration starts: they keep the path close to sureal's, which matters
#: on sparse designs with several fixed points (which raters end up fitted exactly).
WARMUP = 20
#: Sweeps and fits remembered by Anderson acceleration.
MEMORY = 10
#: A design is stiff when some rater carries more than 1 - STIFF of the weight of its stimuli
#: (on average over them): a sweep then moves along that rater's direction by at most STIFF
#: of the way, and exact fits take over.
STIFF = 1e-3
#: Accelerated sweeps tried before exact fits take over in any case (dense designs need 5-20).
SWEEP_BUDGET = 200

#: Exact fits build the dense rater x rater normal matrix: beyond this many raters the solver
#: stops at the sweeps and reports whether they converged.
MAX_EXACT_RATERS = 4000


@dataclass(frozen=True)
class Fit:
    """The solution and how it was reached (``x`` per stimulus, ``b`` and ``v`` per rater)."""

    x: FloatArray
    b: FloatArray
    v: FloatArray
    iterations: int
    exact_steps: int
    step: float
    converged: bool
    stiffness: float
    raters_at_floor: int


def canonical_order(rater: IntArray, stimulus: IntArray, score: FloatArray) -> IntArray:
    """The permutation that sorts the ratings by stimulus, then rater, then score."""
    return np.lexsort((score, rater, stimulus)).astype(np.intp)


def components(rater: IntArray, stimulus: IntArray, n_raters: int, n_stimuli: int) -> IntArray:
    """Connected group of every rater (0, 1, ... in order of first rater; -1 without ratings).

    Two raters are connected when they rated a common stimulus, directly or through others
    (scipy's connected components of the rater-stimulus graph, O(ratings)).

    Examples
    --------
    >>> components(np.array([0, 1, 2, 2]), np.array([0, 0, 1, 2]), 4, 3).tolist()
    [0, 0, 1, -1]
    """
    from scipy import sparse  # imported with the MLE only
    from scipy.sparse.csgraph import connected_components

    n = n_raters + n_stimuli
    graph = sparse.coo_matrix((np.ones(rater.size), (rater, n_raters + stimulus)), shape=(n, n)).tocsr()
    _, label = connected_components(graph, directed=False)
    label = label[:n_raters].astype(np.intp)
    has = groupby.counts(rater, n_raters) > 0
    out = np.full(n_raters, -1, dtype=np.intp)
    _, first = np.unique(label[has], return_index=True)
    # number the groups in order of their first rater, whatever scipy's numbering
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    _, inverse = np.unique(label[has], return_inverse=True)
    out[has] = rank[inverse]
    return out


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser: a bijection of 64-bit words that spreads every input bit."""
    out = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    out = (out ^ (out >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return out ^ (out >> np.uint64(31))


def _ranks(colour: NDArray[np.uint64]) -> IntArray:
    """Rank of every element by colour, ties by index."""
    order = np.lexsort((np.arange(colour.size), colour))
    rank = np.empty(colour.size, dtype=np.intp)
    rank[order] = np.arange(colour.size)
    return rank


class _GroupSum:
    """Sums of 64-bit words per group, modulo 2**64 (bincount would round them to floats)."""

    def __init__(self, index: IntArray, n_groups: int) -> None:
        self.order = np.argsort(index, kind="stable")
        counts = groupby.counts(index, n_groups)
        self.nonempty = np.flatnonzero(counts > 0)
        self.starts = np.concatenate([[0], np.cumsum(counts[self.nonempty])[:-1]]).astype(np.intp)
        self.n_groups = n_groups

    def __call__(self, values: NDArray[np.uint64]) -> NDArray[np.uint64]:
        out = np.zeros(self.n_groups, dtype=np.uint64)
        out[self.nonempty] = np.add.reduceat(values[self.order], self.starts)
        return out


def canonical_labels(
    rater: IntArray, stimulus: IntArray, score: FloatArray, n_raters: int, n_stimuli: int
) -> tuple[IntArray, IntArray]:
    """New labels for raters and stimuli that do not depend on the input labels.

    Colour refinement (Weisfeiler-Lehman) of the rating graph: a rater's colour is a hash of
    the multiset of (score, colour of the stimulus) over its ratings, a stimulus' likewise,
    repeated until the number of colours stops growing. Raters (stimuli) are then numbered by
    colour. Renaming the input permutes nothing here, so every later sum adds the same terms
    in the same order: relabelled input gives bit-identical results. Only elements the
    refinement cannot tell apart keep their input order (in practice: raters or stimuli
    whose data are interchangeable).
    """
    by_s, by_r = _GroupSum(stimulus, n_stimuli), _GroupSum(rater, n_raters)
    with np.errstate(over="ignore"):
        bits = _mix(np.ascontiguousarray(score, dtype=np.float64).view(np.uint64) + np.uint64(1))
        c_r = np.zeros(n_raters, dtype=np.uint64)
        c_s = np.zeros(n_stimuli, dtype=np.uint64)
        distinct = 0
        for _ in range(32):
            # colours are already mixed: one more mix per rating binds the score to them
            sum_s = by_s(_mix(bits ^ (c_r[rater] + np.uint64(0x9E3779B97F4A7C15))))
            sum_r = by_r(_mix(bits + (c_s[stimulus] ^ np.uint64(0xD1B54A32D192ED03))))
            c_s = _mix(c_s ^ _mix(sum_s))
            c_r = _mix(c_r + _mix(sum_r ^ np.uint64(0x8CB92BA72F3D8DD7)))
            now = np.unique(c_r).size + np.unique(c_s).size
            if now <= distinct:
                break
            distinct = now
    return _ranks(c_r), _ranks(c_s)


class _Anderson:
    """Anderson acceleration (type II) of a fixed-point map, restarted when it stops helping."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.g: list[FloatArray] = []
        self.f: list[FloatArray] = []
        self.last_norm = np.inf
        self.restarts = 0

    def next(self, g: FloatArray, f: FloatArray) -> FloatArray:
        """Next point from the map's value ``g`` at the current point and the residual ``f``."""
        norm = float(np.linalg.norm(f))
        # An extrapolation that did not reduce the residual: forget it, take the plain step.
        if self.f and norm > self.last_norm:
            self.g, self.f = [], []
            self.restarts += 1
        self.last_norm = norm
        self.g.append(g)
        self.f.append(f)
        if len(self.f) > self.memory + 1:
            self.g.pop(0)
            self.f.pop(0)
        if len(self.f) < 2:
            return g
        d_f = np.diff(np.array(self.f), axis=0)
        d_g = np.diff(np.array(self.g), axis=0)
        gamma = np.linalg.lstsq(d_f.T, f, rcond=1e-12)[0]
        out: FloatArray = g - d_g.T @ gamma
        return out


class _Design:
    """Ratings in canonical order, with the counts and groups every step needs."""

    def __init__(
        self, rater: IntArray, stimulus: IntArray, score: FloatArray, n_raters: int, n_stimuli: int
    ) -> None:
        # Canonical labels, then canonical row order: every sum sees its terms in one order
        # whatever the labels and the row order of the input (see canonical_labels).
        self.rank_r, self.rank_s = canonical_labels(rater, stimulus, score, n_raters, n_stimuli)
        rater, stimulus = self.rank_r[rater], self.rank_s[stimulus]
        order = canonical_order(rater, stimulus, score)
        self.n_raters, self.n_stimuli = n_raters, n_stimuli
        n_i = groupby.counts(rater, n_raters)
        self.active = np.flatnonzero(n_i > 0)
        self.na = int(self.active.size)
        local = np.full(n_raters, -1, dtype=np.intp)
        local[self.active] = np.arange(self.na)
        self.rater = local[rater[order]]
        self.stimulus = stimulus[order]
        self.score = score[order]
        self.n_i = n_i[self.active].astype(np.float64)
        self.rated = groupby.counts(self.stimulus, n_stimuli) > 0
        self.group = components(self.rater, self.stimulus, self.na, n_stimuli)
        self.n_groups = int(self.group.max()) + 1
        self.group_size = groupby.counts(self.group, self.n_groups).astype(np.float64)

    def centre(self, b: FloatArray) -> FloatArray:
        """b minus its mean in each connected group (sureal's constraint, per group)."""
        mean = groupby.sums(self.group, b, self.n_groups) / self.group_size
        out: FloatArray = b - mean[self.group]
        return out

    def x_of(self, b: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """x_j = weighted mean of u - b, and the total weight W_j of each stimulus."""
        w_k = w[self.rater]
        big_w = groupby.sums(self.stimulus, w_k, self.n_stimuli)
        x = groupby.sums(self.stimulus, w_k * (self.score - b[self.rater]), self.n_stimuli)
        return np.where(self.rated, x / np.where(self.rated, big_w, 1.0), 0.0), big_w

    def variances(self, x: FloatArray, b: FloatArray) -> FloatArray:
        resid = self.score - x[self.stimulus] - b[self.rater]
        return groupby.sums(self.rater, resid * resid, self.na) / self.n_i

    def stiffness(self, w: FloatArray, big_w: FloatArray) -> float:
        """Smallest share of the other raters in the weight of a rater's stimuli (1: none)."""
        own = groupby.sums(self.rater, w[self.rater] / big_w[self.stimulus], self.na) / self.n_i
        return float(np.clip(1.0 - own, 0.0, 1.0).min())


def _weights(s: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (np.maximum(s, 0.0) + EPSILON)
    return out


def _sweep(d: _Design, theta: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """One sureal sweep on theta = (b, v^2): the new theta, x, and the stiffness."""
    b, s = theta[: d.na], theta[d.na :]
    w = _weights(s)
    x, big_w = d.x_of(b, w)
    b_new = groupby.sums(d.rater, d.score - x[d.stimulus], d.na) / d.n_i
    s_new = d.variances(x, b_new)
    return np.concatenate([d.centre(b_new), s_new]), x, d.stiffness(w, big_w)


def _exact(d: _Design, s: FloatArray) -> tuple[FloatArray, FloatArray]:
    r"""Minimise :math:`\sum w_i (u_{ij} - x_j - b_i)^2` exactly for the weights of ``s``.

    x is eliminated (the weighted mean of u - b), leaving :math:`A b = r` with the dense
    rater x rater matrix :math:`A = \mathrm{diag}(w_i n_i) - B^T B`,
    :math:`B_{ji} = w_i m_{ij} / \sqrt{W_j}`. A is singular along a constant per connected
    group; adding :math:`\bar a\, 1_g 1_g^T` for every group fixes the sum of b in each.
    """
    from scipy import linalg, sparse  # only stiff designs come here; keep imports light

    w = _weights(s)
    w_k = w[d.rater]
    big_w = groupby.sums(d.stimulus, w_k, d.n_stimuli)
    safe_w = np.where(d.rated, big_w, 1.0)
    c = groupby.sums(d.stimulus, w_k * d.score, d.n_stimuli) / safe_w
    rhs = w * groupby.sums(d.rater, d.score - c[d.stimulus], d.na)
    b_mat = sparse.csr_matrix(
        (w_k / np.sqrt(safe_w[d.stimulus]), (d.stimulus, d.rater)), shape=(d.n_stimuli, d.na)
    )
    a = -(b_mat.T @ b_mat).toarray()
    a[np.diag_indices(d.na)] += w * d.n_i
    member = np.zeros((d.na, d.n_groups))
    member[np.arange(d.na), d.group] = 1.0
    a += float(np.mean(np.diag(a))) * (member @ member.T)
    try:
        b = linalg.solve(a, rhs, assume_a="pos", check_finite=False)
    except linalg.LinAlgError:  # pragma: no cover - numerically indefinite: least squares
        b = linalg.lstsq(a, rhs, check_finite=False)[0]
    b = d.centre(np.asarray(b, dtype=np.float64))
    x, _ = d.x_of(b, w)
    return x, b


def _dv(s_new: FloatArray, s: FloatArray) -> float:
    return float(np.max(np.abs(np.sqrt(np.maximum(s_new, 0.0)) - np.sqrt(np.maximum(s, 0.0)))))


def _max_dx(d: _Design, x: FloatArray, x_old: FloatArray) -> float:
    return float(np.max(np.abs(x - x_old)[d.rated])) if d.rated.any() else 0.0


def fit(
    rater: IntArray,
    stimulus: IntArray,
    score: FloatArray,
    n_raters: int,
    n_stimuli: int,
    *,
    tol: float,
    max_iter: int,
) -> Fit:
    """Solve the MLE fixed point; see the module docstring.

    Stopping rule: the largest change of any x_j, b_i or v_i in one step is below ``tol``, and,
    for a sweep, below ``tol`` times the stiffness (a sweep on a stiff design moves by that
    fraction of the distance to the answer). ``max_iter`` counts sweeps and exact fits.
    """
    d = _Design(rater, stimulus, score, n_raters, n_stimuli)
    # sureal's starting point: x = plain means, b = mean residual, v^2 from them.
    x, _ = d.x_of(np.zeros(d.na), np.ones(d.na))
    b0 = groupby.sums(d.rater, d.score - x[d.stimulus], d.na) / d.n_i
    theta = np.concatenate([d.centre(b0), d.variances(x, b0)])
    accel = _Anderson(MEMORY)
    it, exact_steps, step, stiffness = 0, 0, np.inf, 1.0
    converged = False
    while it < max_iter:
        it += 1
        g, x_new, stiffness = _sweep(d, theta)
        f = g - theta
        step = max(_max_dx(d, x_new, x), float(np.max(np.abs(f[: d.na]))), _dv(g[d.na :], theta[d.na :]))
        x = x_new
        if step < tol * min(1.0, stiffness):
            converged = True
            break
        if (step < tol and stiffness < STIFF) or (it >= SWEEP_BUDGET and d.na <= MAX_EXACT_RATERS):
            break  # settled as far as sweeps can tell on a stiff design, or stuck: exact fits decide
        theta = accel.next(g, f) if it > WARMUP else g
    b, s = theta[: d.na], np.maximum(theta[d.na :], 0.0)
    if not converged and it < max_iter and d.na <= MAX_EXACT_RATERS:
        accel = _Anderson(MEMORY)
        while it < max_iter:
            it += 1
            exact_steps += 1
            x_new, b_new = _exact(d, s)
            s_new = d.variances(x_new, b_new)
            step = max(_max_dx(d, x_new, x), float(np.max(np.abs(b_new - b))), _dv(s_new, s))
            x, b = x_new, b_new
            if step < tol:
                converged = True
                break
            s = np.maximum(accel.next(s_new, s_new - s), 0.0)
    return _finish(d, x, b, it, exact_steps, step, converged, stiffness)


def _finish(
    d: _Design,
    x: FloatArray,
    b: FloatArray,
    it: int,
    exact_steps: int,
    step: float,
    converged: bool,
    stiffness: float,
) -> Fit:
    """x for the final b (centred), v from the final residuals, back to the caller's indices."""
    b = d.centre(b)
    s = d.variances(x, b)
    x_full = np.where(d.rated, x, np.nan)
    b_full = np.full(d.n_raters, np.nan)
    b_full[d.active] = b
    v_full = np.full(d.n_raters, np.nan)
    v_full[d.active] = np.sqrt(s)
    return Fit(
        x=x_full[d.rank_s],
        b=b_full[d.rank_r],
        v=v_full[d.rank_r],
        iterations=it,
        exact_steps=exact_steps,
        step=float(step),
        converged=converged,
        stiffness=stiffness,
        raters_at_floor=int((s < EPSILON).sum()),
    )
