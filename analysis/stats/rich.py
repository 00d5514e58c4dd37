r"""Rich feedback (issue 17): heatmaps of marked regions and rates of marked prompt words.

Pure numpy: no Django, no pandas, no I/O, no hidden randomness (the split-half draws come from
``RichParams.seed``). The layout follows RichHF-18K (Liang et al., CVPR 2024, arXiv 2312.10240):
raters put points on implausible or broken regions of an image, the points become a heatmap
(blurred, averaged across raters), and raters mark prompt words that the image misrepresents or
leaves out.

Inputs
------
:class:`RegionAnswers` and :class:`WordAnswers` hold one entry per (rater, image) answer, in
long format. ``rater`` values are any non-negative integers (the caller's rater index); ``image``
values index ``sizes`` and ``tokens``. Points are ``(x, y)`` normalised to [0, 1] of the image's
width and height, origin top-left; zero points is the explicit answer "nothing to mark". Word
marks are one bool per token of :func:`tokenize_prompt` of the prompt shown; all False is the
explicit answer "all present".

Heatmap (:func:`heatmap_grid`, :func:`rater_maps`)
-------------------------------------------------
- **Grid**: the image's longer side is cut into ``RichParams.grid`` cells (default 64), the
  shorter side into ``max(1, round(grid * short / long))`` cells, so cells are (nearly) square;
  row 0 is the top of the image. Cell ``(r, c)`` has its centre at
  ``((c + 0.5) / cols, (r + 0.5) / rows)`` in normalised coordinates.
- **Kernel**: each point is an isotropic Gaussian, evaluated at the cell centres, with
  :math:`\sigma` = ``RichParams.sigma`` (default 0.04) times the image's longer side:
  :math:`k(c) = \exp(-d^2 / 2\sigma^2)`, :math:`d` the distance in pixels between the point and
  the cell centre. Computed separably (a row factor times a column factor).
- **Per rater**: the sum of the rater's kernels is divided by its own total, so every rater who
  marked something contributes a map summing to 1 whatever the number of points (one eager
  marker with 20 points weighs as much as a rater with one). A "nothing" answer is a map of
  zeros.
- **Across raters**: the mean of the per-rater maps over every rater who answered the task for
  the image ("nothing" answers included: they dilute the map), then divided by its maximum, so
  the final map has peak 1 (all zeros when nobody marked anything).
- **Peak**: the centre of the cell with the highest value (first in row-major order on ties),
  normalised ``(x, y)``; NaN when nobody marked anything.

Agreement
---------
- **Heatmap split-half** (:func:`split_half_maps`): the raters who answered for an image are
  split at random into two halves (sizes differing by at most one), each half's mean map is
  computed as above, and the two are correlated (Pearson, over cells). The correlation is
  stepped up to the full panel with Spearman-Brown :math:`2r / (1 + r)`, clamped to [-1, 1],
  and averaged over ``RichParams.n_splits`` splits (splits where a half marked nothing are left
  out). NaN with fewer than 2 raters or no usable split. The study figure is the mean over
  images with a value.
- **Word marks**: Krippendorff's alpha for nominal data (:func:`krippendorff_alpha_binary`),
  each (image, token) a unit, each rater who answered the word task for the image a coder
  giving 0 (present) or 1 (marked). Study-level over all units; per image over its tokens
  (NaN where the marks do not vary, as alpha is undefined there).

Random markers (:func:`random_marker_stats`)
--------------------------------------------
For each point of a rater on an image, the leave-one-out consensus is the mean of the *other*
raters' maps of that image, scaled to sum 1; the point's score is the consensus value of the
cell holding the point times the number of cells (its density relative to uniform). A
uniformly random point has expected score exactly 1, with variance
:math:`n_\text{cells} \sum_c m_c^2 - 1`. The rater's statistic ``closeness`` is the mean score
over all their points (on images where the others marked something), and ``z`` compares it to
that exact null mean and variance (points independent under the null). A rater is flagged as a
**random marker** when ``z < RichParams.random_z`` (default 2.326, one-sided 1%): their points
are not shown to land closer to the others' consensus than uniform random points would. Raters
with fewer than ``RichParams.min_points`` such points get no verdict (NaN, not flagged).

Screening
---------
Raters in ``excluded_raters`` (the scores' screening) are dropped from every figure above
before anything is computed; they are listed in :attr:`RichResult.excluded_raters`.

>>> tokenize_prompt('A "red" cat, on a sofa-bed; isn\'t it?')
['A', 'red', 'cat', 'on', 'a', 'sofa-bed', "isn't", 'it']
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .rich_maps import (
    heatmap_grid,
    mean_map,
    peak_of,
    point_cells,
    random_halves,
    random_marker_stats,
    rater_maps,
    split_half_maps,
)
from .types import BoolArray, FloatArray, IntArray

__all__ = [
    "NAME",
    "VERSION",
    "RegionAnswers",
    "RichParams",
    "RichResult",
    "WordAnswers",
    "analyse",
    "heatmap_grid",
    "krippendorff_alpha_binary",
    "peak_of",
    "random_marker_stats",
    "rater_maps",
    "split_half_maps",
    "tokenize_prompt",
    "word_counts",
]

NAME = "rich_feedback"
VERSION = "1.0"


# --------------------------------------------------------------------------- tokens


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def tokenize_prompt(prompt: str) -> list[str]:
    """Split a prompt into the words a participant can mark.

    Split on whitespace; strip leading and trailing punctuation (Unicode category P*) from each
    piece, which keeps inner apostrophes and hyphens; drop pieces left empty. Order and
    duplicates are kept: a mark is an index into this list.

    >>> tokenize_prompt("  (two) dogs -- a cat's  toy... ")
    ['two', 'dogs', 'a', "cat's", 'toy']
    """
    out: list[str] = []
    for piece in prompt.split():
        start, end = 0, len(piece)
        while start < end and _is_punct(piece[start]):
            start += 1
        while end > start and _is_punct(piece[end - 1]):
            end -= 1
        if start < end:
            out.append(piece[start:end])
    return out


# --------------------------------------------------------------------------- inputs


def _int_column(values: Iterable[int] | np.ndarray, name: str) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers")
    if int(arr.min()) < 0:
        raise ValueError(f"{name} must be non-negative")
    return arr.astype(np.intp)


def _check_unique(rater: IntArray, image: IntArray, what: str) -> None:
    if rater.size and np.unique(np.stack([rater, image]), axis=1).shape[1] != rater.size:
        raise ValueError(f"{what}: more than one answer for a (rater, image) pair")


@dataclass(frozen=True)
class RegionAnswers:
    """Point answers, one entry per (rater, image): ``points[k]`` is a (n, 2) array of normalised
    ``(x, y)`` in [0, 1]; ``n == 0`` is the answer "nothing to mark"."""

    rater: IntArray
    image: IntArray
    points: list[FloatArray]

    @classmethod
    def from_lists(
        cls,
        rater: Iterable[int] | np.ndarray,
        image: Iterable[int] | np.ndarray,
        points: Sequence[Sequence[Sequence[float]] | np.ndarray],
    ) -> RegionAnswers:
        """Validate and build: equal lengths, points in [0, 1], one answer per (rater, image).

        >>> RegionAnswers.from_lists([0, 1], [0, 0], [[[0.5, 0.5]], []]).points[1].shape
        (0, 2)
        """
        r, i = _int_column(rater, "rater"), _int_column(image, "image")
        pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in points]
        if not (r.size == i.size == len(pts)):
            raise ValueError("rater, image and points must have the same length")
        for p in pts:
            if p.size and (not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0):
                raise ValueError("points must be finite and within [0, 1]")
        _check_unique(r, i, "regions")
        return cls(rater=r, image=i, points=pts)


@dataclass(frozen=True)
class WordAnswers:
    """Word answers, one entry per (rater, image): ``marked[k]`` is one bool per token of the
    image's prompt (True = "missing or wrong"); all False is the answer "all present"."""

    rater: IntArray
    image: IntArray
    marked: list[BoolArray]

    @classmethod
    def from_lists(
        cls,
        rater: Iterable[int] | np.ndarray,
        image: Iterable[int] | np.ndarray,
        marked: Sequence[Sequence[bool] | np.ndarray],
    ) -> WordAnswers:
        """Validate and build: equal lengths, one answer per (rater, image).

        >>> WordAnswers.from_lists([0], [0], [[False, True]]).marked[0].tolist()
        [False, True]
        """
        r, i = _int_column(rater, "rater"), _int_column(image, "image")
        m = [np.asarray(x, dtype=bool).reshape(-1) for x in marked]
        if not (r.size == i.size == len(m)):
            raise ValueError("rater, image and marked must have the same length")
        _check_unique(r, i, "words")
        return cls(rater=r, image=i, marked=m)

    @staticmethod
    def marks_from_indices(indices: Iterable[int], n_tokens: int) -> BoolArray:
        """The bool marks of token indices (as the trial page sends them).

        >>> WordAnswers.marks_from_indices([2, 0], 4).tolist()
        [True, False, True, False]
        """
        out = np.zeros(n_tokens, dtype=bool)
        idx = np.asarray(list(indices), dtype=np.intp)
        if idx.size and (idx.min() < 0 or idx.max() >= n_tokens):
            raise ValueError(f"token index out of range 0..{n_tokens - 1}")
        out[idx] = True
        return out


