"""How well a scoring method recovers known true scores (for simulated pilots and benchmarks).

Pure numpy/scipy: no Django, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["NAME", "VERSION", "Recovery", "recovery"]

NAME = "recovery"
VERSION = "1.0"


@dataclass(frozen=True)
class Recovery:
    n: int
    pearson: float
    spearman: float
    rmse: float  # in the units of `truth`, after the linear mapping
    slope: float
    intercept: float


def recovery(truth: ArrayLike, recovered: ArrayLike) -> Recovery:
    """Compare recovered scores with the true ones; pairs with a NaN on either side are left out.

    The recovered scores are first mapped onto the truth's scale by the least-squares line
    ``truth ~ slope * recovered + intercept`` (the linear mapping VQEG and the IQA literature apply
    before an RMSE: a z-scored MOS on 0..100 and a 1..5 truth are on different scales). ``rmse`` is
    the root mean square of ``truth - (slope * recovered + intercept)``. Pearson's r and Spearman's
    rho are computed on the unmapped values (both are unchanged by the mapping). With fewer than 3
    pairs, or a constant side, the figures are NaN.

    >>> r = recovery([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
    >>> round(r.pearson, 6), round(r.rmse, 6), round(r.slope, 6)
    (1.0, 0.0, 0.1)
    """
    t = np.asarray(truth, dtype=float)
    x = np.asarray(recovered, dtype=float)
    ok = np.isfinite(t) & np.isfinite(x)
    t, x = t[ok], x[ok]
    n = int(t.size)
    if n < 3 or np.ptp(t) == 0 or np.ptp(x) == 0:
        nan = float("nan")
        return Recovery(n, nan, nan, nan, nan, nan)
    from scipy import stats as sps  # only here: scipy.stats takes seconds to import

    slope, intercept = np.polyfit(x, t, 1)
    residual = t - (slope * x + intercept)
    return Recovery(
        n=n,
        pearson=float(np.corrcoef(t, x)[0, 1]),
        spearman=float(sps.spearmanr(t, x).statistic),
        rmse=float(np.sqrt(np.mean(residual**2))),
        slope=float(slope),
        intercept=float(intercept),
    )
