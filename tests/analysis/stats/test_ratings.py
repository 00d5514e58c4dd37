"""Input validation of Ratings and the group-by helpers."""

import numpy as np
import pytest

from analysis.stats import Ratings
from analysis.stats.groupby import moments


def test_from_arrays_defaults_sizes_to_max_index_plus_one():
    r = Ratings.from_arrays(rater=[0, 3], stimulus=[1, 1], score=[1, 2])

    assert (r.n_raters, r.n_stimuli, r.n_ratings) == (4, 2, 2)
    assert r.score.dtype == np.float64


def test_from_arrays_copies_and_freezes_arrays():
    rater = np.array([0, 1])
    r = Ratings.from_arrays(rater=rater, stimulus=[0, 0], score=[1.0, 2.0])
    rater[0] = 1

    assert r.rater[0] == 0
    with pytest.raises(ValueError, match="read-only"):
        r.score[0] = 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rater": [], "stimulus": [], "score": []}, "no ratings"),
        ({"rater": [0, 1], "stimulus": [0], "score": [1, 2]}, "one length"),
        ({"rater": [0, -1], "stimulus": [0, 0], "score": [1, 2]}, "rater indices must be >= 0"),
        ({"rater": [0.5], "stimulus": [0], "score": [1]}, "rater must hold integer indices"),
        ({"rater": [0], "stimulus": [0], "score": [np.nan]}, "score must be finite"),
        ({"rater": [0], "stimulus": [0], "score": ["x"]}, "score must be numeric"),
        (
            {"rater": [2], "stimulus": [0], "score": [1], "n_raters": 2},
            "rater index 2 >= n_raters=2",
        ),
        (
            {"rater": [0], "stimulus": [5], "score": [1], "n_stimuli": 3},
            "stimulus index 5 >= n_stimuli=3",
        ),
    ],
)
def test_bad_input_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Ratings.from_arrays(**kwargs)


def test_fingerprint_ignores_row_order_but_not_content():
    a = Ratings.from_arrays(rater=[0, 1, 2], stimulus=[0, 0, 1], score=[1, 2, 3])
    b = Ratings.from_arrays(rater=[2, 0, 1], stimulus=[1, 0, 0], score=[3, 1, 2])
    c = Ratings.from_arrays(rater=[0, 1, 2], stimulus=[0, 0, 1], score=[1, 2, 4])
    d = Ratings.from_arrays(rater=[0, 1, 2], stimulus=[0, 0, 1], score=[1, 2, 3], n_stimuli=5)

    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert a.fingerprint() != d.fingerprint()


def test_moments_are_exact_for_constant_groups_and_nan_for_empty_ones():
    m = moments(np.array([0, 0, 0, 2]), np.array([0.1, 0.1, 0.1, 7.0]), 3)

    assert m.count.tolist() == [3, 0, 1]
    assert m.sd[0] == 0.0
    assert m.flat.tolist() == [True, False, True]  # one value is flat too
    assert np.isnan(m.mean[1])
    assert np.isnan(m.var[2])
