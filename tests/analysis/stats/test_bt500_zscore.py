"""The default method, docs/protocol.md section 3 steps 1-4, on hand-computed cases."""

import numpy as np
import pytest
from scipy import stats as sps

from analysis.stats import Ratings, analyse
from analysis.stats.bt500_zscore import NOTE_ALL_REJECTED


def ratings(rows, **kw):
    r, s, u = zip(*rows, strict=False)
    return Ratings.from_arrays(rater=list(r), stimulus=list(s), score=list(u), **kw)


def zp(z):
    return 100 * (z + 3) / 6


# Rater 0 scores 1, 3, 5 (mean 3, SD 2): z = -1, 0, 1.
# Rater 1 scores 2, 2, 5 (mean 3, SD sqrt(3)): z = -1/sqrt3, -1/sqrt3, 2/sqrt3.
# Rater 2 gives 4 throughout (zero variance); rater 3 rates once (too few).
ROWS = [
    (0, 0, 1), (0, 1, 3), (0, 2, 5),
    (1, 0, 2), (1, 1, 2), (1, 2, 5),
    (2, 0, 4), (2, 1, 4), (2, 2, 4),
    (3, 0, 5),
]  # fmt: skip


def test_mos_is_mean_of_rescaled_per_rater_zscores():
    res = analyse(ratings(ROWS))

    r3 = np.sqrt(3)
    expected = [
        np.mean([zp(-1), zp(-1 / r3)]),
        np.mean([zp(0), zp(-1 / r3)]),
        np.mean([zp(1), zp(2 / r3)]),
    ]
    np.testing.assert_allclose(res.stimuli.mos, expected, rtol=0, atol=1e-12)
    assert res.stimuli.n.tolist() == [2, 2, 2]


def test_zero_variance_and_single_score_raters_are_excluded_with_reason():
    res = analyse(ratings(ROWS))

    assert res.raters.rejected.tolist() == [False, False, True, True]
    assert res.raters.reason.tolist() == ["", "", "zero_variance", "too_few_ratings"]
    assert res.raters.n.tolist() == [3, 3, 3, 1]


def test_rescale_maps_minus3_0_plus3_to_0_50_100():
    # one rater with z exactly -1, 0, 1 and a copy: MOS = 100 (z + 3) / 6
    rows = [(0, 0, 1), (0, 1, 3), (0, 2, 5), (1, 0, 1), (1, 1, 3), (1, 2, 5)]

    res = analyse(ratings(rows))

    np.testing.assert_allclose(res.stimuli.mos, [100 / 3, 50, 200 / 3], atol=1e-12)


def test_sd_ci_and_sd_raw_per_stimulus():
    res = analyse(ratings(ROWS))

    r3 = np.sqrt(3)
    values = np.array([zp(-1), zp(-1 / r3)])
    sd = values.std(ddof=1)
    half = sps.t.ppf(0.975, 1) * sd / np.sqrt(2)  # 12.706 sd / sqrt(2)
    assert res.stimuli.sd[0] == pytest.approx(sd)
    assert res.stimuli.ci_low[0] == pytest.approx(values.mean() - half)
    assert res.stimuli.ci_high[0] == pytest.approx(values.mean() + half)
    # raw scores of the kept raters on stimulus 0: 1 and 2
    assert res.stimuli.sd_raw[0] == pytest.approx(np.std([1, 2], ddof=1))


def test_ci_level_is_a_parameter():
    res90 = analyse(ratings(ROWS), ci=0.9)
    res95 = analyse(ratings(ROWS))

    width90 = res90.stimuli.ci_high - res90.stimuli.ci_low
    width95 = res95.stimuli.ci_high - res95.stimuli.ci_low
    np.testing.assert_allclose(width90 / width95, sps.t.ppf(0.95, 1) / sps.t.ppf(0.975, 1), rtol=1e-12)
    assert res90.params["ci"] == 0.9


def test_ci_is_nan_for_a_single_rating():
    rows = [(0, 0, 1), (0, 1, 3), (1, 0, 2), (1, 1, 5), (0, 2, 4)]

    res = analyse(ratings(rows))

    assert res.stimuli.n[2] == 1
    assert np.isnan(res.stimuli.ci_low[2])
    assert np.isnan(res.stimuli.ci_high[2])
    assert np.isnan(res.stimuli.sd[2])
    assert np.isfinite(res.stimuli.mos[2])


def test_stimuli_and_raters_without_ratings_give_nan_rows():
    res = analyse(ratings(ROWS, n_raters=6, n_stimuli=5))

    assert np.isnan(res.stimuli.mos[3:]).all()
    assert res.stimuli.n[3:].tolist() == [0, 0]
    assert res.raters.reason[4] == "no_ratings"
    assert not res.raters.rejected[4]
    assert np.isnan(res.raters.mean[4])
    assert any("2 of 5 stimuli" in n for n in res.notes)


