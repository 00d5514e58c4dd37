"""BT.500-13 Annex 2 section 2.3.1 screening, rule by rule, on hand-computed cases."""

import numpy as np
import pytest

from analysis.stats.screening import K_OTHER, bt500_screening

# Stimulus "A": 8 raters. mean 2, squared deviations 1,1,1,1,0,0,1,9 (sum 14):
# S = sqrt(14/7) = sqrt(2) = 1.414; m2 = 14/8, m4 = (1+1+1+1+1+81)/8 = 86/8,
# beta2 = (86/8) / (14/8)^2 = 172/49 = 3.51 -> "normal" branch, k = 2.
# Upper limit 2 + 2 sqrt(2) = 4.83: only the 5 (rater 7) counts as P. Lower limit -0.83: no Q.
A = [1, 1, 1, 1, 2, 2, 3, 5]
# "B" mirrors A (6 - u): rater 7's 1 lies below 4 - 2 sqrt(2) = 1.17 -> Q.
B = [6 - u for u in A]


def screen(rows, n_raters=None, n_stimuli=None, **kw):
    """rows: list of (rater, stimulus, score)."""
    r, s, u = (np.array(c) for c in zip(*rows, strict=False))
    n_r = n_raters or int(r.max()) + 1
    n_s = n_stimuli or int(s.max()) + 1
    return bt500_screening(r.astype(np.intp), s.astype(np.intp), u.astype(float), n_r, n_s, **kw)


def column(stimulus, scores, raters=None):
    raters = range(len(scores)) if raters is None else raters
    return [(i, stimulus, u) for i, u in zip(raters, scores, strict=False)]


def test_kurtosis_in_normal_range_counts_votes_beyond_two_sd():
    out = screen(column(0, A))

    assert out.p.tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert out.q.tolist() == [0] * 8


def test_low_votes_count_as_q():
    out = screen(column(0, B))

    assert out.q.tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert out.p.tolist() == [0] * 8


def test_kurtosis_outside_normal_range_uses_sqrt20_sd():
    # 3 x 9 and one 9: mean 3.6, S = sqrt(32.4/9) = 1.897, beta2 = 85.1472/3.24^2 = 8.11.
    # The 9 is 2.85 S above the mean: beyond 2 S but not beyond sqrt(20) S = 4.47 S.
    out = screen(column(0, [3] * 9 + [9]))

    assert out.p.sum() == 0
    assert out.q.sum() == 0


def test_sqrt20_branch_counts_extreme_votes():
    # 29 zeros and one 10: S = sqrt(96.67/29) = 1.826; the 10 is 5.29 S above the mean.
    out = screen(column(0, [0] * 29 + [10]))

    assert out.p[29] == 1
    assert out.p.sum() == 1
    assert pytest.approx(np.sqrt(20)) == K_OTHER


def test_population_sd_option_changes_the_limit():
    # [0,0,0,0,1,2,4]: mean 1, squared deviations sum to 14, beta2 = (86/7) / 2^2 = 3.07.
    # Sample S = sqrt(14/6) = 1.528: limit 4.06, the 4 is not counted.
    # Population S = sqrt(14/7) = 1.414: limit 3.83, the 4 is counted.
    scores = [0, 0, 0, 0, 1, 2, 4]

    sample = screen(column(0, scores))
    population = screen(column(0, scores), sd="population")

    assert sample.p.sum() == 0
    assert population.p.tolist() == [0, 0, 0, 0, 0, 0, 1]


def test_zero_sd_stimulus_gives_no_counts():
    out = screen(column(0, [3] * 8))

    assert out.p.tolist() == [0] * 8
    assert out.q.tolist() == [0] * 8
    assert out.t.tolist() == [1] * 8


def test_single_rating_stimulus_gives_no_counts():
    out = screen(column(0, A) + [(0, 1, 5.0)])

    assert out.p[0] == 0
    assert out.q[0] == 0
    assert out.t[0] == 2


def test_degenerate_count_option_counts_ties_both_ways_like_sureal():
    out = screen(column(0, [3] * 8) + [(0, 1, 5.0)], degenerate="count")

    # every vote equals the mean of a zero-SD stimulus: counted as high and as low
    assert out.p.tolist() == [2] + [1] * 7
    assert out.q.tolist() == [2] + [1] * 7


