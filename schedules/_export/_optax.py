r"""optax: an optax schedule ``count -> lr``, native when a composition of optax schedules
reproduces every step, else a per-step lookup table.

Step indexing: ``schedule(count)`` where ``count`` is the number of updates already applied
(``scale_by_schedule`` reads ``state.count``, then increments it): update ``t`` uses
``schedule(t)``; the first update uses ``schedule(0)``.

Source checked (read, not copied): optax 0.2.8 (installed): ``optax/schedules/_schedule.py``,
``_join.py``. The exported schedule is evaluated with optax itself at every step; the tests drive
real ``optax.sgd`` updates (``tests/schedules/export/test_optax.py``).
"""

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from cptdyn._pytree import x64_context

from .._core import (
    WSD,
    ArraySchedule,
    Constant,
    Cosine,
    CPTSchedule,
    CyclicCosine,
    InverseSqrt,
    Linear,
    MultiStep,
    Polyline,
    Schedule,
    TwoStage,
)
from ._common import (
    RTOL,
    ExportResult,
    as_float,
    fail,
    final_of,
    fmt,
    frac_reason,
    kind_text,
    lr_table,
    note_native,
    peak_of,
    rel_dev,
    resolved_cpt,
    safe_ratio,
    to_schedule,
    warmup_of,
    wsd_decay_steps,
)

__all__ = ["ArrayLookupSchedule", "FloatCountSchedule", "export_optax"]


# A recipe is ("call", optax function name, kwargs) or ("join", [recipes], [boundaries]).
_Recipe = tuple


def _call(name: str, **kw: Any) -> _Recipe:
    return ("call", name, kw)


def _join(pieces: list[_Recipe], boundaries: list[int]) -> _Recipe:
    if len(pieces) == 1:
        return pieces[0]
    return ("join", pieces, boundaries)


def _optax_build(rec: _Recipe) -> Callable[[Any], Any]:
    import optax

    if rec[0] == "join":
        return optax.join_schedules([_optax_build(p) for p in rec[1]], list(rec[2]))
    return getattr(optax, rec[1])(**rec[2])


def _optax_render(rec: _Recipe, indent: int = 0) -> str:
    pad = "    " * indent
    if rec[0] == "join":
        inner = ",\n".join(pad + "        " + _optax_render(p, indent + 2).lstrip() for p in rec[1])
        return (
            f"{pad}optax.join_schedules(\n{pad}    schedules=[\n{inner},\n{pad}    ],\n"
            f"{pad}    boundaries={list(rec[2])!r},\n{pad})"
        )
    args = ", ".join(
        f"{k}={fmt(v) if isinstance(v, float) else repr(v)}" for k, v in rec[2].items()
    )
    return f"{pad}optax.{rec[1]}({args})"


def _optax_warm(W: int, r: float | None, peak: float) -> list[_Recipe]:
    if W == 0:
        return []
    if r is None:  # peak * (t + 1) / W for t < W
        if W == 1:
            return [_call("constant_schedule", value=peak)]
        return [
            _call("linear_schedule", init_value=peak / W, end_value=peak, transition_steps=W - 1)
        ]
    return [_call("linear_schedule", init_value=r * peak, end_value=peak, transition_steps=W)]


def _with_warm(W: int, r: float | None, peak: float, body: list[_Recipe],
               body_bounds: list[int]) -> _Recipe:
    """``body`` pieces start at step W (first) and at the absolute ``body_bounds`` (others)."""
    warm = _optax_warm(W, r, peak)
    pieces = warm + body
    bounds = ([W] if warm else []) + body_bounds
    return _join(pieces, bounds)


def _cosine_piece(peak: float, final: float, steps: int) -> _Recipe:
    return _call("cosine_decay_schedule", init_value=peak, decay_steps=steps,
                 alpha=safe_ratio(final, peak))


