"""The registry of scoring methods and the single entry point :func:`analyse`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from . import bt500_zscore, mle, plain_mos, vote_outliers
from .ratings import Ratings
from .results import AnalysisResult

__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "analyse"]


@dataclass(frozen=True)
class Method:
    """A registered scoring method.

    ``run(ratings, **params)`` computes the result; ``validate(params)`` returns the complete
    parameters (defaults filled in) or raises ``ValueError``.
    """

    name: str
    version: str
    defaults: Mapping[str, Any]
    run: Callable[..., AnalysisResult]
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    summary: str


def _method(module: Any, summary: str) -> Method:
    return Method(
        name=module.NAME,
        version=module.VERSION,
        defaults=MappingProxyType(dict(module.DEFAULTS)),
        run=module.run,
        validate=module.validate,
        summary=summary,
    )


METHODS: Mapping[str, Method] = MappingProxyType(
    {
        m.name: m
        for m in (
            _method(bt500_zscore, "BT.500 screening, per-rater z-scores rescaled to 0..100, MOS"),
            _method(plain_mos, "mean of the raw scores, no screening"),
            _method(vote_outliers, "per-rater z-scores, single outlying votes dropped, MOS"),
            _method(mle, "maximum-likelihood rater model (bias + inconsistency), raw scale"),
        )
    }
)

DEFAULT_METHOD = bt500_zscore.NAME


def analyse(r: Ratings, method: str = DEFAULT_METHOD, **params: Any) -> AnalysisResult:
    """Run a registered method on one perspective's ratings.

    Parameters
    ----------
    r : Ratings
    method : str
        A key of :data:`METHODS`; default ``"bt500_zscore"``.
    **params
        The method's parameters; unspecified ones take the defaults in
        ``METHODS[method].defaults``. The result's ``params`` holds them all.

    Raises
    ------
    ValueError
        Unknown method, unknown parameter or invalid parameter value.

    Examples
    --------
    >>> r = Ratings.from_arrays(rater=[0, 1, 0, 1], stimulus=[0, 0, 1, 1], score=[1, 2, 4, 5])
    >>> res = analyse(r, "mos")
    >>> res.method, res.stimuli.mos.tolist(), res.params
    ('mos', [1.5, 4.5], {'ci': 0.95})
    """
    if not isinstance(r, Ratings):
        raise ValueError(f"expected Ratings, got {type(r).__name__}")
    try:
        m = METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}") from None
    return m.run(r, **m.validate(params))