def test_rater_with_balanced_outliers_is_rejected():
    out = screen(column(0, A) + column(1, B))

    # rater 7: P = 1, Q = 1, T = 2 -> ratio1 = 1 > 0.05, ratio2 = 0 < 0.3
    assert (out.p[7], out.q[7], out.t[7]) == (1, 1, 2)
    assert out.ratio1[7] == 1.0
    assert out.ratio2[7] == 0.0
    assert out.rejected.tolist() == [False] * 7 + [True]


def test_one_sided_outliers_are_not_rejected():
    out = screen(column(0, A) + column(1, A))

    assert (out.p[7], out.q[7]) == (2, 0)
    assert out.ratio2[7] == 1.0
    assert not out.rejected[7]


def test_ratio2_is_nan_without_counts():
    out = screen(column(0, A))

    assert np.isnan(out.ratio2[0])
    assert out.ratio1[0] == 0.0


def test_denominator_is_the_number_of_ratings_of_the_rater():
    # rater 7 also rates `extra` stimuli alone (no counts there): ratio1 = 2 / (2 + extra)
    def with_extra(extra, **kw):
        rows = column(0, A) + column(1, B) + [(7, 2 + k, 3.0) for k in range(extra)]
        return screen(rows, **kw)

    assert with_extra(30).t[7] == 32
    assert with_extra(30).rejected[7]  # 2/32 = 0.0625 > 0.05
    assert not with_extra(40).rejected[7]  # 2/42 = 0.048
    assert with_extra(40).t[0] == 2


def test_total_denominator_divides_by_number_of_stimuli():
    rows = column(0, A) + column(1, B)

    out = screen(rows, n_stimuli=50, denominator="total")

    assert out.t[7] == 50
    assert out.ratio1[7] == pytest.approx(2 / 50)
    assert not out.rejected[7]


def test_reject_none_if_every_rater_would_be_rejected():
    out = screen(column(0, [3] * 8) + column(1, [4] * 8), degenerate="count")

    assert out.candidate.all()
    assert out.all_rejected
    assert not out.rejected.any()


def test_raters_without_ratings_are_not_screened():
    out = screen(column(0, A) + column(1, B), n_raters=10)

    assert out.t[8] == 0
    assert out.t[9] == 0
    assert np.isnan(out.ratio1[9])
    assert not out.rejected[9]
    assert not out.all_rejected


def reference_screening(rows, n_raters, n_stimuli, sd="sample", denominator="rated"):
    """Straight transcription of docs/protocol.md section 3 step 1, one stimulus at a time."""
    p = [0] * n_raters
    q = [0] * n_raters
    t = [0] * n_raters
    for j in range(n_stimuli):
        votes = [(i, u) for i, s, u in rows if s == j]
        for i, _ in votes:
            t[i] += 1
        n = len(votes)
        if n < 2:
            continue
        x = np.array([u for _, u in votes])
        mean = x.mean()
        s_j = x.std(ddof=1 if sd == "sample" else 0)
        if s_j == 0:
            continue
        m2 = ((x - mean) ** 2).mean()
        m4 = ((x - mean) ** 4).mean()
        k = 2 if 2 <= m4 / m2**2 <= 4 else np.sqrt(20)
        for i, u in votes:
            p[i] += u >= mean + k * s_j
            q[i] += u <= mean - k * s_j
    if denominator == "total":
        t = [n_stimuli if c else 0 for c in t]
    return p, q, t


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("sd", "denominator"), [("sample", "rated"), ("population", "total")])
def test_matches_reference_transcription(seed, sd, denominator):
    rng = np.random.default_rng(seed)
    n_r, n_s = 25, 12
    rows = [
        (i, j, float(rng.integers(1, 6) if i % 7 else rng.choice([1, 5])))
        for i in range(n_r)
        for j in range(n_s)
        if rng.random() < 0.8
    ]

    out = screen(rows, n_raters=n_r, n_stimuli=n_s, sd=sd, denominator=denominator)
    p, q, t = reference_screening(rows, n_r, n_s, sd=sd, denominator=denominator)

    assert out.p.tolist() == p
    assert out.q.tolist() == q
    assert out.t.tolist() == t
