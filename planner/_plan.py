"""Parametric planning: tune schedule knobs by gradient through the predicted loss.

A :class:`Problem` couples fitted laws (one per validation set), a template schedule (a PT schedule,
or a :class:`~cptdyn.schedules.CPTSchedule` whose CPT part is tuned), the knobs to tune with their
bounds, and an objective. :func:`plan` solves it in three stages:

1. a vmapped grid over the knobs (up to ``grid_points`` configurations, one compiled program);
2. L-BFGS-B from the best grid points on the jitted value-and-gradient (step counts relaxed to
   continuous values, see :mod:`cptdyn.schedules._relaxed`);
3. rounding of step counts to whole steps and re-evaluation with the real schedule (the rounding
   effect is reported), one-dimensional profiles per knob (the range within +0.001 nats of the
   optimum: how flat it is), baselines (cosine, WSD with common settings, the template), and
   well-posedness diagnostics (a knob on a bound that is not a natural limit means the objective
   keeps improving past it: no interior optimum).

Objectives (``Objective``): ``final`` (loss at the end of the run, one validation set),
``weighted`` (``w_pt * L_pt + w_cpt * L_cpt`` at the end: P1 Eq. 5 in its operational form, and
the out-of-domain combination of P1 Eq. 6 with its coefficients), ``constrained`` (lowest domain
loss such that the general loss ends at most ``max_rise`` above its value at the transfer step).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from cptdyn._errors import PlanError
from cptdyn._pytree import x64_context
from cptdyn.dynamics import Law
from cptdyn.schedules import CPTSchedule, Schedule
from cptdyn.schedules._relaxed import (
    FAMILIES,
    params_of,
    read_at,
    relaxed_lr,
    to_schedule,
)

from ._predict import curve, curve_jit, loss_at

__all__ = ["Objective", "Knob", "Problem", "Plan", "plan", "parse_objective", "evaluate_schedule",
           "PlanError"]

PROFILE_TOL = 1e-3  # nats: "within +0.001 of the best"


# ----------------------------------------------------------------------------------- objective
@dataclasses.dataclass(frozen=True)
class Objective:
    """What to minimise. ``kind``: ``final`` | ``weighted`` | ``constrained``."""

    kind: str = "final"
    weights: tuple[float, float] = (0.0, 1.0)  # (w_pt, w_cpt) for "weighted"
    max_rise: float = 0.0  # for "constrained"
    dataset: str | None = None  # for "final": which validation set (default: the only / "cpt")

    def describe(self) -> str:
        if self.kind == "weighted":
            return f"minimise {self.weights[0]:g}*L_pt + {self.weights[1]:g}*L_cpt at the end"
        if self.kind == "constrained":
            return (f"minimise L_cpt at the end subject to L_pt rising at most "
                    f"{self.max_rise:g} above its value at the transfer step")
        return f"minimise the final loss{'' if not self.dataset else ' on ' + self.dataset}"


def parse_objective(text: str) -> Objective:
    """``final`` | ``final:DATASET`` | ``weighted:W_PT,W_CPT`` | ``ood:NAME`` or ``ood:L1,L2``
    (P1 Eq. 6, coefficients of ``cptdyn.dynamics.P1_OOD``) | ``constrained:MAX_RISE``."""
    kind, _, arg = text.partition(":")
    if kind == "final":
        return Objective("final", dataset=arg or None)
    if kind == "ood" and arg and "," not in arg:
        from cptdyn.dynamics.presets import P1_OOD

        if arg not in P1_OOD:
            raise PlanError(f"--objective {text!r}: unknown out-of-domain set; known: "
                            f"{', '.join(P1_OOD)} (or give ood:L1,L2)")
        return Objective("weighted", weights=P1_OOD[arg])
    if kind in ("weighted", "ood"):
        try:
            w = tuple(float(x) for x in arg.split(","))
        except ValueError:
            w = ()
        if len(w) != 2 or not all(math.isfinite(x) for x in w):
            raise PlanError(f"--objective {text!r}: expected weighted:W_PT,W_CPT (two numbers)")
        return Objective("weighted", weights=(w[0], w[1]))
    if kind == "constrained":
        try:
            x = float(arg)
        except ValueError:
            raise PlanError(
                f"--objective {text!r}: expected constrained:MAX_RISE (a number)") from None
        if not (math.isfinite(x) and x >= 0):
            raise PlanError(f"--objective {text!r}: MAX_RISE must be >= 0")
        return Objective("constrained", max_rise=x)
    raise PlanError(f"--objective {text!r}: use final, weighted:W_PT,W_CPT, ood:NAME or "
                    "constrained:MAX_RISE")


# --------------------------------------------------------------------------------------- knobs
@dataclasses.dataclass(frozen=True)
class Knob:
    """A tuned quantity: ``lo``/``hi`` bounds, searched in log space if ``log``; ``natural``
    bounds are true limits of the quantity (a fraction at 0 or 1), not user-chosen ranges."""

    name: str
    lo: float
    hi: float
    log: bool = False
    integer: bool = False
    natural_lo: bool = False
    natural_hi: bool = False

    def value(self, u: Any) -> Any:
        if self.log:
            return jnp.exp(math.log(self.lo) + (math.log(self.hi) - math.log(self.lo)) * u)
        return self.lo + (self.hi - self.lo) * u

    def unit(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return (v - self.lo) / (self.hi - self.lo)


PT_KNOBS = ("peak_lr", "final_lr", "decay_fraction", "decay_power", "total_steps")
CPT_KNOBS = ("peak_lr", "final_lr", "decay_fraction", "decay_power", "cpt_steps",
             "rewarmup_steps", "replay_ratio", "loss_potential")


def default_knob(name: str, base: Mapping[str, float], bounds: Mapping[str, tuple[float, float]],
                 cpt: bool) -> Knob:
    """Bounds: user's if given, else a documented default around the template's value."""
    b = bounds.get(name)
    peak = base["peak_lr"]
    total = base["total_steps"]
    if name == "peak_lr":
        lo, hi = b or (peak / 10, peak * 10)
        return Knob(name, lo, hi, log=True)
    if name == "final_lr":
        lo, hi = b or (0.0, peak)
        return Knob(name, lo, hi, natural_lo=lo == 0.0)
    if name == "decay_fraction":
        lo, hi = b or (0.0, 1.0)
        return Knob(name, lo, hi, natural_lo=lo == 0.0, natural_hi=True)
    if name == "decay_power":
        lo, hi = b or (0.25, 4.0)
        return Knob(name, lo, hi, log=True)
    if name in ("total_steps", "cpt_steps"):
        lo, hi = b or (max(total / 4, 1.0), total * 4)
        return Knob(name, lo, hi, log=True, integer=True)
    if name == "rewarmup_steps":
        lo, hi = b or (0.0, max(base.get("rewarmup_steps", 0.0) * 4, total * 0.1))
        return Knob(name, lo, hi, integer=True, natural_lo=lo == 0.0)
    if name == "replay_ratio":
        lo, hi = b or (0.0, 1.0)
        return Knob(name, lo, hi, natural_lo=lo == 0.0, natural_hi=hi == 1.0)
    if name == "loss_potential":
        lo, hi = b or (0.0, 1.0)
        return Knob(name, lo, hi, natural_lo=lo == 0.0, natural_hi=hi == 1.0)
    allowed = CPT_KNOBS if cpt else PT_KNOBS
    raise PlanError(f"--tune {name!r} is not a tunable knob; choose from {', '.join(allowed)}")


# ------------------------------------------------------------------------------------- problem
@dataclasses.dataclass
class Problem:
    """A planning problem. Build it with :meth:`Problem.make`."""

    laws: dict[str, Law]
    template: Schedule
    knobs: tuple[Knob, ...]
    objective: Objective
    context: dict[str, Any]
    # derived
    cpt: bool = False
    family: str = ""
    base: dict[str, float] = dataclasses.field(default_factory=dict)
    opts: dict[str, Any] = dataclasses.field(default_factory=dict)
    pt_family: str = ""
    pt_base: dict[str, float] = dataclasses.field(default_factory=dict)
    pt_opts: dict[str, Any] = dataclasses.field(default_factory=dict)
    horizon: int = 0

    @classmethod
    def make(
        cls,
        laws: Mapping[str, Law] | Law,
        template: Schedule,
        tune: Sequence[str],
        objective: Objective | str = "final",
        bounds: Mapping[str, tuple[float, float]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Problem:
        if isinstance(laws, Law):
            laws = {"val": laws}
        laws = dict(laws)
        if not laws:
            raise PlanError("planner: no law given")
        obj = parse_objective(objective) if isinstance(objective, str) else objective
        ctx = dict(context or {})
        bounds = dict(bounds or {})
        cpt = isinstance(template, CPTSchedule)
        p = cls(laws=laws, template=template, knobs=(), objective=obj, context=ctx, cpt=cpt)
        if isinstance(template, CPTSchedule):
            p.family, p.base, p.opts = params_of(template.cpt)
            p.opts["warmup_from_previous"] = bool(getattr(template.cpt, "warmup_from_previous",
                                                          False))
            p.base["cpt_steps"] = p.base.pop("total_steps")
            p.base["rewarmup_steps"] = p.base.pop("warmup_steps")
            p.pt_family, p.pt_base, p.pt_opts = params_of(template.pt)
            pk = max(p.pt_base["peak_lr"], 1e-300)
            p.base["loss_potential"] = p.pt_base.get("final_lr", pk) / pk
            p.base["replay_ratio"] = float(ctx.get("replay_ratio") or 0.0)
            p.base["total_steps"] = p.base["cpt_steps"]
        else:
            p.family, p.base, p.opts = params_of(template)
        names = list(dict.fromkeys(tune))
        if not names:
            raise PlanError("--tune: name at least one knob")
        if "total_steps" in names and cpt:
            names[names.index("total_steps")] = "cpt_steps"
        for n in names:
            if n in ("decay_fraction", "decay_power") and p.family not in (
                    "wsd", "constant-then-decay"):
                raise PlanError(f"--tune {n}: the {p.family!r} family has no {n}")
            if n == "decay_power" and p.opts.get("decay_shape") != "power":
                raise PlanError("--tune decay_power needs --decay-shape power")
            if n == "final_lr" and p.family == "constant":
                raise PlanError("--tune final_lr: a constant schedule has no final LR")
            if n == "loss_potential" and (not cpt or p.pt_family == "constant"):
                raise PlanError("--tune loss_potential needs a CPT plan whose PT schedule decays")
            if n == "replay_ratio" and not any("replay" in type(law).__name__.lower()
                                               for law in laws.values()):
                raise PlanError("--tune replay_ratio needs replay-aware laws (law 'cpt-replay')")
            if n == "rewarmup_steps" and not cpt:
                raise PlanError("--tune rewarmup_steps is for CPT plans (a PT warmup is fixed)")
        p.knobs = tuple(default_knob(n, p.base, bounds, cpt) for n in names)
        for k in p.knobs:
            if not (k.lo < k.hi) or (k.log and k.lo <= 0):
                raise PlanError(f"--bounds {k.name}: need 0 < lo < hi for a log-scale knob, "
                                f"lo < hi otherwise (got {k.lo:g}, {k.hi:g})")
        steps_knob = next((k for k in p.knobs if k.name in ("total_steps", "cpt_steps")), None)
        p.horizon = int(math.ceil(steps_knob.hi if steps_knob else p.base["total_steps"]))
        p._check_objective()
        return p

    def _check_objective(self) -> None:
        o = self.objective
        if o.kind in ("weighted", "constrained"):
            missing = [d for d in ("pt", "cpt") if d not in self.laws]
            if missing:
                raise PlanError(f"--objective {o.kind}: needs laws for validation sets 'pt' and "
                                f"'cpt' (missing {', '.join(missing)})")
            if not self.cpt:
                raise PlanError(f"--objective {o.kind}: needs a CPT schedule (PT joined to CPT)")
        elif o.dataset is not None and o.dataset not in self.laws:
            raise PlanError(f"--objective final:{o.dataset}: no law for validation set "
                            f"{o.dataset!r} (have {', '.join(self.laws)})")

    # -------------------------------------------------------------------------- evaluation
    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        p = dict(self.base)
        p.update(values)
        return p

    def lr(self, p: Mapping[str, Any]) -> tuple[jax.Array, dict[str, Any], Any, Any]:
        """(per-step LR over the horizon, context, end step, transfer step) for parameters p."""
        if not self.cpt:
            lr = relaxed_lr(self.family, p, self.horizon, decay_shape=self.opts["decay_shape"],
                            warmup_init=self.opts["warmup_init"])
            ctx = {"warmup_steps": int(round(self.base["warmup_steps"]))}
            return lr, ctx, p["total_steps"], None
        ptp = dict(self.pt_base)
        if "loss_potential" in p and self.pt_family != "constant":
            ptp["final_lr"] = p["loss_potential"] * ptp["peak_lr"]
        t_pt = int(round(ptp["total_steps"]))
        lr_pt = relaxed_lr(self.pt_family, ptp, t_pt, decay_shape=self.pt_opts["decay_shape"],
                           warmup_init=self.pt_opts["warmup_init"])
        cp = {"total_steps": p["cpt_steps"], "warmup_steps": p["rewarmup_steps"],
              **{k: p[k] for k in FAMILIES[self.family] if k in p}}
        winit = self.opts["warmup_init"]
        if self.opts.get("warmup_from_previous"):
            winit = lr_pt[-1] / cp["peak_lr"]
        lr_c = relaxed_lr(self.family, cp, self.horizon, decay_shape=self.opts["decay_shape"],
                          warmup_init=winit)
        lr = jnp.concatenate([lr_pt, lr_c])
        ctx = {"warmup_steps": int(round(self.pt_base["warmup_steps"])), "transfer_step": t_pt}
        if "replay_ratio" in p:
            ctx["replay_ratio"] = p["replay_ratio"]
        for k in ("model_size",):
            if self.context.get(k) is not None:
                ctx[k] = self.context[k]
        return lr, ctx, t_pt + p["cpt_steps"], t_pt

    def losses(self, values: Mapping[str, Any]) -> dict[str, jax.Array]:
        """Predicted losses the objective needs: ``{dataset: end loss}`` and, for CPT,
        ``{dataset + "@transfer": loss at the transfer step}``."""
        p = self.params(values)
        lr, ctx, end, t_pt = self.lr(p)
        out = {}
        for name, law in self.laws.items():
            if self.end_static:
                # whole, fixed end step: evaluate only where the objective looks (fast path)
                steps = [self.end_step] + ([t_pt] if t_pt is not None else [])
                v = loss_at(law, lr[: self.end_step], steps, dataset=name, **ctx)
                out[name] = v[0]
                if t_pt is not None:
                    out[name + "@transfer"] = v[1]
                continue
            if hasattr(law, "lr_features"):
                # areas at every step are cheap; evaluate the law only at the two whole steps
                # around the (continuous) end, and at the transfer step
                n = lr.shape[-1]
                e = jnp.clip(jnp.asarray(end, lr.dtype), 1.0, float(n))
                lo = jnp.clip(jnp.floor(e), 1.0, float(n))
                hi = jnp.clip(lo + 1.0, 1.0, float(n))
                idx = [lo - 1, hi - 1] + ([jnp.asarray(t_pt - 1.0)] if t_pt is not None else [])
                idx_a = jnp.stack(idx).astype(jnp.int32)
                feats = law.lr_features(lr, None, dataset=name, **ctx)
                feats = jax.tree_util.tree_map(
                    lambda a, idx_a=idx_a, n=n: jnp.take(a, idx_a, axis=-1)
                    if jnp.ndim(a) >= 1 and jnp.shape(a)[-1] == n else a, feats)
                v = law.predict_features(feats)
                out[name] = v[0] + (e - lo) * (v[1] - v[0])
                if t_pt is not None:
                    out[name + "@transfer"] = v[2]
                continue
            c = curve(law, lr, dataset=name, **ctx)
            out[name] = read_at(c, end)
            if t_pt is not None:
                out[name + "@transfer"] = c[t_pt - 1]
        return out

    @property
    def end_static(self) -> bool:
        return not any(k.name in ("total_steps", "cpt_steps") for k in self.knobs)

    @property
    def end_step(self) -> int:
        t = int(round(self.base["total_steps"] if not self.cpt else self.base["cpt_steps"]))
        return t + (int(round(self.pt_base["total_steps"])) if self.cpt else 0)

    def objective_value(self, values: Mapping[str, Any], penalty: float = 1e4) -> jax.Array:
        return self.objective_of(self.losses(values), penalty)

    def objective_of(self, L: Mapping[str, jax.Array], penalty: float = 1e4) -> jax.Array:
        """The objective from the output of :meth:`losses` (so a caller that needs both traces
        the law once)."""
        o = self.objective
        if o.kind == "weighted":
            return o.weights[0] * L["pt"] + o.weights[1] * L["cpt"]
        if o.kind == "constrained":
            rise = L["pt"] - L["pt@transfer"]
            return L["cpt"] + penalty * jnp.maximum(rise - o.max_rise, 0.0) ** 2 * 1e2 + \
                penalty * jnp.maximum(rise - o.max_rise, 0.0)
        name = o.dataset or ("cpt" if "cpt" in self.laws else next(iter(self.laws)))
        return L[name]

    def from_unit(self, u: Any) -> dict[str, Any]:
        return {k.name: k.value(u[..., i]) for i, k in enumerate(self.knobs)}


# ---------------------------------------------------------------------------------------- plan
@dataclasses.dataclass
class Plan:
    """The result of :func:`plan` (``to_dict()`` is the ``plan.json`` document)."""

    status: str  # "ok" | "ill-posed"
    objective: Objective
    tuned: dict[str, float]  # rounded values
    relaxed: dict[str, float]  # continuous optimum
    schedule: Schedule | None
    value: float  # objective at the rounded schedule
    relaxed_value: float
    losses: dict[str, float]
    profiles: dict[str, dict[str, float]]
    baselines: list[dict[str, Any]]
    diagnostics: list[str]
    constraint: dict[str, Any] | None = None
    curves: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    lr: np.ndarray | None = None
    n_evaluations: int = 0

    @property
    def rounding_effect(self) -> float:
        return self.value - self.relaxed_value

    def to_dict(self, every: int = 1) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": 1,
            "status": self.status,
            "objective": {"kind": self.objective.kind, "description": self.objective.describe(),
                          "weights": list(self.objective.weights),
                          "max_rise": self.objective.max_rise},
            "diagnostics": self.diagnostics,
            "tuned": self.tuned,
            "relaxed": self.relaxed,
            "objective_value": self.value,
            "relaxed_objective_value": self.relaxed_value,
            "rounding_effect": self.rounding_effect,
            "predicted_final_loss": self.losses,
            "flatness": self.profiles,
            "baselines": self.baselines,
            "constraint": self.constraint,
        }
        if self.schedule is not None:
            d["schedule"] = self.schedule.to_spec()
        if self.lr is not None:
            d["lr"] = [float(x) for x in self.lr]
        if self.curves:
            n = len(next(iter(self.curves.values())))
            steps = list(range(every, n + 1, every))
            if not steps or steps[-1] != n:
                steps.append(n)
            d["curves"] = {"step": steps, **{k: [float(v[s - 1]) for s in steps]
                                             for k, v in self.curves.items()}}
        return d


def evaluate_schedule(laws: Mapping[str, Law], schedule: Schedule,
                      context: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Predicted loss curves (after 1..T updates) of a real schedule, per validation set."""
    ctx = dict(context or {})
    with x64_context():
        lr = jnp.asarray(schedule.array(), jnp.float64)
        if isinstance(schedule, CPTSchedule):
            ctx["transfer_step"] = schedule.transfer_step
            ctx.setdefault("warmup_steps", getattr(schedule.pt, "warmup_steps", 0))
        else:
            ctx.setdefault("warmup_steps", getattr(schedule, "warmup_steps", 0))
        return {name: np.asarray(curve_jit(law, lr, dataset=name, **ctx))
                for name, law in laws.items()}


