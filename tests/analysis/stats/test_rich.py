"""Rich feedback core: tokens, heatmaps, split-half, Krippendorff's alpha, word rates, random markers."""

import itertools
import math

import numpy as np
import pytest

from analysis.stats import rich, rich_maps, rich_sim
from analysis.stats.rich import RegionAnswers, RichParams, WordAnswers, analyse, tokenize_prompt

# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    ("prompt", "tokens"),
    [
        ("A cat on a mat", ["A", "cat", "on", "a", "mat"]),
        (
            '"Hello," said the well-known cat\'s owner.',
            ["Hello", "said", "the", "well-known", "cat's", "owner"],
        ),
        ("  -- ... !!  ", []),
        ("dog dog (dog)", ["dog", "dog", "dog"]),
        ("«Ein Bär» im Wald…", ["Ein", "Bär", "im", "Wald"]),
        ("", []),
    ],
)
def test_tokenize_prompt_splits_on_whitespace_and_strips_outer_punctuation(prompt, tokens):
    assert tokenize_prompt(prompt) == tokens


# --------------------------------------------------------------------------- heatmaps


def direct_heatmap(points_per_rater, size, grid, sigma):
    """Cell by cell, in pixels, straight from the documented definition."""
    width, height = size
    rows, cols = rich_maps.heatmap_grid(width, height, grid)
    s = sigma * max(width, height)
    maps = []
    for pts in points_per_rater:
        m = np.zeros((rows, cols))
        for x, y in pts:
            for r in range(rows):
                for c in range(cols):
                    cx, cy = (c + 0.5) / cols * width, (r + 0.5) / rows * height
                    m[r, c] += math.exp(-((cx - x * width) ** 2 + (cy - y * height) ** 2) / (2 * s * s))
        maps.append(m / m.sum() if m.sum() > 0 else m)
    mean = np.mean(maps, axis=0)
    return mean / mean.max()


def test_heatmap_matches_the_documented_kernel_computed_cell_by_cell():
    # given a wide image, three raters, one of them answering "nothing"
    size = (300, 200)
    pts = [[(0.2, 0.3), (0.25, 0.35)], [(0.8, 0.7)], []]
    reg = RegionAnswers.from_lists([0, 1, 2], [0, 0, 0], pts)
    params = RichParams(grid=12, sigma=0.1)

    # when
    res = analyse(reg, None, sizes=[size], tokens=[[]], params=params)

    # then
    assert res.heatmaps[0].shape == (8, 12)
    np.testing.assert_allclose(res.heatmaps[0], direct_heatmap(pts, size, 12, 0.1), rtol=1e-10, atol=1e-12)
    assert res.heatmaps[0].max() == 1.0
    assert res.region_raters.tolist() == [3]
    assert res.region_markers.tolist() == [2]


def test_one_eager_marker_does_not_outweigh_two_raters():
    # given one rater with 20 points at the top left, two raters with one point at the bottom right
    eager = np.tile([[0.1, 0.1]], (20, 1))
    reg = RegionAnswers.from_lists([0, 1, 2], [0, 0, 0], [eager, [[0.9, 0.9]], [[0.9, 0.9]]])

    res = analyse(reg, None, sizes=[(100, 100)], tokens=[[]], params=RichParams(grid=20))

    assert res.peaks[0].tolist() == [0.875, 0.875]
    # the eager rater's bump weighs one rater, half of the other two
    assert res.heatmaps[0][2, 2] == pytest.approx(0.5, rel=1e-6)


def test_nothing_everywhere_gives_a_zero_map_and_no_peak():
    reg = RegionAnswers.from_lists([0, 1], [0, 0], [[], []])

    res = analyse(reg, None, sizes=[(64, 64)], tokens=[[]])

    assert not res.heatmaps[0].any()
    assert np.isnan(res.peaks[0]).all()
    assert np.isnan(res.heatmap_agreement[0])


def test_heatmap_grid_keeps_cells_square_and_the_long_side_at_grid():
    assert rich_maps.heatmap_grid(1024, 512, 64) == (32, 64)
    assert rich_maps.heatmap_grid(512, 1024, 64) == (64, 32)
    assert rich_maps.heatmap_grid(3, 2000, 16) == (16, 1)


def test_peak_is_the_centre_of_the_highest_cell():
    h = np.zeros((5, 10))
    h[4, 0] = 2.0
    h[0, 9] = 1.0

    assert rich_maps.peak_of(h) == (0.05, 0.9)


# --------------------------------------------------------------------------- split-half


def test_split_half_matches_half_means_correlated_directly():
    rng = np.random.default_rng(3)
    maps = rng.random((7, 30))
    halves = rich_maps.random_halves(7, 25, rng)
    expected = []
    for h in halves:
        r = np.corrcoef(maps[h].mean(axis=0), maps[~h].mean(axis=0))[0, 1]
        expected.append(2 * r / (1 + r))

    got = rich_maps.split_half_maps(maps, halves)

    assert halves.sum(axis=1).tolist() == [3] * 25
    assert got == pytest.approx(np.mean(expected), rel=1e-10)


