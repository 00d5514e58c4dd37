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

#: A group whose population SD is at most this fraction of the root mean square of its values
#: is treated as constant (zero spread). Equal scores that went through arithmetic (z-scores,
#: rescaling, ``(0.1 + 0.1 + 0.1) / 3``) differ by rounding, about 1e-16 relative; any real
#: difference between ratings is many orders of magnitude larger.
FLAT_TOLERANCE = 1e-12

__all__ = ["FLAT_TOLERANCE", "GroupMoments", "counts", "divide", "means", "moments", "sums"]


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


@dataclass(frozen=True, eq=False)
class GroupMoments:
    """Count, mean and variance of each group.

    ``var`` uses the divisor ``count - ddof`` and is NaN when that is not positive.
    ``sq_dev`` is the sum of squared deviations from the group mean (0 for an empty group).
    ``flat`` marks groups with ratings whose spread is within rounding of zero
    (:data:`FLAT_TOLERANCE`); their ``sq_dev`` and ``var`` are exactly 0.
    """

    count: IntArray
    mean: FloatArray
    sq_dev: FloatArray
    var: FloatArray
    flat: BoolArray

    @property
    def sd(self) -> FloatArray:
        """Square root of :attr:`var`."""
        return np.sqrt(self.var)


def moments(index: IntArray, values: FloatArray, n_groups: int, *, ddof: int = 1) -> GroupMoments:
    r"""Count, mean and variance per group, by the two-pass formula.

    .. math:: \bar x_g = \frac{1}{n_g}\sum_{k \in g} x_k, \qquad
              s^2_g = \frac{1}{n_g - \mathrm{ddof}} \sum_{k \in g} (x_k - \bar x_g)^2

    The deviations are taken from the group mean (two passes), which avoids the cancellation
    of ``E[x^2] - E[x]^2``. A group whose values are equal up to rounding has ``s = 0``
    exactly (``flat``): :math:`\sum (x - \bar x)^2 \le \tau^2 \sum x^2` with
    :math:`\tau` = :data:`FLAT_TOLERANCE`.

    Examples
    --------
    >>> m = moments(np.array([0, 0, 0, 1]), np.array([1.0, 2.0, 3.0, 5.0]), 3)
    >>> m.count.tolist(), m.mean.tolist(), m.var.tolist()
    ([3, 1, 0], [2.0, 5.0, nan], [1.0, nan, nan])
    >>> moments(np.zeros(3, dtype=np.intp), np.array([0.1, 0.1, 0.1]), 1).var.tolist()
    [0.0]
    """
    count = counts(index, n_groups)
    mean = divide(sums(index, values, n_groups), count)
    dev = values - mean[index]
    sq_dev = sums(index, dev * dev, n_groups)
    flat = (count > 0) & (sq_dev <= FLAT_TOLERANCE**2 * sums(index, values * values, n_groups))
    sq_dev[flat] = 0.0
    var = divide(sq_dev, count - ddof)
    return GroupMoments(count=count, mean=mean, sq_dev=sq_dev, var=var, flat=flat)