# Screening: the rater-7 pattern of test_screening (balanced outliers on stimuli 0 and 1),
# plus stimulus 2 with a spread that produces no counts (max |dev| = 1.7 S) and gives every
# rater a non-zero variance.
A = [1, 1, 1, 1, 2, 2, 3, 5]
C = [1, 2, 3, 4, 5, 1, 2, 3]
SCREEN_ROWS = (
    [(i, 0, u) for i, u in enumerate(A)]
    + [(i, 1, 6 - u) for i, u in enumerate(A)]
    + [(i, 2, u) for i, u in enumerate(C)]
)


def test_screened_rater_is_removed_from_the_mos():
    res = analyse(ratings(SCREEN_ROWS))

    assert res.raters.reason[7] == "screening"
    assert res.raters.rejected.tolist() == [False] * 7 + [True]
    assert (res.raters.p[7], res.raters.q[7], res.raters.t[7]) == (1, 1, 3)
    assert res.stimuli.n.tolist() == [7, 7, 7]
    # raw SD over the 7 kept raters of stimulus 0
    assert res.stimuli.sd_raw[0] == pytest.approx(np.std(A[:7], ddof=1))


def test_screen_false_keeps_everyone_but_reports_counts():
    res = analyse(ratings(SCREEN_ROWS), screen=False)

    assert not res.raters.rejected.any()
    assert res.raters.p[7] == 1
    assert res.raters.q[7] == 1
    assert res.stimuli.n.tolist() == [8, 8, 8]


def test_everyone_rejected_means_no_one_rejected_with_a_note():
    # Constant stimuli counted literally (degenerate_stimuli="count") make every rater a
    # candidate; give each rater some spread elsewhere so z-scores exist.
    rows = [(i, 0, 3) for i in range(8)] + [(i, 1, 4 + i) for i in range(8)]

    res = analyse(ratings(rows), degenerate_stimuli="count")

    assert NOTE_ALL_REJECTED in res.notes
    assert not (res.raters.reason == "screening").any()
    assert res.stimuli.n.tolist() == [8, 8]


def test_screening_on_zscores_sees_only_zscorable_raters():
    rows = SCREEN_ROWS + [(8, 0, 3), (8, 1, 3), (8, 2, 3)]  # rater 8: zero variance

    res = analyse(ratings(rows), screen_on="zscores")

    assert res.raters.reason[8] == "zero_variance"
    assert res.raters.t[8] == 0  # never screened
    assert res.raters.t[0] == 3


def test_screening_on_raw_counts_zero_variance_raters_too():
    rows = SCREEN_ROWS + [(8, 0, 3), (8, 1, 3), (8, 2, 3)]

    res = analyse(ratings(rows))

    assert res.raters.t[8] == 3
    assert res.raters.reason[8] == "zero_variance"


def test_params_are_recorded_with_defaults():
    res = analyse(ratings(ROWS), screen_on="zscores")

    assert res.method == "bt500_zscore"
    assert res.version == "1.0"
    assert res.params == {
        "screen": True,
        "screen_on": "zscores",
        "screening_sd": "sample",
        "screening_denominator": "rated",
        "degenerate_stimuli": "skip",
        "ci": 0.95,
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"screen_on": "both"}, "screen_on must be one of raw, zscores"),
        ({"ci": 1.5}, "ci must be in (0, 1)"),
        ({"screen": "yes"}, "screen must be true or false"),
        ({"bogus": 1}, "unknown parameter(s) bogus for method 'bt500_zscore'"),
    ],
)
def test_bad_params_raise_value_error(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyse(ratings(ROWS), **params)


def test_unknown_method_raises_value_error():
    with pytest.raises(ValueError, match="unknown method 'nope'; available: bt500_zscore"):
        analyse(ratings(ROWS), method="nope")


def test_constant_non_integer_rater_is_zero_variance_exactly():
    # (0.1 + 0.1 + 0.1) / 3 != 0.1 in floating point; the rater must still count as constant
    rows = [(0, j, 0.1) for j in range(3)] + [(1, j, float(j)) for j in range(3)]

    res = analyse(ratings(rows))

    assert res.raters.reason.tolist() == ["zero_variance", ""]
    assert res.raters.sd[0] == 0.0


def test_zscores_equal_up_to_rounding_are_not_outliers():
    # Found by hypothesis: three raters rank two stimuli alike, so every z-score is +-1/sqrt(2)
    # and each stimulus' z-scores are equal but for rounding (rater 2's scores are scaled by
    # 0.109375). Without the flat tolerance, S_j ~ 1e-16 and mean + 2 S_j rounds onto the
    # votes themselves, and rater 2 was rejected.
    rows = [(0, 0, 5.0), (0, 1, 1.0), (1, 0, 5.0), (1, 1, 1.0), (2, 0, 0.328125), (2, 1, 0.21875)]

    res = analyse(ratings(rows), screen_on="zscores")

    assert not res.raters.rejected.any()
    assert res.raters.p.tolist() == [0, 0, 0]