@dataclass(frozen=True)
class RichParams:
    """Options of :func:`analyse` (module docstring: what each one does)."""

    grid: int = 64  # cells along the image's longer side
    sigma: float = 0.04  # Gaussian SD as a fraction of the image's longer side
    n_splits: int = 50  # random rater splits per image for the heatmap split-half
    random_z: float = 2.326  # flag a random marker below this z (one-sided 1%)
    min_points: int = 5  # points a rater needs for a random-marker verdict
    seed: int = 0  # seeds the split-half draws

    def as_dict(self) -> dict[str, float | int]:
        return {
            "grid": self.grid,
            "sigma": self.sigma,
            "n_splits": self.n_splits,
            "random_z": self.random_z,
            "min_points": self.min_points,
            "seed": self.seed,
        }


# --------------------------------------------------------------------------- words


def krippendorff_alpha_binary(units: Sequence[BoolArray]) -> float:
    r"""Krippendorff's alpha (nominal) for binary values.

    ``units[u]`` holds the values the coders gave unit ``u`` (missing values simply absent);
    units with fewer than 2 values are not pairable and are left out. With :math:`n_{u1}` ones
    among :math:`m_u` values, :math:`n = \sum_u m_u` and :math:`n_1` the total of ones:

    .. math:: \alpha = 1 - (n - 1)\,\frac{\sum_u 2 n_{u0} n_{u1} / (m_u - 1)}{2 n_0 n_1}

    NaN when :math:`n_0 n_1 = 0` (no variation: alpha is undefined).
    Krippendorff (2011, "Computing Krippendorff's alpha-reliability", binary example, two
    observers, ten units) gives 0.095:

    >>> a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]; b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    >>> round(krippendorff_alpha_binary([np.array([x, y], dtype=bool) for x, y in zip(a, b)]), 3)
    0.095
    """
    m = np.array([u.size for u in units], dtype=np.float64)
    ones = np.array([int(np.count_nonzero(u)) for u in units], dtype=np.float64)
    return _alpha_from_counts(m, ones)


