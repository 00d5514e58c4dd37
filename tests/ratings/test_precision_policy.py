"""The pure precision-allocation policy (no database)."""

import numpy as np
import pytest
from scipy import stats

from ratings import precision


def _sums(per_image: list[list[float]]) -> precision.Sums:
    stimulus = np.concatenate([np.full(len(v), j) for j, v in enumerate(per_image)]).astype(np.intp)
    scores = np.concatenate([np.asarray(v, float) for v in per_image])
    return precision.Sums.of_ratings(stimulus, scores, len(per_image))


def test_plain_half_width_is_the_student_t_interval_of_the_mean() -> None:
    votes = [[1, 2, 2, 5, 4], [3, 3, 4, 3], [5, 5]]
    h = precision.half_widths(_sums(votes))[:, 0]
    for j, v in enumerate(votes):
        x = np.asarray(v, float)
        if x.std() == 0:
            expected = 0.0
        else:
            low, high = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
            expected = (high - low) / 2
        assert h[j] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_an_image_with_fewer_than_two_ratings_has_an_infinite_interval() -> None:
    h = precision.half_widths(_sums([[3], [2, 4]]))[:, 0]
    assert np.isinf(h[0])
    assert np.isfinite(h[1])


def test_shrinkage_pulls_a_lucky_unanimous_image_towards_the_pooled_variance() -> None:
    votes = [[3, 3, 3], [1, 5, 2, 4, 3, 5, 1], [2, 4, 1, 5, 3]]
    plain = precision.half_widths(_sums(votes))[0, 0]
    shrunk = precision.half_widths(_sums(votes), prior_weight=4.0)[0, 0]
    assert plain == 0.0
    assert shrunk > 0.5


def test_a_pool_of_a_few_agreeing_votes_retires_nothing() -> None:
    # given: 18 images each assigned to 2 sessions; only one image answered yet, twice the same score
    votes: list[list[float]] = [[4, 4]] + [[] for _ in range(17)]
    sums = _sums(votes)
    load = np.full(18, 2.0)
    target = precision.Target(half_width=(0.5,), minimum=2, maximum=40)
    # when the next session starts
    state = precision.classify(sums, load, target)
    ranked = precision.order(sums, load, target, np.random.default_rng(1))
    # then nothing retires on a pool of one degree of freedom: every image is still open
    assert set(state) == {"open"}
    assert sorted(ranked) == list(range(18))
    # and once the pool rests on enough degrees of freedom, the images use it again
    spread = [[1, 5, 2, 4, 3, 5]] * 3  # 15 degrees of freedom, variance about 2.7
    sums = _sums([[4, 4], *spread])
    assert precision.POOL_MIN_DF <= 15
    widths = precision.half_widths(sums, prior_weight=4.0, n=[2, 6, 6, 6])[:, 0]
    assert np.all(np.isfinite(widths))
    assert widths[0] > 1.0


def test_order_serves_images_below_the_minimum_first_then_the_widest_relative_to_target() -> None:
    # given: image 0 below the minimum; 1 wide; 2 narrow (retired); 3 medium; 4 at the maximum
    rng = np.random.default_rng(0)
    votes = [
        [3, 4],
        [1, 5, 1, 5, 2, 4],
        [3, 3, 3, 3, 3, 4],
        [2, 3, 4, 3, 2, 4],
        [1, 5, 1, 5, 1, 5, 1, 5],
    ]
    sums = _sums(votes)
    load = sums.n[:, 0].copy()
    target = precision.Target(half_width=(0.8,), minimum=3, maximum=8, prior_weight=0.0)
    # when
    ranked = precision.order(sums, load, target, rng)
    state = precision.classify(sums, load, target)
    # then
    assert list(ranked) == [0, 1, 3]
    assert list(state) == ["below_minimum", "open", "retired", "open", "at_maximum"]
    assert precision.status_counts(sums, load, target) == {
        "below_minimum": 1,
        "open": 2,
        "retired": 1,
        "at_maximum": 1,
    }


def test_live_assignments_count_towards_the_projected_interval() -> None:
    sums = _sums([[2, 4, 3, 3, 2, 4]])
    target = precision.Target(half_width=(0.6,), minimum=2, maximum=50, prior_weight=0.0)
    assert precision.classify(sums, [6], target)[0] == "open"
    assert precision.classify(sums, [40], target)[0] == "retired"


def test_every_perspective_must_meet_its_target_for_an_image_to_retire() -> None:
    stimulus = np.zeros(6, np.intp)
    scores = np.array([[3, 1], [3, 5], [3, 1], [3, 5], [3, 1], [4, 5]], float)
    sums = precision.Sums.of_ratings(stimulus, scores, 1)
    target = precision.Target(half_width=(0.5, 0.5), minimum=2, maximum=50, prior_weight=0.0)
    assert precision.classify(sums, [6], target)[0] == "open"


def test_ratings_still_needed_grows_with_disagreement_and_respects_the_bounds() -> None:
    sums = _sums([[3, 3, 4, 3], [1, 5, 1, 5]])
    target = precision.Target(half_width=(0.5,), minimum=4, maximum=30, prior_weight=0.0)
    calm = precision.ratings_still_needed(precision.Sums(sums.n[:1], sums.s1[:1], sums.s2[:1]), [4], target)
    wild = precision.ratings_still_needed(precision.Sums(sums.n[1:], sums.s1[1:], sums.s2[1:]), [4], target)
    assert 0 <= calm < wild
    assert wild == 30 - 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_width": (0.0,), "minimum": 3, "maximum": 9}, "above 0"),
        ({"half_width": (0.3,), "minimum": 1, "maximum": 9}, "at least 2"),
        ({"half_width": (0.3,), "minimum": 5, "maximum": 4}, "at least the minimum"),
    ],
)
def test_an_impossible_target_is_refused_in_words(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        precision.Target(**kwargs)