def _optax_recipe(s: Schedule) -> tuple[_Recipe | None, str]:
    """(recipe, "") for an exact optax composition, or (None, reason)."""
    T = s.total_steps
    if isinstance(s, CPTSchedule):
        a, why = _optax_recipe(s.pt)
        if a is None:
            return None, f"the pre-training part has no optax form ({why})"
        b, why = _optax_recipe(resolved_cpt(s))
        if b is None:
            return None, f"the CPT part has no optax form ({why})"
        return ("join", [a, b], [s.transfer_step]), ""
    if isinstance(s, ArraySchedule):
        return None, "an array schedule has no closed form"
    if isinstance(s, Polyline):
        ks = list(s.knot_steps)
        vs = [as_float(v, "knot_lrs") for v in s.knot_lrs]
        pieces = [_call("constant_schedule", value=vs[0])]
        pieces += [
            _call("linear_schedule", init_value=vs[i], end_value=vs[i + 1],
                  transition_steps=ks[i + 1] - ks[i])
            for i in range(len(ks) - 1)
        ]
        return _join(pieces, ks[: len(pieces) - 1]), ""
    W, r = warmup_of(s)
    peak = peak_of(s)
    n = T - W
    if isinstance(s, Constant):
        if W and r is not None:
            return _call("warmup_constant_schedule", init_value=r * peak, peak_value=peak,
                         warmup_steps=W), ""
        return _with_warm(W, r, peak, [_call("constant_schedule", value=peak)], []), ""
    if isinstance(s, Cosine):
        final = final_of(s)
        if n == 0:
            return _with_warm(W, r, peak, [], []), ""
        if W and r is not None:
            return _call("warmup_cosine_decay_schedule", init_value=r * peak, peak_value=peak,
                         warmup_steps=W, decay_steps=T, end_value=final), ""
        return _with_warm(W, r, peak, [_cosine_piece(peak, final, n)], []), ""
    if isinstance(s, Linear):
        final = final_of(s)
        body = [_call("linear_schedule", init_value=peak, end_value=final, transition_steps=n)]
        return _with_warm(W, r, peak, body if n else [], []), ""
    if isinstance(s, MultiStep):
        ms = list(s.milestones)
        fs = [as_float(x, "factors") for x in s.factors]
        body = [_call("constant_schedule", value=peak)]
        body += [_call("constant_schedule", value=peak * f) for f in fs]
        return _with_warm(W, r, peak, body, ms), ""
    if isinstance(s, TwoStage):
        body = [_call("constant_schedule", value=peak),
                _call("constant_schedule", value=as_float(s.second_lr, "second_lr"))]
        return _with_warm(W, r, peak, body, [s.switch_step]), ""
    if isinstance(s, WSD):
        final = final_of(s)
        D = wsd_decay_steps(s)
        if D is None:
            return None, frac_reason(s)
        Ts = T - D
        shape = s.decay_shape
        if D == 0:
            decay = None
        elif shape == "linear":
            decay = _call("linear_schedule", init_value=peak, end_value=final, transition_steps=D)
        elif shape == "cosine":
            decay = _cosine_piece(peak, final, D)
        elif shape == "power":
            decay = _call("polynomial_schedule", init_value=peak, end_value=final,
                          power=as_float(s.decay_power, "decay_power"), transition_steps=D)
        elif shape == "exponential":
            decay = _call("exponential_decay", init_value=peak, transition_steps=D,
                          decay_rate=final / peak, end_value=final)
        else:
            return None, f"optax has no {shape!r} decay (decay_shape={shape!r})"
        parts: list[_Recipe] = []
        bounds: list[int] = []
        if Ts > W or decay is None:
            parts.append(_call("constant_schedule", value=peak))
        if decay is not None:
            if parts:
                bounds.append(Ts)
            parts.append(decay)
        return _with_warm(W, r, peak, parts, bounds), ""
    if isinstance(s, InverseSqrt):
        return None, "optax has no inverse-square-root schedule"
    if isinstance(s, CyclicCosine):
        return None, "optax has no cyclic cosine with linear re-warmups of this form"
    return None, f"no optax mapping for {kind_text(s)}"


class FloatCountSchedule:
    """An optax schedule evaluated at a float count: ``schedule(float(count))``.

    optax's step counter is int32 and optax schedules then compute in float32 even under
    ``jax_enable_x64`` (``count / transition_steps`` with an int32 count); casting the count to
    JAX's default float dtype first gives float64 LRs under x64 (float32 otherwise, as before) and
    avoids int32 overflow in long runs. ``.schedule`` is the optax schedule itself.
    """

    def __init__(self, schedule: Callable[[Any], Any]):
        self.schedule = schedule

    def __call__(self, count: Any) -> Any:
        import jax.numpy as jnp

        return self.schedule(jnp.asarray(count, dtype=jnp.result_type(float)))

    def __repr__(self) -> str:
        return f"FloatCountSchedule({self.schedule!r})"