def _alpha_from_counts(m: FloatArray, ones: FloatArray) -> float:
    ok = m >= 2
    m, ones = m[ok], ones[ok]
    n = float(m.sum())
    n1 = float(ones.sum())
    n0 = n - n1
    if n0 * n1 <= 0:
        return math.nan
    disagree = float((2.0 * (m - ones) * ones / (m - 1.0)).sum())
    return 1.0 - (n - 1.0) * disagree / (2.0 * n0 * n1)


def word_counts(words: WordAnswers, n_tokens: Sequence[int]) -> tuple[list[IntArray], IntArray]:
    """Per image: marked count per token, and the number of raters who answered.

    >>> w = WordAnswers.from_lists([0, 1, 1], [0, 0, 1], [[True, False], [True, True], [False]])
    >>> marked, raters = word_counts(w, [2, 1])
    >>> [m.tolist() for m in marked], raters.tolist()
    ([[2, 1], [0]], [2, 1])
    """
    marked = [np.zeros(n, dtype=np.intp) for n in n_tokens]
    raters = np.zeros(len(n_tokens), dtype=np.intp)
    for img, m in zip(words.image.tolist(), words.marked, strict=True):
        if m.size != n_tokens[img]:
            raise ValueError(f"image {img}: {m.size} word marks for {n_tokens[img]} tokens")
        marked[img] += m
        raters[img] += 1
    return marked, raters


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class RichResult:
    """What :func:`analyse` returns. Per image ``i`` (index into ``sizes``):

    - ``heatmaps[i]``: (rows, cols) float map, peak 1 (zeros if nobody marked), grid as in the
      module docstring; ``peaks[i]``: normalised (x, y) of its highest cell (NaN if none);
    - ``region_raters[i]``: raters who answered the regions task; ``region_markers[i]``: those
      of them who marked at least one point; ``heatmap_agreement[i]``: split-half (SB);
    - ``word_marked[i]``: per token, the number of raters who marked it; ``word_raters[i]``:
      raters who answered the words task; ``word_rates[i]`` = marked / raters (NaN if none);
      ``top_word[i]``: the index of the uniquely highest rate, -1 if no unique top or no marks;
      ``word_alpha_by_image[i]``: Krippendorff's alpha over the image's tokens.

    Study level: ``heatmap_agreement_mean`` and ``word_alpha``. Per rater (``rater_ids``, sorted,
    screened-out raters left out): ``rater_region_answers``, ``rater_points``,
    ``rater_closeness`` (mean point score, 1 = uniform random), ``rater_z`` and
    ``random_marker``; NaN/False where there is no verdict.
    """

    name: str
    version: str
    params: dict[str, float | int]
    has_regions: bool
    has_words: bool
    heatmaps: list[FloatArray]
    peaks: FloatArray
    region_raters: IntArray
    region_markers: IntArray
    heatmap_agreement: FloatArray
    heatmap_agreement_mean: float
    word_marked: list[IntArray]
    word_raters: IntArray
    word_rates: list[FloatArray]
    top_word: IntArray
    word_alpha_by_image: FloatArray
    word_alpha: float
    rater_ids: IntArray
    rater_region_answers: IntArray
    rater_word_answers: IntArray
    rater_points: IntArray
    rater_closeness: FloatArray
    rater_z: FloatArray
    random_marker: BoolArray
    excluded_raters: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- analyse