def _objective_of_curves(prob: Problem, curves: Mapping[str, np.ndarray],
                         transfer: int | None) -> tuple[float, dict[str, float]]:
    L = {k: float(v[-1]) for k, v in curves.items()}
    o = prob.objective
    if o.kind == "weighted":
        return o.weights[0] * L["pt"] + o.weights[1] * L["cpt"], L
    if o.kind == "constrained":
        assert transfer is not None
        rise = L["pt"] - float(curves["pt"][transfer - 1])
        return L["cpt"] + (1e6 if rise > o.max_rise + 1e-9 else 0.0), L
    name = o.dataset or ("cpt" if "cpt" in prob.laws else next(iter(prob.laws)))
    return L[name], L


def _grid_units(d: int, n_max: int) -> np.ndarray:
    n = max(3, int(math.floor(n_max ** (1.0 / d))))
    axes = [np.linspace(0.0, 1.0, n)] * d
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)


def _batched(fn: Any, units: np.ndarray, chunk: int) -> np.ndarray:
    out = []
    for i in range(0, units.shape[0], chunk):
        u = units[i:i + chunk]
        pad = (-u.shape[0]) % chunk if units.shape[0] > chunk else 0
        if pad:
            u = np.concatenate([u, np.repeat(u[-1:], pad, 0)])
        v = np.asarray(fn(jnp.asarray(u)))
        out.append(v[: v.shape[0] - pad] if pad else v)
    return np.concatenate(out)