class ArrayLookupSchedule:
    """optax-compatible schedule ``count -> table[clip(count, 0, n - 1)]`` (jit/vmap friendly).

    Counts past the end of the table hold the last LR. The table is kept in float64 (numpy) and
    converted to JAX's default float dtype at call time (float32 unless x64 is enabled).
    """

    def __init__(self, table: np.ndarray):
        self.table = np.asarray(table, dtype=np.float64)

    def __call__(self, count: Any) -> Any:
        import jax.numpy as jnp

        idx = jnp.clip(jnp.asarray(count), 0, self.table.shape[0] - 1).astype(jnp.int32)
        return jnp.asarray(self.table, dtype=jnp.result_type(float))[idx]

    def __repr__(self) -> str:
        return f"ArrayLookupSchedule(n={self.table.shape[0]})"


def _eval_optax(fn: Callable[[Any], Any], T: int) -> np.ndarray:
    import jax.numpy as jnp

    with x64_context():
        out = fn(jnp.arange(T))
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (T,)).copy()


def export_optax(schedule: Schedule, *, require_native: bool = False) -> ExportResult:
    """An optax schedule ``count -> lr`` (jit-compatible).

    Native optax schedules (``warmup_cosine_decay_schedule``, ``join_schedules`` of linear /
    cosine / polynomial / exponential / constant pieces ...) when they reproduce every step;
    otherwise :class:`ArrayLookupSchedule` over the float64 table (past the end: last LR).
    """
    s = to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    rec, why = _optax_recipe(s)
    fn: Callable[[Any], Any]
    if rec is not None:
        fn = FloatCountSchedule(_optax_build(rec))
        err, step = rel_dev(_eval_optax(fn, T), ref)
        if err <= RTOL:
            code = (
                f'"""optax LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps).\n\n'
                "Update t (0-based) uses schedule(t), as in optax.scale_by_schedule. The count is\n"
                "cast to float first: optax's int32 count would otherwise make these schedules\n"
                'compute in float32 even under jax_enable_x64.\n"""\n'
                "import jax.numpy as jnp\nimport optax\n\n"
                f"optax_schedule = {_optax_render(rec).lstrip()}\n\n\n"
                "def schedule(count):\n"
                "    return optax_schedule(jnp.asarray(count, dtype=jnp.result_type(float)))\n"
            )
            desc = "join_schedules" if rec[0] == "join" else rec[1]
            return ExportResult(
                "optax", True,
                note_native("optax", f"optax.{desc}", err, T,
                             "Update t uses schedule(t); past the end the last piece goes on."),
                fn, {"optax_schedule.py": code}, err, T,
            )
        why = f"the optax composition differs by a relative {err:.2g} at step {step}"
    if require_native:
        raise fail("optax", f"no exactly equivalent optax schedule for {kind_text(s)}: {why}")
    fn = ArrayLookupSchedule(ref)
    spec = json.dumps(s.to_spec())
    values = ",\n".join(
        ", ".join(repr(float(x)) for x in ref[i:i + 8]) for i in range(0, T, 8)
    )
    code = (
        f'"""optax LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps), per-step lookup.\n\n'
        "Needs only JAX (no cptdyn): update t (0-based, optax's count) uses LRS[t]; counts past\n"
        "the end hold the last LR. Use it as any optax schedule, e.g.\n"
        "optax.adamw(learning_rate=schedule). Made from the cptdyn spec:\n"
        f"{spec}\n"
        '"""\nimport jax.numpy as jnp\n\n'
        f"LRS = [\n{values},\n]\n\n\n"
        "def schedule(count):\n"
        "    table = jnp.asarray(LRS, dtype=jnp.result_type(float))\n"
        "    idx = jnp.clip(jnp.asarray(count), 0, len(LRS) - 1).astype(jnp.int32)\n"
        "    return table[idx]\n"
    )
    note = (
        f"optax: per-step route (table lookup, {T} float64 values; update t uses table[t], counts "
        f"past the end hold the last LR) because {why}."
    )
    return ExportResult("optax", False, note, fn, {"optax_schedule.py": code}, 0.0, T)
