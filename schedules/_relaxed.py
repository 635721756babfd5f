"""Schedules with *continuous* step counts, for planning by gradient and by vmapped sweeps.

This is the package-internal API that :mod:`cptdyn.planner` uses (its names carry no leading
underscore for that reason; it is not re-exported by :mod:`cptdyn.schedules`). It lives beside the
exact schedule classes because it must equal them: both evaluate the same formulas from
:mod:`cptdyn.schedules._formulas` (warmup ramp, progress, decay shapes).

The schedule classes of :mod:`cptdyn.schedules` keep step counts static (a change of length is a
change of shape). The planner needs to move ``total_steps``, ``warmup_steps`` and the CPT length
continuously, and to evaluate thousands of configurations with different lengths in one compiled
program. The functions here generate the per-step LR over a fixed horizon ``horizon`` with every
step count a traced float; at whole-number step counts they equal the schedule classes exactly
(tested), and past ``total_steps`` the LR is held at its last value (the loss is read at step
``total_steps`` by linear interpolation between the neighbouring whole steps, see
:func:`read_at`).

With ``s = min(t, T - 1)`` (continuous ``T``, ``W``, ``D = decay_fraction * T``):

* ``constant``: ``peak``;
* ``cosine`` / ``linear``: ``decay_shape(family, clip((s - W) / max(T - W, 1), 0, 1))``;
* ``wsd`` / ``constant-then-decay``: ``wsd_body`` with ``D`` decay steps ending at ``T``;
* every family but ``constant-then-decay``: the warmup ramp for ``s < W`` (ramp length
  ``max(W, 1e-9)``).

``FAMILIES`` lists the families and their continuous parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from cptdyn._errors import PlanError

from . import _formulas as formulas
from ._core import (
    WSD,
    Constant,
    ConstantThenDecay,
    Cosine,
    Linear,
    Schedule,
    make_schedule,
)

__all__ = ["FAMILIES", "relaxed_lr", "read_at", "to_schedule", "params_of"]


#: family -> continuous parameters it reads (besides total_steps / warmup_steps)
FAMILIES: dict[str, tuple[str, ...]] = {
    "constant": ("peak_lr",),
    "cosine": ("peak_lr", "final_lr"),
    "linear": ("peak_lr", "final_lr"),
    "wsd": ("peak_lr", "final_lr", "decay_fraction", "decay_power"),
    "constant-then-decay": ("peak_lr", "final_lr", "decay_fraction", "decay_power"),
}


def relaxed_lr(
    family: str,
    p: Mapping[str, Any],
    horizon: int,
    *,
    decay_shape: str = "linear",
    warmup_init: Any = 0.0,
) -> jax.Array:
    """Per-step LR over ``horizon`` steps for continuous parameters ``p``.

    ``p`` holds ``total_steps`` and ``warmup_steps`` (floats allowed) and the family's continuous
    parameters (``FAMILIES``). Steps ``>= total_steps`` repeat the LR of step ``total_steps - 1``.
    """
    if family not in FAMILIES:
        raise PlanError(f"planner: family={family!r} has no relaxed form; use one of "
                         f"{', '.join(FAMILIES)}")
    T = jnp.asarray(p["total_steps"], dtype=jnp.result_type(float))
    W = jnp.asarray(p.get("warmup_steps", 0.0), dtype=T.dtype)
    peak = p["peak_lr"]
    final = p.get("final_lr", 0.0)
    t = jnp.arange(horizon, dtype=T.dtype)
    # hold the last LR past the end: evaluate the schedule at min(t, T - 1) (continuous)
    s = jnp.minimum(t, T - 1.0)
    if family == "constant":
        body = formulas.constant_body(s, peak)
    elif family in ("cosine", "linear"):
        x = formulas.progress(s, W, jnp.maximum(T - W, 1.0))
        body = formulas.decay_shape(family, x, peak, final, 1.0)
    else:
        d = p.get("decay_fraction", 0.2) * T
        body = formulas.wsd_body(decay_shape, s, T, d, peak, final, p.get("decay_power", 1.0))
    if family == "constant-then-decay":
        return body
    return jnp.where(s < W, formulas.warmup_ramp(s, peak, jnp.maximum(W, 1e-9), warmup_init), body)


def read_at(curve: jax.Array, step: Any) -> jax.Array:
    """Loss at a continuous step from ``curve[i]`` = loss after ``i + 1`` updates.

    Linear interpolation between the whole steps around ``step`` (differentiable in ``step``)."""
    n = curve.shape[-1]
    s = jnp.clip(jnp.asarray(step, dtype=curve.dtype), 1.0, float(n))
    lo = jnp.clip(jnp.floor(s), 1.0, float(n))
    hi = jnp.clip(lo + 1.0, 1.0, float(n))
    w = s - lo
    a = jnp.take(curve, (lo - 1).astype(jnp.int32), axis=-1)
    b = jnp.take(curve, (hi - 1).astype(jnp.int32), axis=-1)
    return a + w * (b - a)


def params_of(schedule: Schedule) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(family, continuous parameters, static options) of a schedule with a relaxed form."""
    kinds = {Constant: "constant", Cosine: "cosine", Linear: "linear",
             ConstantThenDecay: "constant-then-decay", WSD: "wsd"}
    fam = kinds.get(type(schedule))
    if fam is None:
        raise PlanError(
            f"planner: a {schedule.KIND!r} schedule cannot be tuned; "
            f"use one of {', '.join(FAMILIES)}"
        )
    p: dict[str, Any] = {"total_steps": float(schedule.total_steps),
                         "warmup_steps": float(getattr(schedule, "warmup_steps", 0))}
    for k in FAMILIES[fam]:
        p[k] = float(getattr(schedule, k))
    opts = {"decay_shape": getattr(schedule, "decay_shape", "linear"),
            "warmup_init": getattr(schedule, "warmup_init", None)}
    return fam, p, opts


def to_schedule(family: str, p: Mapping[str, Any], *, decay_shape: str = "linear",
                warmup_init: Any = None, warmup_from_previous: bool = False) -> Schedule:
    """The real schedule for (rounded) parameters: step counts rounded to whole steps."""
    total = int(round(float(p["total_steps"])))
    kw: dict[str, Any] = {"total_steps": total}
    w = int(round(float(p.get("warmup_steps", 0.0))))
    if family != "constant-then-decay":
        kw["warmup_steps"] = w
        if w and warmup_init is not None:
            kw["warmup_init"] = float(warmup_init)
        elif w:
            kw["warmup_style"] = "torchtitan"
        if w and warmup_from_previous:
            kw["warmup_from_previous"] = True
    for k in FAMILIES[family]:
        if k in p:
            kw[k] = float(p[k])
    if family in ("wsd", "constant-then-decay"):
        kw["decay_shape"] = decay_shape
        if "decay_fraction" in kw:  # a whole number of decay steps (trainers count in steps)
            room = total - kw.get("warmup_steps", 0)
            d = min(max(int(round(kw["decay_fraction"] * total)), 0), room)
            kw["decay_fraction"] = d / total
        if decay_shape != "power":
            kw.pop("decay_power", None)
    return make_schedule(family, **kw)
