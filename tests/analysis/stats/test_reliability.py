"""Split-half reliability and rater-vs-rest agreement."""

import numpy as np
import pytest

from analysis.stats import Ratings, reliability


def noisy_panel(seed, n_s=60, n_r=12, noise=0.5, bad=()):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1, 5, n_s)
    rater, stim = np.divmod(np.arange(n_s * n_r), n_s)
    score = truth[stim] + noise * rng.normal(size=stim.size)
    for i in bad:
        score[rater == i] = rng.uniform(1, 5, n_s)
    return Ratings.from_arrays(rater=rater, stimulus=stim, score=score), truth


def test_split_half_is_near_spearman_brown_prediction():
    # true-score variance (4^2/12 = 1.33) vs error variance of a 6-rater mean (0.25/6):
    # r_half = 1.33/(1.33+0.042) = 0.97, full panel 2r/(1+r) = 0.985
    r, _ = noisy_panel(0)

    out = reliability.split_half(r, rng=np.random.default_rng(1), n_splits=50, scores="raw")

    assert out.mean_r == pytest.approx(0.985, abs=0.01)
    assert out.n_splits == 50
    assert out.ci_low <= out.mean_r <= out.ci_high
    assert out.scores == "raw"


def test_split_half_is_reproducible_with_the_same_rng_seed():
    r, _ = noisy_panel(0)

    a = reliability.split_half(r, rng=np.random.default_rng(7), n_splits=10)
    b = reliability.split_half(r, rng=np.random.default_rng(7), n_splits=10)
    c = reliability.split_half(r, rng=np.random.default_rng(8), n_splits=10)

    assert a == b
    assert a.mean_r != c.mean_r


def test_split_half_drops_with_noise():
    clean, _ = noisy_panel(0, noise=0.2)
    noisy, _ = noisy_panel(0, noise=2.0)
    rng = np.random.default_rng(0)

    assert reliability.split_half(clean, rng=rng).mean_r > reliability.split_half(noisy, rng=rng).mean_r + 0.1


def test_split_half_without_enough_overlap_gives_nan():
    r = Ratings.from_arrays(rater=[0, 1], stimulus=[0, 1], score=[1, 2])

    out = reliability.split_half(r, rng=np.random.default_rng(0), n_splits=5)

    assert out.n_splits == 0
    assert np.isnan(out.mean_r)


def test_rater_vs_rest_flags_random_raters():
    r, _ = noisy_panel(3, bad=(4, 9))

    corr = reliability.rater_vs_rest(r)

    assert corr.shape == (12,)
    assert corr[[4, 9]].max() < 0.4
    assert np.delete(corr, [4, 9]).min() > 0.8


def test_rater_vs_rest_matches_dense_computation():
    r, _ = noisy_panel(5, n_s=10, n_r=5)
    m = r.score.reshape(5, 10)

    corr = reliability.rater_vs_rest(r)

    for i in range(5):
        rest = np.delete(m, i, axis=0).mean(0)
        assert corr[i] == pytest.approx(np.corrcoef(m[i], rest)[0, 1], abs=1e-12)


def test_rater_vs_rest_is_nan_below_three_common_stimuli():
    r = Ratings.from_arrays(
        rater=[0, 0, 1, 1, 2, 2, 2],
        stimulus=[0, 1, 0, 1, 0, 1, 2],
        score=[1, 2, 2, 3, 1, 3, 5],
        n_raters=4,
    )

    corr = reliability.rater_vs_rest(r)

    assert np.isnan(corr).all()