def plan(
    problem: Problem,
    *,
    grid_points: int = 128,
    n_refine: int = 4,
    baselines: bool = True,
    profile_points: int = 65,
) -> Plan:
    """Solve a planning problem (see the module docstring)."""
    prob = problem
    d = len(prob.knobs)
    with x64_context():
        def obj_u(u: jax.Array) -> jax.Array:
            return prob.objective_value(prob.from_unit(u))

        batch = jax.jit(jax.vmap(obj_u))
        vg = jax.jit(jax.value_and_grad(obj_u))
        chunk = max(1, min(256, int(4e7 // max(prob.horizon + 1, 1) // max(len(prob.laws), 1))))
        units = _grid_units(d, grid_points)
        start_u = np.clip([k.unit(float(prob.base.get(k.name, k.lo))) if not (
            k.log and prob.base.get(k.name, 0) <= 0) else 0.5 for k in prob.knobs], 0, 1)
        units = np.concatenate([units, start_u[None, :]])
        vals = _batched(batch, units, chunk)
        n_eval = units.shape[0]
        vals = np.where(np.isfinite(vals), vals, np.inf)
        if not np.isfinite(vals).any():
            raise PlanError("planner: the predicted loss is not finite anywhere on the grid "
                            "(check the law's parameters and the bounds)")
        order = np.argsort(vals)[:n_refine]
        best_u, best_v = units[order[0]], float(vals[order[0]])

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            v, g = vg(jnp.asarray(x))
            v = float(v)
            g = np.asarray(g, dtype=np.float64)
            if not math.isfinite(v) or not np.all(np.isfinite(g)):
                return 1e10, np.zeros_like(x)
            return v, g

        for i in order:
            r = scipy.optimize.minimize(fun, units[i], jac=True, method="L-BFGS-B",
                                        bounds=[(0.0, 1.0)] * d,
                                        options={"maxiter": 200, "ftol": 1e-12, "gtol": 1e-10})
            n_eval += int(r.nfev)
            if r.fun < best_v:
                best_u, best_v = np.asarray(r.x), float(r.fun)

        relaxed = {k: float(v) for k, v in prob.from_unit(jnp.asarray(best_u)).items()}

        # ---- round step counts, rebuild the real schedule, re-evaluate exactly
        rounded = {k.name: (float(round(relaxed[k.name])) if k.integer else relaxed[k.name])
                   for k in prob.knobs}
        sched = _build_schedule(prob, rounded)
        curves = evaluate_schedule(prob.laws, sched, prob.context)
        transfer = sched.transfer_step if isinstance(sched, CPTSchedule) else None
        value, losses = _objective_of_curves(prob, curves, transfer)

        # ---- flatness: 1-D profiles around the optimum
        profiles: dict[str, dict[str, float]] = {}
        line = np.linspace(0.0, 1.0, profile_points)
        for i, k in enumerate(prob.knobs):
            us = np.repeat(best_u[None, :], profile_points, 0)
            us[:, i] = line
            pv = _batched(batch, us, chunk)
            n_eval += profile_points
            ok = pv <= best_v + PROFILE_TOL
            j = int(np.clip(np.searchsorted(line, best_u[i]), 0, profile_points - 1))
            if not ok[j] and j > 0 and ok[j - 1]:
                j -= 1  # the optimum may sit on a constraint: start on its feasible side
            if not ok[j]:
                profiles[k.name] = {"best": relaxed[k.name], "lo": relaxed[k.name],
                                    "hi": relaxed[k.name], "bound_lo": k.lo, "bound_hi": k.hi}
                continue
            lo_j = j
            while lo_j > 0 and ok[lo_j - 1]:
                lo_j -= 1
            hi_j = j
            while hi_j < profile_points - 1 and ok[hi_j + 1]:
                hi_j += 1
            profiles[k.name] = {"best": relaxed[k.name],
                                "lo": float(k.value(line[lo_j])), "hi": float(k.value(line[hi_j])),
                                "bound_lo": k.lo, "bound_hi": k.hi}

        diagnostics = _diagnose(prob, best_u, relaxed)
        status = "ill-posed" if any(x.startswith("ill-posed") for x in diagnostics) else "ok"
        constraint = None
        if prob.objective.kind == "constrained" and transfer is not None:
            rise = float(curves["pt"][-1] - curves["pt"][transfer - 1])
            constraint = {"max_rise": prob.objective.max_rise, "rise": rise,
                          "binds": bool(abs(rise - prob.objective.max_rise) <= 2e-4),
                          "satisfied": bool(rise <= prob.objective.max_rise + 2e-4)}
            if not constraint["satisfied"]:
                diagnostics.append(
                    f"infeasible: the general loss rises {rise:.4f} > {prob.objective.max_rise:g} "
                    "for every configuration tried within the bounds")
                status = "infeasible"
        base_rows = _baselines(prob, value) if baselines else []
        for b in base_rows:
            if b["plan_minus_baseline"] > 1e-4 and status == "ok" and b.get("feasible", True):
                diagnostics.append(
                    f"note: the baseline '{b['name']}' is predicted better by "
                    f"{b['plan_minus_baseline']:.4f} (it lies outside the tuned family or knobs)")
        return Plan(
            status=status, objective=prob.objective, tuned=rounded, relaxed=relaxed,
            schedule=sched if status == "ok" else None, value=value, relaxed_value=best_v,
            losses=losses, profiles=profiles, baselines=base_rows, diagnostics=diagnostics,
            constraint=constraint, curves=curves,
            lr=np.asarray(sched.array(), np.float64) if status == "ok" else None,
            n_evaluations=n_eval,
        )


def _build_schedule(prob: Problem, values: Mapping[str, float]) -> Schedule:
    p = prob.params(values)
    if not prob.cpt:
        return to_schedule(prob.family, p, decay_shape=prob.opts["decay_shape"],
                           warmup_init=prob.opts["warmup_init"])
    ptp = dict(prob.pt_base)
    if "loss_potential" in values:
        ptp["final_lr"] = values["loss_potential"] * ptp["peak_lr"]
    pt = to_schedule(prob.pt_family, ptp, decay_shape=prob.pt_opts["decay_shape"],
                     warmup_init=prob.pt_opts["warmup_init"])
    cp = {"total_steps": p["cpt_steps"], "warmup_steps": p["rewarmup_steps"],
          **{k: p[k] for k in FAMILIES[prob.family] if k in p}}
    cpt = to_schedule(prob.family, cp, decay_shape=prob.opts["decay_shape"],
                      warmup_init=prob.opts["warmup_init"],
                      warmup_from_previous=prob.opts.get("warmup_from_previous", False))
    return CPTSchedule(pt, cpt)


_RUNAWAY_HINTS = {
    ("peak_lr", "upper"): "the law keeps rewarding a higher peak LR (the annealing law has no "
                          "peak-LR optimum); bound it by what trains stably",
    ("peak_lr", "lower"): "the objective prefers as little learning as possible (the general "
                          "loss dominates the objective)",
    ("total_steps", "upper"): "more steps keep lowering the loss; fix the budget with "
                              "--budget-steps",
    ("cpt_steps", "upper"): "the objective keeps improving with more CPT steps",
    ("cpt_steps", "lower"): "every CPT step makes the objective worse (the general loss "
                            "dominates the objective)",
}


def _diagnose(prob: Problem, u: np.ndarray, relaxed: Mapping[str, float]) -> list[str]:
    out = []
    for i, k in enumerate(prob.knobs):
        at_lo, at_hi = u[i] <= 1e-3, u[i] >= 1 - 1e-3
        if not (at_lo or at_hi):
            continue
        side, val = ("lower", k.lo) if at_lo else ("upper", k.hi)
        natural = k.natural_lo if at_lo else k.natural_hi
        if natural:
            out.append(f"note: {k.name} is at its natural {side} limit {val:g}")
        else:
            hint = _RUNAWAY_HINTS.get((k.name, side), "the objective keeps improving past "
                                      "this bound")
            out.append(f"ill-posed: {k.name} sits on its {side} bound {val:g}; no interior "
                       f"optimum within the bounds: {hint}")
    return out


def _baselines(prob: Problem, value: float) -> list[dict[str, Any]]:
    """Common schedules at the template's peak LR and length, scored by the same objective."""
    rows = []
    base_t = prob.template

    def score(name: str, sched: Schedule) -> None:
        try:
            curves = evaluate_schedule(prob.laws, sched, prob.context)
        except ValueError:
            return
        tr = sched.transfer_step if isinstance(sched, CPTSchedule) else None
        v, L = _objective_of_curves(prob, curves, tr)
        row = {"name": name, "objective_value": v, "predicted_final_loss": L,
               "plan_minus_baseline": value - v, "schedule": sched.to_spec()}
        if prob.objective.kind == "constrained" and tr is not None:
            rise = float(curves["pt"][-1] - curves["pt"][tr - 1])
            row.update(objective_value=L["cpt"], plan_minus_baseline=value - L["cpt"],
                       general_rise=rise, feasible=bool(rise <= prob.objective.max_rise + 2e-4))
        rows.append(row)

    pt_t = base_t.pt if isinstance(base_t, CPTSchedule) else None
    tmpl: Any = base_t.cpt if isinstance(base_t, CPTSchedule) else base_t
    t = tmpl.total_steps
    w = getattr(tmpl, "warmup_steps", 0)
    peak = float(tmpl.peak_lr)
    extra: dict[str, Any] = {}
    if getattr(tmpl, "warmup_from_previous", False):
        extra["warmup_from_previous"] = True
    if hasattr(tmpl, "warmup_init"):
        extra["warmup_init"] = tmpl.warmup_init  # None: torchtitan's (t+1)/W ramp, kept
    cands: list[tuple[str, Schedule]] = [("template", tmpl)]
    from cptdyn.schedules import WSD, Cosine
    cands.append(("cosine to 0", Cosine(t, peak, 0.0, warmup_steps=w, **extra)))
    cands.append(("cosine to 10%", Cosine(t, peak, 0.1 * peak, warmup_steps=w, **extra)))
    for f in (0.1, 0.2):
        if f * t <= t - w:
            cands.append((f"WSD linear {int(f * 100)}% to 0",
                          WSD(t, peak, 0.0, f, "linear", warmup_steps=w, **extra)))
            cands.append((f"WSD 1-sqrt {int(f * 100)}% to 0",
                          WSD(t, peak, 0.0, f, "1-sqrt", warmup_steps=w, **extra)))
    for name, s in cands:
        score(name, CPTSchedule(pt_t, s) if pt_t is not None else s)
    return rows
