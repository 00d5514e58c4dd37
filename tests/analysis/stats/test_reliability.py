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


def _direct_split_half(r: Ratings, rng: np.random.Generator, n_splits: int) -> list[float]:
    """One split at a time with Python dicts: per stimulus means of z-scores in each half."""
    z = {}
    for i in range(r.n_raters):
        mine = r.score[r.rater == i]
        if mine.size >= 2 and mine.std(ddof=1) > 0:
            z[i] = (mine.mean(), mine.std(ddof=1))
    active = np.flatnonzero(np.bincount(r.rater[np.isin(r.rater, list(z))], minlength=r.n_raters) > 0)
    out = []
    for _ in range(n_splits):
        half_a = set(rng.permutation(active)[: active.size // 2].tolist())
        sums: dict[int, list[list[float]]] = {}
        for i, j, u in zip(r.rater.tolist(), r.stimulus.tolist(), r.score.tolist(), strict=True):
            if i in z:
                sums.setdefault(j, [[], []])[0 if i in half_a else 1].append((u - z[i][0]) / z[i][1])
        pairs = [(np.mean(a), np.mean(b)) for a, b in sums.values() if a and b]
        if len(pairs) >= 3:
            rho = float(np.corrcoef(np.array(pairs).T)[0, 1])
            if rho > -1:
                out.append(min(1.0, max(-1.0, 2 * rho / (1 + rho))))
    return out


def test_split_half_matches_a_direct_computation_split_by_split():
    # given an incomplete design with a few random raters
    rng = np.random.default_rng(5)
    rater = np.repeat(np.arange(30), 20)
    stimulus = np.concatenate([rng.choice(60, 20, replace=False) for _ in range(30)])
    truth = rng.uniform(1, 5, 60)
    score = np.clip(np.rint(truth[stimulus] + rng.normal(0, 0.7, rater.size)), 1, 5)
    r = Ratings.from_arrays(rater=rater, stimulus=stimulus, score=score)

    # when both draw their halves from the same seed
    fast = reliability.split_half(r, rng=np.random.default_rng(9), n_splits=25)
    direct = _direct_split_half(r, np.random.default_rng(9), 25)

    # then the mean and the percentiles agree to rounding
    assert fast.n_splits == len(direct)
    assert fast.mean_r == pytest.approx(np.mean(direct), abs=1e-12)
    assert (fast.ci_low, fast.ci_high) == pytest.approx(tuple(np.percentile(direct, [2.5, 97.5])), abs=1e-12)


def test_spearman_brown_stays_a_correlation():
    from analysis.stats.reliability import spearman_brown

    out = spearman_brown(np.array([-0.9, -0.5, -1 / 3, 0.0, 0.5, 1.0]))

    assert out.min() >= -1.0
    assert out.max() <= 1.0
    assert out.tolist()[:3] == [-1.0, -1.0, pytest.approx(-1.0)]


def test_large_studies_draw_fewer_splits():
    from analysis.stats.reliability import splits_for

    assert splits_for(50_000, 100) == 100
    assert splits_for(1_000_000, 100) == 10
    assert splits_for(1_000, 0) == 0
