"""The input of every method: the ratings of one perspective, in long format."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .types import BoolArray, FloatArray, IntArray

__all__ = ["Ratings"]


def _index_array(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    out = arr.astype(np.intp)
    if out.size and out.min() < 0:
        raise ValueError(f"{name} indices must be >= 0, got {int(out.min())}")
    return out


def _readonly(arr: Any) -> Any:
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Ratings:
    """The ratings of one perspective, one row per rating (long format).

    Rating ``k`` is ``score[k]``, given by rater ``rater[k]`` to stimulus ``stimulus[k]``.
    Indices are 0-based; raters ``0 .. n_raters - 1`` and stimuli ``0 .. n_stimuli - 1`` may
    have no ratings at all (their result rows are NaN). A rater may rate a stimulus more than
    once (repetitions); every rating counts as one observation.

    Build it with :meth:`from_arrays`, which validates and copies the arrays; the stored arrays
    are read-only.

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 0, 1], stimulus=[0, 1, 1], score=[3, 4, 5])
    >>> r.n_raters, r.n_stimuli, r.n_ratings
    (2, 2, 3)
    """

    rater: IntArray
    stimulus: IntArray
    score: FloatArray
    n_raters: int
    n_stimuli: int

    def __post_init__(self) -> None:
        n = self.score.shape[0]
        if n == 0:
            raise ValueError("no ratings: at least one rating is needed")
        if self.rater.shape != (n,) or self.stimulus.shape != (n,):
            raise ValueError(
                "rater, stimulus and score must be 1-D arrays of one length, got "
                f"{self.rater.shape}, {self.stimulus.shape}, {self.score.shape}"
            )
        if int(self.rater.max()) >= self.n_raters:
            raise ValueError(f"rater index {int(self.rater.max())} >= n_raters={self.n_raters}")
        if int(self.stimulus.max()) >= self.n_stimuli:
            raise ValueError(f"stimulus index {int(self.stimulus.max())} >= n_stimuli={self.n_stimuli}")
        if not np.isfinite(self.score).all():
            bad = int(np.flatnonzero(~np.isfinite(self.score))[0])
            raise ValueError(f"score must be finite; rating {bad} is {self.score[bad]!r}")

    @classmethod
    def from_arrays(
        cls,
        rater: ArrayLike,
        stimulus: ArrayLike,
        score: ArrayLike,
        n_raters: int | None = None,
        n_stimuli: int | None = None,
    ) -> Ratings:
        """Validate and copy long-format arrays.

        Parameters
        ----------
        rater, stimulus : array_like of int
            0-based rater and stimulus index of each rating.
        score : array_like of float
            The raw score of each rating; must be finite.
        n_raters, n_stimuli : int, optional
            Number of raters and stimuli; default ``max(index) + 1``. Pass them when some raters
            or stimuli have no ratings, so that the results keep one row for each.

        Raises
        ------
        ValueError
            On empty input, mismatched lengths, negative or out-of-range indices, non-integer
            indices or non-finite scores.
        """
        r = _index_array("rater", rater)
        s = _index_array("stimulus", stimulus)
        try:
            x = np.asarray(score, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"score must be numeric: {exc}") from None
        if x.ndim != 1:
            raise ValueError(f"score must be a 1-D array, got shape {x.shape}")
        if x.size == 0:
            raise ValueError("no ratings: at least one rating is needed")
        nr = int(r.max()) + 1 if n_raters is None and r.size else int(n_raters or 0)
        ns = int(s.max()) + 1 if n_stimuli is None and s.size else int(n_stimuli or 0)
        return cls(
            # astype() above always copied, so the caller's arrays are never shared.
            rater=_readonly(r),
            stimulus=_readonly(s),
            score=_readonly(x.copy()),
            n_raters=nr,
            n_stimuli=ns,
        )

    @property
    def n_ratings(self) -> int:
        """Number of ratings."""
        return int(self.score.shape[0])

    def select(self, keep: BoolArray) -> Ratings:
        """The ratings where ``keep`` is true, with the same index spaces.

        Raises ``ValueError`` if nothing is kept.
        """
        return Ratings.from_arrays(
            rater=self.rater[keep],
            stimulus=self.stimulus[keep],
            score=self.score[keep],
            n_raters=self.n_raters,
            n_stimuli=self.n_stimuli,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the ratings, independent of their row order.

        Two inputs with the same multiset of (rater, stimulus, score) and the same index spaces
        have the same fingerprint; use it to key cached results.

        Examples
        --------
        >>> a = Ratings.from_arrays(rater=[0, 1], stimulus=[0, 0], score=[1.0, 2.0])
        >>> b = Ratings.from_arrays(rater=[1, 0], stimulus=[0, 0], score=[2.0, 1.0])
        >>> a.fingerprint() == b.fingerprint()
        True
        """
        order = np.lexsort((self.score, self.stimulus, self.rater))
        h = hashlib.sha256()
        h.update(f"ratings-v1:{self.n_raters}:{self.n_stimuli}:{self.n_ratings}".encode())
        h.update(np.ascontiguousarray(self.rater[order], dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(self.stimulus[order], dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(self.score[order], dtype="<f8").tobytes())
        return h.hexdigest()