def _drop_regions(regions: RegionAnswers, excluded: set[int]) -> RegionAnswers:
    keep = ~np.isin(regions.rater, np.fromiter(excluded, dtype=np.intp, count=len(excluded)))
    idx = np.flatnonzero(keep)
    return RegionAnswers(regions.rater[idx], regions.image[idx], [regions.points[k] for k in idx])


def _drop_words(words: WordAnswers, excluded: set[int]) -> WordAnswers:
    keep = ~np.isin(words.rater, np.fromiter(excluded, dtype=np.intp, count=len(excluded)))
    idx = np.flatnonzero(keep)
    return WordAnswers(words.rater[idx], words.image[idx], [words.marked[k] for k in idx])


@dataclass
class _RegionOut:
    heatmaps: list[FloatArray]
    peaks: FloatArray
    raters: IntArray
    markers: IntArray
    agreement: FloatArray
    score: dict[int, float]
    var: dict[int, float]
    points: dict[int, int]


def _analyse_regions(
    regions: RegionAnswers, sizes: Sequence[tuple[int, int]], params: RichParams, rng: np.random.Generator
) -> _RegionOut:
    n_img = len(sizes)
    if regions.image.size and int(regions.image.max()) >= n_img:
        raise ValueError("regions: image index beyond sizes")
    heatmaps: list[FloatArray] = []
    peaks = np.full((n_img, 2), np.nan)
    raters = np.bincount(regions.image, minlength=n_img).astype(np.intp)
    markers = np.zeros(n_img, dtype=np.intp)
    agreement = np.full(n_img, np.nan)
    score: dict[int, float] = {}
    var: dict[int, float] = {}
    npts: dict[int, int] = {}
    order = np.argsort(regions.image, kind="stable")
    bounds = np.searchsorted(regions.image[order], np.arange(n_img + 1))
    for i in range(n_img):
        rows, cols = heatmap_grid(*sizes[i], params.grid)
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size == 0:
            heatmaps.append(np.zeros((rows, cols)))
            continue
        pts = [regions.points[k] for k in idx]
        maps = rater_maps(pts, sizes[i], grid=params.grid, sigma=params.sigma)
        hm = mean_map(maps, (rows, cols))
        heatmaps.append(hm)
        peaks[i] = peak_of(hm)
        markers[i] = sum(1 for p in pts if p.shape[0])
        if idx.size >= 2 and params.n_splits > 0:
            agreement[i] = split_half_maps(maps, random_halves(idx.size, params.n_splits, rng))
        s, v = random_marker_stats(maps, [point_cells(p, rows, cols) for p in pts])
        for j, k in enumerate(idx.tolist()):
            r = int(regions.rater[k])
            score[r] = score.get(r, 0.0) + float(s[j])
            var[r] = var.get(r, 0.0) + float(v[j])
            # Only points that met a consensus count towards the verdict.
            npts[r] = npts.get(r, 0) + (pts[j].shape[0] if v[j] > 0 else 0)
    return _RegionOut(heatmaps, peaks, raters, markers, agreement, score, var, npts)