def test_split_half_is_one_for_identical_raters_and_skips_empty_halves():
    maps = np.array([[0.0, 0.2, 0.8]] * 4 + [[0.0, 0.0, 0.0]] * 2)
    halves = np.array(
        [
            [True, True, False, False, True, False],  # usable
            [False, False, False, False, True, True],  # first half marked nothing
        ]
    )

    assert rich_maps.split_half_maps(maps, halves) == pytest.approx(1.0)


def test_split_half_agreement_is_higher_when_raters_agree():
    rng = np.random.default_rng(0)
    images = rich_sim.plant_images(40, rng=rng, artefact_share=1.0)
    honest = rich_sim.simulate_answers(images, rng=rng, random_share=0.0)
    noisy = rich_sim.simulate_answers(images, rng=rng, random_share=1.0)
    sizes, tokens = [i.size for i in images], [i.tokens for i in images]

    good = analyse(honest.regions, None, sizes=sizes, tokens=tokens).heatmap_agreement_mean
    bad = analyse(noisy.regions, None, sizes=sizes, tokens=tokens).heatmap_agreement_mean

    assert good > 0.4
    assert bad < 0.2


# --------------------------------------------------------------------------- Krippendorff's alpha


def brute_force_alpha(units):
    """Alpha from the coincidence matrix, pair by pair (Krippendorff 2011, section C)."""
    o = np.zeros((2, 2))
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            o[int(values[i]), int(values[j])] += 1.0 / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_o = (o[0, 1] + o[1, 0]) / n
    d_e = 2 * n_c[0] * n_c[1] / (n * (n - 1))
    return 1 - d_o / d_e


def test_alpha_reproduces_krippendorffs_published_binary_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", A: two observers, binary data
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    units = [np.array([x, y], dtype=bool) for x, y in zip(a, b, strict=True)]

    assert rich.krippendorff_alpha_binary(units) == pytest.approx(0.095, abs=5e-4)
    assert rich.krippendorff_alpha_binary(units) == pytest.approx(1 - 19 * 4 / (14 * 6))


def test_alpha_matches_the_coincidence_matrix_with_missing_values():
    rng = np.random.default_rng(5)
    units = [rng.random(int(rng.integers(1, 6))) < 0.3 for _ in range(40)]

    assert rich.krippendorff_alpha_binary(units) == pytest.approx(brute_force_alpha(units), rel=1e-12)


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    agree = [np.array([True, True, True]), np.array([False, False, False])]
    constant = [np.array([False, False]), np.array([False, False, False])]

    assert rich.krippendorff_alpha_binary(agree) == 1.0
    assert math.isnan(rich.krippendorff_alpha_binary(constant))


def test_study_word_alpha_equals_alpha_over_image_token_units():
    rng = np.random.default_rng(2)
    images = rich_sim.plant_images(15, rng=rng)
    sim = rich_sim.simulate_answers(images, rng=rng, raters_per_image=4, images_per_rater=5)
    units = []
    for i, img in enumerate(images):
        marks = np.array([m for m, im in zip(sim.words.marked, sim.words.image, strict=True) if im == i])
        units += [marks[:, t] for t in range(len(img.tokens))]

    res = analyse(None, sim.words, sizes=[i.size for i in images], tokens=[i.tokens for i in images])

    assert res.word_alpha == pytest.approx(brute_force_alpha(units), rel=1e-12)
    assert res.word_alpha_by_image.shape == (15,)


# --------------------------------------------------------------------------- words


def test_word_counts_rates_and_top_word():
    # given image 0 with 3 tokens and three raters; image 1 with a tie; image 2 unanswered
    words = WordAnswers.from_lists(
        [0, 1, 2, 0, 1],
        [0, 0, 0, 1, 1],
        [
            [False, True, False],
            [True, True, False],
            [False, False, False],
            [True, False],
            [False, True],
        ],
    )

    res = analyse(None, words, sizes=[(10, 10)] * 3, tokens=[["a", "b", "c"], ["x", "y"], ["z"]])

    assert [m.tolist() for m in res.word_marked] == [[1, 2, 0], [1, 1], [0]]
    assert res.word_raters.tolist() == [3, 2, 0]
    np.testing.assert_allclose(res.word_rates[0], [1 / 3, 2 / 3, 0])
    assert np.isnan(res.word_rates[2]).all()
    assert res.top_word.tolist() == [1, -1, -1]
    assert res.has_words
    assert not res.has_regions


def test_marks_from_indices_refuses_out_of_range_tokens():
    with pytest.raises(ValueError, match="out of range"):
        WordAnswers.marks_from_indices([3], 3)


# --------------------------------------------------------------------------- screening, random markers


