"""Free-form schedules: the best non-increasing per-step LR after warmup (or after a CPT re-warmup).

Parameterization (MPL paper §6 / App. E): after the warmup the LR is
``eta_t = max(peak - sum_{k <= t} delta_k, min_lr)`` with decrements ``delta_k >= 0``, so every
candidate is non-increasing and starts at peak. The MPL authors run Adam at a fixed step size on
``delta`` with a projection and return the last iterate. Here the same bound-constrained problem is
solved by L-BFGS on the value-and-gradient of the predicted loss, which reaches a
lower loss in a few hundred iterations, and the *best* iterate is returned. The solver is optax's
L-BFGS with a zoom line search on ``z`` where ``delta = scale * softplus(z)``, run as one compiled
loop (no per-iteration Python).

Well-posedness: under the annealing (momentum) law the optimum over non-increasing schedules
degenerates to a stable phase and a drop in at most two steps (MPL App. F, Theorem 2). The result
reports the decay length; a decay of <= 2 steps is flagged ``collapsed``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cptdyn.dynamics._law import Law
from cptdyn.schedules import ArraySchedule, CPTSchedule, Schedule
from cptdyn.schedules._pytree import x64_context

from ._plan import Objective, PlanError, evaluate_schedule, parse_objective
from ._predict import loss_at

__all__ = ["FreeFormPlan", "plan_free_form", "decay_summary", "COLLAPSE_TOL"]

#: a single drop within this many nats of the free-form optimum means the optimum collapsed
COLLAPSE_TOL = 1e-4


@dataclasses.dataclass
class FreeFormPlan:
    status: str  # "ok" | "collapsed"
    schedule: Schedule
    lr: np.ndarray
    value: float
    losses: dict[str, float]
    summary: dict[str, float]
    diagnostics: list[str]
    n_evaluations: int
    seconds: float
    history: list[float]
    seconds_optimize: float = 0.0  # set-up + compilation + solve, without the report

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1, "status": self.status, "family": "free-form",
            "objective_value": self.value, "predicted_final_loss": self.losses,
            "decay": self.summary, "diagnostics": self.diagnostics,
            "n_evaluations": self.n_evaluations, "seconds": self.seconds,
            "seconds_optimize": self.seconds_optimize,
            "schedule": self.schedule.to_spec(), "lr": [float(x) for x in self.lr],
        }


def decay_summary(lr: np.ndarray, start: int = 0) -> dict[str, float]:
    """Where the decay starts, how long it is, how low it ends, and the best power fit
    ``eta/peak ~ (1 - tau)^p`` of its shape (p = 1 linear, 1.5 MPL's WSDSC)."""
    seg = np.asarray(lr[start:], dtype=np.float64)
    peak = float(seg.max()) if seg.size else 0.0
    below = np.flatnonzero(seg < 0.99 * peak)
    if peak <= 0 or below.size == 0:
        return {"decay_start": float(len(lr)), "decay_steps": 0.0, "decay_fraction": 0.0,
                "final_over_peak": 1.0, "power_fit": float("nan")}
    d0 = int(below[0]) - 1 if below[0] > 0 else 0
    n = seg.size - d0
    tau = (np.arange(n) + 0.5) / n
    y = seg[d0:] / peak
    keep = (y > 1e-3) & (tau < 0.98)
    p = float("nan")
    if keep.sum() >= 3:
        x = np.log1p(-tau[keep])
        p = float(np.sum(x * np.log(y[keep])) / np.sum(x * x))
    return {"decay_start": float(start + d0), "decay_steps": float(n),
            "decay_fraction": float(n / len(lr)), "final_over_peak": float(seg[-1] / peak),
            "power_fit": p}


def plan_free_form(
    laws: Mapping[str, Law] | Law,
    *,
    total_steps: int,
    peak_lr: float,
    warmup_steps: int = 0,
    warmup_init: float | None = 0.0,
    min_lr: float = 0.0,
    objective: Objective | str = "final",
    pt: Schedule | None = None,
    context: Mapping[str, Any] | None = None,
    init: str | np.ndarray = "wsd",
    max_iter: int = 300,
) -> FreeFormPlan:
    """Optimise a non-increasing schedule of ``total_steps`` steps after a (re-)warmup.

    Without ``pt`` this is a pre-training schedule (warmup as in the schedule library). With ``pt``
    the free-form part is the CPT phase: it re-warms from ``pt``'s last LR over ``warmup_steps``
    and then decays freely; objectives ``weighted``/``constrained`` then use the ``pt``/``cpt``
    laws.
    ``init``: ``"wsd"`` (20% linear decay to ``min_lr``), ``"cosine"``, ``"constant"`` or an array
    of post-warmup LRs.
    """
    t0 = time.perf_counter()
    if isinstance(laws, Law):
        laws = {"val": laws}
    laws = dict(laws)
    obj = parse_objective(objective) if isinstance(objective, str) else objective
    if total_steps <= warmup_steps + 2:
        raise PlanError(f"free-form: total_steps={total_steps} leaves no room after "
                        f"warmup_steps={warmup_steps}")
    if not (peak_lr > 0 and math.isfinite(peak_lr)):
        raise PlanError(f"free-form: peak_lr={peak_lr} must be positive")
    if not (0 <= min_lr < peak_lr):
        raise PlanError(f"free-form: min_lr={min_lr} must be in [0, peak_lr)")
    ctx = dict(context or {})
    n = total_steps - warmup_steps
    span = peak_lr - min_lr

    with x64_context():
        if pt is not None:
            pt_lr = jnp.asarray(pt.array(), jnp.float64)
            t_pt = pt.total_steps
            start = float(pt_lr[-1])
            w = np.arange(warmup_steps, dtype=np.float64)
            ramp = start + (peak_lr - start) * w / max(warmup_steps, 1)
            ctx.update(transfer_step=t_pt, warmup_steps=getattr(pt, "warmup_steps", 0))
        else:
            pt_lr = jnp.zeros((0,), jnp.float64)
            t_pt = 0
            w = np.arange(warmup_steps, dtype=np.float64)
            if warmup_init is None:
                ramp = peak_lr * (w + 1) / max(warmup_steps, 1)
            else:
                ramp = peak_lr * (warmup_init + (1 - warmup_init) * w / max(warmup_steps, 1))
            ctx.setdefault("warmup_steps", warmup_steps)
        ramp_j = jnp.asarray(ramp)
        end = t_pt + total_steps
        need_transfer = obj.kind == "constrained"

        def lr_of(delta: jax.Array) -> jax.Array:
            body = jnp.maximum(peak_lr - jnp.cumsum(delta), min_lr)
            return jnp.concatenate([pt_lr, ramp_j, body])

        def value(delta: jax.Array) -> jax.Array:
            lr = lr_of(delta)
            L = {}
            for name, law in laws.items():
                steps = [end] + ([t_pt] if need_transfer and t_pt else [])
                v = loss_at(law, lr, steps, dataset=name, **ctx)
                L[name] = v
            if obj.kind == "weighted":
                return obj.weights[0] * L["pt"][0] + obj.weights[1] * L["cpt"][0]
            if obj.kind == "constrained":
                rise = L["pt"][0] - L["pt"][1]
                excess = jnp.maximum(rise - obj.max_rise, 0.0)
                return L["cpt"][0] + 1e4 * excess + 1e6 * excess**2
            name = obj.dataset or ("cpt" if "cpt" in laws else next(iter(laws)))
            return L[name][0]

        # initial decrements
        if isinstance(init, np.ndarray):
            body0 = np.clip(np.asarray(init, np.float64), min_lr, peak_lr)
            if body0.shape != (n,):
                raise PlanError(f"free-form: init has {body0.size} values, expected {n}")
        elif init == "cosine":
            x = np.arange(n) / n
            body0 = min_lr + span * 0.5 * (1 + np.cos(np.pi * x))
        elif init == "constant":
            body0 = np.full(n, peak_lr)
        elif init == "wsd":
            tau = np.clip((np.arange(n) - 0.8 * n) / (0.2 * n), 0, 1)
            body0 = min_lr + span * (1 - tau)
        else:
            raise PlanError(f"free-form: init={init!r} must be wsd, cosine, constant or an array")
        body0 = np.minimum.accumulate(body0)
        delta0 = -np.diff(np.concatenate([[peak_lr], body0]))

        # Unconstrained L-BFGS (optax, zoom line search) on z with delta = scale * softplus(z):
        # delta >= 0 by construction, the whole loop is one compiled program, and the best
        # iterate (not the last) is kept.
        scale = span / n

        def value_z(z: jax.Array) -> jax.Array:
            return value(scale * jax.nn.softplus(z))

        x0 = np.maximum(delta0 / scale, 1e-12)
        z0 = jnp.asarray(np.where(x0 > 30, x0, np.log(np.expm1(x0))))
        opt = optax.lbfgs(memory_size=20)
        vg_state = optax.value_and_grad_from_state(value_z)

        @jax.jit
        def solve(z: jax.Array) -> tuple[Any, Any, Any, Any]:
            def body(c: Any) -> Any:
                z, st, i, best, bz, hist = c
                v, g = vg_state(z, state=st)
                u, st = opt.update(g, st, z, value=v, grad=g, value_fn=value_z)
                better = v < best
                hist = hist.at[i].set(v)
                return (optax.apply_updates(z, u), st, i + 1, jnp.where(better, v, best),
                        jnp.where(better, z, bz), hist)

            def cond(c: Any) -> Any:
                return (c[2] < max_iter) & jnp.isfinite(c[3]) | (c[2] == 0)

            init = (z, opt.init(z), 0, jnp.asarray(jnp.inf, z.dtype), z,
                    jnp.full((max_iter,), jnp.nan, z.dtype))
            z, st, i, best, bz, hist = jax.lax.while_loop(cond, body, init)
            return best, bz, i, hist

        best_v, best_z, n_it, hist = solve(z0)
        best_v.block_until_ready()
        t_opt = time.perf_counter() - t0  # set-up, compilation and the solve
        best_value = float(best_v)
        best_x = np.asarray(scale * jax.nn.softplus(best_z))
        history = [float(h) for h in np.asarray(hist)[: int(n_it)]]
        if not math.isfinite(best_value):
            raise PlanError("free-form: the predicted loss is not finite at the start schedule")

        class _R:  # what the result reports
            nfev = int(n_it)
            success = True
            message = ""

        r = _R()
        lr_best = np.asarray(lr_of(jnp.asarray(best_x)), np.float64)

        # Collapse check (MPL App. F): is a single drop -- stable at peak, then min_lr from one
        # step on -- at least as good as the free-form optimum? Scan the drop step.
        ks = np.unique(np.linspace(1, n - 1, 257).astype(np.int64))

        def single_drop(k: jax.Array) -> jax.Array:
            d = jnp.where(jnp.arange(n) == k, span, 0.0)
            return value(d)

        drop_vals = np.asarray(jax.jit(jax.vmap(single_drop))(jnp.asarray(ks)))
        best_drop = float(np.nanmin(drop_vals)) if np.isfinite(drop_vals).any() else math.inf
    cpt_part = lr_best[t_pt:]
    sched: Schedule = ArraySchedule(cpt_part)
    if pt is not None:
        sched = CPTSchedule(pt, sched)
    ectx = {k: v for k, v in ctx.items() if k in ("replay_ratio", "model_size")}
    if pt is None:
        ectx["warmup_steps"] = warmup_steps  # the ArraySchedule does not know its warmup
    curves = evaluate_schedule(laws, sched, ectx)
    losses = {k: float(v[-1]) for k, v in curves.items()}
    summary = decay_summary(lr_best, start=t_pt + warmup_steps)
    diagnostics = []
    status = "ok"
    summary["best_single_drop_value"] = best_drop
    if summary["decay_steps"] <= 2 or best_drop <= best_value + COLLAPSE_TOL:
        status = "collapsed"
        diagnostics.append(
            "collapsed: the optimum is a stable phase at peak LR and a drop in at most two steps; "
            "this law has no meaningful free-form optimum (MPL App. F: the annealing law's S2 "
            "rewards the latest, sharpest drop). Use a parametric family instead.")
    return FreeFormPlan(
        status=status, schedule=sched, lr=lr_best, value=best_value, losses=losses,
        summary=summary, diagnostics=diagnostics, n_evaluations=int(r.nfev),
        seconds=time.perf_counter() - t0, history=history, seconds_optimize=t_opt,
    )