def _no_regions(sizes: Sequence[tuple[int, int]], grid: int) -> _RegionOut:
    n = len(sizes)
    zeros = np.zeros(n, dtype=np.intp)
    empty = [np.zeros(heatmap_grid(w, h, grid)) for w, h in sizes]
    return _RegionOut(empty, np.full((n, 2), np.nan), zeros, zeros.copy(), np.full(n, np.nan), {}, {}, {})


def _top_word(rates: FloatArray) -> int:
    if rates.size == 0 or not np.isfinite(rates).any():
        return -1
    top = float(np.nanmax(rates))
    hits = np.flatnonzero(rates == top)
    return int(hits[0]) if top > 0 and hits.size == 1 else -1


@dataclass
class _WordOut:
    marked: list[IntArray]
    raters: IntArray
    rates: list[FloatArray]
    top: IntArray
    alpha_by_image: FloatArray
    alpha: float


def _analyse_words(words: WordAnswers | None, n_tokens: list[int]) -> _WordOut:
    n_img = len(n_tokens)
    if words is not None:
        if words.image.size and int(words.image.max()) >= n_img:
            raise ValueError("words: image index beyond tokens")
        marked, raters = word_counts(words, n_tokens)
    else:
        marked = [np.zeros(n, dtype=np.intp) for n in n_tokens]
        raters = np.zeros(n_img, dtype=np.intp)
    pairs = list(zip(marked, raters.tolist(), strict=True))
    rates = [m / float(r) if r else np.full(m.size, np.nan) for m, r in pairs]
    # Every rater who answered for an image gave a value for each of its tokens, so a unit's
    # m_u is the image's rater count and its ones the token's marked count.
    unit_m = [np.full(m.size, float(r)) for m, r in pairs]
    unit_ones = [m.astype(np.float64) for m in marked]
    alpha_img = np.array([_alpha_from_counts(u, o) for u, o in zip(unit_m, unit_ones, strict=True)])
    alpha = (
        _alpha_from_counts(np.concatenate(unit_m), np.concatenate(unit_ones))
        if words is not None and n_img
        else math.nan
    )
    top = np.array([_top_word(r) for r in rates], dtype=np.intp)
    return _WordOut(marked, raters, rates, top, alpha_img, alpha)


@dataclass
class _RaterOut:
    ids: IntArray
    region_answers: IntArray
    word_answers: IntArray
    points: IntArray
    closeness: FloatArray
    z: FloatArray
    random_marker: BoolArray


def _answer_counts(ids: IntArray, rater: IntArray | None) -> IntArray:
    if rater is None:
        return np.zeros(ids.size, dtype=np.intp)
    return np.bincount(np.searchsorted(ids, rater), minlength=ids.size).astype(np.intp)


