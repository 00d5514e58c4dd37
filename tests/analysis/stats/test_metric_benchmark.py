"""The benchmark maths equals scipy computed directly, and its choices hold (no Django)."""

import numpy as np
import pytest
from scipy import stats

from analysis.stats import metric_benchmark as mb
from tests.analysis.benchmark.planted import independent_fit


def planted(n=300, seed=0):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(20, 80, n)
    return mos, {
        # Transforms whose inverse is sigmoid-like, as real metrics are: the logistic has an optimum.
        "sharp": np.log((mos + rng.normal(0, 0.5, n) - 5) / (95 - mos)),
        "fair": (lambda c: c + 0.4 * c**3)((mos + rng.normal(0, 4, n) - 50) / 15),
        "inverse": -((((mos + rng.normal(0, 9, n)) - 50) / 15) ** 3),
    }


@pytest.mark.parametrize("name", ["sharp", "fair", "inverse"])
def test_figures_equal_scipy_and_an_independent_logistic_fit(name):
    mos, metrics = planted()
    x = metrics[name]

    f = mb.figures(x, mos)

    assert f.srcc == pytest.approx(stats.spearmanr(x, mos).statistic, abs=1e-12)
    assert f.krcc == pytest.approx(stats.kendalltau(x, mos).statistic, abs=1e-12)
    mapped = independent_fit(x, mos)
    assert f.mapping.kind == "logistic5"
    assert f.plcc == pytest.approx(stats.pearsonr(mapped, mos).statistic, abs=1e-6)
    assert f.rmse == pytest.approx(np.sqrt(np.mean((mapped - mos) ** 2)), abs=1e-6)


def test_the_least_noisy_metric_is_best_in_every_column():
    mos, metrics = planted()
    names = list(metrics)
    figs = [mb.figures(metrics[n], mos) for n in names]

    for col in mb.COLUMNS:
        assert names[mb.best_index([f.value(col) for f in figs], col)] == "sharp"


def test_a_lower_is_better_metric_has_negative_rank_correlations_and_positive_plcc():
    mos, metrics = planted()

    f = mb.figures(metrics["inverse"], mos)

    assert f.srcc < -0.8
    assert f.krcc < -0.6
    assert f.plcc > 0.8


def test_fit_falls_back_to_the_line_when_the_logistic_fails_and_says_so():
    # given a start from which the optimiser can only produce non-finite values
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=60), rng.normal(size=60)

    m = mb.fit_mapping(x, y, p0=(np.inf, 1.0, 0.0, 0.0, 0.0))

    assert m.kind == "linear"
    assert "least-squares line" in m.note
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(m(x), slope * x + intercept, atol=1e-9)


def test_constant_or_too_few_stimuli_give_nan_figures():
    assert np.isnan(mb.figures(np.ones(10), np.arange(10.0)).srcc)
    assert np.isnan(mb.figures(np.arange(4.0), np.arange(4.0)).plcc)


def test_kendall_tau_b_equals_scipy_with_ties():
    rng = np.random.default_rng(2)
    for _ in range(20):
        x = rng.integers(0, 8, 200).astype(float)
        y = x + rng.integers(-3, 4, 200)
        assert mb.kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_bootstrap_is_seeded_and_its_srcc_resamples_equal_spearmanr():
    mos, metrics = planted(n=120)
    x = metrics["fair"]
    f = mb.figures(x, mos)
    idx = mb.resample_indices(mos.size, n_boot=50, rng=np.random.default_rng(7))

    b1 = mb.bootstrap(x, mos, idx, mapping=f.mapping)
    b2 = mb.bootstrap(
        x, mos, mb.resample_indices(mos.size, n_boot=50, rng=np.random.default_rng(7)), mapping=f.mapping
    )

    np.testing.assert_array_equal(b1.values["srcc"], b2.values["srcc"])
    for k in (0, 17, 49):
        assert b1.values["srcc"][k] == pytest.approx(
            stats.spearmanr(x[idx[k]], mos[idx[k]]).statistic, abs=1e-12
        )
        assert b1.values["krcc"][k] == pytest.approx(
            stats.kendalltau(x[idx[k]], mos[idx[k]]).statistic, abs=1e-12
        )
    for col in mb.COLUMNS:
        lo, hi = b1.ci[col]
        assert lo <= f.value(col) <= hi


def test_refit_bootstrap_gives_intervals_around_the_point_values():
    mos, metrics = planted(n=120)
    x = metrics["sharp"]
    f = mb.figures(x, mos)
    idx = mb.resample_indices(mos.size, n_boot=30, rng=np.random.default_rng(1))

    b = mb.bootstrap(x, mos, idx, mapping=f.mapping, refit=True)

    assert np.isfinite(b.values["plcc"]).all()
    assert b.ci["plcc"][0] <= f.plcc <= b.ci["plcc"][1]
    assert b.ci["rmse"][0] <= f.rmse <= b.ci["rmse"][1]


def test_compare_finds_the_planted_difference_and_not_a_null_one():
    mos, metrics = planted()
    idx = mb.resample_indices(mos.size, n_boot=300, rng=np.random.default_rng(0))
    boots = {n: mb.bootstrap(x, mos, idx, mapping=None) for n, x in metrics.items()}
    point = {n: mb.figures(x, mos) for n, x in metrics.items()}

    better = mb.compare(
        point["sharp"].srcc,
        point["inverse"].srcc,
        boots["sharp"].values["srcc"],
        boots["inverse"].values["srcc"],
    )
    same = mb.compare(
        point["fair"].srcc, point["fair"].srcc, boots["fair"].values["srcc"], boots["fair"].values["srcc"]
    )

    assert better.significant
    assert better.diff > 0
    assert better.p_value < 0.01
    assert not same.significant
    assert same.p_value == 1.0


def test_prompt_splits_keep_each_prompt_on_one_side_and_are_reproducible():
    prompts = np.repeat(np.arange(25), 4)

    a = mb.prompt_splits(prompts, n_splits=10, rng=np.random.default_rng(3))
    b = mb.prompt_splits(prompts, n_splits=10, rng=np.random.default_rng(3))

    np.testing.assert_array_equal(a, b)
    assert (a.sum(axis=1) == 20).all()  # 5 of 25 prompts x 4 images
    for s in range(10):
        for p in range(25):
            assert len(set(a[s, prompts == p])) == 1
    assert len({row.tobytes() for row in a}) > 1


def test_prompt_splits_reject_too_few_prompts():
    with pytest.raises(ValueError, match="cannot be split"):
        mb.prompt_splits(np.zeros(8, dtype=int), rng=np.random.default_rng(0))
