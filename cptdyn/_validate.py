"""Argument checks shared by every layer, with one message style.

Each check names the owner (a class or function the user called), the argument as the user
spelled it and its value: ``WSD: warmup_steps=200 must be in 0..100``. Values that are JAX
tracers are not checked (they are validated when concrete).
"""

import math
from typing import Any

import numpy as np

from ._pytree import concrete_or_none

__all__ = ["check_int", "check_lr", "check_fraction", "check_unit_interval", "check_number",
           "prefix", "MAX_STEPS", "MAX_LR", "MAX_MAGNITUDE"]

#: Resource limit on step counts and step indices: 10^8 steps (an 800 MB float64 LR array; the
#: longest LLM runs are ~10^6-10^7 steps). Checked before anything is allocated.
MAX_STEPS = 100_000_000
#: Largest learning rate accepted (absolute units): well above any trained LR, and far enough
#: from the float64 limit that warmup ramps and areas cannot overflow.
MAX_LR = 1e3
#: Largest magnitude of a law parameter read from a file.
MAX_MAGNITUDE = 1e6


def _number(owner: str | None, name: str, value: Any) -> float | None:
    """``float(value)`` for a real number, ``None`` for a tracer; anything else (strings,
    booleans, lists, None) is a ValueError naming the field."""
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes, list, tuple, dict)):
        raise ValueError(f"{prefix(owner)}{name}={value!r} must be a number")
    v = concrete_or_none(value)
    if v is None:
        if value is None:
            raise ValueError(f"{prefix(owner)}{name} is required")
        if np.ndim(value) != 0 and not hasattr(value, "aval"):
            raise ValueError(f"{prefix(owner)}{name} must be a single number")
        return None
    return v


def check_number(owner: str | None, name: str, value: Any, lo: float = -math.inf,
                 hi: float = math.inf) -> float | None:
    """A finite real number in ``[lo, hi]`` (tracers pass: ``None``)."""
    v = _number(owner, name, value)
    if v is None:
        return None
    if not math.isfinite(v):
        raise ValueError(f"{prefix(owner)}{name}={v} is not a finite number")
    if v < lo or v > hi:
        raise ValueError(f"{prefix(owner)}{name}={v:g} must be in [{lo:g}, {hi:g}]")
    return v


def prefix(owner: str | None) -> str:
    """``"Owner: "`` or ``""``."""
    return f"{owner}: " if owner else ""


def check_int(
    owner: str | None, name: str, value: Any, lo: int = 0, hi: int | None = None
) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (a float with an integer value is accepted).
    Without ``hi``, the resource limit :data:`MAX_STEPS` applies."""
    p = prefix(owner)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{p}{name}={value!r} must be a whole number")
    value = int(value)
    if hi is None and value > MAX_STEPS:
        raise ValueError(f"{p}{name}={value} exceeds the limit of {MAX_STEPS} (resource limit; "
                         "a typo?)")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{p}{name}={value} must be {rng}")
    return value


def check_lr(owner: str | None, name: str, value: Any) -> None:
    """A learning rate: finite and non-negative (tracers pass)."""
    p = prefix(owner)
    v = _number(owner, name, value)
    if v is None:
        return
    if not math.isfinite(v):
        raise ValueError(f"{p}{name}={v} is not a finite number")
    if v < 0:
        raise ValueError(f"{p}{name}={v:g} is negative")
    if v > MAX_LR:
        raise ValueError(f"{p}{name}={v:g} is not a plausible learning rate (limit {MAX_LR:g})")


def check_fraction(owner: str | None, name: str, value: Any) -> None:
    """A fraction in [0, 1] (tracers pass)."""
    v = _number(owner, name, value)
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
