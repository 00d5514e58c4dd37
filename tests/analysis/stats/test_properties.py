"""Invariances every method must respect, checked on random small designs (hypothesis)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.stats import METHODS, Ratings, analyse
from analysis.stats.zscore import rater_zscores

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def designs(draw):
    """An incomplete design: 2-7 raters x 2-9 stimuli, integer scores 1..5, >= 40% coverage."""
    n_r = draw(st.integers(2, 7))
    n_s = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_r, n_s)) < draw(st.floats(0.4, 1.0))
    mask[0, 0] = True
    rater, stim = np.nonzero(mask)
    score = rng.integers(1, 6, rater.size).astype(float)
    return Ratings.from_arrays(rater=rater, stimulus=stim, score=score, n_raters=n_r, n_stimuli=n_s)


def assert_same(a, b):
    for field in ("mos", "sd", "sd_raw", "n", "ci_low", "ci_high"):
        np.testing.assert_allclose(
            getattr(a.stimuli, field),
            getattr(b.stimuli, field),
            rtol=1e-9,
            atol=1e-9,
            err_msg=field,
        )


@SETTINGS
@given(designs(), st.data())
def test_zscores_invariant_to_each_raters_positive_affine_rescaling(r, data):
    scale = np.array(data.draw(st.lists(st.floats(0.1, 10), min_size=r.n_raters, max_size=r.n_raters)))
    shift = np.array(data.draw(st.lists(st.floats(-50, 50), min_size=r.n_raters, max_size=r.n_raters)))
    moved = Ratings.from_arrays(
        rater=r.rater,
        stimulus=r.stimulus,
        score=r.score * scale[r.rater] + shift[r.rater],
        n_raters=r.n_raters,
        n_stimuli=r.n_stimuli,
    )

    z0 = rater_zscores(r.rater, r.score, r.n_raters)
    z1 = rater_zscores(moved.rater, moved.score, moved.n_raters)

    np.testing.assert_allclose(z0.z, z1.z, atol=1e-9)
    assert z0.usable.tolist() == z1.usable.tolist()
    # the whole pipeline when it only sees z-scores
    a = analyse(r, screen_on="zscores")
    b = analyse(moved, screen_on="zscores")
    np.testing.assert_allclose(a.stimuli.mos, b.stimuli.mos, atol=1e-9)
    assert a.raters.rejected.tolist() == b.raters.rejected.tolist()


@SETTINGS
@given(designs(), st.sampled_from(sorted(METHODS)), st.integers(0, 2**32 - 1))
def test_permuting_rater_labels_changes_nothing(r, method, seed):
    perm = np.random.default_rng(seed).permutation(r.n_raters)  # old label -> new label
    relabelled = Ratings.from_arrays(
        rater=perm[r.rater],
        stimulus=r.stimulus,
        score=r.score,
        n_raters=r.n_raters,
        n_stimuli=r.n_stimuli,
    )

    a, b = analyse(r, method), analyse(relabelled, method)

    assert_same(a, b)
    assert b.raters.reason[perm].tolist() == a.raters.reason.tolist()
    np.testing.assert_allclose(b.raters.ratio1[perm], a.raters.ratio1)
    np.testing.assert_allclose(b.raters.bias[perm], a.raters.bias, atol=1e-9)


@SETTINGS
@given(designs(), st.sampled_from(sorted(METHODS)), st.integers(0, 2**32 - 1))
def test_permuting_stimulus_order_permutes_results(r, method, seed):
    perm = np.random.default_rng(seed).permutation(r.n_stimuli)
    moved = Ratings.from_arrays(
        rater=r.rater,
        stimulus=perm[r.stimulus],
        score=r.score,
        n_raters=r.n_raters,
        n_stimuli=r.n_stimuli,
    )

    a, b = analyse(r, method), analyse(moved, method)

    for field in ("mos", "sd", "sd_raw", "n", "ci_low", "ci_high"):
        np.testing.assert_allclose(
            getattr(b.stimuli, field)[perm], getattr(a.stimuli, field), rtol=1e-9, atol=1e-9
        )
    assert a.raters.rejected.tolist() == b.raters.rejected.tolist()


@SETTINGS
@given(designs(), st.sampled_from(sorted(METHODS)), st.integers(0, 2**32 - 1))
def test_row_order_changes_nothing(r, method, seed):
    order = np.random.default_rng(seed).permutation(r.n_ratings)
    shuffled = Ratings.from_arrays(
        rater=r.rater[order],
        stimulus=r.stimulus[order],
        score=r.score[order],
        n_raters=r.n_raters,
        n_stimuli=r.n_stimuli,
    )

    assert_same(analyse(r, method), analyse(shuffled, method))


@SETTINGS
@given(designs())
def test_outputs_have_declared_shapes_and_kept_counts_add_up(r):
    res = analyse(r)

    assert res.stimuli.mos.shape == (r.n_stimuli,)
    assert res.raters.n.shape == (r.n_raters,)
    kept = ~res.raters.rejected
    assert res.stimuli.n.sum() == res.raters.n[kept].sum()
    assert set(res.raters.reason.tolist()) <= {
        "",
        "screening",
        "zero_variance",
        "too_few_ratings",
        "no_ratings",
    }
    finite = np.isfinite(res.stimuli.mos)
    assert (res.stimuli.n[finite] > 0).all()
