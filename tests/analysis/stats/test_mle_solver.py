"""The MLE solver on a sparse design: it converges, says so, and its answer is the fixed point."""

import numpy as np

from analysis.stats import Ratings, analyse
from analysis.stats.mle import VARIANCE_FLOOR


def _sparse(n_stimuli: int = 2000, n_raters: int = 80, per_rater: int = 100, seed: int = 4) -> Ratings:
    rng = np.random.default_rng(seed)
    rater = np.repeat(np.arange(n_raters), per_rater)
    stimulus = np.concatenate([rng.permutation(n_stimuli) for _ in range(-(-rater.size // n_stimuli))])[
        : rater.size
    ]
    truth = rng.uniform(1.5, 4.5, n_stimuli)
    bias = rng.normal(0, 0.4, n_raters)
    noise = rng.uniform(0.3, 0.9, n_raters)[rater] * rng.normal(0, 1, rater.size)
    score = np.clip(np.rint(truth[stimulus] + bias[rater] + noise), 1, 5)
    return Ratings.from_arrays(rater=rater, stimulus=stimulus, score=score)


def test_a_sparse_design_converges_and_reports_it():
    # given 4 ratings per stimulus, where alternating sweeps alone crawl
    r = _sparse()

    res = analyse(r, "mle", solver="exact")

    assert res.diagnostics["converged"] is True
    assert res.diagnostics["iterations"] > 50  # the exact weighted fits took over from the sweeps
    assert res.diagnostics["last_max_dx"] < 1e-8


def test_the_answer_satisfies_the_fixed_point_equations():
    r = _sparse()

    res = analyse(r, "mle", solver="exact")

    # then x_j is the weighted mean of u - b, and b_i the mean of u - x (up to the tolerance)
    x, b, v = res.stimuli.mos, res.raters.bias, res.raters.inconsistency
    w = 1.0 / (v**2 + VARIANCE_FLOOR)
    wk = w[r.rater]
    x_again = np.bincount(r.stimulus, wk * (r.score - b[r.rater])) / np.bincount(r.stimulus, wk)
    b_again = np.bincount(r.rater, r.score - x[r.stimulus]) / np.bincount(r.rater)
    assert np.max(np.abs(x_again - x)) < 1e-6
    assert np.max(np.abs(b_again - b)) < 1e-6
    assert abs(b.mean()) < 1e-12


def test_a_dense_design_keeps_the_sweeps_answer():
    # given every rater rating every stimulus: the sweeps converge in a few iterations
    rng = np.random.default_rng(1)
    rater, stimulus = np.divmod(np.arange(30 * 12), 30)
    score = np.clip(np.rint(rng.uniform(1, 5, 30)[stimulus] + rng.normal(0, 0.5, rater.size)), 1, 5)
    r = Ratings.from_arrays(rater=rater, stimulus=stimulus, score=score)

    res = analyse(r, "mle", solver="exact")

    assert res.diagnostics["converged"] is True
    assert res.diagnostics["iterations"] < 50
