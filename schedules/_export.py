r"""Export a schedule to trainers: optax, PyTorch, Hugging Face, Megatron-LM, torchtitan, nanotron,
OLMo-core, MaxText, levanter, plus CSV and JSON.

Every exporter returns an :class:`ExportResult`: the ``payload`` (a Python object: an optax
callable, a dict of TrainingArguments fields, a list of CLI flags, a config dict ...), the
``files`` :func:`write` puts on disk, ``native`` and a human ``note``. ``native=True`` means the
trainer rebuilds the LR curve from its own configuration; it is only claimed after the trainer's
formula (as written in its source, see below) has been evaluated at *every* step and matches
``schedule.array()`` (computed in float64) to a relative error of 1e-9. Otherwise optax, PyTorch and
Hugging Face use the per-step route (a lookup table, said so in the note, with the reason), and the
config-only trainers raise :class:`ExportError` with a one-line reason.

Step indexing
-------------
cptdyn: steps are 0-based optimizer updates; ``array()[t]`` is the LR of update ``t``. How each
trainer indexes (and which LR its first update uses):

* **optax** -- ``schedule(count)`` where ``count`` is the number of updates already applied
  (``scale_by_schedule`` reads ``state.count``, then increments it): update ``t`` uses
  ``schedule(t)``; the first update uses ``schedule(0)``.
* **PyTorch LambdaLR** -- construction sets ``lr = base_lr * lambda(0)``; ``scheduler.step()`` is
  called after ``optimizer.step()``, so update ``t`` uses ``base_lr * lambda(t)``.
* **Hugging Face Trainer** -- a LambdaLR stepped after every optimizer step (``trainer.py``:
  ``self.optimizer.step()`` then ``self.lr_scheduler.step()``): update ``t`` uses
  ``learning_rate * lambda(t)``; its linear warmups start at 0 (``warmup_stable_decay`` at
  ``min_lr_ratio * lr``), so the first update of a warmed-up run uses LR 0.
* **Megatron-LM** -- ``OptimizerParamScheduler.step(0)`` at construction, then
  ``step(increment=global_batch_size)`` after each *successful* update, so update ``n`` uses
  ``get_lr()`` at ``num_steps = n * global_batch_size`` (samples); the first update uses
  ``--lr-warmup-init``. Skipped (overflow) iterations do not advance the schedule.
* **torchtitan** -- LambdaLR with warmup factor ``(step + 1) / warmup_steps``: the first update
  uses ``lr / warmup_steps`` (cptdyn's default ``warmup_init=None``).
* **nanotron** -- LambdaLR; linear warmup ``lr * step / lr_warmup_steps`` for
  ``step <= lr_warmup_steps``: the first update uses 0.
* **OLMo-core** -- the Trainer increments ``global_step`` *before* the batch and
  ``optim_step`` calls ``scheduler.set_lr(group, trainer)`` before ``optim.step()``, so update
  ``t`` uses ``get_lr(initial_lr, current=t + 1, t_max=max_steps)``: OLMo-core counts from 1.
* **MaxText** -- an optax ``join_schedules`` (``create_learning_rate_schedule``): update ``t``
  uses ``schedule(t)``; its warmup ``linear_schedule(0, lr, W - 1)`` starts at 0.
* **levanter** -- ``optax.inject_hyperparams(...)(learning_rate=schedule)``: update ``t`` uses
  ``schedule(t)``; its warmup ``linear_schedule(0, lr, W)`` starts at 0.

Sources checked (read, not copied; formulas re-implemented below to verify each export and, again
independently, in ``tests/schedules/test_export.py``):

* transformers 5.24.0 (installed): ``transformers/optimization.py``, ``trainer.py``
  (``create_scheduler``), ``training_args.py`` (``get_warmup_steps``).
* torch 2.13.0 (installed): ``torch/optim/lr_scheduler.py`` (``LRScheduler``, ``LambdaLR``).
* optax 0.2.8 (installed): ``optax/schedules/_schedule.py``, ``_join.py``.
* NVIDIA/Megatron-LM ``megatron/core/optimizer_param_scheduler.py`` @
  00caa53af30912914981c86f39db123961678bbd and ``megatron/training/config/training_config.py``
  (``SchedulerConfig``, flag names) @ 008e9cdb53e75bbf9733d0089a5c9bf14553ca1c.
* pytorch/torchtitan ``torchtitan/components/optimizer/lr_scheduler.py`` @
  26291926f92b594c8d1415f059f749b6f686ae65 (``LRSchedulersContainer.Config``; ``min_lr_factor``,
  virtual last step ``stable = total + 1 - warmup - decay``).
* huggingface/nanotron ``src/nanotron/helpers.py::lr_scheduler_builder`` @
  31aa4c4468e3ed6820010bc4a5c2933a314e1d19 (linear / cosine; the ``1-sqrt`` branch is in the
  later version, nanotron ``2411b02`` per the team notes) and ``src/nanotron/config/config.py``
  (``LRSchedulerArgs``).
* allenai/OLMo-core ``src/olmo_core/optim/scheduler.py`` @ 014c4c6200ac7bad0f687719d6f1df298de0596b
  (``CosWithWarmup``, ``LinearWithWarmup``, ``InvSqrtWithWarmup``, ``WSD``, ``_linear_warmup``,
  ``_linear_decay``; field names ``warmup``/``decay`` of the later version, OLMo-core ``fa6c501``)
  and ``src/olmo_core/train/trainer.py::_fit_epoch`` (``global_step += 1`` before the batch).
* AI-Hypercomputer/maxtext ``src/maxtext/utils/maxtext_utils.py::create_learning_rate_schedule`` @
  65dda9aeac1811345a0372709cc28a6f3c56cc91.
* marin-community/levanter ``src/levanter/optim/config.py::OptimizerConfig.lr_scheduler`` @
  928e69f0ffa81afb474852f756f7528a702cada6 (stanford-crfm/levanter @ 2a7847e3 is the older layout).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import importlib.resources
import io
import json
import math
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cptdyn._errors import ExportError
from cptdyn._pytree import x64_context

from ._core import (
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
    schedule_from_spec,
)

__all__ = [
    "EXPORT_TARGETS",
    "ExportError",
    "ExportResult",
    "ArrayLookupSchedule",
    "FloatCountSchedule",
    "export",
    "export_csv",
    "export_hf",
    "export_json",
    "export_levanter",
    "export_maxtext",
    "export_megatron",
    "export_nanotron",
    "export_olmo_core",
    "export_optax",
    "export_torch",
    "export_torchtitan",
    "lr_table",
    "write",
]

EXPORT_TARGETS = (
    "optax",
    "torch",
    "hf",
    "megatron",
    "torchtitan",
    "nanotron",
    "olmo-core",
    "maxtext",
    "levanter",
    "csv",
    "json",
)

TORCH_TABLE_NAME = "lr_table.json"
TORCH_LOADER_NAME = "cptdyn_lr_scheduler.py"
TORCH_LOADER_TEMPLATE = "_torch_loader_template.py"
STEP_CONVENTION = "lrs[t] is the LR of optimizer update t (0-based; the first update is t = 0)"

# A native mapping must reproduce the planned LRs to this relative error at every step
# (absolute floor: _ATOL_FRAC * peak, for values that are 0 or nearly so).
_RTOL = 1e-9
_ATOL_FRAC = 1e-12


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an exporter returns.

    Attributes:
        target: one of :data:`EXPORT_TARGETS`.
        native: ``True`` when the target rebuilds the curve from its own config / schedule
            functions; ``False`` for the per-step route (a lookup table).
        note: one paragraph for humans: the route taken and, for the per-step route, why.
        payload: the Python object (optax callable, dict of config fields, list of flags ...).
        files: ``{file name: text}``, what :func:`write` puts on disk.
        max_rel_error: largest relative deviation of the target's LR from ``schedule.array()``
            over all steps (0.0 for exact tables).
        total_steps: length of the schedule.
    """

    target: str
    native: bool
    note: str
    payload: Any
    files: Mapping[str, str]
    max_rel_error: float
    total_steps: int

    def text(self) -> str:
        """What the CLI prints when no ``--out`` is given: the file, or every file with a header."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        parts = []
        for name, body in self.files.items():
            parts.append(f"# ---- {name} ----\n{body}" + ("" if body.endswith("\n") else "\n"))
        return "".join(parts)


# ====================================================================================== helpers
def _fail(target: str, msg: str) -> ExportError:
    return ExportError(f"{target}: {msg}")


def _f(x: Any, what: str = "value") -> float:
    try:
        v = float(np.asarray(x))
    except Exception as e:  # tracers, non-scalars
        raise ExportError(f"{what} is not a concrete number ({type(x).__name__})") from e
    return v


def _whole(x: float) -> int | None:
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else None


def _fmt(x: float) -> str:
    return repr(float(x))


def _to_schedule(schedule: Any) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, Mapping):
        try:
            return schedule_from_spec(schedule)
        except ValueError as e:
            raise ExportError(str(e)) from e
    raise ExportError(f"schedule must be a Schedule or a spec dict, got {type(schedule).__name__}")


def lr_table(schedule: Schedule) -> np.ndarray:
    """``schedule.array()`` computed in float64 (rebuilt from its spec under x64)."""
    try:
        spec = schedule.to_spec()
    except Exception as e:
        raise ExportError(f"{schedule.KIND}: cannot read the schedule's values ({e})") from e
    try:
        with x64_context():
            arr = np.asarray(schedule_from_spec(spec).array(), dtype=np.float64)
    except ValueError as e:
        raise ExportError(str(e)) from e
    if arr.shape != (schedule.total_steps,):
        raise ExportError(f"{schedule.KIND}: array has shape {arr.shape}")
    return arr


def _resolved_cpt(s: CPTSchedule) -> Schedule:
    """``s.resolved_cpt()`` with a ``warmup_from_previous`` start computed in float64."""
    with x64_context():
        c = schedule_from_spec(s.to_spec()).resolved_cpt()  # type: ignore[attr-defined]
        r = getattr(c, "warmup_init", None)
        r = None if r is None else float(np.asarray(r))
    if r is None:
        return c
    return dataclasses.replace(c, warmup_init=r)  # type: ignore[type-var]


def _rel_dev(implied: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    implied = np.broadcast_to(np.asarray(implied, dtype=np.float64), ref.shape)
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    den = np.maximum(np.abs(ref), _ATOL_FRAC * scale)
    err = np.abs(implied - ref) / den
    if not np.all(np.isfinite(err)):
        i = int(np.argmax(~np.isfinite(err)))
        return math.inf, i
    i = int(np.argmax(err))
    return float(err[i]), i


def _warm(s: Schedule) -> tuple[int, float | None]:
    w = int(getattr(s, "warmup_steps", 0))
    r = getattr(s, "warmup_init", None)
    return w, (None if r is None else _f(r, "warmup_init"))


def _peak(s: Schedule) -> float:
    return _f(s.peak_lr, "peak_lr")  # type: ignore[attr-defined]


def _final(s: Schedule) -> float:
    return _f(s.final_lr, "final_lr")  # type: ignore[attr-defined]


def _wsd_decay_steps(s: WSD) -> int | None:
    return _whole(_f(s.decay_fraction, "decay_fraction") * s.total_steps)


def _frac_reason(s: WSD) -> str:
    d = _f(s.decay_fraction, "decay_fraction") * s.total_steps
    return f"decay_fraction={_f(s.decay_fraction):g} ({d:g} decay steps, not a whole number)"


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else 0.0


def _same(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-12 * max(1.0, abs(b))


@dataclasses.dataclass
class _Candidate:
    """A config proposed for a target, with the LR curve the trainer would produce from it."""

    config: Any
    curve: Callable[[], np.ndarray]
    desc: str


def _choose(
    target: str, ref: np.ndarray, cands: list[_Candidate]
) -> tuple[_Candidate | None, float, str]:
    """First candidate whose implied curve matches ``ref``; else (None, best error, why)."""
    best = (math.inf, 0, "")
    for c in cands:
        err, step = _rel_dev(c.curve(), ref)
        if err <= _RTOL:
            return c, err, ""
        if err < best[0]:
            best = (err, step, c.desc)
    if not cands:
        return None, math.inf, ""
    err, step, desc = best
    return None, err, (
        f"the closest {target} config ({desc}) differs by a relative {err:.2g} at step {step}"
    )


def _pick_or_raise(
    target: str, s: Schedule, ref: np.ndarray, cands: list[_Candidate], why: str
) -> tuple[_Candidate, float]:
    best, err, why2 = _choose(target, ref, cands)
    if best is None:
        reason = "; ".join(x for x in (why, why2) if x) or "no matching configuration"
        if isinstance(s, CPTSchedule):
            reason += " (a 'cpt' schedule is two runs: export part='pt' and part='cpt')"
        raise _fail(target, f"cannot express {_kind(s)}: {reason}")
    return best, err


def _r_text(r: float | None) -> str:
    return "None" if r is None else f"{r:g}"


def _note_native(target: str, desc: str, err: float, T: int, extra: str = "") -> str:
    return (
        f"{target}: native ({desc}); reproduces all {T} steps of the plan "
        f"(max relative error {err:.1e}).{(' ' + extra) if extra else ''}"
    )


def _kind(s: Schedule) -> str:
    return f"kind={s.KIND!r}"


# ------------------------------------------------------------------------- text formats (no deps)
def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        r = repr(float(v))
        if "e" in r:  # PyYAML (YAML 1.1) reads 1e-05 as a string: write 1.0e-05
            mant, ex = r.split("e")
            if "." not in mant:
                mant += ".0"
            r = f"{mant}e{ex}"
        return r
    return json.dumps(str(v))


def _yaml(d: Mapping[str, Any], indent: int = 0) -> str:
    lines = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, Mapping):
            lines.append(f"{pad}{k}:")
            lines.append(_yaml(v, indent + 1).rstrip("\n"))
        else:
            lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    return "\n".join(lines) + "\n"


def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return json.dumps(str(v))


def _comment(text: str, prefix: str = "# ") -> str:
    lines = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, 98 - len(prefix), break_on_hyphens=False) or [""]
    return "".join(f"{prefix}{line}\n" for line in lines)


# ========================================================================================== optax
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
        f"{k}={_fmt(v) if isinstance(v, float) else repr(v)}" for k, v in rec[2].items()
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
                 alpha=_ratio(final, peak))


def _optax_recipe(s: Schedule) -> tuple[_Recipe | None, str]:
    """(recipe, "") for an exact optax composition, or (None, reason)."""
    T = s.total_steps
    if isinstance(s, CPTSchedule):
        a, why = _optax_recipe(s.pt)
        if a is None:
            return None, f"the pre-training part has no optax form ({why})"
        b, why = _optax_recipe(_resolved_cpt(s))
        if b is None:
            return None, f"the CPT part has no optax form ({why})"
        return ("join", [a, b], [s.transfer_step]), ""
    if isinstance(s, ArraySchedule):
        return None, "an array schedule has no closed form"
    if isinstance(s, Polyline):
        ks = list(s.knot_steps)
        vs = [_f(v, "knot_lrs") for v in s.knot_lrs]
        pieces = [_call("constant_schedule", value=vs[0])]
        pieces += [
            _call("linear_schedule", init_value=vs[i], end_value=vs[i + 1],
                  transition_steps=ks[i + 1] - ks[i])
            for i in range(len(ks) - 1)
        ]
        return _join(pieces, ks[: len(pieces) - 1]), ""
    W, r = _warm(s)
    peak = _peak(s)
    n = T - W
    if isinstance(s, Constant):
        if W and r is not None:
            return _call("warmup_constant_schedule", init_value=r * peak, peak_value=peak,
                         warmup_steps=W), ""
        return _with_warm(W, r, peak, [_call("constant_schedule", value=peak)], []), ""
    if isinstance(s, Cosine):
        final = _final(s)
        if n == 0:
            return _with_warm(W, r, peak, [], []), ""
        if W and r is not None:
            return _call("warmup_cosine_decay_schedule", init_value=r * peak, peak_value=peak,
                         warmup_steps=W, decay_steps=T, end_value=final), ""
        return _with_warm(W, r, peak, [_cosine_piece(peak, final, n)], []), ""
    if isinstance(s, Linear):
        final = _final(s)
        body = [_call("linear_schedule", init_value=peak, end_value=final, transition_steps=n)]
        return _with_warm(W, r, peak, body if n else [], []), ""
    if isinstance(s, MultiStep):
        ms = list(s.milestones)
        fs = [_f(x, "factors") for x in s.factors]
        body = [_call("constant_schedule", value=peak)]
        body += [_call("constant_schedule", value=peak * f) for f in fs]
        return _with_warm(W, r, peak, body, ms), ""
    if isinstance(s, TwoStage):
        body = [_call("constant_schedule", value=peak),
                _call("constant_schedule", value=_f(s.second_lr, "second_lr"))]
        return _with_warm(W, r, peak, body, [s.switch_step]), ""
    if isinstance(s, WSD):
        final = _final(s)
        D = _wsd_decay_steps(s)
        if D is None:
            return None, _frac_reason(s)
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
                          power=_f(s.decay_power, "decay_power"), transition_steps=D)
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
    return None, f"no optax mapping for {_kind(s)}"


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
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    rec, why = _optax_recipe(s)
    fn: Callable[[Any], Any]
    if rec is not None:
        fn = FloatCountSchedule(_optax_build(rec))
        err, step = _rel_dev(_eval_optax(fn, T), ref)
        if err <= _RTOL:
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
                _note_native("optax", f"optax.{desc}", err, T,
                             "Update t uses schedule(t); past the end the last piece goes on."),
                fn, {"optax_schedule.py": code}, err, T,
            )
        why = f"the optax composition differs by a relative {err:.2g} at step {step}"
    if require_native:
        raise _fail("optax", f"no exactly equivalent optax schedule for {_kind(s)}: {why}")
    fn = ArrayLookupSchedule(ref)
    spec = json.dumps(s.to_spec(), indent=1)
    code = (
        f'"""optax LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps), per-step lookup.\n'
        f'"""\nimport json\n\nfrom cptdyn.schedules._export import export_optax\n'
        f"from cptdyn.schedules._core import schedule_from_spec\n\n"
        f"SPEC = json.loads({spec!r})\nschedule = export_optax(schedule_from_spec(SPEC)).payload\n"
    )
    note = (
        f"optax: per-step route (table lookup, {T} float64 values; update t uses table[t], counts "
        f"past the end hold the last LR) because {why}."
    )
    return ExportResult("optax", False, note, fn, {"optax_schedule.py": code}, 0.0, T)


