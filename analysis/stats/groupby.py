"""Group-by reductions over long-format arrays.

Every statistic in this package is a sum over the ratings of a group (a rater or a stimulus),
so it is computed with :func:`numpy.bincount`: one pass over the ratings, O(number of ratings)
time and O(number of groups) memory. No dense stimuli x raters matrix is ever built.

Empty groups give NaN (never a warning, never an error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import BoolArray, FloatArray, IntArray

__all__ = ["GroupMoments", "constant", "counts", "divide", "means", "moments", "sums"]


def counts(index: IntArray, n_groups: int, where: BoolArray | None = None) -> IntArray:
    """Number of elements per group.

    Parameters
    ----------
    index : int array
        Group index of every element, in ``[0, n_groups)``.
    n_groups : int
        Number of groups; the result has this length.
    where : bool array, optional
        Only count the elements where this is true.

    Examples
    --------
    >>> counts(np.array([0, 2, 2]), 4).tolist()
    [1, 0, 2, 0]
    """
    if where is not None:
        index = index[where]
    return np.bincount(index, minlength=n_groups).astype(np.intp, copy=False)


def sums(index: IntArray, values: FloatArray, n_groups: int) -> FloatArray:
    """Sum of ``values`` per group (0 for an empty group).

    Examples
    --------
    >>> sums(np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0]), 3).tolist()
    [1.0, 0.0, 5.0]
    """
    return np.bincount(index, weights=values, minlength=n_groups).astype(np.float64, copy=False)


def divide(numerator: FloatArray, denominator: FloatArray | IntArray) -> FloatArray:
    """Element-wise ``numerator / denominator`` with NaN where the denominator is <= 0."""
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(numerator.shape, np.nan)
    ok = den > 0
    np.divide(numerator, den, out=out, where=ok)
    return out


def means(index: IntArray, values: FloatArray, n_groups: int) -> FloatArray:
    """Mean of ``values`` per group (NaN for an empty group).

    Examples
    --------
    >>> means(np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0]), 3).tolist()
    [1.0, nan, 2.5]
    """
    return divide(sums(index, values, n_groups), counts(index, n_groups))


def constant(index: IntArray, values: FloatArray, n_groups: int) -> BoolArray:
    """True for groups whose values are all equal (and for empty groups), exactly.

    Floating-point means of equal values need not equal the value (``(0.1 + 0.1 + 0.1) / 3``
    is not ``0.1``), so a zero variance is detected by comparing every value with one member
    of its group rather than by testing the computed variance.

    Examples
    --------
    >>> constant(np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.1, 0.1, 1.0, 2.0]), 3).tolist()
    [True, False, True]
    """
    member = np.zeros(n_groups)
    member[index] = values  # any one value of each group
    differs = np.bincount(index, weights=(values != member[index]), minlength=n_groups)
    return np.asarray(differs == 0)


@dataclass(frozen=True, eq=False)
class GroupMoments:
    """Count, mean and variance of each group.

    ``var`` uses the divisor ``count - ddof`` and is NaN when that is not positive.
    ``sq_dev`` is the sum of squared deviations from the group mean (0 for an empty group).
    """

    count: IntArray
    mean: FloatArray
    sq_dev: FloatArray
    var: FloatArray

    @property
    def sd(self) -> FloatArray:
        """Square root of :attr:`var`."""
        return np.sqrt(self.var)


def moments(index: IntArray, values: FloatArray, n_groups: int, *, ddof: int = 1) -> GroupMoments:
    r"""Count, mean and variance per group, by the two-pass formula.

    .. math:: \bar x_g = \frac{1}{n_g}\sum_{k \in g} x_k, \qquad
              s^2_g = \frac{1}{n_g - \mathrm{ddof}} \sum_{k \in g} (x_k - \bar x_g)^2

    The deviations are taken from the group mean (two passes), which avoids the cancellation
    of ``E[x^2] - E[x]^2``; a constant group gets its value as mean and ``s = 0`` exactly.

    Examples
    --------
    >>> m = moments(np.array([0, 0, 0, 1]), np.array([1.0, 2.0, 3.0, 5.0]), 3)
    >>> m.count.tolist(), m.mean.tolist(), m.var.tolist()
    ([3, 1, 0], [2.0, 5.0, nan], [1.0, nan, nan])
    """
    count = counts(index, n_groups)
    mean = divide(sums(index, values, n_groups), count)
    flat = constant(index, values, n_groups) & (count > 0)
    if flat.any():
        # exact mean and zero spread for constant groups (see constant())
        member = np.zeros(n_groups)
        member[index] = values
        mean[flat] = member[flat]
    dev = values - mean[index]
    sq_dev = sums(index, dev * dev, n_groups)
    var = divide(sq_dev, count - ddof)
    return GroupMoments(count=count, mean=mean, sq_dev=sq_dev, var=var)
