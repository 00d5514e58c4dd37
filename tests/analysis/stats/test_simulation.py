"""Planted-truth simulation: an incomplete crowdsourced design with random raters."""

import numpy as np
import pytest

from analysis.stats import Ratings, analyse

N_STIMULI, N_RATERS, COVERAGE = 200, 100, 0.10


def crowd(seed, coverage=COVERAGE, n_raters=N_RATERS):
    """200 stimuli x 100 raters; at 10% coverage each rater scores 20 stimuli, 10 per stimulus.

    Honest raters: round(truth + bias + N(0, v^2)) on 1..5, bias ~ N(0, 0.5), v ~ U(0.3, 0.6).
    Random raters (every 10th): uniform integers 1..5.
    """
    rng = np.random.default_rng(seed)
    per = int(N_STIMULI * coverage)
    stim = np.concatenate([rng.permutation(N_STIMULI) for _ in range(n_raters * per // N_STIMULI)])
    rater = np.repeat(np.arange(n_raters), per)
    truth = rng.uniform(1.5, 4.5, N_STIMULI)
    bias = rng.normal(0, 0.5, n_raters)
    v = rng.uniform(0.3, 0.6, n_raters)
    random_rater = np.arange(n_raters) % 10 == 0
    score = np.clip(np.rint(truth[stim] + bias[rater] + v[rater] * rng.normal(size=stim.size)), 1, 5)
    rand = random_rater[rater]
    score[rand] = rng.integers(1, 6, int(rand.sum()))
    r = Ratings.from_arrays(rater=rater, stimulus=stim, score=score, n_stimuli=N_STIMULI)
    return r, truth, bias, random_rater


def test_bt500_rejects_only_random_raters_at_10_ratings_per_stimulus():
    # BT.500 counts few outliers in panels of 10: a vote can lie at most 9/sqrt(10) = 2.85 SDs
    # from the mean, so only stimuli with kurtosis in [2, 4] (k = 2) ever count, and a rater
    # needs balanced counts (P = Q when P + Q = 2 or 3). Measured over seeds 0-9: 12 of 100
    # random raters rejected, 0 of 900 honest ones. Everything rejected must be random.
    random_rejected = honest_rejected = 0
    for seed in range(10):
        r, truth, _, random_rater = crowd(seed)
        res = analyse(r)
        random_rejected += int(res.raters.rejected[random_rater].sum())
        honest_rejected += int(res.raters.rejected[~random_rater].sum())
        assert np.corrcoef(res.stimuli.mos, truth)[0, 1] > 0.9

    assert honest_rejected <= 2  # of 900
    assert random_rejected >= 5  # of 100


def test_bt500_rejects_most_random_raters_with_30_ratings_per_stimulus():
    # same crowd at 30% coverage (30 ratings per stimulus): measured 39 of 60 random raters
    # rejected over seeds 0-5, no honest one.
    random_rejected = honest_rejected = 0
    for seed in range(6):
        r, _, _, random_rater = crowd(seed, coverage=0.30)
        res = analyse(r)
        random_rejected += int(res.raters.rejected[random_rater].sum())
        honest_rejected += int(res.raters.rejected[~random_rater].sum())

    assert random_rejected >= 30  # of 60
    assert honest_rejected <= 5  # of 540


def test_bt500_rejects_most_random_raters_at_10_percent_coverage_with_a_larger_crowd():
    # 10% coverage (each rater sees 20 of 200 stimuli) with 300 raters: 30 ratings per stimulus.
    # Measured over seeds 0-3: 35 of 120 random raters rejected, 0 of 1080 honest ones. With only
    # 20 scores per rater, a random rater's P and Q are often unbalanced (2-0), which BT.500 keeps.
    random_rejected = honest_rejected = 0
    for seed in range(4):
        r, _, _, random_rater = crowd(seed, coverage=0.10, n_raters=300)
        res = analyse(r)
        random_rejected += int(res.raters.rejected[random_rater].sum())
        honest_rejected += int(res.raters.rejected[~random_rater].sum())

    assert random_rejected >= 25  # of 120
    assert honest_rejected <= 2  # of 1080


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_total_denominator_misses_random_raters_at_low_coverage(seed):
    # docs/protocol.md: dividing by all stimuli silently disables rejection at 10% coverage
    r, _, _, random_rater = crowd(seed)

    res = analyse(r, screening_denominator="total")

    assert res.raters.rejected[random_rater].sum() == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mle_recovers_planted_biases(seed):
    r, truth, bias, random_rater = crowd(seed)

    res = analyse(r, "mle")

    honest = ~random_rater
    assert np.corrcoef(res.raters.bias[honest], bias[honest])[0, 1] > 0.9
    assert np.corrcoef(res.stimuli.mos, truth)[0, 1] > 0.9
    # the model finds the random raters: they are the 10 most inconsistent ones
    most_inconsistent = np.argsort(-res.raters.inconsistency)[: int(random_rater.sum())]
    assert random_rater[most_inconsistent].mean() >= 0.9


def test_zscored_mos_is_centred_near_50():
    r, _, _, _ = crowd(0)

    mos = analyse(r).stimuli.mos

    assert 45 < mos.mean() < 55
    assert mos.min() > 0
    assert mos.max() < 100