# ========================================================================================== torch
def _loader_source() -> str:
    try:
        return (
            importlib.resources.files(__package__ or "cptdyn.schedules")
            .joinpath(TORCH_LOADER_TEMPLATE)
            .read_text(encoding="utf-8")
        )
    except (FileNotFoundError, ModuleNotFoundError, TypeError):
        return (Path(__file__).with_name(TORCH_LOADER_TEMPLATE)).read_text(encoding="utf-8")


def _table_json(s: Schedule, lrs: np.ndarray, base_lr: float) -> str:
    meta = {
        "format": "cptdyn-lr-table",
        "version": 1,
        "step_convention": STEP_CONVENTION,
        "past_end": "build_scheduler(past_end='hold') keeps the last LR; 'zero' returns 0",
        "num_steps": int(lrs.shape[0]),
        "base_lr": float(base_lr),
        "schedule": s.to_spec(),
    }
    head = json.dumps(meta, indent=1)[:-2]  # drop the closing "\n}"
    values = json.dumps([float(x) for x in lrs])
    return f'{head},\n "lrs": {values}\n}}\n'


def _table_csv(lrs: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "lr"])
    for t, x in enumerate(lrs):
        w.writerow([t, repr(float(x))])
    return buf.getvalue()


def _torch_bundle(s: Schedule, lrs: np.ndarray, base_lr: float | None, past_end: str,
                  table_format: str) -> tuple[dict[str, str], dict[str, Any]]:
    if past_end not in ("hold", "zero"):
        raise ExportError(f"torch: past_end={past_end!r} must be 'hold' or 'zero'")
    peak = float(np.max(lrs))
    nominal = getattr(s, "peak_lr", None)
    try:
        nominal = None if nominal is None else float(np.asarray(nominal))
    except TypeError:  # pragma: no cover - traced
        nominal = None
    if nominal is not None and nominal > 0 and peak <= nominal * (1 + 1e-12):
        peak = nominal  # a round base LR (the table may sit a few ulps below peak_lr)
    base = float(base_lr) if base_lr is not None else (peak if peak > 0 else 1.0)
    if not (base > 0 and math.isfinite(base)):
        raise ExportError(f"torch: base_lr={base_lr!r} must be a positive number")
    if table_format == "json":
        table_name, table = TORCH_TABLE_NAME, _table_json(s, lrs, base)
    elif table_format == "csv":
        table_name, table = "lr_table.csv", _table_csv(lrs)
    else:
        raise ExportError(f"torch: table_format={table_format!r} must be 'json' or 'csv'")
    loader = _loader_source()
    for old, new in (
        ("DEFAULT_BASE_LR = None\n", f"DEFAULT_BASE_LR = {base!r}\n"),
        ('DEFAULT_PAST_END = "hold"\n', f"DEFAULT_PAST_END = {past_end!r}\n"),
    ):
        if old not in loader:  # pragma: no cover - template and exporter out of sync
            raise RuntimeError(f"torch loader template lacks {old.strip()!r}")
        loader = loader.replace(old, new, 1)
    files = {table_name: table, TORCH_LOADER_NAME: loader}
    payload = {"lrs": [float(x) for x in lrs], "base_lr": base, "past_end": past_end}
    return files, payload


