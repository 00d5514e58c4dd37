"""Heatmaps of marked points for the rich-feedback analysis (:mod:`analysis.stats.rich`).

Pure numpy. Grid, kernel, normalisation, split-half and the random-marker statistic are
described in the docstring of :mod:`analysis.stats.rich`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .reliability import spearman_brown
from .types import BoolArray, FloatArray, IntArray

__all__ = [
    "heatmap_grid",
    "mean_map",
    "peak_of",
    "point_cells",
    "random_halves",
    "random_marker_stats",
    "rater_maps",
    "split_half_maps",
]

# --------------------------------------------------------------------------- heatmaps


def heatmap_grid(width: int, height: int, grid: int) -> tuple[int, int]:
    """``(rows, cols)`` of the heatmap of a ``width`` x ``height`` image.

    >>> heatmap_grid(1024, 768, 64), heatmap_grid(512, 512, 64), heatmap_grid(10, 1000, 8)
    ((48, 64), (64, 64), (8, 1))
    """
    if width <= 0 or height <= 0 or grid <= 0:
        raise ValueError("width, height and grid must be positive")
    long_side = max(width, height)
    short = max(1, round(grid * min(width, height) / long_side))
    return (grid, short) if height >= width else (short, grid)


def _axis_kernel(coords: FloatArray, cells: int, scale: float) -> FloatArray:
    """Gaussian factor along one axis: (points, cells); ``scale`` = sigma in normalised units."""
    centres = (np.arange(cells) + 0.5) / cells
    d = coords[:, None] - centres[None, :]
    return np.asarray(np.exp(-0.5 * (d / scale) ** 2), dtype=np.float64)


def rater_maps(
    points: Sequence[FloatArray], size: tuple[int, int], *, grid: int = 64, sigma: float = 0.04
) -> FloatArray:
    """Per-rater maps of one image: (raters, rows * cols), each summing to 1 (0 for "nothing").

    ``points[k]`` are rater k's normalised points; ``size`` is ``(width, height)`` in pixels.

    >>> m = rater_maps([np.array([[0.5, 0.5], [0.1, 0.1]]), np.zeros((0, 2))], (100, 100),
    ...                grid=8)
    >>> m.shape, [round(float(s), 6) for s in m.sum(axis=1)]
    ((2, 64), [1.0, 0.0])
    """
    width, height = size
    rows, cols = heatmap_grid(width, height, grid)
    long_side = float(max(width, height))
    # sigma in each axis' own normalised unit: the kernel is round in pixels.
    sx, sy = sigma * long_side / width, sigma * long_side / height
    counts = np.array([p.shape[0] for p in points], dtype=np.intp)
    out = np.zeros((len(points), rows * cols))
    if counts.sum() == 0:
        return out
    allp = np.concatenate([p for p in points if p.shape[0]], axis=0)
    owner = np.repeat(np.arange(len(points)), counts)
    gx = _axis_kernel(allp[:, 0], cols, sx)
    gy = _axis_kernel(allp[:, 1], rows, sy)
    # Each point's kernel total is (sum gy)(sum gx); a rater's map is divided by the sum of
    # its points' totals so that it sums to 1.
    totals = gy.sum(axis=1) * gx.sum(axis=1)
    rater_total = np.bincount(owner, weights=totals, minlength=len(points))
    w = 1.0 / rater_total[owner]
    for k in np.flatnonzero(counts):
        sel = owner == k
        out[k] = (gy[sel].T @ (gx[sel] * w[sel, None])).reshape(-1)
    return out


def mean_map(maps: FloatArray, shape: tuple[int, int]) -> FloatArray:
    """The image's heatmap: the mean of the per-rater maps, scaled to peak 1, as (rows, cols).

    >>> mean_map(np.array([[0.0, 1.0], [0.5, 0.5], [0.0, 0.0]]), (1, 2)).tolist()
    [[0.3333333333333333, 1.0]]
    """
    return mean_map_normalised(maps.mean(axis=0)).reshape(shape)


def mean_map_normalised(m: FloatArray) -> FloatArray:
    top = float(m.max()) if m.size else 0.0
    return m / top if top > 0 else m.copy()


def peak_of(heatmap: FloatArray) -> tuple[float, float]:
    """Normalised ``(x, y)`` centre of the highest cell of a (rows, cols) map; NaN if all zero.

    >>> h = np.zeros((4, 8)); h[1, 6] = 1.0
    >>> peak_of(h)
    (0.8125, 0.375)
    """
    if heatmap.size == 0 or not float(heatmap.max()) > 0:
        return (math.nan, math.nan)
    rows, cols = heatmap.shape
    r, c = divmod(int(np.argmax(heatmap)), cols)
    return ((c + 0.5) / cols, (r + 0.5) / rows)


def split_half_maps(maps: FloatArray, halves: BoolArray) -> float:
    """Mean Spearman-Brown split-half correlation of per-rater maps over given splits.

    ``maps`` is (raters, cells); ``halves`` is (splits, raters), True = first half. Each half's
    map is the mean of its raters' maps; splits where either half is constant are left out.

    >>> maps = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [1.0, 0, 0], [0.8, 0.2, 0]])
    >>> round(split_half_maps(maps, np.array([[True, True, False, False]])), 6)
    0.99925
    """
    # Pearson's r is blind to scale, so half sums stand in for half means, and with the rater
    # maps centred over cells, every split's covariances come from one raters x raters Gram
    # matrix: a few hundred operations per split instead of a pass over the cells.
    centred = maps - maps.mean(axis=1, keepdims=True)
    gram = centred @ centred.T
    a = halves.astype(np.float64)
    b = 1.0 - a
    ga = a @ gram
    cov = (ga * b).sum(axis=1)
    var_a = (ga * a).sum(axis=1)
    var_b = ((b @ gram) * b).sum(axis=1)
    den = np.sqrt(np.clip(var_a, 0.0, None) * np.clip(var_b, 0.0, None))
    # A half whose raters all marked nothing has an exactly constant map; rounding leaves
    # crumbs far below this floor.
    floor = 1e-12 * max(float(np.trace(gram)), 1e-300) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den * den > floor, cov / den, np.nan)
    r = r[np.isfinite(r) & (r > -1.0)]
    return float(spearman_brown(r).mean()) if r.size else math.nan


def random_halves(n: int, n_splits: int, rng: np.random.Generator) -> BoolArray:
    keys = rng.random((n_splits, n))
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    return np.asarray(rank < n // 2, dtype=bool)


# --------------------------------------------------------------------------- random markers


def random_marker_stats(maps: FloatArray, points_cells: Sequence[IntArray]) -> tuple[FloatArray, FloatArray]:
    """Per rater of one image: (sum of point scores, sum of their null variances).

    ``maps`` (raters, cells) are the per-rater maps; ``points_cells[k]`` the cell index of each
    of rater k's points. A point's score is the leave-one-out consensus (the other raters' maps
    summed, scaled to sum 1) at its cell times the number of cells; its null variance under a
    uniformly random point is ``cells * sum(m**2) - 1`` (module docstring). Raters whose
    others marked nothing get 0 and 0 (no evidence either way).

    >>> maps = np.array([[0.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    >>> s, v = random_marker_stats(maps, [np.array([1]), np.array([1]), np.array([0, 1])])
    >>> s.round(4).tolist(), v.round(4).tolist()
    ([1.5, 1.5, 2.0], [0.25, 0.25, 2.0])
    """
    n_raters, n_cells = maps.shape
    total = maps.sum(axis=0)
    score = np.zeros(n_raters)
    var = np.zeros(n_raters)
    for k in range(n_raters):
        cells = points_cells[k]
        if cells.size == 0:
            continue
        rest = total - maps[k]
        mass = float(rest.sum())
        if mass <= 0:
            continue
        m = rest / mass
        score[k] = float(m[cells].sum()) * n_cells
        var[k] = cells.size * (n_cells * float((m * m).sum()) - 1.0)
    return score, var


def point_cells(points: FloatArray, rows: int, cols: int) -> IntArray:
    c = np.minimum((points[:, 0] * cols).astype(np.intp), cols - 1)
    r = np.minimum((points[:, 1] * rows).astype(np.intp), rows - 1)
    return np.asarray(r * cols + c, dtype=np.intp)
