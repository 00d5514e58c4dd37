"""The MLE solvers on sparse designs: they converge, say so, and their answer is the fixed point."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.stats import Ratings, analyse
from analysis.stats.mle import VARIANCE_FLOOR, solve
from analysis.stats.mle_fit import components


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


def _complete(n_stimuli: int, n_raters: int, seed: int, coverage: float = 1.0) -> Ratings:
    rng = np.random.default_rng(seed)
    rater, stimulus = np.divmod(np.arange(n_stimuli * n_raters), n_stimuli)
    keep = rng.random(rater.size) < coverage
    keep[:n_stimuli] = True  # rater 0 rates everything: one connected design
    rater, stimulus = rater[keep], stimulus[keep]
    truth = rng.uniform(1, 5, n_stimuli)
    noise = rng.uniform(0.3, 1.2, n_raters)[rater] * rng.normal(0, 1, rater.size)
    score = np.clip(np.rint(truth[stimulus] + rng.normal(0, 0.4, n_raters)[rater] + noise), 1, 5)
    return Ratings.from_arrays(rater=rater, stimulus=stimulus, score=score)


def _fixed_point_residuals(r: Ratings, res) -> tuple[float, float]:
    x, b, v = res.stimuli.mos, res.raters.bias, res.raters.inconsistency
    wk = (1.0 / (v**2 + VARIANCE_FLOOR))[r.rater]
    x_again = np.bincount(r.stimulus, wk * (r.score - b[r.rater])) / np.bincount(r.stimulus, wk)
    b_again = np.bincount(r.rater, r.score - x[r.stimulus]) / np.bincount(r.rater)
    return float(np.max(np.abs(x_again - x))), float(np.max(np.abs(b_again - b)))


def test_the_default_converges_where_the_sweeps_stop_at_their_cap():
    # given 4 ratings per stimulus and 40 per rater: sureal's sweeps stop unconverged at 1,000
    r = _sparse(400, 40, 40, seed=1)
    assert analyse(r, "mle", solver="sweeps").diagnostics["converged"] is False

    res = analyse(r, "mle", solver="accelerated")

    d = res.diagnostics
    assert d["converged"] is True
    assert d["iterations"] < 400
    assert d["last_max_dx"] < 1e-8
    assert d["exact_steps"] > 0  # a stiff design: the exact fits finished it
    assert d["stiffness"] < 1e-3
    assert d["raters_at_floor"] == int(np.sum(res.raters.inconsistency < 1e-4)) > 0
    assert res.notes[0].startswith("MLE converged in")
    assert any("fitted exactly" in n for n in res.notes)
    dx, db = _fixed_point_residuals(r, res)
    assert dx < 1e-8
    assert db < 1e-8
    assert abs(np.nanmean(res.raters.bias)) < 1e-12


def test_on_a_stiff_design_a_small_sweep_step_is_not_taken_for_convergence():
    # given a design where the sweeps' max |dx| falls below 1e-8 far from the answer
    r = _sparse(1000, 40, 100, seed=1)
    sweeps = analyse(r, "mle", solver="sweeps")
    assert sweeps.diagnostics["converged"] is True  # by the old stopping rule

    res = analyse(r, "mle", solver="accelerated")

    # then the default goes on to the fixed point: 0.01 away, which the sweeps crawl towards
    # by about 1e-9 per sweep (a million sweeps to go)
    assert res.diagnostics["converged"] is True
    assert max(_fixed_point_residuals(r, res)) < 1e-8
    far = np.nanmax(np.abs(sweeps.stimuli.mos - res.stimuli.mos))
    longer = analyse(r, "mle", solver="sweeps", tol=1e-15, max_iter=3000)
    nearer = np.nanmax(np.abs(longer.stimuli.mos - res.stimuli.mos))
    assert far > 1e-3
    assert far - 1e-4 < nearer < far


def test_agrees_with_the_sweeps_where_they_converge():
    # (on a stiff design the sweeps' answer is not the fixed point even at max |dx| < 1e-13)
    designs = (
        _complete(60, 12, seed=1),
        _complete(80, 20, seed=3, coverage=0.6),
        _complete(100, 15, seed=5, coverage=0.5),
        _complete(100, 30, seed=6, coverage=0.4),
    )
    for r in designs:
        x, b, v, it, step = solve(
            r.rater, r.stimulus, r.score, r.n_raters, r.n_stimuli, tol=1e-13, max_iter=20_000
        )
        assert step < 1e-13  # the sweeps converged here

        res = analyse(r, "mle", solver="accelerated", tol=1e-12)

        assert res.diagnostics["converged"] is True
        assert res.diagnostics["stiffness"] > 0.5
        assert res.diagnostics["iterations"] < it
        np.testing.assert_allclose(res.stimuli.mos, x, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.raters.bias, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.raters.inconsistency, v, rtol=0, atol=1e-12)


def test_a_dense_design_converges_in_a_few_sweeps():
    r = _complete(30, 12, seed=1)

    res = analyse(r, "mle", solver="accelerated")

    assert res.diagnostics["converged"] is True
    assert res.diagnostics["iterations"] < 30
    assert res.diagnostics["exact_steps"] == 0
    assert res.diagnostics["raters_at_floor"] == 0


def test_an_unconverged_fit_says_so():
    r = _sparse(400, 40, 40, seed=1)

    res = analyse(r, "mle", solver="accelerated", max_iter=30)

    assert res.diagnostics["converged"] is False
    assert res.diagnostics["iterations"] == 30
    assert res.notes[0].startswith("MLE did not converge in 30 iterations")
    assert "treat its scores as approximate" in res.notes[0]


def test_disconnected_groups_are_centred_each():
    # given two groups of raters that share no stimulus
    a = _complete(20, 5, seed=3)
    b = _complete(15, 4, seed=4)
    r = Ratings.from_arrays(
        rater=np.concatenate([a.rater, b.rater + 5]),
        stimulus=np.concatenate([a.stimulus, b.stimulus + 20]),
        score=np.concatenate([a.score, b.score]),
    )
    assert components(r.rater, r.stimulus, 9, 35).tolist() == [0] * 5 + [1] * 4

    res = analyse(r, "mle", solver="accelerated")

    assert res.diagnostics["converged"] is True
    assert abs(res.raters.bias[:5].sum()) < 1e-12
    assert abs(res.raters.bias[5:].sum()) < 1e-12
    # each group alone gives the same numbers
    alone = analyse(b, "mle", solver="accelerated")
    np.testing.assert_allclose(res.stimuli.mos[20:], alone.stimuli.mos, atol=1e-9)


SPARSE = [
    _sparse(400, 40, 40, seed=1),
    _sparse(1000, 40, 100, seed=2),
    _complete(40, 10, seed=5, coverage=0.6),
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SPARSE))), st.integers(0, 2**32 - 1))
def test_the_order_of_the_ratings_changes_nothing(which, seed):
    # given a design (two of them stiff, with raters fitted exactly) and its rows shuffled
    r = SPARSE[which]
    order = np.random.default_rng(seed).permutation(r.n_ratings)
    shuffled = Ratings.from_arrays(
        rater=r.rater[order],
        stimulus=r.stimulus[order],
        score=r.score[order],
        n_raters=r.n_raters,
        n_stimuli=r.n_stimuli,
    )

    a, b = analyse(r, "mle", solver="accelerated"), analyse(shuffled, "mle", solver="accelerated")

    # then the solver's answer is the same to the last bit; the per-stimulus SDs and CIs, summed
    # in input order, to rounding
    assert np.array_equal(a.raters.bias, b.raters.bias, equal_nan=True)
    assert np.array_equal(a.raters.inconsistency, b.raters.inconsistency, equal_nan=True)
    assert np.array_equal(a.stimuli.mos, b.stimuli.mos, equal_nan=True)
    for field in ("sd", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(a.stimuli, field), getattr(b.stimuli, field), rtol=1e-10)
    assert a.diagnostics == b.diagnostics