def export_torch(schedule: Schedule, *, base_lr: float | None = None, past_end: str = "hold",
                 table_format: str = "json") -> ExportResult:
    """A per-step table plus a standalone loader building a ``torch.optim.lr_scheduler.LambdaLR``.

    Files: ``lr_table.json`` (or ``lr_table.csv``) and ``cptdyn_lr_scheduler.py``, which needs only
    torch and the standard library: ``build_scheduler(optimizer)`` makes update ``t`` run at
    ``lrs[t]`` (multiplier ``lrs[t] / base_lr``; past the end: ``past_end``), state_dict-safe.
    ``payload`` is ``{"lrs", "base_lr", "past_end"}`` (also accepted by ``build_scheduler``).
    """
    s = _to_schedule(schedule)
    lrs = lr_table(s)
    files, payload = _torch_bundle(s, lrs, base_lr, past_end, table_format)
    note = (
        f"torch: per-step route (LambdaLR over a {s.total_steps}-step table, multiplier "
        f"lrs[t]/base_lr with base_lr={payload['base_lr']:g}); exact at every step. Past the end "
        f"of the table: {'the last LR is held' if past_end == 'hold' else 'LR 0'}. Call "
        "scheduler.step() after optimizer.step(); update t runs at lrs[t]."
    )
    return ExportResult("torch", False, note, payload, files, 0.0, s.total_steps)


# ============================================================================ Hugging Face (HF)
def _hf_curve(name: str, kw: Mapping[str, Any], W: int, T: int, lr: float) -> np.ndarray:
    """transformers 5.24.0 optimization.py lambdas, vectorised; returns lr * lambda(t)."""
    t = np.arange(T, dtype=np.float64)
    warm = t / max(1, W)
    if name == "constant":
        lam = np.ones(T)
    elif name == "constant_with_warmup":
        lam = np.where(t < W, t / max(1.0, W), 1.0)
    elif name == "linear":
        lam = np.where(t < W, warm, np.maximum(0.0, (T - t) / max(1, T - W)))
    elif name in ("cosine", "cosine_with_min_lr"):
        nc = float(kw.get("num_cycles", 0.5))
        rate = float(kw.get("min_lr_rate", 0.0)) if name == "cosine_with_min_lr" else 0.0
        if name == "cosine_with_min_lr" and kw.get("min_lr") is not None:
            rate = float(kw["min_lr"]) / lr
        p = (t - W) / max(1, T - W)
        f = 0.5 * (1.0 + np.cos(math.pi * nc * 2.0 * p))
        lam = np.where(t < W, warm, np.maximum(0.0, f * (1 - rate) + rate))
    elif name == "polynomial":
        end, power = float(kw.get("lr_end", 1e-7)), float(kw.get("power", 1.0))
        rem = np.clip(1 - (t - W) / max(T - W, 1), 0.0, None)
        dec = ((lr - end) * rem**power + end) / lr
        lam = np.where(t < W, warm, np.where(t > T, end / lr, dec))
    elif name == "inverse_sqrt":
        ts = kw.get("timescale")
        ts = (W or 10_000) if ts is None else ts
        shift = ts - W
        with np.errstate(divide="ignore"):
            lam = np.where(t < W, warm, 1.0 / np.sqrt(np.maximum(t + shift, 0.0) / ts))
    elif name == "warmup_stable_decay":
        D = int(kw["num_decay_steps"])
        S = int(kw["num_stable_steps"]) if kw.get("num_stable_steps") is not None else T - W - D
        m = float(kw.get("min_lr_ratio", 0.0))
        nc = float(kw.get("num_cycles", 0.5))
        if kw.get("warmup_type", "linear") != "linear":
            raise ExportError("hf: only warmup_type='linear' is modelled")
        wf = np.maximum(0.0, warm * (1.0 - m) + m)
        p = (t - W - S) / max(1, D)
        dt = kw.get("decay_type", "cosine")
        if dt == "linear":
            f = 1.0 - p
        elif dt == "cosine":
            f = 0.5 * (1.0 + np.cos(math.pi * nc * 2.0 * p))
        else:  # 1-sqrt
            f = 1.0 - np.sqrt(np.clip(p, 0.0, None))
        df = np.maximum(0.0, f * (1.0 - m) + m)
        lam = np.where(t < W, wf, np.where(t < W + S, 1.0, np.where(t < W + S + D, df, m)))
    else:  # pragma: no cover
        raise ExportError(f"hf: no model of lr_scheduler_type={name!r}")
    return lr * lam