def _rater_verdicts(
    regions: RegionAnswers | None, words: WordAnswers | None, reg: _RegionOut, params: RichParams
) -> _RaterOut:
    region_ids = set(regions.rater.tolist()) if regions is not None else set()
    word_ids = set(words.rater.tolist()) if words is not None else set()
    ids = np.array(sorted(region_ids | word_ids), dtype=np.intp)
    points = np.array([reg.points.get(r, 0) for r in ids.tolist()], dtype=np.intp)
    closeness = np.full(ids.size, np.nan)
    z = np.full(ids.size, np.nan)
    for j, r in enumerate(ids.tolist()):
        v = reg.var.get(r, 0.0)
        if points[j] >= params.min_points and v > 0:
            closeness[j] = reg.score[r] / points[j]
            # Under uniform random points the score sum has mean = number of points.
            z[j] = (reg.score[r] - points[j]) / math.sqrt(v)
    return _RaterOut(
        ids=ids,
        region_answers=_answer_counts(ids, regions.rater if regions is not None else None),
        word_answers=_answer_counts(ids, words.rater if words is not None else None),
        points=points,
        closeness=closeness,
        z=z,
        random_marker=np.asarray(np.isfinite(z) & (z < params.random_z), dtype=bool),
    )


def analyse(
    regions: RegionAnswers | None,
    words: WordAnswers | None,
    *,
    sizes: Sequence[tuple[int, int]],
    tokens: Sequence[Sequence[str]],
    excluded_raters: set[int] | frozenset[int] = frozenset(),
    params: RichParams = RichParams(),
) -> RichResult:
    """Heatmaps, word rates, agreement and random-marker flags of one study's rich answers.

    ``sizes[i]`` is image i's ``(width, height)`` in pixels, ``tokens[i]`` its prompt tokens
    (:func:`tokenize_prompt`). Answers of ``excluded_raters`` are dropped first. Either task
    may be None (the study does not have it). Everything is described in the module docstring.

    >>> reg = RegionAnswers.from_lists([0, 1, 2], [0, 0, 0], [[[0.2, 0.2]], [[0.21, 0.2]], []])
    >>> wrd = WordAnswers.from_lists([0, 1, 2], [0, 0, 0], [[False, True], [False, True], [False, False]])
    >>> res = analyse(reg, wrd, sizes=[(100, 100)], tokens=[["a", "cat"]], params=RichParams(grid=10))
    >>> res.peaks[0].tolist(), res.word_rates[0].round(3).tolist(), res.top_word.tolist()
    ([0.25, 0.25], [0.0, 0.667], [1])
    """
    if len(sizes) != len(tokens):
        raise ValueError("sizes and tokens must describe the same images")
    excluded = {int(r) for r in excluded_raters}
    if regions is not None and excluded:
        regions = _drop_regions(regions, excluded)
    if words is not None and excluded:
        words = _drop_words(words, excluded)
    rng = np.random.default_rng(params.seed)
    reg = (
        _analyse_regions(regions, sizes, params, rng)
        if regions is not None
        else _no_regions(sizes, params.grid)
    )
    wrd = _analyse_words(words, [len(t) for t in tokens])
    raters = _rater_verdicts(regions, words, reg, params)
    finite = reg.agreement[np.isfinite(reg.agreement)]
    return RichResult(
        name=NAME,
        version=VERSION,
        params=params.as_dict(),
        has_regions=regions is not None,
        has_words=words is not None,
        heatmaps=reg.heatmaps,
        peaks=reg.peaks,
        region_raters=reg.raters,
        region_markers=reg.markers,
        heatmap_agreement=reg.agreement,
        heatmap_agreement_mean=float(finite.mean()) if finite.size else math.nan,
        word_marked=wrd.marked,
        word_raters=wrd.raters,
        word_rates=wrd.rates,
        top_word=wrd.top,
        word_alpha_by_image=wrd.alpha_by_image,
        word_alpha=wrd.alpha,
        rater_ids=raters.ids,
        rater_region_answers=raters.region_answers,
        rater_word_answers=raters.word_answers,
        rater_points=raters.points,
        rater_closeness=raters.closeness,
        rater_z=raters.z,
        random_marker=raters.random_marker,
        excluded_raters=sorted(excluded),
    )
