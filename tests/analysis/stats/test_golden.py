"""Golden-value regression on one small matrix (values frozen from version 1.0 of each method).

A change here means the numbers users get have changed: bump the method's VERSION.
"""

import numpy as np
import pytest

from analysis.stats import Ratings, analyse

nan = np.nan
# 7 raters x 8 stimuli, NaN = not rated. Rater 5 gives 3 throughout (zero variance).
MATRIX = np.array([
    [1, 2, 3, 4, 5, nan, 4, 3],
    [2, 2, 4, 4, 5, 3, nan, 3],
    [1, 3, 3, 5, 4, 2, 4, nan],
    [5, 1, 2, 1, 2, 5, 1, 4],
    [2, 3, 3, 4, nan, 3, 5, 2],
    [3, 3, 3, 3, 3, 3, 3, 3],
    [1, 1, 2, 4, 5, 2, 4, 3],
])  # fmt: skip

GOLDEN = {
    ("bt500_zscore", "1.0"): {
        "mos": [35.4360041353, 37.9439165573, 48.4398413912, 59.3952518268,
                65.7231029872, 48.6649634951, 59.774574413, 48.379342412],
        "sd": [18.4987972466, 8.07818600579, 6.57840429181, 12.9335308031,
               13.5581549761, 14.0251415463, 15.9442842644, 11.1990130158],
        "sd_raw": [1.54919333848, 0.894427191, 0.752772652709, 1.36626010213,
                   1.30384048104, 1.22474487139, 1.51657508881, 0.707106781187],
        "ci_low": [16.0227070095, 29.4663802571, 41.5362294737, 45.8223436524,
                   48.8884300713, 31.2504501673, 39.9771306648, 34.4739311348],
        "ci_high": [54.849301261, 46.4214528575, 55.3434533086, 72.9681600013,
                    82.5577759032, 66.0794768229, 79.5720181612, 62.2847536892],
        "n": [6, 6, 6, 6, 5, 5, 5, 5],
    },
    ("mos", "1.0"): {
        "mos": [2.14285714286, 2.14285714286, 2.85714285714, 3.57142857143,
                4.0, 3.0, 3.5, 3.0],
        "sd": [1.46385010942, 0.899735410842, 0.690065559342, 1.27241802056,
               1.26491106407, 1.09544511501, 1.37840487521, 0.632455532034],
        "ci_low": [0.789021592983, 1.31074067353, 2.21893865852, 2.39463817503,
                   2.67255724807, 1.85040085476, 2.05345279775, 2.33627862403],
        "n": [7, 7, 7, 7, 6, 6, 6, 6],
    },
}  # fmt: skip


def matrix_ratings():
    rater, stim = np.nonzero(~np.isnan(MATRIX))
    return Ratings.from_arrays(rater=rater, stimulus=stim, score=MATRIX[rater, stim])


@pytest.mark.parametrize(("method", "version"), sorted(GOLDEN))
def test_golden_values(method, version):
    res = analyse(matrix_ratings(), method)

    assert res.version == version
    for field, expected in GOLDEN[(method, version)].items():
        np.testing.assert_allclose(getattr(res.stimuli, field), expected, rtol=1e-10, err_msg=field)


def test_golden_rater_report():
    res = analyse(matrix_ratings())

    assert res.raters.reason.tolist() == ["", "", "", "", "", "zero_variance", ""]
    assert res.raters.n.tolist() == [7, 7, 7, 8, 7, 8, 8]
    # Stimulus 3 (4,4,5,1,4,3,4): mean 3.571, S = 1.272, beta2 = 3.57 -> k = 2; rater 3's 1
    # lies below 3.571 - 2.545 = 1.027: Q = 1 of 8 ratings, ratio2 = 1 -> kept.
    assert res.raters.p.tolist() == [0] * 7
    assert res.raters.q.tolist() == [0, 0, 0, 1, 0, 0, 0]
    assert res.raters.ratio1[3] == 1 / 8
    assert res.raters.ratio2[3] == 1.0
    assert not res.raters.rejected[3]