def _hf_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if isinstance(s, (CPTSchedule, ArraySchedule, Polyline, MultiStep, TwoStage, CyclicCosine)):
        return [], "Hugging Face has no lr_scheduler_type of this form"
    W, r = _warm(s)
    peak = _peak(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (HF schedules are multipliers of learning_rate > 0)"
    from0 = W == 0 or _same(r, 0.0)
    out: list[_Candidate] = []
    reasons: list[str] = []

    def add(name: str, kw: dict[str, Any], desc: str | None = None) -> None:
        cfg = {
            "learning_rate": peak,
            "lr_scheduler_type": name,
            "lr_scheduler_kwargs": kw,
            "warmup_steps": W,
            "max_steps": T,
        }
        out.append(_Candidate(cfg, lambda: _hf_curve(name, kw, W, T, peak),
                              desc or f"lr_scheduler_type={name!r}"))

    final = None if isinstance(s, (Constant, InverseSqrt)) else _final(s)
    ratio = None if final is None else final / peak
    if not from0 and not _same(r, ratio or 0.0):
        wsd = "" if ratio is None else f", warmup_stable_decay's at min_lr_ratio={ratio:g}"
        reasons.append(
            f"warmup_init={_r_text(r)} (HF warmups start at 0{wsd}; cptdyn warmup_init=0.0)"
        )

    def wsd_add(D: int, decay_type: str) -> None:
        if W == 0 or _same(r, ratio or 0.0):
            kw = {"num_decay_steps": D, "decay_type": decay_type, "min_lr_ratio": ratio}
            add("warmup_stable_decay", kw)

    if isinstance(s, Constant):
        if W == 0:
            add("constant", {})
        elif from0:
            add("constant_with_warmup", {})
    elif isinstance(s, Cosine):
        if from0:
            if final == 0:
                add("cosine", {})
            add("cosine_with_min_lr", {"min_lr_rate": ratio})
        wsd_add(T - W, "cosine")
    elif isinstance(s, Linear):
        if from0:
            if final == 0:
                add("linear", {})
            elif final is not None and final < peak:
                add("polynomial", {"lr_end": final, "power": 1.0})
        wsd_add(T - W, "linear")
    elif isinstance(s, InverseSqrt):
        ts = _f(s.effective_timescale, "timescale")
        if from0:
            add("inverse_sqrt", {"timescale": int(ts) if ts.is_integer() else ts})
    elif isinstance(s, WSD):
        D = _wsd_decay_steps(s)
        shape = s.decay_shape
        if D is None:
            reasons.append(_frac_reason(s))
        elif shape in ("linear", "cosine", "1-sqrt"):
            wsd_add(D, shape)
        elif shape == "power" and from0 and T - D == W and final is not None and final < peak:
            add("polynomial", {"lr_end": final, "power": _f(s.decay_power, "decay_power")})
        else:
            reasons.append(
                f"decay_shape={shape!r} (HF decay_type is linear, cosine or 1-sqrt"
                + ("; 'power' maps to 'polynomial' only without a stable phase and from 0)"
                   if shape == "power" else ")")
            )
    return out, "; ".join(reasons)


def export_hf(schedule: Schedule, *, require_native: bool = False, base_lr: float | None = None,
              past_end: str = "hold", table_format: str = "json") -> ExportResult:
    """Hugging Face ``TrainingArguments`` fields, or the LambdaLR route.

    Native: ``payload["training_args"]`` holds ``learning_rate``, ``lr_scheduler_type``,
    ``lr_scheduler_kwargs``, ``warmup_steps``, ``max_steps`` (use them as they are; the Trainer
    calls ``get_scheduler(type, optimizer, num_warmup_steps=warmup_steps,
    num_training_steps=max_steps, scheduler_specific_kwargs=lr_scheduler_kwargs)``). Otherwise the
    PyTorch table and loader are added; pass the scheduler as
    ``Trainer(..., optimizers=(optimizer, build_scheduler(optimizer)))``.
    """
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _hf_candidates(s)
    best, err, why2 = _choose("hf", ref, cands)
    if best is not None:
        cfg = best.config
        body = json.dumps(cfg, indent=2) + "\n"
        note = _note_native(
            "hf", best.desc, err, T,
            "Use these TrainingArguments fields as they are (max_steps fixes the horizon; "
            "warmup_steps is a step count). Update t uses learning_rate*lambda(t).",
        )
        return ExportResult("hf", True, note, {"training_args": cfg, "lambda_lr": None},
                            {"hf_training_args.json": body}, err, T)
    reason = "; ".join(x for x in (why, why2) if x) or f"no HF scheduler reproduces {_kind(s)}"
    if require_native:
        raise _fail("hf", f"cannot express {_kind(s)} as an lr_scheduler_type: {reason}")
    files, table = _torch_bundle(s, ref, base_lr, past_end, table_format)
    args = {"learning_rate": table["base_lr"], "max_steps": T}
    readme = (
        "# Hugging Face Trainer with a cptdyn per-step LR table\n"
        "# lr_scheduler_type is ignored when a scheduler is passed in.\n"
        "from transformers import Trainer, TrainingArguments\n"
        "import torch\n"
        "from cptdyn_lr_scheduler import build_scheduler\n\n"
        f"args = TrainingArguments(output_dir='out', learning_rate={table['base_lr']!r}, "
        f"max_steps={T})\n"
        "optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)\n"
        "trainer = Trainer(model=model, args=args, train_dataset=train_dataset,\n"
        "                  optimizers=(optimizer, build_scheduler(optimizer)))\n"
    )
    files = {"hf_training_args.json": json.dumps(args, indent=2) + "\n", **files,
             "hf_trainer_example.py": readme}
    table_name = next(n for n in files if n.startswith("lr_table"))
    note = (
        f"hf: per-step route (LambdaLR over {table_name} via {TORCH_LOADER_NAME}) "
        f"because {reason}. Pass the scheduler to the Trainer: Trainer(..., optimizers=(optimizer, "
        "build_scheduler(optimizer))); it is stepped once per optimizer update, update t runs at "
        "lrs[t], exact at every step."
    )
    return ExportResult("hf", False, note, {"training_args": args, "lambda_lr": table}, files,
                        0.0, T)


# ==================================================================================== Megatron-LM
def _megatron_curve(cfg: Mapping[str, Any], T: int) -> np.ndarray:
    """optimizer_param_scheduler.py get_lr in iteration units (global batch size 1)."""
    mx, mn = float(cfg["lr"]), float(cfg["min_lr"])
    W = int(cfg["lr_warmup_iters"])
    init = float(cfg["lr_warmup_init"])
    Dd = int(cfg["lr_decay_iters"])
    style = cfg["lr_decay_style"]
    out = np.empty(T)
    for i in range(T):
        x = float(i)
        if W > 0 and x <= W:
            out[i] = init + (mx - init) * x / W
            continue
        if style == "constant":
            out[i] = mx
            continue
        if x > Dd:
            out[i] = mn
            continue
        if style == "inverse-square-root":
            out[i] = max(mn, mx * max(W, 1) ** 0.5 / max(x, 1) ** 0.5)
            continue
        ratio = (x - W) / (Dd - W)
        if style == "linear":
            coeff = 1.0 - ratio
        elif style == "cosine":
            coeff = 0.5 * (math.cos(math.pi * ratio) + 1.0)
        else:  # WSD
            wd = int(cfg["lr_wsd_decay_iters"])
            start = Dd - wd
            if x <= start:
                coeff = 1.0
            else:
                q = (x - start) / wd
                ws = cfg["lr_wsd_decay_style"]
                if ws == "linear":
                    coeff = 1.0 - q
                elif ws == "cosine":
                    coeff = 0.5 * (math.cos(math.pi * q) + 1.0)
                elif ws == "exponential":
                    coeff = 2.0 * 0.5**q - 1.0
                else:  # minus_sqrt
                    coeff = 1.0 - math.sqrt(q)
        out[i] = mn + coeff * (mx - mn)
    return out


_MEGATRON_WSD = {"linear": "linear", "cosine": "cosine", "1-sqrt": "minus_sqrt"}


def _megatron_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if isinstance(s, (CPTSchedule, ArraySchedule, Polyline, MultiStep, TwoStage, CyclicCosine)):
        return [], "Megatron-LM's --lr-decay-style has no such shape"
    W, r = _warm(s)
    peak = _peak(s)
    if W >= T and W > 0:
        return [], f"warmup_steps={W} (Megatron asserts warmup < total_steps={T})"
    # warmup: r-form maps exactly; the (t+1)/W form is a warmup of W-1 iters from peak/W.
    if W == 0:
        warm = [(0, 0.0)]
    elif r is not None:
        warm = [(W, r * peak)]
    else:
        warm = [(W - 1, peak / W)]
    base: dict[str, Any] = {"lr": peak, "lr_decay_iters": T, "train_iters": T}
    styles: list[dict[str, Any]] = []
    reasons: list[str] = []
    if isinstance(s, Constant):
        styles.append({"lr_decay_style": "constant", "min_lr": 0.0})
    elif isinstance(s, Cosine):
        styles.append({"lr_decay_style": "cosine", "min_lr": _final(s)})
    elif isinstance(s, Linear):
        styles.append({"lr_decay_style": "linear", "min_lr": _final(s)})
    elif isinstance(s, InverseSqrt):
        styles.append({"lr_decay_style": "inverse-square-root", "min_lr": 0.0})
    elif isinstance(s, WSD):
        D = _wsd_decay_steps(s)
        if D is None:
            reasons.append(_frac_reason(s))
        elif s.decay_shape not in _MEGATRON_WSD:
            reasons.append(
                f"decay_shape={s.decay_shape!r} (--lr-wsd-decay-style is linear, cosine or "
                "minus_sqrt; Megatron's 'exponential' is 2*0.5^x-1, not geometric)"
            )
        elif D == 0:
            styles.append({"lr_decay_style": "constant", "min_lr": 0.0})
        else:
            styles.append({"lr_decay_style": "WSD", "min_lr": _final(s),
                           "lr_wsd_decay_style": _MEGATRON_WSD[s.decay_shape],
                           "lr_wsd_decay_iters": D})
    out = []
    for wi, init in warm:
        for st in styles:
            cfg = {**base, "lr_warmup_iters": wi, "lr_warmup_init": init, **st}
            desc = f"--lr-decay-style {st['lr_decay_style']}, --lr-warmup-iters {wi}"
            out.append(_Candidate(cfg, functools.partial(_megatron_curve, cfg, T), desc))
    if W and r is None and not isinstance(s, (Constant, WSD)):
        reasons.append(
            "warmup_init=None (Megatron's warmup is linear to peak at step W, here "
            "peak*(t+1)/W maps only when the LR stays at peak after it; use warmup_init=0.0)"
        )
    return out, "; ".join(reasons)


_MEGATRON_FLAGS = [
    ("lr", "--lr"), ("min_lr", "--min-lr"), ("lr_decay_style", "--lr-decay-style"),
    ("lr_warmup_iters", "--lr-warmup-iters"), ("lr_warmup_init", "--lr-warmup-init"),
    ("lr_decay_iters", "--lr-decay-iters"), ("lr_wsd_decay_style", "--lr-wsd-decay-style"),
    ("lr_wsd_decay_iters", "--lr-wsd-decay-iters"), ("train_iters", "--train-iters"),
]


def export_megatron(schedule: Schedule) -> ExportResult:
    """Megatron-LM command-line flags (iteration units: ``--lr-*-iters``, ``--train-iters``)."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _megatron_candidates(s)
    best, err = _pick_or_raise("megatron", s, ref, cands, why)
    cfg = best.config
    flags: list[str] = []
    for key, flag in _MEGATRON_FLAGS:
        if key in cfg:
            v = cfg[key]
            flags += [flag, _fmt(v) if isinstance(v, float) else str(v)]
    lines = [f"{flags[i]} {flags[i + 1]}" for i in range(0, len(flags), 2)]
    text = (
        _comment(
            f"Megatron-LM LR flags for a cptdyn {s.KIND!r} schedule ({T} iterations). Iteration "
            "units: Megatron counts samples internally (iters x global batch size), so keep the "
            "global batch size constant (no --rampup-batch-size) for the curve to hold. Add "
            "--override-opt-param-scheduler when resuming a checkpoint with a new schedule (CPT)."
        )
        + " \\\n".join(lines) + "\n"
    )
    note = _note_native("megatron", best.desc, err, T,
                        "Update n uses get_lr() at num_steps = n*global_batch_size.")
    return ExportResult("megatron", True, note, flags, {"megatron_lr_flags.txt": text}, err, T)


# ===================================================================================== torchtitan
def _torchtitan_curve(cfg: Mapping[str, Any], T: int) -> np.ndarray:
    """LRSchedulersContainer.Config.build (torchtitan 2629192): (step+1)/W warmup, virtual step."""
    W = min(int(cfg["warmup_steps"]), T)
    ratio = cfg.get("decay_ratio")
    if ratio is not None:
        D = round(T * ratio)
        if W + D > T:
            D = T - W
    else:
        D = T - W
    S = T + 1 - W - D
    m = float(cfg["min_lr_factor"])
    out = np.empty(T)
    for t in range(T):
        if t < W:
            f = (t + 1) / W
        elif t < W + S or D == 0:
            f = 1.0
        else:
            p = (t + 1 - (W + S)) / D
            dt = cfg["decay_type"]
            c = 1 - p if dt == "linear" else (1 - math.sqrt(p) if dt == "sqrt"
                                              else 0.5 * (1.0 + math.cos(math.pi * p)))
            f = m + (1 - m) * c
        out[t] = f
    return float(cfg["lr"]) * out


_TT_DECAY = {"linear": "linear", "cosine": "cosine", "1-sqrt": "sqrt"}


def _torchtitan_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "torchtitan has only warmup + linear/sqrt/cosine decay"
    W, r = _warm(s)
    if W and r is not None:
        return [], (
            f"warmup_init={r:g} (torchtitan warms up as (step+1)/warmup_steps, i.e. cptdyn "
            "warmup_init=None)"
        )
    peak = _peak(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    cfg: dict[str, Any] = {"lr": peak, "warmup_steps": W, "steps": T}
    if isinstance(s, Constant):
        cfg.update(decay_ratio=0.0, decay_type="linear", min_lr_factor=1.0)
    elif isinstance(s, (Cosine, Linear)):
        cfg.update(decay_type="cosine" if isinstance(s, Cosine) else "linear",
                   min_lr_factor=_final(s) / peak)
    else:
        D = _wsd_decay_steps(s)
        if D is None:
            return [], _frac_reason(s)
        if s.decay_shape not in _TT_DECAY:
            return [], (f"decay_shape={s.decay_shape!r} (torchtitan decay_type is linear, sqrt "
                        "or cosine)")
        ratio = D / T
        if round(T * ratio) != D:  # pragma: no cover - float guard
            ratio = (D + 0.25) / T
        cfg.update(decay_ratio=ratio, decay_type=_TT_DECAY[s.decay_shape],
                   min_lr_factor=_final(s) / peak)
    desc = f"decay_type={cfg['decay_type']!r}, decay_ratio={cfg.get('decay_ratio')}"
    return [_Candidate(cfg, lambda: _torchtitan_curve(cfg, T), desc)], ""


def export_torchtitan(schedule: Schedule) -> ExportResult:
    """torchtitan ``[lr_scheduler]`` TOML (plus ``[optimizer] lr`` and ``[training] steps``)."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _torchtitan_candidates(s)
    best, err = _pick_or_raise("torchtitan", s, ref, cands, why)
    cfg = best.config
    sched = {k: cfg[k] for k in ("warmup_steps", "decay_ratio", "decay_type", "min_lr_factor")
             if cfg.get(k) is not None}
    py = ", ".join(f"{k}={v!r}" for k, v in sched.items())
    text = (
        _comment(
            f"torchtitan LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
            "Python config (2026 torchtitan): "
            f"LRSchedulersContainer.Config({py}, total_steps={T})\n"
            "Before 2025-07-30 min_lr_factor was called lr_min."
        )
        + f"\n[optimizer]\nlr = {_toml_scalar(cfg['lr'])}\n\n[lr_scheduler]\n"
        + "".join(f"{k} = {_toml_scalar(v)}\n" for k, v in sched.items())
        + f"\n[training]\nsteps = {T}\n"
    )
    payload = {"optimizer": {"lr": cfg["lr"]}, "lr_scheduler": sched, "training": {"steps": T}}
    note = _note_native("torchtitan", best.desc, err, T,
                        "Update t uses lr*factor(t) with warmup factor (t+1)/warmup_steps.")
    return ExportResult("torchtitan", True, note, payload,
                        {"torchtitan_lr_scheduler.toml": text}, err, T)


# ======================================================================================= nanotron
def _nanotron_curve(a: Mapping[str, Any], T: int) -> np.ndarray:
    """helpers.py lr_scheduler_builder (absolute LR, before the /learning_rate normalisation)."""
    lr = float(a["learning_rate"])
    W = int(a["lr_warmup_steps"])
    dsteps = a.get("lr_decay_steps")
    start = a.get("lr_decay_starting_step")
    if dsteps is None:
        dsteps = T - W - (start or 0)
    if start is None:
        start = W
    mn = float(a["min_decay_lr"]) if a.get("min_decay_lr") is not None else lr
    out = np.empty(T)
    for t in range(T):
        if W == 0 and dsteps == 0:
            v = lr
        elif a["lr_warmup_style"] is not None and t <= W:
            v = lr * t / max(W, 1) if a["lr_warmup_style"] == "linear" else lr
        elif t < start:
            v = lr
        elif a["lr_decay_style"] is not None and t < start + dsteps:
            x = (t - start) / dsteps
            st = a["lr_decay_style"]
            if st == "cosine":
                v = mn + (lr - mn) * (1 + math.cos(math.pi * x)) / 2
            elif st == "linear":
                v = mn + (lr - mn) * (dsteps - (t - start)) / dsteps
            else:  # 1-sqrt
                v = mn + (lr - mn) * (1 - math.sqrt(x))
        else:
            v = mn
        out[t] = v
    return out


def _nanotron_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "nanotron has only warmup + linear/cosine/1-sqrt decay"
    W, r = _warm(s)
    if W and not _same(r, 0.0):
        return [], (
            f"warmup_init={_r_text(r)} (nanotron warms up as lr*step/lr_warmup_steps from 0, "
            "i.e. cptdyn warmup_init=0.0)"
        )
    peak = _peak(s)
    a: dict[str, Any] = {"learning_rate": peak, "lr_warmup_steps": W,
                         "lr_warmup_style": "linear" if W else "constant"}
    if isinstance(s, Constant):
        a.update(lr_decay_style="linear", lr_decay_starting_step=W, lr_decay_steps=T - W,
                 min_decay_lr=peak)
    elif isinstance(s, (Cosine, Linear)):
        a.update(lr_decay_style="cosine" if isinstance(s, Cosine) else "linear",
                 lr_decay_starting_step=W, lr_decay_steps=T - W, min_decay_lr=_final(s))
    else:
        D = _wsd_decay_steps(s)
        if D is None:
            return [], _frac_reason(s)
        if s.decay_shape not in ("linear", "cosine", "1-sqrt"):
            return [], (f"decay_shape={s.decay_shape!r} (nanotron lr_decay_style is linear, "
                        "cosine or 1-sqrt)")
        a.update(lr_decay_style=s.decay_shape, lr_decay_starting_step=T - D, lr_decay_steps=D,
                 min_decay_lr=_final(s))
    desc = f"lr_decay_style={a['lr_decay_style']!r}"
    return [_Candidate(a, lambda: _nanotron_curve(a, T), desc)], ""


def export_nanotron(schedule: Schedule) -> ExportResult:
    """nanotron YAML fragment: ``optimizer.learning_rate_scheduler`` and ``tokens.train_steps``."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _nanotron_candidates(s)
    best, err = _pick_or_raise("nanotron", s, ref, cands, why)
    a = best.config
    doc = {"optimizer": {"learning_rate_scheduler": a}, "tokens": {"train_steps": T}}
    extra = (" (nanotron 1-sqrt needs a version with the 1-sqrt branch, 2025+)"
             if a["lr_decay_style"] == "1-sqrt" else "")
    text = _comment(f"nanotron LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps){extra}.") \
        + _yaml(doc)
    note = _note_native("nanotron", best.desc, err, T,
                        "Update t uses LambdaLR lambda(t); linear warmup starts at 0." + extra)
    return ExportResult("nanotron", True, note, doc, {"nanotron_lr_scheduler.yaml": text}, err, T)


# ====================================================================================== OLMo-core
def _olmo_warmup(init: float, c: np.ndarray, w: int, m: float) -> np.ndarray:
    return m + (init - m) * np.minimum(c, w) / w


def _olmo_curve(cls: str, kw: Mapping[str, Any], T: int, lr: float) -> np.ndarray:
    """olmo_core/optim/scheduler.py get_lr(initial_lr, current=t + 1, t_max=T)."""
    c = np.arange(1, T + 1, dtype=np.float64)
    m = float(kw.get("warmup_min_lr", 0.0))
    w = int(kw.get("warmup", 0))
    if cls == "ConstantScheduler":
        return np.full(T, lr)
    if cls == "ConstantWithWarmup":
        return np.where(c <= w, _olmo_warmup(lr, c, max(w, 1), m), lr)
    if cls in ("CosWithWarmup", "LinearWithWarmup"):
        tm = int(kw.get("t_max") or T)
        eta_min = lr * float(kw["alpha_f"])
        x = (c - w) / (tm - w)
        body = (eta_min + (lr - eta_min) * (1 + np.cos(np.pi * x)) / 2 if cls == "CosWithWarmup"
                else lr - (lr - eta_min) * x)
        return np.where(c < w, _olmo_warmup(lr, c, max(w, 1), m), np.where(c >= tm, eta_min, body))
    if cls == "InvSqrtWithWarmup":
        eta_min = lr * float(kw["alpha_f"])
        return np.where(c < w, _olmo_warmup(lr, c, max(w, 1), m),
                        eta_min + (lr - eta_min) * np.sqrt(w / c))
    if cls == "WSD":
        d = int(kw["decay"])
        dm = float(kw["decay_min_lr"])
        dec = dm + (lr - dm) * np.minimum(T - c, d) / max(d, 1)
        return np.where(c <= w, _olmo_warmup(lr, c, max(w, 1), m), np.where(c >= T - d, dec, lr))
    raise ExportError(f"olmo-core: no model of {cls}")  # pragma: no cover


def _olmo_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, InverseSqrt, WSD)):
        return [], "OLMo-core has no scheduler class of this form"
    W, r = _warm(s)
    peak = _peak(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    # OLMo-core calls get_lr(current=t+1). Warmups "current <= warmup" (Constant, WSD) map
    # warmup_init=None exactly with warmup=W; the r-form needs warmup=W+1 and
    # warmup_min_lr=peak*(r*(W+1)-1)/W >= 0. "current < warmup" warmups (Cos/Linear/InvSqrt)
    # need warmup=W+1 (to line the decay up) and the same warmup_min_lr.
    def shifted() -> tuple[int, float] | None:
        if W == 0:
            return 1, 0.0
        if r is None:
            return None
        m = peak * (r * (W + 1) - 1) / W
        if m < -1e-15 * peak:
            return None
        return W + 1, max(m, 0.0)

    def le_warm() -> tuple[int, float] | None:
        if W == 0:
            return 0, 0.0
        if r is None:
            return W, 0.0
        return shifted()

    bad_warm = (
        f"warmup_init={_r_text(r)} (OLMo-core counts steps from 1, so its linear warmup from "
        f"warmup_min_lr >= 0 needs warmup_init >= 1/(warmup_steps+1)={1 / (W + 1):g})"
    )
    out: list[_Candidate] = []

    def add(cls: str, kw: dict[str, Any], desc: str) -> None:
        out.append(_Candidate({"class": cls, "kwargs": kw},
                              lambda: _olmo_curve(cls, kw, T, peak), desc))

    flat = isinstance(s, WSD) and (_wsd_decay_steps(s) == 0 or _final(s) == peak)
    if isinstance(s, Constant) or flat:
        if W == 0:
            add("ConstantScheduler", {}, "ConstantScheduler")
        else:
            wm = le_warm()
            if wm is None:
                return [], bad_warm
            add("ConstantWithWarmup", {"warmup": wm[0], "warmup_min_lr": wm[1]},
                "ConstantWithWarmup")
    elif isinstance(s, (Cosine, Linear)):
        wm = shifted()
        if wm is None:
            return [], bad_warm
        cls = "CosWithWarmup" if isinstance(s, Cosine) else "LinearWithWarmup"
        add(cls, {"warmup": wm[0], "alpha_f": _final(s) / peak, "t_max": T + 1,
                  "warmup_min_lr": wm[1]}, f"{cls} with warmup={wm[0]}, t_max={T + 1}")
    elif isinstance(s, InverseSqrt):
        wm = shifted()
        ts = _f(s.effective_timescale, "timescale")
        if wm is None:
            return [], bad_warm
        if ts != W + 1:
            return [], (f"timescale={ts:g} (OLMo-core's InvSqrtWithWarmup decays as "
                        f"sqrt(warmup/step), i.e. timescale=warmup_steps+1={W + 1})")
        add("InvSqrtWithWarmup", {"warmup": wm[0], "alpha_f": 0.0, "warmup_min_lr": wm[1]},
            "InvSqrtWithWarmup")
    else:
        D = _wsd_decay_steps(s)
        if D is None:
            return [], _frac_reason(s)
        if s.decay_shape != "linear":
            return [], (f"decay_shape={s.decay_shape!r} (OLMo-core's WSD decays linearly "
                        "only)")
        wm = le_warm()
        if wm is None:
            return [], bad_warm
        final = _final(s)
        if D == 1:
            return [], "decay_fraction*total_steps=1 (OLMo-core's 1-based WSD needs >= 2)"
        else:
            # step counted from 1: decay=D-1 ending at the LR of our last step reproduces it
            kw = {"warmup": wm[0], "decay": D - 1, "decay_fraction": None,
                  "warmup_min_lr": wm[1], "decay_min_lr": final + (peak - final) / D}
        add("WSD", kw, f"WSD with decay={kw['decay']}")
    return out, ""


def export_olmo_core(schedule: Schedule) -> ExportResult:
    """OLMo-core scheduler (``olmo_core.optim.scheduler``) as a Python snippet and a dict."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _olmo_candidates(s)
    best, err = _pick_or_raise("olmo-core", s, ref, cands, why)
    cls, kw = best.config["class"], best.config["kwargs"]
    args = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else repr(v)}" for k, v in kw.items())
    text = (
        f'"""OLMo-core scheduler for a cptdyn {s.KIND!r} schedule ({T} steps).\n\n'
        "OLMo-core's Trainer increments global_step before each batch, so update t (0-based) uses\n"
        "get_lr(current=t+1); the warmup / t_max / decay values below account for that. Set the\n"
        f"optimizer lr to {_fmt(_peak(s))} and train for exactly {T} steps (max_duration).\n"
        f'"""\nfrom olmo_core.optim.scheduler import {cls}\n\nscheduler = {cls}({args})\n'
    )
    payload = {"class": cls, "kwargs": kw, "lr": _peak(s), "max_steps": T}
    note = _note_native("olmo-core", best.desc, err, T,
                        "Update t uses get_lr(current=t+1) (OLMo-core counts steps from 1).")
    return ExportResult("olmo-core", True, note, payload, {"olmo_core_scheduler.py": text}, err, T)


