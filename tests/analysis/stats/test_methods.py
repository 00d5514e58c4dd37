"""The alternative methods: plain MOS, vote-level outliers and the MLE rater model."""

import numpy as np
import pytest
from scipy import stats as sps

from analysis.stats import METHODS, Ratings, analyse


def ratings(rows, **kw):
    r, s, u = zip(*rows, strict=False)
    return Ratings.from_arrays(rater=list(r), stimulus=list(s), score=list(u), **kw)


def test_registry_lists_four_methods_with_name_and_version():
    assert set(METHODS) == {"bt500_zscore", "mos", "vote_outliers", "mle"}
    for name, m in METHODS.items():
        assert m.name == name
        assert m.version
        assert "ci" in m.defaults


# --------------------------------------------------------------------------- mos


def test_plain_mos_averages_raw_scores_and_rejects_no_one():
    rows = [(0, 0, 1), (1, 0, 2), (2, 0, 5), (0, 1, 4), (1, 1, 4), (2, 1, 4)]

    res = analyse(ratings(rows), "mos")

    assert res.stimuli.mos.tolist() == [8 / 3, 4.0]
    assert res.stimuli.sd[0] == pytest.approx(np.std([1, 2, 5], ddof=1))
    np.testing.assert_array_equal(res.stimuli.sd, res.stimuli.sd_raw)
    half = sps.t.ppf(0.975, 2) * np.std([1, 2, 5], ddof=1) / np.sqrt(3)
    assert res.stimuli.ci_high[0] == pytest.approx(8 / 3 + half)
    assert not res.raters.rejected.any()
    assert np.isnan(res.raters.bias).all()


def test_plain_mos_keeps_single_and_constant_raters():
    rows = [(0, 0, 3), (0, 1, 3), (1, 0, 5)]

    res = analyse(ratings(rows), "mos")

    assert res.stimuli.mos.tolist() == [4.0, 3.0]
    assert res.raters.reason.tolist() == ["", ""]


# --------------------------------------------------------------------------- vote_outliers


def outlier_study():
    """15 raters rate 40 stimuli (truth 0..10, noise SD 0.5); rater 14 gives stimulus 0 a 10.

    With 15 votes a vote can lie at most 14/sqrt(15) = 3.61 SDs from the mean; the wild vote
    lies at 3.57, every other vote below 2.95 (seed 0).
    """
    rng = np.random.default_rng(0)
    n_r, n_s = 15, 40
    u = np.linspace(0, 10, n_s)[None, :] + rng.normal(0, 0.5, (n_r, n_s))
    u[14, 0] = 10.0
    rater, stim = np.divmod(np.arange(n_r * n_s), n_s)
    return Ratings.from_arrays(rater=rater, stimulus=stim, score=u.ravel())


def test_vote_outliers_drops_the_wild_vote_only():
    r = outlier_study()

    res = analyse(r, "vote_outliers")

    assert res.stimuli.n.tolist() == [14] + [15] * 39
    assert res.notes[0].startswith("dropped 1 of 600 votes")
    assert not res.raters.rejected.any()


def test_vote_outliers_matches_manual_computation():
    r = outlier_study()
    u = r.score.reshape(15, 40)
    z = (u - u.mean(1, keepdims=True)) / u.std(1, ddof=1, keepdims=True)
    dist = np.abs(z - z.mean(0)) / z.std(0, ddof=1)
    keep = dist < 3.29
    assert (~keep).sum() == 1
    assert not keep[14, 0]

    res = analyse(r, "vote_outliers")

    zp = 100 * (z + 3) / 6
    expected = [zp[keep[:, j], j].mean() for j in range(40)]
    np.testing.assert_allclose(res.stimuli.mos, expected, atol=1e-12)
    assert res.stimuli.sd_raw[0] == pytest.approx(u[:14, 0].std(ddof=1))


def test_vote_outliers_threshold_is_a_parameter():
    res = analyse(outlier_study(), "vote_outliers", threshold=100.0)

    assert res.stimuli.n.tolist() == [15] * 40
    assert res.params == {"threshold": 100.0, "ci": 0.95}


def test_vote_outliers_excludes_unzscorable_raters():
    rows = [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 3), (2, 0, 5)]

    res = analyse(ratings(rows), "vote_outliers")

    assert res.raters.reason.tolist() == ["", "zero_variance", "too_few_ratings"]
    assert res.stimuli.n.tolist() == [1, 1]


# --------------------------------------------------------------------------- mle


def additive_study(seed=0, noise=0.0, n_s=30, n_r=8, coverage=1.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 5, n_s)
    b = rng.normal(0, 0.5, n_r)
    b -= b.mean()
    rows = []
    for i in range(n_r):
        for j in range(n_s):
            if rng.random() < coverage:
                rows.append((i, j, x[j] + b[i] + noise * rng.normal()))
    return ratings(rows, n_raters=n_r, n_stimuli=n_s), x, b


def test_mle_recovers_noise_free_additive_model_exactly():
    r, x, b = additive_study(noise=0.0, coverage=0.7)

    res = analyse(r, "mle")

    np.testing.assert_allclose(res.stimuli.mos, x, atol=1e-6)
    np.testing.assert_allclose(res.raters.bias, b, atol=1e-6)
    assert res.raters.bias.mean() == pytest.approx(0, abs=1e-12)
    assert res.notes[0].startswith("MLE converged")


def test_mle_ci_uses_model_standard_error():
    r, _, _ = additive_study(seed=1, noise=0.3)

    res = analyse(r, "mle")

    v = res.raters.inconsistency
    se = 1 / np.sqrt(np.sum(1 / (v**2 + 1e-8)))  # complete design: every rater rates j
    half = sps.norm.ppf(0.975) * se
    np.testing.assert_allclose(res.stimuli.ci_high - res.stimuli.mos, half, rtol=1e-9)
    np.testing.assert_allclose(res.stimuli.mos - res.stimuli.ci_low, half, rtol=1e-9)


def test_mle_reports_inconsistency_of_noisy_raters():
    rng = np.random.default_rng(2)
    n_s, n_r = 200, 6
    x = rng.uniform(1, 5, n_s)
    sigma = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 1.0])
    rows = [(i, j, x[j] + sigma[i] * rng.normal()) for i in range(n_r) for j in range(n_s)]

    res = analyse(ratings(rows), "mle")

    assert res.raters.inconsistency[5] == pytest.approx(1.0, rel=0.15)
    assert res.raters.inconsistency[:5].max() < 0.2
    # the precise raters dominate: MLE is closer to the truth than the plain mean
    plain = analyse(ratings(rows), "mos").stimuli.mos
    assert np.abs(res.stimuli.mos - x).mean() < np.abs(plain - x).mean()


def test_mle_excludes_single_rating_raters():
    rows = [(0, 0, 1), (0, 1, 3), (1, 0, 2), (1, 1, 4), (2, 0, 5)]

    res = analyse(ratings(rows), "mle")

    assert res.raters.reason.tolist() == ["", "", "too_few_ratings"]
    assert np.isnan(res.raters.bias[2])
    assert res.stimuli.n.tolist() == [2, 2]


def test_mle_stops_at_max_iter_with_a_note():
    r, _, _ = additive_study(seed=3, noise=0.3, coverage=0.5)

    res = analyse(r, "mle", max_iter=1, tol=1e-12)

    assert res.notes[0].startswith("MLE did not converge in 1 iterations")
    assert res.params["max_iter"] == 1


def test_mle_rejects_bad_max_iter():
    r, _, _ = additive_study()

    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        analyse(r, "mle", max_iter=0)
