"""Free-form schedules: the best non-increasing per-step LR after warmup (or after a CPT re-warmup).

Problem (MPL paper §6 / App. E): minimise the predicted loss over every schedule that starts the
post-warmup phase at most at peak, never increases and stays in ``[min_lr, peak]``. The MPL
authors write ``eta_t = peak - sum_{k <= t} delta_k`` with decrements ``delta_k >= 0`` and run
Adam at a fixed step size with a projection, returning the last iterate.

Here the schedule is written with log-decrements,
``eta_t = min_lr + span * exp(-sum_{k <= t} w_k)``, ``w_k = softplus(z_k) / n``, so every ``z``
gives a feasible schedule (non-increasing, at most peak, strictly above ``min_lr``; the total
log-decrement is capped so the LR never goes below ``min_lr + 1.5e-8 * span``), and ``z`` is
optimised by unconstrained L-BFGS. On the MPL 400M problem the log scale needs about half the
iterations of decrements in LR units (``delta = scale * softplus(z)``) for the same loss. Each
iteration is one call of a single compiled float64 program (objective, its gradient w.r.t. the LR
array and every law's final loss); the L-BFGS recursion, the line search and the change of
variables run in numpy. Compiling that one small program (about 0.3 s) replaces compiling a
whole optimiser loop (about 1.1 s with optax's L-BFGS and zoom line search). The best iterate is
returned.

Well-posedness: under the annealing (momentum) law the optimum over non-increasing schedules
degenerates to a stable phase and a drop in at most two steps (MPL App. F, Theorem 2). The result
reports the decay length; a decay of <= 2 steps, or a single drop (scanned over the drop step)
within ``COLLAPSE_TOL`` of the optimum, is flagged ``collapsed``. The Multi-Power Law does not
collapse to a single drop, but it rewards sharp drops: quantising a smooth decay into a staircase
lowers its prediction (400M released parameters: steps of 200-400 updates, about -1.5e-3 nats),
and long runs keep lowering the prediction by sharpening the decay (400M, 24k steps: a one-update
drop of about 70-80% of peak at the start of the decay after 200-300 iterations); ``history``
shows how far a run went.
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

from cptdyn._optim import lbfgs
from cptdyn._progress import start_task
from cptdyn._pytree import x64_context
from cptdyn.dynamics import Law
from cptdyn.schedules import ArraySchedule, CPTSchedule, Schedule

from ._plan import Objective, PlanError, parse_objective
from ._predict import loss_at

__all__ = ["FreeFormPlan", "plan_free_form", "decay_summary", "COLLAPSE_TOL", "SHARP_DROP"]

#: a single drop within this many nats of the free-form optimum means the optimum collapsed
COLLAPSE_TOL = 1e-4
#: a one-step LR drop larger than this fraction of peak gets a "sharp drop" diagnostic
SHARP_DROP = 0.05


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
    seconds_compile: float = 0.0  # tracing and XLA compilation of the one compiled program

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1, "status": self.status, "family": "free-form",
            "objective_value": self.value, "predicted_final_loss": self.losses,
            "decay": self.summary, "diagnostics": self.diagnostics,
            "n_evaluations": self.n_evaluations, "seconds": self.seconds,
            "seconds_optimize": self.seconds_optimize, "seconds_compile": self.seconds_compile,
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
    of post-warmup LRs. ``max_iter``: L-BFGS iterations; ``history`` holds the objective at the
    start and after each iteration (decreasing), ``n_evaluations`` counts every evaluation of the
    objective and its gradient in the solve (line-search trials included; the collapse scan and
    the report are not counted). ``seconds_compile`` is part of ``seconds_optimize``, which is
    part of ``seconds``.
    """
    t0 = time.perf_counter()
    if isinstance(laws, Law):
        laws = {"val": laws}
    laws = dict(laws)
    obj = parse_objective(objective) if isinstance(objective, str) else objective
    from cptdyn._validate import MAX_LR, check_fraction, check_int, check_number

    total_steps = check_int("free-form", "total_steps", total_steps, lo=1)
    warmup_steps = check_int("free-form", "warmup_steps", warmup_steps, lo=0)
    check_number("free-form", "peak_lr", peak_lr, hi=MAX_LR)  # a number; its sign is checked below
    check_number("free-form", "min_lr", min_lr, hi=MAX_LR)
    if warmup_init is not None:
        check_fraction("free-form", "warmup_init", warmup_init)
    if total_steps <= warmup_steps + 2:
        raise PlanError(f"free-form: total_steps={total_steps} leaves no room after "
                        f"warmup_steps={warmup_steps}")
    if not (peak_lr > 0 and math.isfinite(peak_lr)):
        raise PlanError(f"free-form: peak_lr={peak_lr} must be positive")
    if int(max_iter) != max_iter or max_iter < 0:
        raise PlanError(f"free-form: max_iter={max_iter} must be a whole number >= 0")
    if not (0 <= min_lr < peak_lr):
        raise PlanError(f"free-form: min_lr={min_lr} must be in [0, peak_lr)")
    ctx = dict(context or {})
    n = total_steps - warmup_steps
    span = peak_lr - min_lr

    with x64_context():
        if pt is not None:
            pt_lr = np.asarray(pt.array(), np.float64)
            t_pt = pt.total_steps
            start = float(pt_lr[-1])
            w = np.arange(warmup_steps, dtype=np.float64)
            ramp = start + (peak_lr - start) * w / max(warmup_steps, 1)
            ctx.update(transfer_step=t_pt, warmup_steps=getattr(pt, "warmup_steps", 0))
        else:
            pt_lr = np.zeros((0,), np.float64)
            t_pt = 0
            w = np.arange(warmup_steps, dtype=np.float64)
            if warmup_init is None:
                ramp = peak_lr * (w + 1) / max(warmup_steps, 1)
            else:
                ramp = peak_lr * (warmup_init + (1 - warmup_init) * w / max(warmup_steps, 1))
            ctx.setdefault("warmup_steps", warmup_steps)
        # initial schedule after the (re-)warmup
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

        prefix = np.concatenate([pt_lr, np.asarray(ramp, np.float64)])  # fixed part of the LR
        off = prefix.size
        end = t_pt + total_steps
        steps = [end] + ([t_pt] if obj.kind == "constrained" and t_pt else [])
        names = list(laws)

        def objective_and_losses(lr: jax.Array) -> tuple[jax.Array, jax.Array]:
            L = {name: loss_at(law, lr, steps, dataset=name, **ctx) for name, law in laws.items()}
            finals = jnp.stack([L[name][0] for name in names])
            if obj.kind == "weighted":
                return obj.weights[0] * L["pt"][0] + obj.weights[1] * L["cpt"][0], finals
            if obj.kind == "constrained":
                rise = L["pt"][0] - L["pt"][1]
                excess = jnp.maximum(rise - obj.max_rise, 0.0)
                return L["cpt"][0] + 1e4 * excess + 1e6 * excess**2, finals
            name = obj.dataset or ("cpt" if "cpt" in laws else next(iter(laws)))
            return L[name][0], finals

        # The one compiled program: the objective, its gradient w.r.t. the whole LR array and the
        # final loss of every law (for the report), in float64. Compiled here, before the solve.
        t_c = time.perf_counter()
        vg = jax.jit(jax.value_and_grad(objective_and_losses, has_aux=True)).lower(
            np.zeros(off + n)).compile()
        t_compile = time.perf_counter() - t_c

        def evaluate(body: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            (v, finals), g = vg(np.concatenate([prefix, body]))
            return float(v), np.asarray(g)[off:], np.asarray(finals)

        # L-BFGS driven from numpy (one call of the compiled program per evaluation) on z, with
        # log-decrements w = softplus(z) / n: eta_t = min_lr + span * exp(-sum_{k <= t} w_k) is
        # non-increasing, at most peak and above min_lr by construction.
        par = _LogDecrements(n, min_lr, span)

        prog = start_task("free-form plan (L-BFGS evaluations)")  # progress + Ctrl-C point

        def fg(z: np.ndarray) -> tuple[float, np.ndarray]:
            body, back = par.forward(z)
            v, gb, _ = evaluate(body)
            prog.advance(note=f"objective {v:.5f}")
            return v, back(gb)

        z0 = par.inverse(body0)
        res = lbfgs(fg, z0, max_iter=max_iter, memory=_MEMORY)
        prog.close()
        t_opt = time.perf_counter() - t0  # set-up, compilation and the solve
        if not math.isfinite(res.history[0]):
            raise PlanError("free-form: the predicted loss is not finite at the start schedule")
        best_body = par.forward(res.x)[0]
        best_value, _, finals = evaluate(best_body)  # == res.value (the losses of every law)
        lr_best = np.concatenate([prefix, best_body])

        # Collapse check (MPL App. F): is a single drop -- stable at peak, then the lowest LR of
        # the parameterization (min_lr + 1.5e-8 * span) from one step on -- at least as good as
        # the free-form optimum? Scan the drop step (coarse grid, then a golden-section
        # refinement around the best grid point) with the same compiled program.
        low = par.lowest

        def single_drop(k: int) -> float:
            v = evaluate(np.where(np.arange(n) < k, peak_lr, low))[0]
            return v if math.isfinite(v) else math.inf

        best_drop = _scan_single_drop(single_drop, n)
    cpt_part = lr_best[t_pt:]
    sched: Schedule = ArraySchedule(cpt_part)
    if pt is not None:
        sched = CPTSchedule(pt, sched)
    # final loss of every law at the returned schedule (the compiled program's second output;
    # the same predictions as ``evaluate_schedule(laws, sched)[name][-1]``, without compiling
    # the per-step curves)
    losses = {name: float(v) for name, v in zip(names, finals, strict=True)}
    summary = decay_summary(lr_best, start=t_pt + warmup_steps)
    diagnostics = []
    status = "ok"
    summary["best_single_drop_value"] = best_drop
    post = lr_best[t_pt + warmup_steps:]
    drops = post[:-1] - post[1:]
    k_max = int(np.argmax(drops)) if drops.size else 0
    summary["max_step_drop"] = float(drops[k_max] / peak_lr) if drops.size else 0.0
    summary["max_step_drop_at"] = float(t_pt + warmup_steps + k_max + 1)
    if summary["max_step_drop"] > SHARP_DROP:
        diagnostics.append(
            f"sharp drop: the LR falls by {summary['max_step_drop']:.0%} of peak in one step at "
            f"step {int(summary['max_step_drop_at'])}; the law rewards step-like drops (MPL "
            "realises a decrement faster when the LR after it is lower), which it was not "
            "validated on. For a smooth schedule plan a parametric family (e.g. WSD with a "
            "tuned decay fraction and shape) or stop earlier (max_iter; CLI --max-iter).")
    if summary["decay_steps"] <= 2 or best_drop <= best_value + COLLAPSE_TOL:
        status = "collapsed"
        diagnostics.append(
            "collapsed: the optimum is a stable phase at peak LR and a drop in at most two steps; "
            "this law has no meaningful free-form optimum (MPL App. F: the annealing law's S2 "
            "rewards the latest, sharpest drop). Use a parametric family instead.")
    return FreeFormPlan(
        status=status, schedule=sched, lr=lr_best, value=best_value, losses=losses,
        summary=summary, diagnostics=diagnostics, n_evaluations=res.nfev,
        seconds=time.perf_counter() - t0, history=res.history, seconds_optimize=t_opt,
        seconds_compile=t_compile,
    )


# ----------------------------------------------------------------------------- the solver
_MEMORY = 20  # L-BFGS correction pairs
_C_MAX = 18.0  # cap on the total log-decrement: eta >= min_lr + 1.5e-8 * span, never == min_lr
_U_FLOOR = 1e-12  # smallest initial softplus value (a decrement of 1e-12 / n in log-LR)


class _LogDecrements:
    """``eta_t = min_lr + span * exp(-min(sum_{k <= t} w_k, C_MAX))``, ``w = softplus(z) / n``."""

    def __init__(self, n: int, min_lr: float, span: float) -> None:
        self.n, self.min_lr, self.span, self.c = n, min_lr, span, 1.0 / n
        self.lowest = min_lr + span * math.exp(-_C_MAX)  # the LR at the cap

    def forward(self, z: np.ndarray) -> tuple[np.ndarray, Any]:
        a = np.exp(-np.abs(z))
        sp = np.maximum(z, 0.0) + np.log1p(a)  # softplus(z)
        cum = np.cumsum(sp)
        cum *= self.c
        free = cum < _C_MAX
        e = np.exp(-np.minimum(cum, _C_MAX))
        e *= self.span

        def back(g_body: np.ndarray) -> np.ndarray:  # d objective / d z from d objective / d eta
            ge = np.where(free, g_body * e, 0.0)
            gw = np.cumsum(ge[::-1])[::-1]
            sig = np.where(z >= 0, 1.0, a) / (1.0 + a)  # softplus'(z)
            return gw * (-self.c) * sig

        return self.min_lr + e, back

    def inverse(self, body: np.ndarray) -> np.ndarray:
        """``z`` for a non-increasing ``body`` in ``[min_lr, min_lr + span]`` (clipped)."""
        r = np.clip((np.asarray(body, np.float64) - self.min_lr) / self.span,
                    math.exp(-_C_MAX), 1.0)
        cum = -np.log(r)
        u = np.maximum(np.diff(cum, prepend=0.0) / self.c, _U_FLOOR)
        return u + np.log(-np.expm1(-u))  # softplus^-1(u)


def _scan_single_drop(value: Any, n: int, grid: int = 17) -> float:
    """Lowest ``value(k)`` over drop steps ``k`` in ``1 .. n-1``: a ``grid``-point scan, then a
    golden-section search on the integers around the best grid point."""
    ks = np.unique(np.linspace(1, n - 1, grid).astype(np.int64))
    vals = {int(k): value(int(k)) for k in ks}
    i = int(np.argmin([vals[int(k)] for k in ks]))
    lo, hi = int(ks[max(i - 1, 0)]), int(ks[min(i + 1, ks.size - 1)])

    def v(k: int) -> float:
        if k not in vals:
            vals[k] = value(k)
        return vals[k]

    r = (math.sqrt(5) - 1) / 2
    while hi - lo > 2:
        a = hi - int(round(r * (hi - lo)))
        b = lo + int(round(r * (hi - lo)))
        if a >= b:
            a, b = lo + (hi - lo) // 2, lo + (hi - lo) // 2 + 1
        if v(a) <= v(b):
            hi = b
        else:
            lo = a
    for k in range(lo, hi + 1):
        v(k)
    best = min(vals.values())
    return best if math.isfinite(best) else math.inf