# ========================================================================================= MaxText
def _maxtext_curve(cfg: Mapping[str, Any]) -> np.ndarray:
    """maxtext_utils.create_learning_rate_schedule (65dda9a), numpy re-statement."""
    L = int(cfg["learning_rate_schedule_steps"])
    steps = int(cfg["steps"])
    lr = float(cfg["learning_rate"])
    final = lr * float(cfg["learning_rate_final_fraction"])
    W = int(L * float(cfg["warmup_steps_fraction"]))
    t = np.arange(steps, dtype=np.float64)
    out = np.zeros(steps)
    pieces: list[tuple[int, Callable[[np.ndarray], np.ndarray]]] = []  # (start, fn(relative))

    def lin(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        if n <= 0:
            return lambda u: np.full_like(u, a)
        return lambda u: (a - b) * (1 - np.clip(u, 0, n) / n) + b

    def cos(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        def f(u: np.ndarray) -> np.ndarray:
            pct = u / (n - 1) if n > 1 else np.ones_like(u)
            x = 0.5 * (np.cos(np.pi * pct) + 1)
            return a * x + b * (1 - x)
        return f

    start = 0
    if W > 0:
        pieces.append((0, lin(0.0, lr, W - 1)))
        start = W
    if cfg["lr_schedule_type"] == "cosine":
        n = L - W
        if n > 0:
            pieces.append((start, cos(lr, final, n)))
    else:
        D = int(L * float(cfg["wsd_decay_steps_fraction"]))
        S = L - W - D
        if S > 0:
            pieces.append((start, lambda u: np.full_like(u, lr)))
            start += S
        if D > 0:
            f = lin(lr, final, D - 1) if cfg["wsd_decay_style"] == "linear" else cos(lr, final, D)
            pieces.append((start, f))
    if steps > L:
        pieces.append((L, lambda u: np.zeros_like(u)))
    if not pieces:  # pragma: no cover
        return out
    out = pieces[0][1](t)
    for b, f in pieces[1:]:
        out = np.where(t < b, out, f(t - b))
    return out


def _frac_for(k: int, T: int, conv: Callable[[float], int]) -> float:
    """A fraction f with conv(f) == k (clean k/T when it round-trips, else (k+0.5)/T)."""
    for f in (k / T, (k + 0.5) / T):
        if conv(f) == k:
            return f
    raise ExportError(f"cannot express {k} of {T} steps as a fraction")  # pragma: no cover


def _maxtext_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "MaxText has only lr_schedule_type cosine and wsd"
    W, r = _warm(s)
    peak = _peak(s)
    if W and not _same(r, 0.0):
        return [], (
            f"warmup_init={_r_text(r)} (MaxText warms up from 0 as linear_schedule(0, lr, W-1), "
            "i.e. cptdyn warmup_init=0.0)"
        )
    Wm = 0 if W == 0 else W + 1  # MaxText reaches peak at step Wm-1 = W
    if Wm > T:
        return [], f"warmup_steps={W} (MaxText needs a step at peak within total_steps={T})"
    wf = _frac_for(Wm, T, lambda f: int(T * f))
    base = {"learning_rate": peak, "steps": T, "learning_rate_schedule_steps": T,
            "warmup_steps_fraction": wf}
    cands: list[dict[str, Any]] = []
    reasons = []
    flat = (
        isinstance(s, Constant)
        or _final(s) == peak
        or (isinstance(s, WSD) and _wsd_decay_steps(s) == 0)
    )
    if flat:
        cands.append({**base, "lr_schedule_type": "wsd", "wsd_decay_steps_fraction": 0.0,
                      "wsd_decay_style": "linear", "learning_rate_final_fraction": 1.0})
    else:
        if isinstance(s, WSD) and s.decay_shape not in ("linear", "cosine"):
            reasons.append(f"decay_shape={s.decay_shape!r} (MaxText wsd_decay_style is linear "
                           "or cosine)")
        reasons.append(
            f"final_lr={_final(s):g} < peak_lr (MaxText decays over len-1 steps and reaches the "
            "final LR at step T-1; cptdyn decays reach final_lr at step T)"
        )
    out = [
        _Candidate(c, functools.partial(_maxtext_curve, c),
                   f"lr_schedule_type={c['lr_schedule_type']}")
        for c in cands
    ]
    return out, "; ".join(reasons)


def export_maxtext(schedule: Schedule) -> ExportResult:
    """MaxText config overrides (``base.yml`` keys)."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _maxtext_candidates(s)
    best, err = _pick_or_raise("maxtext", s, ref, cands, why)
    cfg = best.config
    cli = " ".join(f"{k}={v if isinstance(v, str) else _yaml_scalar(v)}" for k, v in cfg.items())
    text = _comment(f"MaxText overrides for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
                    f"CLI form: {cli}") + _yaml(cfg)
    note = _note_native("maxtext", best.desc, err, T, "Update t uses the optax schedule(t).")
    return ExportResult("maxtext", True, note, cfg, {"maxtext_lr.yml": text}, err, T)


# ======================================================================================== levanter
def _lev_conv(v: float | int, n: int) -> int:
    """levanter _convert_frac_or_steps."""
    if v < 0.0 or (v > 1.0 and v % 1 != 0):
        raise ExportError(f"levanter: invalid fraction {v}")
    if v <= 1.0:
        return int(v * n)
    return int(v)


def _levanter_curve(o: Mapping[str, Any], T: int) -> np.ndarray:
    """OptimizerConfig.lr_scheduler for one cycle (marin-community/levanter 928e69f)."""
    lr = float(o["learning_rate"])
    ratio = float(o["min_lr_ratio"])
    min_lr = lr * ratio
    W = _lev_conv(o["warmup"], T)
    D = _lev_conv(o["decay"], T) if o.get("decay") is not None else T - W
    S = T - W - D
    t = np.arange(T, dtype=np.float64)
    pieces: list[tuple[int, Callable[[np.ndarray], np.ndarray]]] = []

    def lin(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        if n <= 0:
            return lambda u: np.full_like(u, a)
        return lambda u: (a - b) * (1 - np.clip(u, 0, n) / n) + b

    if W:
        pieces.append((0, lin(0.0, lr, W)))
    if S:
        pieces.append((W if pieces else 0, lambda u: np.full_like(u, lr)))
    kind = o["lr_schedule"]
    if kind == "constant":
        dec = lambda u: np.full_like(u, lr)
    elif kind == "cosine":
        if D <= 0:
            raise ExportError("levanter: cosine needs decay steps > 0")
        def dec(u: np.ndarray) -> np.ndarray:
            x = 0.5 * (1 + np.cos(np.pi * np.minimum(u, D) / D))
            return lr * ((1 - ratio) * x + ratio)
    else:
        dec = lin(lr, min_lr, D)
    pieces.append((W + S, dec))
    out = pieces[0][1](t)
    for b, f in pieces[1:]:
        out = np.where(t < b, out, f(t - b))
    return out


def _lev_value(k: int, T: int) -> int | float:
    if k == 0:
        return 0
    if k >= 2:
        return int(k)
    return _frac_for(k, T, lambda f: _lev_conv(f, T))


def _levanter_candidates(s: Schedule) -> tuple[list[_Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "levanter's lr_schedule is constant, cosine, linear (or inv_sqrt/inv/power)"
    W, r = _warm(s)
    if W and not _same(r, 0.0):
        return [], (
            f"warmup_init={_r_text(r)} (levanter warms up as linear_schedule(0, lr, warmup), "
            "i.e. cptdyn warmup_init=0.0)"
        )
    peak = _peak(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    o: dict[str, Any] = {"type": "adam", "learning_rate": peak, "warmup": _lev_value(W, T)}
    if isinstance(s, Constant):
        o.update(lr_schedule="constant", min_lr_ratio=1.0)
    elif isinstance(s, (Cosine, Linear)):
        o.update(lr_schedule="cosine" if isinstance(s, Cosine) else "linear",
                 min_lr_ratio=_final(s) / peak, decay=None)
    else:
        D = _wsd_decay_steps(s)
        if D is None:
            return [], _frac_reason(s)
        if D == 0:
            o.update(lr_schedule="constant", min_lr_ratio=1.0)
        elif s.decay_shape not in ("linear", "cosine"):
            return [], (f"decay_shape={s.decay_shape!r} (levanter decays are linear or "
                        "cosine)")
        else:
            o.update(lr_schedule=s.decay_shape, min_lr_ratio=_final(s) / peak,
                     decay=_lev_value(D, T))
    desc = f"lr_schedule={o['lr_schedule']!r}"
    return [_Candidate(o, lambda: _levanter_curve(o, T), desc)], ""


def export_levanter(schedule: Schedule) -> ExportResult:
    """levanter YAML fragment: ``optimizer`` (+ ``trainer.num_train_steps``)."""
    s = _to_schedule(schedule)
    ref = lr_table(s)
    T = s.total_steps
    cands, why = _levanter_candidates(s)
    best, err = _pick_or_raise("levanter", s, ref, cands, why)
    o = {k: v for k, v in best.config.items() if v is not None}
    doc = {"optimizer": o, "trainer": {"num_train_steps": T}}
    text = _comment(
        f"levanter optimizer config for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
        "levanter reads warmup/decay <= 1.0 as fractions of the run and > 1 as step counts."
    ) + _yaml(doc)
    note = _note_native("levanter", best.desc, err, T, "Update t uses the optax schedule(t).")
    return ExportResult("levanter", True, note, doc, {"levanter_optimizer.yaml": text}, err, T)


# ===================================================================================== CSV / JSON
def export_csv(schedule: Schedule) -> ExportResult:
    """``step,lr`` CSV (float64, shortest round-trip repr), one row per optimizer update."""
    s = _to_schedule(schedule)
    lrs = lr_table(s)
    text = _table_csv(lrs)
    note = (f"csv: per-step table, {s.total_steps} rows 'step,lr'; {STEP_CONVENTION}; "
            "values are float64 and round-trip exactly.")
    return ExportResult("csv", False, note, text, {"lr.csv": text}, 0.0, s.total_steps)


def export_json(schedule: Schedule, *, mode: str = "spec") -> ExportResult:
    """JSON: the schedule spec (``mode="spec"``, exact and small) or the per-step array."""
    s = _to_schedule(schedule)
    if mode == "spec":
        lr_table(s)  # validates that it evaluates
        doc = s.to_spec()
        text = json.dumps(doc, indent=2) + "\n"
        note = ("json: the schedule spec (cptdyn.schedules.schedule_from_spec rebuilds it "
                "exactly).")
        return ExportResult("json", True, note, doc, {"schedule.json": text}, 0.0, s.total_steps)
    if mode == "array":
        lrs = lr_table(s)
        doc = {"step_convention": STEP_CONVENTION, "total_steps": s.total_steps,
               "schedule": s.to_spec(), "lr": [float(x) for x in lrs]}
        text = json.dumps(doc) + "\n"
        note = f"json: per-step array of {s.total_steps} float64 LRs; {STEP_CONVENTION}."
        return ExportResult("json", False, note, doc, {"lr.json": text}, 0.0, s.total_steps)
    raise ExportError(f"json: mode={mode!r} must be 'spec' or 'array'")


# ====================================================================================== dispatcher
_EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "optax": export_optax,
    "torch": export_torch,
    "hf": export_hf,
    "megatron": export_megatron,
    "torchtitan": export_torchtitan,
    "nanotron": export_nanotron,
    "olmo-core": export_olmo_core,
    "maxtext": export_maxtext,
    "levanter": export_levanter,
    "csv": export_csv,
    "json": export_json,
}


def export(schedule: Schedule | Mapping[str, Any], target: str, *, part: str | None = None,
           **opts: Any) -> ExportResult:
    """Export ``schedule`` (a Schedule or a JSON spec dict) to ``target``.

    Args:
        schedule: the schedule, or its spec (``{"version": 1, "kind": ...}``).
        target: one of :data:`EXPORT_TARGETS`.
        part: for a ``cpt`` schedule, ``"pt"`` or ``"cpt"`` exports that phase alone (a CPT run
            is a new trainer run that starts at step 0 of the CPT phase); default: the whole run.
        **opts: target options: ``require_native`` (optax, hf); ``base_lr``, ``past_end``
            (``"hold"``/``"zero"``), ``table_format`` (``"json"``/``"csv"``) (torch, hf);
            ``mode`` (``"spec"``/``"array"``) (json).

    Raises:
        ExportError: the target cannot express the schedule exactly (one line saying why), or an
            option is invalid.
    """
    if target not in _EXPORTERS:
        choices = ", ".join(EXPORT_TARGETS)
        raise ExportError(f"target={target!r} is unknown; choose one of {choices}")
    s = _to_schedule(schedule)
    if part is not None:
        if not isinstance(s, CPTSchedule):
            raise ExportError(f"part={part!r} needs a 'cpt' schedule, got kind={s.KIND!r}")
        if part == "pt":
            s = s.pt
        elif part == "cpt":
            s = _resolved_cpt(s)
        else:
            raise ExportError(f"part={part!r} must be 'pt' or 'cpt'")
    fn = _EXPORTERS[target]
    try:
        return fn(s, **opts)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            bad = str(e).split("'")[1] if "'" in str(e) else str(e)
            raise ExportError(f"{target}: option {bad!r} is not supported") from None
        raise


# ========================================================================================== write
def _file_mode(path: Path) -> int:
    """Mode for a new file at ``path``: the existing file's, else 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` to a temporary file in ``directory`` (fsynced, final permissions)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(directory / name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _stage(path.parent, path.name, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write(result: ExportResult, out_path: str | os.PathLike[str]) -> list[Path]:
    """Write ``result.files`` atomically; returns the paths written.

    One file: ``out_path`` is the file (or an existing directory, which receives the file under
    its default name). Several files (torch, hf per-step route): ``out_path`` is a directory,
    created if needed (a path with a suffix such as ``x.json`` is refused). Files are written to
    temporary names in the destination directory and renamed into place, so an error never leaves
    a half-written file.
    """
    out = Path(out_path)
    files = dict(result.files)
    if not files:  # pragma: no cover
        raise ExportError(f"{result.target}: nothing to write")
    if len(files) == 1 and not out.is_dir():
        (name, text), = files.items()
        if not out.parent.exists():
            raise ExportError(f"write: directory {str(out.parent)!r} does not exist")
        _atomic_write_text(out, text)
        return [out]
    if (out.exists() and not out.is_dir()) or (not out.exists() and out.suffix):
        raise ExportError(
            f"write: {str(out)!r} looks like a file but {result.target} writes {len(files)} "
            f"files ({', '.join(files)}); give a directory"
        )
    if not out.exists():
        if not out.parent.exists():
            raise ExportError(f"write: directory {str(out.parent)!r} does not exist")
        tmpdir = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            for name, text in files.items():
                _stage(tmpdir, name, text).rename(tmpdir / name)
            os.chmod(tmpdir, 0o777 & ~_umask())
            os.replace(tmpdir, out)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return [out / name for name in files]
    # existing directory: stage every file first, then rename each into place
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            staged.append((name, _stage(out, name, text)))
        for name, tmp in staged:
            os.replace(tmp, out / name)
    except BaseException:
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    return [out / name for name in files]

