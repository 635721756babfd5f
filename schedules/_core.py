"""Learning-rate schedules as values: frozen dataclasses registered as JAX pytrees.

One concept in one file (about 950 lines, like optax's ``_schedule.py``): the schedule families,
their shared warmup and validation, and the spec round trip; exports and imports live elsewhere.

Conventions (the whole library uses them):

* Steps count optimizer updates from 0; ``lr(t)`` is the LR used by update ``t``;
  ``total_steps`` is the whole run including warmup; ``array()`` has length ``total_steps``.
* LRs are absolute (``2e-4``, not ``1.0``).
* Continuous parameters (``peak_lr``, ``final_lr``, ``decay_fraction``, ``decay_power``,
  ``warmup_init`` ...) are pytree leaves: ``jax.jit``, ``jax.vmap`` and ``jax.grad`` work over them.
  Step counts (``total_steps``, ``warmup_steps``, milestones) are static.
* Warmup (every family has it): ``warmup_steps = W`` and ``warmup_init = r`` (a fraction of peak
  in [0, 1], default 0):

  - default (``warmup_init=r``, ``r = 0`` unless given): ``lr(t) = peak * (r + (1 - r) * t / W)``
    for ``t < W``; step 0 runs at ``r * peak`` and peak is first reached at step ``W`` (the majority
    convention: Hugging Face, optax, Megatron-LM, nanotron, levanter, Hägele et al., MPL);
  - ``warmup_init=None`` (spec / CLI: ``warmup_style="torchtitan"``): ``lr(t) = peak * (t + 1) /
    W``; the first update is already non-zero and step ``W - 1`` runs at peak (torchtitan);
  - ``warmup_from_previous=True``: a CPT re-warmup that starts from the previous schedule's last
    LR (resolved when joined with :class:`CPTSchedule`; it ramps down when that LR is above the
    CPT peak).

  Spec format version 1 (cptdyn <= 0.x before this change) had the torchtitan ramp as its default:
  a version-1 spec without ``warmup_init`` is read as ``warmup_style="torchtitan"``, so saved
  files keep their meaning.

The formulas themselves (warmup ramp, post-warmup progress, decay shapes) are written once in
:mod:`cptdyn.schedules._formulas`, shared with the continuous-length forms of
:mod:`cptdyn.schedules._relaxed`.

Validation happens at construction for concrete values; a bad argument raises ``ValueError`` with a
one-line message naming it. Traced values (inside jit/grad) are not checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._io import to_plain
from cptdyn._pytree import concrete_or_none, is_traced, pytree_dataclass, static_field
from cptdyn._validate import check_fraction as _check_fraction
from cptdyn._validate import check_int as _check_int
from cptdyn._validate import check_lr as _check_lr

from ._formulas import TINY as _TINY
from ._formulas import constant_body, decay_shape, progress, warmup_ramp, wsd_body

__all__ = [
    "Schedule",
    "Constant",
    "Cosine",
    "Linear",
    "InverseSqrt",
    "MultiStep",
    "TwoStage",
    "CyclicCosine",
    "WSD",
    "ConstantThenDecay",
    "Polyline",
    "ArraySchedule",
    "CPTSchedule",
    "DECAY_SHAPES",
    "SPEC_VERSION",
    "WARMUP_STYLES",
    "schedule_from_spec",
    "make_schedule",
    "schedule_kinds",
]

SPEC_VERSION = 2
#: Warmup conventions accepted as ``warmup_style`` in specs, ``make_schedule`` and the CLI.
WARMUP_STYLES = ("linear", "torchtitan")
DECAY_SHAPES = ("linear", "cosine", "1-sqrt", "exponential", "square", "mirror-cosine", "power")


# ------------------------------------------------------------------------------------ validation
def _plain(v: Any) -> Any:
    """JSON-friendly value (schedules nested in a spec become their own specs)."""
    if isinstance(v, Schedule):
        return v.to_spec(versioned=False)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, (jax.Array, np.ndarray)):
        return to_plain(np.asarray(v, dtype=np.float64))
    return to_plain(v)


# ------------------------------------------------------------------------------------- base class
class Schedule:
    """Base of every schedule. Subclasses define ``KIND`` and ``_body(s)`` (or override ``lr``)."""

    KIND: ClassVar[str] = ""
    total_steps: int

    def lr(self, step: Any) -> jax.Array:
        """LR used by update ``step`` (int or int array; out-of-range steps are clamped)."""
        raise NotImplementedError  # pragma: no cover

    def array(self) -> jax.Array:
        """The per-step LR array, length ``total_steps``."""
        return self.lr(jnp.arange(self.total_steps))

    @property
    def peak(self) -> jax.Array:
        """Largest LR of the schedule."""
        return jnp.max(self.array())

    @property
    def last_lr(self) -> jax.Array:
        """LR of the last step (``total_steps - 1``)."""
        return self.lr(self.total_steps - 1)

    # -- JSON spec ---------------------------------------------------------------------------------
    def to_spec(self, versioned: bool = True) -> dict[str, Any]:
        """A small JSON-ready document; :func:`schedule_from_spec` inverts it."""
        doc: dict[str, Any] = {"version": SPEC_VERSION} if versioned else {}
        doc["kind"] = self.KIND
        fields = sorted(
            dataclasses.fields(self),  # type: ignore[arg-type]
            key=lambda f: f.name.startswith("warmup"),
        )
        warm = int(getattr(self, "warmup_steps", 0) or 0)
        for f in fields:
            if f.name.startswith("_") or not f.init:
                continue
            v = getattr(self, f.name)
            if f.name == "warmup_init":
                if not warm or getattr(self, "warmup_from_previous", False):
                    continue
                if v is None:
                    doc["warmup_style"] = "torchtitan"
                    continue
            if v is None or (f.name in _DEFAULT_OMIT and v == _DEFAULT_OMIT[f.name]):
                continue
            doc[f.name] = _plain(v)
        return doc

    def replace(self, **changes: Any) -> Schedule:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_DEFAULT_OMIT = {"warmup_steps": 0, "warmup_from_previous": False}


@dataclasses.dataclass(frozen=True, eq=False)
class _Family(Schedule):
    """A schedule family with the common warmup fields; subclasses implement ``_body``."""

    _: KW_ONLY
    warmup_steps: int = static_field(default=0)
    warmup_init: Any = 0.0
    warmup_from_previous: bool = static_field(default=False)

    # subclasses: peak_lr field, total_steps field
    def __post_init__(self) -> None:
        name = type(self).__name__
        t = _check_int(name, "total_steps", self.total_steps, lo=1)
        object.__setattr__(self, "total_steps", t)
        w = _check_int(name, "warmup_steps", self.warmup_steps, lo=0)
        if w > t:
            raise ValueError(f"{name}: warmup_steps={w} is longer than total_steps={t}")
        object.__setattr__(self, "warmup_steps", w)
        from cptdyn._validate import check_number  # a number (not a string/bool); tracers pass

        r = (check_number(name, "warmup_init", self.warmup_init, hi=1e6)
             if self.warmup_init is not None else None)
        if r is not None and not (math.isfinite(r) and r >= 0):
            # r > 1 is legal: a warmup that ramps *down* to peak (a CPT re-warmup starting from a
            # previous LR above the CPT peak, as warmup_from_previous resolves it)
            raise ValueError(
                f"{name}: warmup_init={r:g} must be a finite fraction of peak_lr >= 0"
            )
        if self.warmup_from_previous and self.warmup_steps == 0:
            raise ValueError(f"{name}: warmup_from_previous=True needs warmup_steps > 0")
        _check_lr(name, "peak_lr", getattr(self, "peak_lr", 0.0))
        self._validate(name)

    def _validate(self, name: str) -> None:  # hook
        pass

    def _body(self, s: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def warmup_style(self) -> str:
        """``"torchtitan"`` for the ``(t + 1) / W`` ramp (``warmup_init=None``), else
        ``"linear"`` (from ``warmup_init * peak`` at step 0 to peak at step ``W``)."""
        return "torchtitan" if self.warmup_init is None else "linear"

    def _warmup_ramp(self, s: jax.Array) -> jax.Array:
        peak = self.peak_lr  # type: ignore[attr-defined]
        return warmup_ramp(s, peak, max(self.warmup_steps, 1), self.warmup_init)

    def lr(self, step: Any) -> jax.Array:
        if self.warmup_from_previous:
            raise ValueError(
                f"{type(self).__name__}: warmup_from_previous=True needs a preceding schedule "
                "(join it to a pre-training schedule with CPTSchedule / `cptdyn cpt`)"
            )
        s = jnp.clip(jnp.asarray(step), 0, self.total_steps - 1).astype(jnp.result_type(float))
        body = self._body(s)
        if self.warmup_steps == 0:
            return body
        return jnp.where(s < self.warmup_steps, self._warmup_ramp(s), body)

    @property
    def post_warmup_steps(self) -> int:
        return self.total_steps - self.warmup_steps


# ------------------------------------------------------------------------------------ families
@pytree_dataclass
class Constant(_Family):
    """Constant LR ``peak_lr`` after warmup."""

    KIND: ClassVar[str] = "constant"
    total_steps: int = static_field()
    peak_lr: Any = None

    def _body(self, s: jax.Array) -> jax.Array:
        return constant_body(s, self.peak_lr)

    @property
    def final_lr(self) -> Any:
        return self.peak_lr


class _Decaying(_Family):
    """Shared checks for families with a final LR."""

    def _validate(self, name: str) -> None:
        _check_lr(name, "final_lr", self.final_lr)  # type: ignore[attr-defined]
        p, f = concrete_or_none(self.peak_lr), concrete_or_none(self.final_lr)  # type: ignore[attr-defined]
        if p is not None and f is not None and f > p:
            raise ValueError(f"{name}: final_lr={f:g} exceeds peak_lr={p:g}")

    def _progress(self, s: jax.Array) -> jax.Array:
        """Fraction of the post-warmup phase done at step ``s`` (0 at step W)."""
        return progress(s, self.warmup_steps, max(self.post_warmup_steps, 1))


@pytree_dataclass
class Cosine(_Decaying):
    """Cosine from ``peak_lr`` to ``final_lr`` over the ``total_steps - warmup_steps`` steps after
    warmup: ``final + (peak - final) * (1 + cos(pi * (s - W) / (T - W))) / 2``."""

    KIND: ClassVar[str] = "cosine"
    total_steps: int = static_field()
    peak_lr: Any = None
    final_lr: Any = 0.0

    def _body(self, s: jax.Array) -> jax.Array:
        return decay_shape("cosine", self._progress(s), self.peak_lr, self.final_lr, 1.0)


@pytree_dataclass
class Linear(_Decaying):
    """Linear decay from ``peak_lr`` to ``final_lr`` after warmup:
    ``final + (peak - final) * (1 - (s - W) / (T - W))``."""

    KIND: ClassVar[str] = "linear"
    total_steps: int = static_field()
    peak_lr: Any = None
    final_lr: Any = 0.0

    def _body(self, s: jax.Array) -> jax.Array:
        return decay_shape("linear", self._progress(s), self.peak_lr, self.final_lr, 1.0)


@pytree_dataclass
class InverseSqrt(_Family):
    """Inverse square root after warmup: ``peak / sqrt((s - W + ts) / ts)`` with timescale
    ``ts = timescale`` or ``max(warmup_steps, 1)`` (Hugging Face ``inverse_sqrt``)."""

    KIND: ClassVar[str] = "inverse-sqrt"
    total_steps: int = static_field()
    peak_lr: Any = None
    timescale: Any = None

    def _validate(self, name: str) -> None:
        ts = concrete_or_none(self.timescale)
        if self.timescale is not None and ts is not None and not (ts > 0 and math.isfinite(ts)):
            raise ValueError(f"{name}: timescale={ts:g} must be positive")

    @property
    def effective_timescale(self) -> Any:
        return self.timescale if self.timescale is not None else float(max(self.warmup_steps, 1))

    def _body(self, s: jax.Array) -> jax.Array:
        ts = self.effective_timescale
        return self.peak_lr / jnp.sqrt(jnp.maximum(s - self.warmup_steps + ts, _TINY) / ts)

    @property
    def final_lr(self) -> Any:
        return self.lr(self.total_steps - 1)


@pytree_dataclass
class MultiStep(_Family):
    """Piecewise-constant: ``peak * factors[k]`` from step ``milestones[k]`` on (absolute
    multipliers of peak, not cumulative). DeepSeek's 8-1-1: milestones at 80% and 90% of the run,
    factors ``(1/sqrt(10), 1/10)``; see :meth:`multistep_811`."""

    KIND: ClassVar[str] = "multistep"
    total_steps: int = static_field()
    peak_lr: Any = None
    milestones: tuple[int, ...] = static_field(default=())
    factors: Any = ()

    def _validate(self, name: str) -> None:
        ms = tuple(_check_int(name, f"milestones[{i}]", m) for i, m in enumerate(self.milestones))
        object.__setattr__(self, "milestones", ms)
        if not is_traced(self.factors):
            fs = tuple(float(x) for x in np.atleast_1d(np.asarray(self.factors, dtype=float)))
            if len(fs) != len(ms):
                raise ValueError(
                    f"{name}: {len(ms)} milestones but {len(fs)} factors (one factor per milestone)"
                )
            for i, f in enumerate(fs):
                if not math.isfinite(f) or f < 0:
                    raise ValueError(f"{name}: factors[{i}]={f} must be a finite number >= 0")
            object.__setattr__(self, "factors", fs)
        for i, m in enumerate(ms):
            if m < self.warmup_steps or m > self.total_steps:
                raise ValueError(
                    f"{name}: milestones[{i}]={m} is outside warmup_steps..total_steps "
                    f"({self.warmup_steps}..{self.total_steps})"
                )
            if i and m <= ms[i - 1]:
                raise ValueError(f"{name}: milestones must increase, milestones[{i}]={m}")

    @classmethod
    def multistep_811(cls, total_steps: int, peak_lr: float, **warmup: Any) -> MultiStep:
        """DeepSeek-style 8-1-1: peak until 80%, peak/sqrt(10) until 90%, then peak/10."""
        return cls(
            total_steps,
            peak_lr,
            milestones=(round(0.8 * total_steps), round(0.9 * total_steps)),
            factors=(1.0 / math.sqrt(10.0), 0.1),
            **warmup,
        )

    def _body(self, s: jax.Array) -> jax.Array:
        f = jnp.ones_like(s)
        for m, fac in zip(self.milestones, self.factors, strict=True):
            f = jnp.where(s >= m, fac, f)
        return self.peak_lr * f

    @property
    def final_lr(self) -> Any:
        return self.lr(self.total_steps - 1)


@pytree_dataclass
class TwoStage(_Family):
    """``peak_lr`` for ``s < switch_step``, then ``second_lr`` (MPL's ``wsdcon`` curves)."""

    KIND: ClassVar[str] = "two-stage"
    total_steps: int = static_field()
    peak_lr: Any = None
    second_lr: Any = None
    switch_step: int = static_field(default=0)

    def _validate(self, name: str) -> None:
        _check_lr(name, "second_lr", self.second_lr)
        sw = _check_int(name, "switch_step", self.switch_step)
        if sw < self.warmup_steps or sw > self.total_steps:
            raise ValueError(
                f"{name}: switch_step={sw} is outside warmup_steps..total_steps "
                f"({self.warmup_steps}..{self.total_steps})"
            )
        object.__setattr__(self, "switch_step", sw)

    def _body(self, s: jax.Array) -> jax.Array:
        return jnp.where(s < self.switch_step, self.peak_lr, self.second_lr) * jnp.ones_like(s)

    @property
    def final_lr(self) -> Any:
        return self.second_lr if self.switch_step < self.total_steps else self.peak_lr


@pytree_dataclass
class CyclicCosine(_Decaying):
    """Cosine cycles with re-warmups. After warmup the run is cut into cycles of ``cycle_steps``
    steps. The first cycle is a cosine from peak to ``final_lr``; every later cycle re-warms
    linearly from ``final_lr`` to peak over ``rewarmup_steps`` (``final + (peak - final) * (p + 1) /
    R`` at position ``p``) and then decays by cosine over the rest of the cycle."""

    KIND: ClassVar[str] = "cyclic-cosine"
    total_steps: int = static_field()
    peak_lr: Any = None
    final_lr: Any = 0.0
    cycle_steps: int = static_field(default=0)
    rewarmup_steps: int = static_field(default=0)

    def _validate(self, name: str) -> None:
        super()._validate(name)
        c = _check_int(name, "cycle_steps", self.cycle_steps, lo=1)
        r = _check_int(name, "rewarmup_steps", self.rewarmup_steps, lo=0)
        if r >= c:
            raise ValueError(f"{name}: rewarmup_steps={r} must be shorter than cycle_steps={c}")
        object.__setattr__(self, "cycle_steps", c)
        object.__setattr__(self, "rewarmup_steps", r)

    def _body(self, s: jax.Array) -> jax.Array:
        u = jnp.maximum(s - self.warmup_steps, 0.0)
        c = float(self.cycle_steps)
        r = float(self.rewarmup_steps)
        k = jnp.floor(u / c)
        p = u - k * c
        first = k == 0
        start = jnp.where(first, 0.0, r)
        length = jnp.where(first, c, c - r)
        x = jnp.clip((p - start) / jnp.maximum(length, 1.0), 0.0, 1.0)
        cos = decay_shape("cosine", x, self.peak_lr, self.final_lr, 1.0)
        if self.rewarmup_steps == 0:
            return cos
        ramp = self.final_lr + (self.peak_lr - self.final_lr) * (p + 1.0) / r
        return jnp.where(~first & (p < r), ramp, cos)


@pytree_dataclass
class WSD(_Decaying):
    """Warmup-stable-decay. The decay covers the last ``D = decay_fraction * total_steps`` steps:
    it starts at ``Ts = T - D``; with ``tau = clip((s - Ts) / D, 0, 1)`` the LR is
    ``shape(tau)`` between ``peak_lr`` (tau = 0) and ``final_lr`` (tau = 1). This is Hägele et al.'s
    ``wsd_schedule`` (with ``n_anneal = decay_fraction * T`` a whole number of steps).

    Shapes: ``linear`` 1 - tau; ``cosine`` (1 + cos(pi tau)) / 2; ``1-sqrt`` 1 - sqrt(tau);
    ``exponential`` peak^(1 - tau) * final^tau (geometric, needs final_lr > 0); ``square``
    1 - tau^2 (P2's "1-square"); ``mirror-cosine`` 2 * linear - cosine; ``power`` (1 - tau)^p with
    ``p = decay_power`` (MPL's WSDSC is p = 1.5).
    ``decay_fraction`` and ``decay_power`` are continuous (traceable) parameters.
    """

    KIND: ClassVar[str] = "wsd"
    total_steps: int = static_field()
    peak_lr: Any = None
    final_lr: Any = 0.0
    decay_fraction: Any = 0.2
    decay_shape: str = static_field(default="linear")
    decay_power: Any = 1.0

    def _validate(self, name: str) -> None:
        super()._validate(name)
        if self.decay_shape not in DECAY_SHAPES:
            raise ValueError(
                f"{name}: decay_shape={self.decay_shape!r} is unknown; "
                f"choose one of {', '.join(DECAY_SHAPES)}"
            )
        _check_fraction(name, "decay_fraction", self.decay_fraction)
        f = concrete_or_none(self.decay_fraction)
        if f is not None:
            d = f * self.total_steps
            if d > self.total_steps - self.warmup_steps + 1e-9:
                raise ValueError(
                    f"{name}: decay_fraction={f:g} ({d:g} steps) does not fit after "
                    f"warmup_steps={self.warmup_steps} in total_steps={self.total_steps}"
                )
        p = concrete_or_none(self.decay_power)
        if p is not None and not (p > 0 and math.isfinite(p)):
            raise ValueError(f"{name}: decay_power={p:g} must be positive")
        if self.decay_shape == "exponential":
            fl = concrete_or_none(self.final_lr)
            if fl is not None and fl <= 0:
                raise ValueError(
                    f"{name}: decay_shape='exponential' needs final_lr > 0 (got {fl:g}); "
                    "a geometric decay never reaches 0"
                )

    @property
    def decay_steps(self) -> Any:
        return self.decay_fraction * self.total_steps

    @property
    def decay_start(self) -> Any:
        return self.total_steps - self.decay_steps

    def _body(self, s: jax.Array) -> jax.Array:
        return wsd_body(self.decay_shape, s, self.total_steps, self.decay_steps, self.peak_lr,
                        self.final_lr, self.decay_power)


@pytree_dataclass
class ConstantThenDecay(WSD):
    """WSD without warmup: the usual CPT schedule that continues at a constant LR and decays."""

    KIND: ClassVar[str] = "constant-then-decay"

    def _validate(self, name: str) -> None:
        if self.warmup_steps != 0:
            raise ValueError(
                f"{name}: warmup_steps={self.warmup_steps} must be 0 (use kind 'wsd' for a warmup)"
            )
        super()._validate(name)


@pytree_dataclass
class Polyline(_Family):
    """Linear interpolation through knots ``(knot_steps[i], knot_lrs[i])``; flat outside them."""

    KIND: ClassVar[str] = "polyline"
    total_steps: int = static_field()
    knot_steps: tuple[int, ...] = static_field(default=())
    knot_lrs: Any = ()

    def _validate(self, name: str) -> None:
        if self.warmup_steps:
            raise ValueError(
                f"{name}: warmup_steps={self.warmup_steps} must be 0; put the warmup in the knots"
            )
        ks = tuple(_check_int(name, f"knot_steps[{i}]", k) for i, k in enumerate(self.knot_steps))
        if not ks:
            raise ValueError(f"{name}: knot_steps is empty")
        for i in range(1, len(ks)):
            if ks[i] <= ks[i - 1]:
                raise ValueError(
                    f"{name}: knot_steps must increase, knot_steps[{i}]={ks[i]} after {ks[i - 1]}"
                )
        if ks[-1] > self.total_steps:
            raise ValueError(
                f"{name}: knot_steps[{len(ks) - 1}]={ks[-1]} "
                f"is beyond total_steps={self.total_steps}"
            )
        object.__setattr__(self, "knot_steps", ks)
        if not is_traced(self.knot_lrs):
            v = np.atleast_1d(np.asarray(self.knot_lrs, dtype=np.float64))
            if v.shape != (len(ks),):
                raise ValueError(f"{name}: {len(ks)} knot_steps but {v.size} knot_lrs")
            for i, x in enumerate(v):
                if not math.isfinite(x) or x < 0:
                    raise ValueError(f"{name}: knot_lrs[{i}]={x} must be a finite LR >= 0")
            object.__setattr__(self, "knot_lrs", tuple(float(x) for x in v))

    @property
    def peak_lr(self) -> Any:
        return jnp.max(jnp.asarray(self.knot_lrs))

    @property
    def final_lr(self) -> Any:
        return self.lr(self.total_steps - 1)

    def _body(self, s: jax.Array) -> jax.Array:
        xp = jnp.asarray(self.knot_steps, dtype=s.dtype)
        fp = jnp.asarray(self.knot_lrs, dtype=s.dtype)
        return jnp.interp(s, xp, fp)


@pytree_dataclass
class ArraySchedule(_Family):
    """An arbitrary per-step LR array (``values[t]`` is the LR of update ``t``)."""

    KIND: ClassVar[str] = "array"
    values: Any = None
    total_steps: int = static_field(default=0)

    def __post_init__(self) -> None:
        if self.values is None:
            raise ValueError("ArraySchedule: values is required")
        if not is_traced(self.values):
            v = np.asarray(self.values, dtype=np.float64)
            if v.ndim != 1 or v.size == 0:
                raise ValueError(
                    f"ArraySchedule: values must be a non-empty 1-D array, got shape {v.shape}"
                )
            bad = ~np.isfinite(v)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"ArraySchedule: values[{i}]={v[i]} is not a finite number")
            if (v < 0).any():
                i = int(np.argmax(v < 0))
                raise ValueError(f"ArraySchedule: values[{i}]={v[i]:g} is a negative LR")
            object.__setattr__(self, "values", v)
            object.__setattr__(self, "total_steps", int(v.size))
        elif self.total_steps == 0:
            object.__setattr__(self, "total_steps", int(jnp.shape(self.values)[-1]))
        if self.warmup_steps:
            raise ValueError(
                f"ArraySchedule: warmup_steps={self.warmup_steps} must be 0; "
                "the array holds every step"
            )

    @property
    def peak_lr(self) -> Any:
        return jnp.max(jnp.asarray(self.values))

    @property
    def final_lr(self) -> Any:
        return jnp.asarray(self.values)[-1]

    def lr(self, step: Any) -> jax.Array:
        v = jnp.asarray(self.values)
        if v.dtype != jnp.result_type(float):
            v = v.astype(jnp.result_type(float))
        return v[jnp.clip(jnp.asarray(step), 0, self.total_steps - 1)]

    def array(self) -> jax.Array:
        return jnp.asarray(self.values, dtype=jnp.result_type(float))

    def to_spec(self, versioned: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": SPEC_VERSION} if versioned else {}
        doc["kind"] = self.KIND
        doc["values"] = _plain(self.values)
        return doc


@pytree_dataclass
class CPTSchedule(Schedule):
    """A pre-training schedule ``pt`` joined to a continual-pre-training schedule ``cpt``.

    Step ``t < transfer_step`` runs ``pt.lr(t)``; step ``t >= transfer_step`` runs
    ``cpt.lr(t - transfer_step)``, with ``transfer_step = pt.total_steps``. If ``cpt`` has
    ``warmup_from_previous=True`` its re-warmup starts at the last PT LR. The PT phase keeps its
    own peak and final LR: :attr:`pt_peak_lr`, :attr:`pt_final_lr`, :attr:`loss_potential`
    (final PT LR / peak PT LR, Wang et al. 2025).
    """

    KIND: ClassVar[str] = "cpt"
    pt: Any = None
    cpt: Any = None

    def __post_init__(self) -> None:
        for name in ("pt", "cpt"):
            v = getattr(self, name)
            if not isinstance(v, Schedule):
                raise ValueError(f"CPTSchedule: {name} must be a schedule, got {type(v).__name__}")
        if isinstance(self.pt, _Family) and self.pt.warmup_from_previous:
            raise ValueError(
                "CPTSchedule: pt has warmup_from_previous=True but nothing precedes it"
            )

    @property
    def total_steps(self) -> int:  # type: ignore[override]
        return int(self.pt.total_steps + self.cpt.total_steps)

    @property
    def transfer_step(self) -> int:
        return int(self.pt.total_steps)

    @property
    def pt_peak_lr(self) -> Any:
        p = getattr(self.pt, "peak_lr", None)
        return self.pt.peak if p is None else p

    @property
    def pt_final_lr(self) -> jax.Array:
        return self.pt.lr(self.pt.total_steps - 1)

    @property
    def loss_potential(self) -> jax.Array:
        """Final PT LR / peak PT LR (1 = not annealed, 0 = annealed to zero)."""
        return self.pt_final_lr / self.pt_peak_lr

    @property
    def peak_lr(self) -> Any:
        return getattr(self.cpt, "peak_lr", None)

    @property
    def final_lr(self) -> Any:
        return self.cpt.lr(self.cpt.total_steps - 1)

    @property
    def warmup_steps(self) -> int:
        return int(getattr(self.pt, "warmup_steps", 0))

    def resolved_cpt(self) -> Schedule:
        """The CPT schedule with a ``warmup_from_previous`` re-warmup made explicit."""
        c = self.cpt
        if isinstance(c, _Family) and c.warmup_from_previous:
            r = self.pt_final_lr / c.peak_lr  # type: ignore[attr-defined]
            # no re-validation: r may exceed 1 (the last PT LR is above the CPT peak: the
            # "re-warmup" then ramps down), and r may be traced
            leaves, treedef = jax.tree_util.tree_flatten(c)
            out = jax.tree_util.tree_unflatten(treedef, leaves)
            object.__setattr__(out, "warmup_init", r)
            object.__setattr__(out, "warmup_from_previous", False)
            return out
        return c

    def lr(self, step: Any) -> jax.Array:
        s = jnp.clip(jnp.asarray(step), 0, self.total_steps - 1)
        t = self.transfer_step
        return jnp.where(s < t, self.pt.lr(s), self.resolved_cpt().lr(s - t))

    def to_spec(self, versioned: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": SPEC_VERSION} if versioned else {}
        doc["kind"] = self.KIND
        doc["pt"] = self.pt.to_spec(versioned=False)
        doc["cpt"] = self.cpt.to_spec(versioned=False)
        return doc


# ------------------------------------------------------------------------------------ spec I/O
_KINDS: dict[str, type[Schedule]] = {
    c.KIND: c
    for c in (
        Constant,
        Cosine,
        Linear,
        InverseSqrt,
        MultiStep,
        TwoStage,
        CyclicCosine,
        WSD,
        ConstantThenDecay,
        Polyline,
        ArraySchedule,
        CPTSchedule,
    )
}


def schedule_kinds() -> list[str]:
    """Names accepted as ``kind`` in specs and by ``cptdyn schedule``."""
    return list(_KINDS)


def _field_names(cls: type[Schedule]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]  # type: ignore[arg-type]


#: Other libraries' names for the same schedules (Hugging Face ``lr_scheduler_type``, Megatron-LM
#: ``--lr-decay-style``, optax function names, snake_case spellings). An alias is listed only where
#: the other library's schedule is the same curve as cptdyn's kind (warmup from 0 included).
KIND_ALIASES: dict[str, str] = {
    # Hugging Face transformers (SchedulerType)
    "constant_with_warmup": "constant",
    "cosine_with_min_lr": "cosine",
    "inverse_sqrt": "inverse-sqrt",
    "warmup_stable_decay": "wsd",
    # Megatron-LM --lr-decay-style
    "inverse-square-root": "inverse-sqrt",
    "WSD": "wsd",
    # optax
    "constant_schedule": "constant",
    "warmup_constant_schedule": "constant",
    "cosine_decay_schedule": "cosine",
    "warmup_cosine_decay_schedule": "cosine",
    "linear_schedule": "linear",
    # snake_case of cptdyn's own kinds
    "two_stage": "two-stage",
    "cyclic_cosine": "cyclic-cosine",
    "constant_then_decay": "constant-then-decay",
}

#: Other libraries' names for the same fields (Hugging Face, Megatron-LM, optax); values keep the
#: field's meaning (absolute LRs, steps). Fields given as a ratio of peak are converted below.
FIELD_ALIASES: dict[str, str] = {
    "lr": "peak_lr", "learning_rate": "peak_lr", "max_lr": "peak_lr", "peak_value": "peak_lr",
    "min_lr": "final_lr", "end_value": "final_lr", "end_lr": "final_lr",
    "warmup_ratio": "warmup_fraction",
    "num_warmup_steps": "warmup_steps", "lr_warmup_iters": "warmup_steps",
    "num_training_steps": "total_steps", "max_steps": "total_steps", "train_iters": "total_steps",
    "num_decay_steps": "decay_steps", "lr_wsd_decay_iters": "decay_steps",
    "decay_type": "decay_shape", "lr_wsd_decay_style": "decay_shape",
}

#: Decay-shape names of other libraries (HF ``decay_type``, Megatron ``--lr-wsd-decay-style``).
SHAPE_ALIASES = {"minus_sqrt": "1-sqrt", "sqrt": "1-sqrt", "1_sqrt": "1-sqrt"}


def canonical_kind(kind: str) -> str:
    """cptdyn's kind for ``kind`` or one of its aliases (:data:`KIND_ALIASES`); unknown names are
    returned unchanged (the caller reports them)."""
    k = str(kind)
    if k in _KINDS:
        return k
    return KIND_ALIASES.get(k, KIND_ALIASES.get(k.lower(), k))


def _apply_aliases(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for k, v in kw.items():
        key = FIELD_ALIASES.get(k, k)
        if key in out:
            alias = k if k != key else given[key]
            raise ValueError(f"{name}: {alias!r} is another name for {key!r}; give one of them")
        out[key] = v
        given[key] = k
    peak = out.get("peak_lr")
    for ratio, field in (("min_lr_rate", "final_lr"), ("min_lr_ratio", "final_lr"),
                         ("lr_warmup_init", "warmup_init"), ("init_value", "warmup_init")):
        if ratio not in out:
            continue
        v = out.pop(ratio)
        if field in out:
            raise ValueError(f"{name}: give {ratio} or {field}, not both")
        if peak is None:
            raise ValueError(f"{name}: {ratio} needs peak_lr (or lr)")
        if ratio in ("lr_warmup_init", "init_value"):  # absolute LRs -> fraction of peak
            out[field] = float(v) / float(peak) if float(peak) else 0.0
        else:
            out[field] = float(v) * float(peak)
    if isinstance(out.get("decay_shape"), str):
        out["decay_shape"] = SHAPE_ALIASES.get(out["decay_shape"], out["decay_shape"])
    return out


def make_schedule(kind: str, **kwargs: Any) -> Schedule:
    """Build a schedule by kind name, with the conveniences of the JSON spec and the CLI:

    * ``warmup_fraction`` (of ``total_steps``) instead of ``warmup_steps``;
    * ``warmup_style="torchtitan"`` for the ``(t + 1) / W`` ramp (``warmup_init=None``);
      ``"linear"`` (the default) ramps from ``warmup_init * peak`` (default 0) at step 0;
    * ``decay_steps`` instead of ``decay_fraction`` (WSD / constant-then-decay);
    * ``switch_fraction`` instead of ``switch_step`` (two-stage);
    * ``milestone_fractions`` instead of ``milestones`` (multistep);
    * other libraries' names for kinds (:data:`KIND_ALIASES`: ``warmup_stable_decay``,
      ``cosine_with_min_lr``, ``inverse_sqrt`` ...) and fields (:data:`FIELD_ALIASES`: ``lr``,
      ``min_lr``, ``warmup_ratio``, ``num_warmup_steps``, ``lr_warmup_iters`` ...; ``min_lr_rate``
      / ``min_lr_ratio`` as fractions of peak, ``lr_warmup_init`` / ``init_value`` as absolute LRs).

    Unknown kinds and unknown fields raise ``ValueError`` naming them.
    """
    kind = canonical_kind(kind)
    if kind not in _KINDS:
        raise ValueError(
            f"schedule kind {kind!r} is unknown; choose one of {', '.join(_KINDS)} "
            f"(or an alias: {', '.join(KIND_ALIASES)})"
        )
    cls = _KINDS[kind]
    name = cls.__name__
    style = kwargs.pop("warmup_style", None)
    kw = _apply_aliases(name, {k: v for k, v in kwargs.items() if v is not None})
    if style is not None:
        if style not in WARMUP_STYLES:
            raise ValueError(
                f"{name}: warmup_style={style!r} is unknown; "
                f"choose one of {', '.join(WARMUP_STYLES)}"
            )
        if style == "torchtitan":
            if "warmup_init" in kw:
                raise ValueError(
                    f"{name}: warmup_style='torchtitan' ramps as (t+1)/W and takes no warmup_init"
                )
            kw["warmup_init"] = None
    total = kw.get("total_steps")

    allowed = set(_field_names(cls))
    for alias, target in (("warmup_fraction", "warmup_steps"), ("decay_steps", "decay_fraction"),
                          ("switch_fraction", "switch_step"),
                          ("milestone_fractions", "milestones")):
        if alias in kw and target not in allowed:  # name the field the caller gave
            raise ValueError(
                f"{name}: unknown field {alias!r}; fields are {', '.join(sorted(allowed))}"
            )

    def need_total(field: str) -> int:
        if total is None:
            raise ValueError(f"{name}: {field} needs total_steps")
        return int(total)

    if "warmup_fraction" in kw:
        frac = kw.pop("warmup_fraction")
        _check_fraction(name, "warmup_fraction", frac)
        if "warmup_steps" in kw:
            raise ValueError(f"{name}: give warmup_steps or warmup_fraction, not both")
        kw["warmup_steps"] = int(round(float(frac) * need_total("warmup_fraction")))
    if "decay_steps" in kw:
        d = _check_int(name, "decay_steps", kw.pop("decay_steps"))
        if "decay_fraction" in kw:
            raise ValueError(f"{name}: give decay_steps or decay_fraction, not both")
        t = need_total("decay_steps")
        if d > t:
            raise ValueError(f"{name}: decay_steps={d} is longer than total_steps={t}")
        kw["decay_fraction"] = d / t
    if "switch_fraction" in kw:
        frac = kw.pop("switch_fraction")
        _check_fraction(name, "switch_fraction", frac)
        kw["switch_step"] = int(round(float(frac) * need_total("switch_fraction")))
    if "milestone_fractions" in kw:
        fr = kw.pop("milestone_fractions")
        t = need_total("milestone_fractions")
        for i, f in enumerate(fr):
            _check_fraction(name, f"milestone_fractions[{i}]", f)
        kw["milestones"] = tuple(int(round(float(f) * t)) for f in fr)
    if cls in (Polyline, ArraySchedule, ConstantThenDecay) and kw.get("warmup_init") is None:
        kw.pop("warmup_init", None)
    if cls is CPTSchedule:
        for part in ("pt", "cpt"):
            if isinstance(kw.get(part), Mapping):
                kw[part] = schedule_from_spec(kw[part], _where=f"{part}.")
    allowed = set(_field_names(cls))
    for k in kw:
        if k not in allowed:
            raise ValueError(
                f"{name}: unknown field {k!r}; fields are {', '.join(sorted(allowed))}"
            )
    for k in ("milestones", "knot_steps"):
        if k in kw and isinstance(kw[k], list):
            kw[k] = tuple(kw[k])
    if "factors" in kw and isinstance(kw["factors"], list):
        kw["factors"] = tuple(kw["factors"])
    try:
        return cls(**kw)  # type: ignore[call-arg]
    except TypeError as e:  # missing required argument
        msg = str(e)
        if "required positional argument" in msg:
            missing = msg.split("'")[1] if "'" in msg else msg
            raise ValueError(f"{name}: missing required field {missing!r}") from None
        raise ValueError(f"{name}: {msg}") from None


def schedule_from_spec(doc: Mapping[str, Any], _where: str = "") -> Schedule:
    """Build a schedule from its JSON spec (``{"version": 1, "kind": "wsd", ...}``)."""
    if not isinstance(doc, Mapping):
        raise ValueError(
            f"schedule spec {_where or ''}must be a JSON object, got {type(doc).__name__}"
        )
    d = dict(doc)
    version = d.pop("version", SPEC_VERSION)
    if isinstance(version, bool) or version not in (1, SPEC_VERSION):
        raise ValueError(
            f"schedule spec: {_where}version={version!r} is not supported "
            f"(expected 1 or {SPEC_VERSION})"
        )
    if version == 1:
        d = _upgrade_v1(d)
    if "kind" not in d:
        if "schedule" in d and isinstance(d["schedule"], Mapping):  # a plan file
            return schedule_from_spec(d["schedule"], _where=_where)
        raise ValueError(f"schedule spec: {_where}kind is missing")
    kind = d.pop("kind")
    try:
        return make_schedule(str(kind), **d)
    except ValueError as e:
        if _where:
            raise ValueError(f"{_where.rstrip('.')}: {e}") from None
        raise


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    """A version-1 spec in version-2 terms: version 1's default warmup was torchtitan's
    ``(t + 1) / W``, so a node with a warmup and no ``warmup_init`` gets
    ``warmup_style="torchtitan"`` (nested ``pt`` / ``cpt`` specs too)."""
    out = dict(d)
    for part in ("pt", "cpt"):
        if isinstance(out.get(part), Mapping):
            out[part] = _upgrade_v1(dict(out[part]))
    has_warmup = bool(out.get("warmup_steps") or out.get("warmup_fraction"))
    if (has_warmup and out.get("kind") not in ("cpt", "array", "polyline")
            and "warmup_init" not in out and "warmup_style" not in out):
        out["warmup_style"] = "torchtitan"
    return out


def stack(schedules: Sequence[Schedule]) -> Schedule:
    """Stack schedules of the same kind and static structure into one batched pytree for vmap."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *schedules)