def test_screened_out_raters_are_left_out_of_every_figure():
    rng = np.random.default_rng(4)
    images = rich_sim.plant_images(30, rng=rng)
    sim = rich_sim.simulate_answers(images, rng=rng, images_per_rater=10)
    sizes, tokens = [i.size for i in images], [i.tokens for i in images]
    excluded = {0, 3, 7}
    keep = ~np.isin(sim.regions.rater, list(excluded))
    kept_regions = RegionAnswers(
        sim.regions.rater[keep],
        sim.regions.image[keep],
        [p for p, k in zip(sim.regions.points, keep, strict=True) if k],
    )
    kept_words = WordAnswers(
        sim.words.rater[keep],
        sim.words.image[keep],
        [m for m, k in zip(sim.words.marked, keep, strict=True) if k],
    )

    screened = analyse(sim.regions, sim.words, sizes=sizes, tokens=tokens, excluded_raters=excluded)
    without = analyse(kept_regions, kept_words, sizes=sizes, tokens=tokens)

    assert screened.excluded_raters == [0, 3, 7]
    assert not set(screened.rater_ids.tolist()) & excluded
    for a, b in zip(screened.heatmaps, without.heatmaps, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [m.tolist() for m in screened.word_marked] == [m.tolist() for m in without.word_marked]
    np.testing.assert_array_equal(screened.rater_z, without.rater_z)
    assert screened.word_alpha == without.word_alpha
    assert (
        screened.region_raters.sum()
        < analyse(sim.regions, None, sizes=sizes, tokens=tokens).region_raters.sum()
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_markers_are_flagged_and_honest_raters_are_not(seed):
    rng = np.random.default_rng(seed)
    images = rich_sim.plant_images(200, rng=rng, artefact_share=0.8)
    sim = rich_sim.simulate_answers(images, rng=rng, random_share=0.1)

    res = analyse(sim.regions, sim.words, sizes=[i.size for i in images], tokens=[i.tokens for i in images])

    flagged = set(res.rater_ids[res.random_marker].tolist())
    assert flagged == set(sim.random_raters.tolist())
    honest = ~np.isin(res.rater_ids, sim.random_raters)
    assert np.nanmin(res.rater_closeness[honest]) > 2.0
    assert np.nanmax(res.rater_closeness[~honest]) < np.nanmin(res.rater_closeness[honest])


def test_random_marker_statistic_matches_its_definition():
    # given rater 2's single point on image 0, where raters 0 and 1 marked one spot
    maps = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])

    score, var = rich_maps.random_marker_stats(maps, [np.array([1]), np.array([1, 2]), np.array([3])])

    # rater 2: consensus of 0 and 1 is [0, .75, .25, 0]; its cell 3 has 0, x 4 cells = 0
    assert score[2] == 0.0
    assert var[2] == pytest.approx(4 * (0.75**2 + 0.25**2) - 1)
    # rater 1: consensus of 0 and 2 is [0, .5, 0, .5]; cells 1 and 2 give 2 + 0
    assert score[1] == pytest.approx(2.0)
    assert var[1] == pytest.approx(2 * (4 * 0.5 - 1))


def test_a_rater_with_few_points_gets_no_verdict():
    reg = RegionAnswers.from_lists([0, 1, 2], [0, 0, 0], [[[0.1, 0.1]], [[0.1, 0.12]], [[0.9, 0.9]]])

    res = analyse(reg, None, sizes=[(100, 100)], tokens=[[]], params=RichParams(min_points=2))

    assert res.rater_points.tolist() == [1, 1, 1]
    assert np.isnan(res.rater_z).all()
    assert not res.random_marker.any()


# --------------------------------------------------------------------------- input checks


def test_points_outside_the_image_are_refused():
    with pytest.raises(ValueError, match="within"):
        RegionAnswers.from_lists([0], [0], [[[0.5, 1.2]]])


def test_two_answers_of_one_rater_for_one_image_are_refused():
    with pytest.raises(ValueError, match="more than one answer"):
        RegionAnswers.from_lists([1, 1], [0, 0], [[], [[0.5, 0.5]]])


def test_word_marks_of_the_wrong_length_are_refused():
    words = WordAnswers.from_lists([0], [0], [[True, False, True]])

    with pytest.raises(ValueError, match="3 word marks for 2 tokens"):
        analyse(None, words, sizes=[(10, 10)], tokens=[["a", "b"]])


def test_analysis_is_reproducible_from_its_seed():
    rng = np.random.default_rng(9)
    images = rich_sim.plant_images(20, rng=rng)
    sim = rich_sim.simulate_answers(images, rng=rng)
    kw = {"sizes": [i.size for i in images], "tokens": [i.tokens for i in images]}

    a = analyse(sim.regions, None, **kw, params=RichParams(seed=1))
    b = analyse(sim.regions, None, **kw, params=RichParams(seed=1))
    c = analyse(sim.regions, None, **kw, params=RichParams(seed=2))

    np.testing.assert_array_equal(a.heatmap_agreement, b.heatmap_agreement)
    assert not np.array_equal(a.heatmap_agreement, c.heatmap_agreement)
