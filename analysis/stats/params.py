"""Validation of method parameters; every error is a ``ValueError`` with one clear message."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_choice", "check_int", "check_known", "check_number"]


def check_known(method: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Reject unknown names; return ``defaults`` updated with ``params``."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for method {method!r}; allowed: {allowed}"
        )
    return {**defaults, **params}


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    """``value`` must be one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"parameter {name} must be one of {', '.join(options)}; got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` must be a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"parameter {name} must be true or false; got {value!r}")
    return bool(value)


def check_number(
    name: str,
    value: Any,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` must be a real number in the given range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"parameter {name} must be a number; got {value!r}")
    x = float(value)
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"parameter {name} must be in {lo}{low:g}, {high:g}{hi}; got {value!r}")
    return x


def check_int(name: str, value: Any, *, low: int) -> int:
    """``value`` must be an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"parameter {name} must be an integer >= {low}; got {value!r}")
    return int(value)
