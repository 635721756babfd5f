"""Argument checks shared by every layer, with one message style.

Each check names the owner (a class or function the user called), the argument as the user
spelled it and its value: ``WSD: warmup_steps=200 must be in 0..100``. Values that are JAX
tracers are not checked (they are validated when concrete).
"""

import math
from typing import Any

import numpy as np

from ._pytree import concrete_or_none

__all__ = ["check_int", "check_lr", "check_fraction", "check_unit_interval", "prefix"]


def prefix(owner: str | None) -> str:
    """``"Owner: "`` or ``""``."""
    return f"{owner}: " if owner else ""


def check_int(
    owner: str | None, name: str, value: Any, lo: int = 0, hi: int | None = None
) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (a float with an integer value is accepted)."""
    p = prefix(owner)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{p}{name}={value!r} must be a whole number")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{p}{name}={value} must be {rng}")
    return value


def check_lr(owner: str | None, name: str, value: Any) -> None:
    """A learning rate: finite and non-negative (tracers pass)."""
    p = prefix(owner)
    v = concrete_or_none(value)
    if v is None:
        if value is None:
            raise ValueError(f"{p}{name} is required")
        return
    if not math.isfinite(v):
        raise ValueError(f"{p}{name}={v} is not a finite number")
    if v < 0:
        raise ValueError(f"{p}{name}={v:g} is negative")


def check_fraction(owner: str | None, name: str, value: Any) -> None:
    """A fraction in [0, 1] (tracers pass)."""
    v = concrete_or_none(value)
    if v is None:
        return
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{prefix(owner)}{name}={v:g} must be a fraction in [0, 1]")


def check_unit_interval(owner: str | None, name: str, value: Any) -> float:
    """A number in [0, 1), e.g. a momentum or EMA factor."""
    p = prefix(owner)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{p}{name}={value!r} is not a number in [0, 1)") from None
    if not (0.0 <= v < 1.0) or not math.isfinite(v):
        raise ValueError(f"{p}{name}={value!r} is outside [0, 1)")
    return v
