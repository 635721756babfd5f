"""Fitting loss laws to observed runs: multi-start batched quasi-Newton, evaluation, CV helpers.

One concept in one file (about 900 lines): the fitting procedure and its result object; the
optimiser itself is ``cptdyn._optim``, batched fold fits ``_batch.py``, priors ``_priors.py``.

Objective (P2 Eq. 6; P1 App. C; MPL Eq. 27)::

    J(theta) = sum_runs sum_steps w * Huber_delta(log L_theta(s) - log L_obs(s)),  delta = 1e-3

with one parameter tuple shared by all runs. Parameters are optimised in the unconstrained space
of their ``Constraint`` (``PARAMS``): positive -> log, interval -> logit, real -> identity.

Procedure (``fit``):

1. ``law.features(run)`` once per run (float64, local x64); optionally on runs whose LR is
   averaged between observed steps (``coarsen_lr``, ``block_average_lr``). When the law's
   ``stack_features`` returns a pytree, the law is evaluated once for all runs.
2. Starts: ``law.init_grid(runs)``, the template's own parameter values, extra ``starts`` and
   ``n_random`` seeded random perturbations of the grid points in the unconstrained space.
3. One compiled program (float64, jit of a vmap over starts of a ``lax.while_loop``): dense BFGS
   (inverse-Hessian update, Nocedal & Wright Eq. 6.17/6.20) with a backtracking Armijo line
   search (safeguarded quadratic interpolation). With at most a dozen parameters the dense
   inverse Hessian is cheaper and steadier than L-BFGS (whose memory would exceed the parameter
   count). With ``n_keep`` smaller than the number of starts, the same executable first evaluates
   every start (zero iterations) and BFGS then runs from the ``n_keep`` best.
4. The best finite end point wins; ties go to the lowest start index (deterministic). The result
   carries the fitted law, the objective, per-run and mean metrics (``_metrics``) and a
   convergence report. A fit where no start gives a finite objective raises ``FitError``.

Internally the optimiser sees ``(J + delta^2 * prior penalty) / (delta^2 * sum w)``, of order one
whatever the number of points; ``FitResult.objective`` is the plain sum ``J``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._errors import FitError
from cptdyn._optim import (
    BFGS_OUTPUTS,
    FTOL,
    GTOL,
    LS_FAIL,
    RUNNING,
    STATUS_NAMES,
    bfgs,
    bfgs_init,
    bfgs_trip_limit,
    huber,
    huber_np,
    lm_trips,
)
from cptdyn._progress import task
from cptdyn._pytree import x64_context

from .._law import Constraint, Law, concat_rows
from .._run import Run
from ._metrics import curve_metrics, mean_metrics
from ._priors import fit_window, prior_strength, resolve_prior

__all__ = [
    "FitError",
    "Convergence",
    "FitResult",
    "Evaluation",
    "fit",
    "evaluate",
    "leave_one_schedule_out",
    "fit_short_predict_long",
    "block_average_lr",
    "bin_observations",
    "MAX_OBS",
]

#: runs with more observations than this are binned before fitting (``bin_observations``).
MAX_OBS = 512
#: number of log-spaced step bins of ``bin_observations``.
N_BINS = 256

#: |raw| beyond which an interval parameter counts as sitting at its bound (u < 4.5e-5).
_INTERVAL_RAW_EDGE = 10.0
#: raw (log) value below which a positive parameter counts as sitting at its bound 0.
_POSITIVE_RAW_EDGE = -18.0




# ------------------------------------------------------------------------------------------------
# result types


@dataclasses.dataclass(frozen=True)
class Convergence:
    """Convergence report of the winning start.

    Attributes:
      status: why the optimiser stopped (``"gradient tolerance reached"``, ``"max_iter"`` ...).
      converged: gradient tolerance, objective stall, or no decrease left at a step below 1e-10
        (rounding level); false when the iteration cap stopped it.
      grad_norm: max-abs gradient of the normalised objective in the unconstrained space.
      iterations: BFGS iterations of the winning start.
      hit_max_iter: stopped by the iteration cap.
      at_bound: parameters that sit at a constraint bound (interval edge, or 0 for positive).
    """

    status: str
    converged: bool
    grad_norm: float
    iterations: int
    hit_max_iter: bool
    at_bound: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["at_bound"] = list(self.at_bound)
        return d


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of ``fit``.

    Attributes:
      law: the fitted law (template's static options, fitted parameter leaves as Python floats).
      objective: ``sum w * Huber_delta(log pred - log obs)`` at the fitted parameters.
      delta: the Huber threshold used.
      metrics: unweighted mean over the training runs of the per-run metrics
        (``r2, mae, rmse, mse, pred_e, worst_e, final_error``) plus ``abs_final_error``.
      per_run: one dict per training run: ``name, n_obs`` and the metrics.
      convergence: report of the winning start.
      n_starts: number of starting points generated; ``n_optimized`` of them went to BFGS and
        ``n_finite`` of those ended with a finite objective.
      start_objectives: end objective of every optimised start (sorted ascending; inf = failed),
        a quick view of how multi-modal the fit is.
      time_s: wall time of the fit (features, compilation and optimisation).
      settings: the options of the call (``delta, seed, n_random, n_keep, max_iter, tol, ftol,
        coarsen_lr, coarsen_warmup, prior``), for reproducibility.
    """

    law: Law
    objective: float
    delta: float
    metrics: dict[str, float]
    per_run: list[dict[str, Any]]
    convergence: Convergence
    n_starts: int
    n_optimized: int
    n_finite: int
    start_objectives: tuple[float, ...]
    time_s: float
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def params(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.law.params().items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``law_from_dict(result.to_dict())`` rebuilds the fitted law."""
        doc = self.law.to_dict()
        doc["fit"] = {
            "objective": self.objective,
            "delta": self.delta,
            "metrics": dict(self.metrics),
            "runs": [dict(r) for r in self.per_run],
            "convergence": self.convergence.to_dict(),
            "n_starts": self.n_starts,
            "n_optimized": self.n_optimized,
            "n_finite": self.n_finite,
            "time_s": self.time_s,
            "settings": dict(self.settings),
        }
        return _json_clean(doc)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return (
            f"FitResult({self.law.NAME}: {ps}; objective={self.objective:.6g}, "
            f"R2={self.metrics.get('r2', float('nan')):.5f}, "
            f"{self.convergence.status}, {self.n_optimized}/{self.n_starts} starts)"
        )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Per-run metrics of a law on observed runs (``evaluate``)."""

    per_run: list[dict[str, Any]]
    aggregate: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return _json_clean({"runs": [dict(r) for r in self.per_run], "aggregate": self.aggregate})

    def to_frame(self) -> Any:
        """The per-run table as a ``pandas.DataFrame`` (one row per run)."""
        import pandas as pd

        return pd.DataFrame(self.per_run)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _json_clean(x: Any) -> Any:
    """NaN / inf -> None, numpy scalars -> Python (strict JSON)."""
    if isinstance(x, Mapping):
        return {str(k): _json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# ------------------------------------------------------------------------------------------------
# input checks


def check_runs(runs: Sequence[Run] | Run, what: str, need_loss: bool = True) -> list[Run]:
    if isinstance(runs, Run):
        runs = [runs]
    runs = list(runs)
    if not runs:
        raise FitError(f"{what}: no runs given")
    for r in runs:
        if not isinstance(r, Run):
            raise FitError(f"{what}: expected Run objects, got {type(r).__name__}")
        if need_loss and r.loss is None:
            raise FitError(f"{what}: run {r.name!r} has no observed loss")
        if need_loss and r.steps.size == 0:
            raise FitError(f"{what}: run {r.name!r} has no observed steps")
    return runs


def _run_weights(weights: Any, runs: Sequence[Run]) -> list[np.ndarray]:
    """Per-run weight arrays (shape ``(n_obs,)``). ``weights``: None, one number per run (sequence
    or ``{run name: w}``), or one array per run matching its observed steps."""
    if weights is None:
        return [np.ones(r.steps.size) for r in runs]
    if isinstance(weights, Mapping):
        missing = [r.name for r in runs if r.name not in weights]
        if missing:
            raise FitError(f"fit: weights has no entry for run {missing[0]!r}")
        weights = [weights[r.name] for r in runs]
    weights = list(weights)
    if len(weights) != len(runs):
        raise FitError(f"fit: {len(weights)} weights for {len(runs)} runs")
    out = []
    for r, w in zip(runs, weights, strict=True):
        a = np.asarray(w, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(r.steps.size, float(a))
        if a.shape != r.steps.shape:
            raise FitError(
                f"fit: weights for run {r.name!r} have shape {a.shape}, expected () or "
                f"({r.steps.size},)"
            )
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise FitError(f"fit: weights for run {r.name!r} must be finite and >= 0")
        out.append(a)
    if sum(float(a.sum()) for a in out) <= 0:
        raise FitError("fit: all weights are zero")
    return out


# ------------------------------------------------------------------------------------------------
# parameter space


def _constraints(law: Law) -> tuple[list[str], list[Constraint]]:
    names = list(law.PARAMS)
    if not names:
        raise FitError(f"fit: law {type(law).__name__} declares no PARAMS")
    return names, [law.PARAMS[k] for k in names]


def _law_from_raw(
    template: Law, names: Sequence[str], cons: Sequence[Constraint], raw: Any
) -> Law:
    values = {k: c.from_raw(raw[i]) for i, (k, c) in enumerate(zip(names, cons, strict=True))}
    return template.with_params(**values)


def _values_from_raw(
    names: Sequence[str], cons: Sequence[Constraint], raw: np.ndarray
) -> dict[str, float]:
    """Parameter values of an unconstrained vector, in Python floats (no JAX operation)."""
    return {k: c.value_of(raw[i]) for i, (k, c) in enumerate(zip(names, cons, strict=True))}


def _raw_from_params(
    p: Mapping[str, Any], names: Sequence[str], cons: Sequence[Constraint]
) -> np.ndarray | None:
    """Unconstrained vector of a parameter dict; None when a value is missing or infeasible."""
    out = np.empty(len(names))
    for i, (k, c) in enumerate(zip(names, cons, strict=True)):
        try:
            v = float(np.asarray(p[k]))
        except (KeyError, TypeError, ValueError):
            return None
        if not c.contains(v):
            return None
        if c.kind == "interval":  # keep strictly inside so that the logit is finite
            span = c.hi - c.lo
            v = min(max(v, c.lo + 1e-9 * span), c.hi - 1e-9 * span)
        out[i] = float(c.to_raw(v))
    return out if np.all(np.isfinite(out)) else None


def _prior_arrays(
    prior: Mapping[str, tuple[float, float]] | None, names: Sequence[str],
    cons: Sequence[Constraint],
) -> tuple[np.ndarray, np.ndarray]:
    """``{name: (centre value, sd in the unconstrained space)}`` -> (centre raw, 1/sd) vectors."""
    centre = np.zeros(len(names))
    inv_sd = np.zeros(len(names))
    for k, spec in (prior or {}).items():
        if k not in names:
            raise FitError(f"fit: prior on unknown parameter {k!r}; parameters: {', '.join(names)}")
        try:
            value, sd = (float(v) for v in spec)
        except (TypeError, ValueError):
            raise FitError(f"fit: prior[{k!r}] must be (centre, sd), got {spec!r}") from None
        i = names.index(k)
        raw = _raw_from_params({k: value}, [k], [cons[i]])
        if raw is None or not (sd > 0 and math.isfinite(sd)):
            raise FitError(
                f"fit: prior[{k!r}] = {spec!r}: centre outside the constraint or sd <= 0"
            )
        centre[i], inv_sd[i] = raw[0], 1.0 / sd
    return centre, inv_sd


def _perturb_scale(raw: np.ndarray, cons: Sequence[Constraint]) -> np.ndarray:
    """Standard deviation of random perturbations in the unconstrained space."""
    s = np.empty_like(raw)
    for i, c in enumerate(cons):
        s[i] = 0.1 * max(abs(raw[i]), 1e-2) if c.kind == "real" else 0.5
    return s


def _starts(
    law: Law, runs: Sequence[Run], names: Sequence[str], cons: Sequence[Constraint],
    n_random: int, seed: int, extra: Sequence[Mapping[str, Any]] = (),
) -> np.ndarray:
    try:
        grid = list(law.init_grid(runs))
    except NotImplementedError:
        grid = []
    except Exception as e:  # the law's own message, on one line
        raise FitError(f"fit: init_grid of law {law.NAME!r} failed: {first_line(e)}") from e
    base = [_raw_from_params(g, names, cons) for g in grid]
    base = [b for b in base if b is not None]
    own = _raw_from_params(law.params(), names, cons)
    extras = [_raw_from_params(e, names, cons) for e in extra]
    starts = base + [b for b in [own, *extras] if b is not None]
    if not starts:
        raise FitError(
            f"fit: law {law.NAME!r} gave no feasible starting point (init_grid and its own "
            "parameter values are all outside the constraints)"
        )
    rng = np.random.default_rng(seed)
    centres = base if base else starts
    for i in range(int(n_random)):
        c = centres[i % len(centres)]
        assert c is not None
        starts.append(c + rng.normal(size=c.shape) * _perturb_scale(c, cons))
    return np.stack([s for s in starts if s is not None]).astype(np.float64)


# ------------------------------------------------------------------------------------------------
# the compiled solver


def _residuals(
    template: Law, names: Sequence[str], cons: Sequence[Constraint],
    feats: Sequence[Any], logobs: Sequence[jax.Array], weights: Sequence[jax.Array],
    raw: jax.Array | Sequence[jax.Array],
) -> list[tuple[jax.Array, jax.Array]]:
    """Per run: (log-loss residuals, predictions) of the law at ``raw`` (the unconstrained
    vector, or its entries as separate scalars). Zero-weight observations (folds and bootstrap
    refits of ``fit_many`` as weights) get residual 0: they count exactly nothing, even where
    the law predicts nonsense there."""
    law = _law_from_raw(template, names, cons, raw)
    dt = jnp.result_type(*(raw[i] for i in range(len(names))))
    out = []
    for f, y, w in zip(feats, logobs, weights, strict=True):
        pred = jnp.reshape(law.predict_features(f), (-1,)).astype(dt)
        on = w > 0
        out.append((jnp.where(on, jnp.log(jnp.where(on, pred, 1.0)) - y, 0.0), pred))
    return out


def _make_objective(
    template: Law, names: Sequence[str], cons: Sequence[Constraint],
    feats: Sequence[Any], logobs: Sequence[jax.Array], weights: Sequence[jax.Array],
    delta: jax.Array, scale: jax.Array, prior: tuple[jax.Array, jax.Array],
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """``raw -> (scale * [sum w Huber(log pred - log obs) + delta^2 * penalty], predictions)``.

    ``penalty = sum 0.5 * ((raw - centre) * inv_sd)^2`` (``inv_sd = 0``: no prior on that one).
    """
    centre, inv_sd = prior

    def objective(raw: jax.Array) -> tuple[jax.Array, jax.Array]:
        total = jnp.zeros((), raw.dtype)
        parts = _residuals(template, names, cons, feats, logobs, weights, raw)
        for (r, _), w in zip(parts, weights, strict=True):
            total = total + jnp.sum(w * huber(r, delta))
        total = total + delta * delta * 0.5 * jnp.sum(((raw - centre) * inv_sd) ** 2)
        preds = [p for _, p in parts]
        # NaN (log of a negative prediction, overflow ...) -> +inf: rejected by the line search
        total = jnp.where(jnp.isnan(total), jnp.inf, total)
        return total * scale, jnp.concatenate(preds)

    return objective


def finite_value(
    objective: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """``objective`` with a non-finite value as ``+inf`` (``lm_trips``' value-only screening)."""

    def value(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        f, pred = objective(x)
        return jnp.where(jnp.isfinite(f), f, jnp.inf), pred

    return value


def finite_value_and_grad(
    objective: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
    """``x -> (value, gradient, predictions)`` of ``objective`` for BFGS: a non-finite value or
    gradient as ``(+inf, 0)``, which the line search rejects."""
    vg = jax.value_and_grad(objective, has_aux=True)

    def safe_vg(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        (f, pred), g = vg(x)
        bad = ~jnp.isfinite(f) | ~jnp.all(jnp.isfinite(g))
        return jnp.where(bad, jnp.inf, f), jnp.where(bad, 0.0, g), pred

    return safe_vg


#: the optimisers of ``fit`` and ``fit_many`` (``method``)
METHODS = ("bfgs", "lm")

#: laws that ``fit`` optimises with Levenberg-Marquardt by default (else BFGS): ``momentum-lr``
#: recomputes its areas from every LR change on each evaluation, and LM reaches BFGS's minimum
#: in 2-3x less time (warm, ten 15k-50k-step runs: cosine 5.4 s vs 14.2 s, WSD 1.4 s vs 3.1 s)
LM_BY_DEFAULT = ("momentum-lr",)


def _make_gauss_newton(
    template: Law, names: Sequence[str], cons: Sequence[Constraint],
    feats: Sequence[Any], logobs: Sequence[jax.Array], weights: Sequence[jax.Array],
    delta: jax.Array, scale: jax.Array, prior: tuple[jax.Array, jax.Array],
) -> Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array]]:
    """``raw -> (objective, gradient, H, predictions)`` of :func:`_make_objective`'s objective,
    with ``H`` its iteratively-reweighted Gauss-Newton Hessian: ``J^T diag(w psi(r)/r) J`` for
    the Huber terms (the weight that majorises the Huber loss at the current residual) plus the
    prior's exact Hessian. The Jacobian is one forward-mode pass per parameter."""
    centre, inv_sd = prior

    def residuals(xs: Sequence[jax.Array]) -> tuple[jax.Array, jax.Array]:
        parts = _residuals(template, names, cons, feats, logobs, weights, xs)
        return jnp.concatenate([q for q, _ in parts]), jnp.concatenate([p for _, p in parts])

    def jac(raw: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        # one forward-mode pass per parameter, each with the others held as plain scalars:
        # their tangents stay symbolic zeros, so the work a parameter does not touch (the
        # fitted-lambda law's per-update gathers, for every parameter but lambda) is not
        # repeated per column, as a batched jacfwd over the whole vector would; XLA merges the
        # columns' identical primal computations (residuals and predictions: the first pass's)
        xs = [raw[i] for i in range(raw.shape[0])]
        cols, first = [], None
        for i in range(len(xs)):
            def one(xi: jax.Array, i: int = i) -> tuple[jax.Array, jax.Array]:
                return residuals([*xs[:i], xi, *xs[i + 1:]])

            r, col, pred = jax.jvp(one, (xs[i],), (jnp.ones_like(xs[i]),), has_aux=True)
            cols.append(col)
            if first is None:
                first = (r, pred)
        assert first is not None
        return jnp.stack(cols, axis=1), first

    wcat = jnp.concatenate(list(weights))

    def vgh(raw: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        j, (r, pred) = jac(raw)
        a = jnp.abs(r)
        dev = raw - centre
        pen = delta * delta * inv_sd * inv_sd
        f = jnp.sum(wcat * huber(r, delta)) + 0.5 * jnp.sum(pen * dev * dev)
        psi = jnp.clip(r, -delta, delta)
        g = j.T @ (wcat * psi) + pen * dev
        om = wcat * jnp.where(a <= delta, 1.0, delta / jnp.maximum(a, 1e-300))
        h = (j * om[:, None]).T @ j + jnp.diag(pen)
        bad = ~jnp.isfinite(f) | ~jnp.all(jnp.isfinite(g)) | ~jnp.all(jnp.isfinite(h))
        return (jnp.where(bad, jnp.inf, f * scale), jnp.where(bad, 0.0, g * scale),
                jnp.where(bad, 0.0, h * scale), pred)

    return vgh


@partial(jax.jit, static_argnames=("names", "cons", "method"))
def _solve(
    template: Law, feats: Any, logobs: Any, weights: Any, prior: Any, raw0: jax.Array,
    delta: jax.Array, scale: jax.Array, gtol: jax.Array, ftol: jax.Array, max_iter: jax.Array,
    *, names: tuple[str, ...], cons: tuple[Constraint, ...], method: str = "bfgs",
) -> tuple[jax.Array, ...]:
    """BFGS (``method="lm"``: Levenberg-Marquardt) from every row of ``raw0`` at once (vmap).
    ``max_iter = 0`` only evaluates the starts (screening reuses the same executable: one
    compilation per fit)."""
    n_pred = sum(int(y.shape[0]) for y in logobs)
    objective = _make_objective(
        template, names, cons, feats, logobs, weights, delta, scale, prior
    )
    if method == "lm":
        vgh = _make_gauss_newton(template, names, cons, feats, logobs, weights, delta, scale,
                                 prior)

        def lm_one(x: jax.Array) -> tuple[jax.Array, ...]:
            c = lm_trips(vgh, bfgs_init(x, n_pred), jnp.asarray(bfgs_trip_limit(max_iter)),
                         max_iter, gtol, ftol, value=finite_value(objective))
            return tuple(c[k] for k in BFGS_OUTPUTS)

        return jax.vmap(lm_one)(raw0)  # type: ignore[no-any-return]
    solve_one = partial(bfgs, finite_value_and_grad(objective), n_pred=n_pred,
                        max_iter=max_iter, gtol=gtol, ftol=ftol)
    return jax.vmap(solve_one)(raw0)


# ------------------------------------------------------------------------------------------------
# public API


def _as_x64(a: Any) -> Any:
    """Feature leaf -> host array; floating leaves in float64, others keep their dtype (the
    compiled programs take host arrays as they are: no eager device operation per leaf)."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
        return np.asarray(a, np.float64)
    return a


def _features(law: Law, runs: Sequence[Run], what: str) -> list[Any]:
    out = []
    with x64_context():
        for r in runs:
            try:
                f = law.features(r)
            except Exception as e:  # the law's own message, with the run named
                raise FitError(
                    f"{what}: features of run {r.name!r} failed: {first_line(e)}"
                ) from e
            out.append(jax.tree_util.tree_map(_as_x64, f))
    return out


@jax.jit
def _both_predictions(law: Law, cat: Any, feats: list[Any]) -> tuple[jax.Array, jax.Array]:
    parts = [jnp.reshape(law.predict_features(f), (-1,)) for f in feats]
    return jnp.reshape(law.predict_features(cat), (-1,)), jnp.concatenate(parts)


def _stack(law: Law, feats: Sequence[Any], runs: Sequence[Run]) -> Any | None:
    """One features pytree for all runs: ``law.stack_features``, else row-wise concatenation.

    Row-wise: every leaf of every run has the run's observation count as its first axis (same
    tree structure for all runs), and predicting from the concatenation reproduces the per-run
    predictions at the template's parameters (checked here). Otherwise ``None`` (the objective
    then loops over runs).
    """
    stacked = law.stack_features(feats)
    if stacked is not None:
        return stacked
    flat = [jax.tree_util.tree_flatten(f) for f in feats]
    if any(td != flat[0][1] for _, td in flat):  # type: ignore[operator]
        return None
    for (leaves, _), r in zip(flat, runs, strict=True):
        if not leaves or any(np.ndim(a) < 1 or np.shape(a)[0] != r.steps.size for a in leaves):
            return None
    cat = concat_rows(feats)
    try:
        with x64_context():
            whole, parts = _both_predictions(law, cat, list(feats))
    except Exception:  # the law cannot predict from concatenated rows: loop over runs
        return None
    whole, parts = np.asarray(whole).reshape(-1), np.asarray(parts).reshape(-1)
    if whole.shape != parts.shape or not np.all(np.isfinite(parts)):
        return None
    return cat if np.allclose(whole, parts, rtol=1e-12, atol=0.0) else None


def _predict_runs(law: Law, runs: Sequence[Run]) -> list[np.ndarray]:
    with x64_context():
        return [
            np.asarray(law.predict_features(law.features(r)), dtype=np.float64).reshape(-1)
            for r in runs
        ]


def run_row(run: Run, pred: np.ndarray) -> dict[str, Any]:
    assert run.loss is not None
    if pred.shape != run.loss.shape:
        raise FitError(
            f"law predicted {pred.size} values for run {run.name!r}, which has {run.loss.size} "
            "observed steps"
        )
    row: dict[str, Any] = {"name": run.name, "n_obs": int(run.steps.size)}
    if not np.all(np.isfinite(pred)):
        i = int(np.argmax(~np.isfinite(pred)))
        raise FitError(
            f"law predicts {pred[i]} for run {run.name!r} at step {int(run.steps[i])}"
        )
    row.update(curve_metrics(run.loss, pred))
    row["final_step"] = int(run.steps[-1])
    row["final_pred"] = float(pred[-1])
    row["final_obs"] = float(run.loss[-1])
    return row


def aggregate_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    info = ("name", "n_obs", "final_step", "final_pred", "final_obs")
    keys = [k for k in rows[0] if k not in info]
    agg = mean_metrics([{k: r[k] for k in keys} for r in rows])
    agg["abs_final_error"] = float(np.mean([abs(r["final_error"]) for r in rows]))
    return agg


def evaluate(law: Law, runs: Sequence[Run] | Run) -> Evaluation:
    """Metrics of ``law`` on observed runs.

    Returns:
      ``Evaluation(per_run, aggregate)``: ``per_run`` is one dict per run with ``name, n_obs``,
      ``r2, mae, rmse, mse, pred_e, worst_e, final_error`` (signed, pred - obs at the last
      observed step), ``final_step, final_pred, final_obs``; ``aggregate`` is the unweighted mean
      over runs of each metric (MPL protocol) plus ``abs_final_error`` (mean |final_error|).
    Raises:
      FitError: a run has no loss, or the law predicts a non-finite value.
    """
    runs = check_runs(runs, "evaluate")
    preds = _predict_runs(law, runs)
    rows = [run_row(r, p) for r, p in zip(runs, preds, strict=True)]
    return Evaluation(per_run=rows, aggregate=aggregate_rows(rows))


def fit(
    law: Law,
    runs: Sequence[Run] | Run,
    *,
    delta: float = 1e-3,
    n_random: int = 16,
    n_keep: int | None = 16,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-7,
    ftol: float = 1e-10,
    weights: Any = None,
    starts: Sequence[Mapping[str, float]] = (),
    coarsen_lr: bool = False,
    coarsen_warmup: int = 0,
    prior: Mapping[str, tuple[float, float]] | str | None = "default",
    skip_warmup: bool = True,
    max_obs: int | None = MAX_OBS,
    method: str | None = None,
) -> FitResult:
    """Fit the parameters of ``law`` (shared by all runs) to observed runs.

    Args:
      law: template instance: its static options are kept; its parameter values serve as one
        extra start.
      runs: observed runs (``Run.loss`` set).
      delta: Huber threshold on log-loss residuals (P2: 1e-3).
      n_random: random starts added around the ``init_grid`` points (seeded by ``seed``).
      n_keep: optimise the ``n_keep`` starts with the lowest initial objective (screening
        through the same compiled program; default 16); ``None`` optimises every start.
      seed: seed of the random starts; equal seeds give identical results.
      max_iter: BFGS iteration cap per start.
      tol: stop when the max-abs gradient of the normalised objective is below ``tol``.
      ftol: stop when one iteration lowers the normalised objective by less than ``ftol``
        (relative).
      weights: per-run weights: one number per run (sequence or ``{name: w}``) or one array per
        run matching its observed steps.
      starts: extra starting parameter dicts.
      coarsen_lr: fit on runs whose post-warmup LR is averaged over the intervals between
        observed steps (``block_average_lr``; the LR area at every observed step is exact, the
        timing of LR changes inside an interval is not). Much faster for laws whose cost grows
        with the number of LR changes (MPL); the reported in-sample metrics then refer to the
        averaged runs.
      coarsen_warmup: with ``coarsen_lr``, also average the warmup over blocks of this many
        steps (for conventions where every warmup step is an LR change, e.g. MPL ``"repo"``).
      prior: ``"default"`` (``_priors.default_prior``: weak priors at published values on the
        exponents and annealing terms, the penalty scaled by ``_priors.prior_strength``),
        ``None`` (no prior: the plain minimum of the Huber objective, the behaviour before
        issue 12), or ``{name: (centre value, sd in the unconstrained space)}`` (also scaled by
        the prior strength).
      skip_warmup: fit only observations after ``run.warmup_steps`` plus the law's memory of
        the warmup (``_priors.fit_window``: ``1 / (1 - lam)`` steps for the annealing laws);
        False fits every observation.
      max_obs: a run with more observations than this (a per-step training-loss log) is
        binned first (``bin_observations``: log-spaced step bins, mean loss per bin, weight =
        count), so that the fit time does not grow with the number of points; None: never.
      method: ``"bfgs"`` or ``"lm"``: Levenberg-Marquardt on the same objective (iteratively
        reweighted Gauss-Newton Hessian of the Huber loss plus the prior's, Marquardt's
        damping; the Jacobian is one forward-mode pass per parameter). The same minima in
        3-10x fewer iterations on the annealing laws, the MPL and the FSL. Its damped steps
        decrease the objective less per iteration near a minimum: give it ``ftol=1e-12`` for
        BFGS's accuracy (as ``select_law`` does). Default (None): ``"lm"`` for the laws in
        ``LM_BY_DEFAULT``, else ``"bfgs"``.

    Returns:
      ``FitResult``.
    Raises:
      FitError: no runs / no observations, no feasible start, or no start reaching a finite
        objective.
    """
    t0 = time.perf_counter()
    runs = check_runs(runs, "fit")
    from cptdyn._validate import check_int

    if method is None:
        method = "lm" if getattr(law, "NAME", None) in LM_BY_DEFAULT else "bfgs"
    if method not in METHODS:
        raise FitError(f"fit: method={method!r} is not one of {', '.join(map(repr, METHODS))}")

    for name, v, need in (("delta", delta, "a positive"), ("tol", tol, "a non-negative"),
                          ("ftol", ftol, "a non-negative")):
        ok = not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.number))
        if not ok or not math.isfinite(float(v)) or float(v) < 0 or (
                name == "delta" and float(v) == 0):
            raise FitError(f"fit: {name}={v!r} must be {need} number")

    n_random = check_int("fit", "n_random", n_random, lo=0, hi=100_000)
    seed = check_int("fit", "seed", seed, lo=0, hi=2**32 - 1)
    max_iter = check_int("fit", "max_iter", max_iter, lo=0, hi=1_000_000)
    if n_keep is not None:
        n_keep = check_int("fit", "n_keep", n_keep, lo=1, hi=100_000)
    names, cons = _constraints(law)
    w = _run_weights(weights, runs)
    if skip_warmup:
        masks = [fit_window(r, law) for r in runs]
        runs = [r.replace(steps=r.steps[m], loss=np.asarray(r.loss)[m]) if not m.all() else r
                for r, m in zip(runs, masks, strict=True)]
        w = [a[m] for a, m in zip(w, masks, strict=True)]
    if max_obs is not None:
        binned = [bin_observations(r, a, int(max_obs)) for r, a in zip(runs, w, strict=True)]
        runs, w = [b[0] for b in binned], [b[1] for b in binned]
    prior = resolve_prior(prior, law, runs)
    strength = prior_strength(w, len(runs)) if prior else 1.0
    fit_runs = [block_average_lr(r, coarsen_warmup) for r in runs] if coarsen_lr else runs
    feats = _features(law, fit_runs, "fit")
    raw0 = _starts(law, fit_runs, names, cons, n_random, seed, starts)
    n_starts = raw0.shape[0]
    keep = n_starts if n_keep is None else max(1, min(int(n_keep), n_starts))
    total_w = sum(float(a.sum()) for a in w)
    scale = 1.0 / (delta * delta * total_w)
    logobs = [np.log(np.asarray(r.loss)) for r in runs]
    stacked = _stack(law, feats, fit_runs) if len(feats) > 1 else None
    centre, inv_sd = _prior_arrays(prior, names, cons)
    inv_sd = inv_sd * math.sqrt(strength)
    with x64_context():
        consts: tuple[Any, ...]
        if stacked is not None:
            consts = (
                law, [jax.tree_util.tree_map(_as_x64, stacked)],
                [jnp.asarray(np.concatenate(logobs))], [jnp.asarray(np.concatenate(w))],
            )
        else:
            consts = (law, feats, [jnp.asarray(y) for y in logobs], [jnp.asarray(a) for a in w])
        consts = (*consts, (jnp.asarray(centre), jnp.asarray(inv_sd)))
        opts = (
            jnp.asarray(delta, jnp.float64), jnp.asarray(scale, jnp.float64),
            jnp.asarray(tol, jnp.float64), jnp.asarray(ftol, jnp.float64),
        )
        statics = {"names": tuple(names), "cons": tuple(cons), "method": method}

        def solve(batch: np.ndarray, iters: int) -> list[np.ndarray]:
            try:
                out = _solve(*consts, jnp.asarray(batch), *opts, jnp.asarray(iters), **statics)
            except (TypeError, ValueError) as e:  # shape errors of the law, at trace time
                raise FitError(
                    f"fit: law {law.NAME!r} cannot be evaluated on these runs: {first_line(e)}"
                ) from e
            return [np.asarray(a) for a in out]

        n_batches = -(-n_starts // keep) if keep < n_starts else 0
        with task(f"fit {law.NAME}", total=n_batches + 1) as prog:  # progress + Ctrl-C point
            if keep < n_starts:
                # screening: the objective at every start, by batches of `keep` rows through
                # the same executable (max_iter = 0), then BFGS from the `keep` best
                f0 = np.empty(n_starts)
                for i in range(0, n_starts, keep):
                    idx = np.arange(i, i + keep) % n_starts
                    f0[i : i + keep] = solve(raw0[idx], 0)[1][: min(keep, n_starts - i)]
                    prog.advance(note=f"screening {n_starts} starts")
                order = np.argsort(np.where(np.isnan(f0), np.inf, f0), kind="stable")[:keep]
            else:
                order = np.arange(n_starts)
            x, f, g, pred, it, status = solve(raw0[order], int(max_iter))
            prog.advance(note=f"{len(order)} starts optimised")
    finite = np.isfinite(f)
    if not finite.any():
        raise FitError(
            f"fit: law {law.NAME!r}: all {keep} optimised starts give a non-finite objective "
            "(predictions <= 0 or NaN on the training runs)"
        )
    b = int(np.argmin(np.where(finite, f, np.inf)))
    raw_best = x[b]
    values = _values_from_raw(names, cons, raw_best)
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise FitError(f"fit: law {law.NAME!r}: fitted parameter {bad[0]} is not finite")
    fitted = law.with_params(**values)
    preds = np.split(pred[b], np.cumsum([r.steps.size for r in runs])[:-1])
    rows = [run_row(r, p) for r, p in zip(runs, preds, strict=True)]
    objective = float(
        sum(
            np.sum(wi * huber_np(np.log(p) - y, delta))
            for p, y, wi in zip(preds, logobs, w, strict=True)
        )
    )
    if not math.isfinite(objective):
        raise FitError(f"fit: law {law.NAME!r}: the best objective is not finite")
    at_bound = []
    for i, (k, c) in enumerate(zip(names, cons, strict=True)):
        if c.kind == "interval" and abs(raw_best[i]) > _INTERVAL_RAW_EDGE:
            at_bound.append(k)
        elif c.kind == "positive" and raw_best[i] < _POSITIVE_RAW_EDGE:
            at_bound.append(k)
    st = int(status[b])
    conv = Convergence(
        status=STATUS_NAMES[st],
        converged=st in (GTOL, FTOL, LS_FAIL),
        grad_norm=float(np.max(np.abs(g[b]))),
        iterations=int(it[b]),
        hit_max_iter=st == RUNNING,
        at_bound=tuple(at_bound),
    )
    return FitResult(
        law=fitted,
        objective=objective,
        delta=float(delta),
        metrics=aggregate_rows(rows),
        per_run=rows,
        convergence=conv,
        n_starts=int(n_starts),
        n_optimized=int(keep),
        n_finite=int(finite.sum()),
        start_objectives=tuple(float(v) / scale for v in np.sort(f)),
        time_s=time.perf_counter() - t0,
        settings={
            "delta": float(delta), "seed": int(seed), "n_random": int(n_random),
            "n_keep": n_keep, "max_iter": int(max_iter), "tol": float(tol), "ftol": float(ftol),
            "coarsen_lr": bool(coarsen_lr), "coarsen_warmup": int(coarsen_warmup),
            "prior": {k: list(v) for k, v in (prior or {}).items()},
            "prior_strength": float(strength), "skip_warmup": bool(skip_warmup),
            "max_obs": max_obs, "method": method,
        },
    )


def bin_observations(run: Run, weights: np.ndarray | None = None, max_obs: int = MAX_OBS,
                     n_bins: int = N_BINS) -> tuple[Run, np.ndarray]:
    """``(run, weights)`` with the observations averaged in log-spaced step bins when the run has
    more than ``max_obs`` of them (otherwise unchanged).

    Rule: ``n_bins`` bins with edges log-spaced between the first and the last observed step
    (the laws vary on a log-step scale: early bins are narrow, late ones wide); per non-empty
    bin the loss is the weighted mean of its observations, the step the observed step nearest
    the weighted mean step, and the weight the sum of the weights (the count for unit weights),
    so the objective keeps each region's share of the data. The last observation stays its own
    bin (the final loss is what schedule decisions are made on). Fit cost then depends on
    ``n_bins``, not on the length of the log.
    """
    w = np.ones(run.steps.size) if weights is None else np.asarray(weights, np.float64)
    n = int(run.steps.size)
    if n <= int(max_obs) or run.loss is None:
        return run, w
    steps = np.asarray(run.steps, np.int64)
    loss = np.asarray(run.loss, np.float64)
    lo, hi = max(int(steps[0]), 1), int(steps[-1])
    edges = np.unique(np.round(np.geomspace(lo, hi, int(n_bins) + 1)).astype(np.int64))
    idx = np.clip(np.searchsorted(edges, steps[:-1], side="right") - 1, 0, edges.size - 1)
    idx = np.concatenate([idx, [edges.size]])  # the last observation: its own bin
    out_s, out_l, out_w = [], [], []
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], idx])) != 0)
    ends = np.concatenate([starts[1:], [n]])
    for a, b in zip(starts, ends, strict=True):
        ww = w[a:b]
        tot = float(ww.sum())
        if tot <= 0:
            continue
        mean_step = float(np.sum(ww * steps[a:b]) / tot)
        j = a + int(np.argmin(np.abs(steps[a:b] - mean_step)))
        out_s.append(int(steps[j]))
        out_l.append(float(np.sum(ww * loss[a:b]) / tot))
        out_w.append(tot)
    meta = {**run.meta, "binned_from": n}
    binned = run.replace(steps=np.asarray(out_s, np.int64), loss=np.asarray(out_l), meta=meta)
    return binned, np.asarray(out_w)


def block_average_lr(run: Run, warmup_block: int = 0) -> Run:
    """``run`` with its LR averaged over the intervals between observed steps.

    Interval boundaries: 0, the end of the warmup, every observed step and the end of the run.
    The warmup is kept as it is (laws read their ``warmup_steps`` conventions from it) unless
    ``warmup_block > 0``: it is then averaged over blocks of that many steps. The LR area up to
    every observed step is unchanged; each interval becomes one constant LR, so laws whose cost
    grows with the number of LR changes (MPL) see one change per interval.
    """
    lr = np.array(run.lr, dtype=np.float64)
    w = int(run.warmup_steps)
    wb = int(warmup_block)
    if wb < 0:
        raise FitError(f"block_average_lr: warmup_block={warmup_block} must be >= 0")
    edges: list[Any] = [[w, lr.size], run.steps]
    if wb and w:
        edges.append(np.arange(0, w, wb))
    bounds = np.unique(np.concatenate(edges))
    if not (wb and w):
        bounds = bounds[bounds >= w]
    csum = np.concatenate([[0.0], np.cumsum(lr)])
    lo, hi = bounds[:-1], bounds[1:]
    means = (csum[hi] - csum[lo]) / (hi - lo)
    lr[bounds[0]:] = np.repeat(means, hi - lo)
    meta = {**run.meta, "lr_block_averaged": True}
    if wb and w:
        meta["warmup_block"] = wb
    return run.replace(lr=lr, meta=meta)


def _group_key(key: str | Callable[[Run], Hashable] | None) -> Callable[[Run], Hashable]:
    if key is None:
        return lambda r: r.name
    if callable(key):
        return key
    return lambda r: r.meta.get(key, r.name)


def leave_one_schedule_out(
    law: Law,
    runs: Sequence[Run],
    *,
    key: str | Callable[[Run], Hashable] | None = None,
    **fit_kwargs: Any,
) -> list[dict[str, Any]]:
    """Leave-one-group-out cross-validation.

    For every group (``key(run)``; default the run name; a string picks ``run.meta[key]``), fit on
    all other runs and predict the runs of the group.

    Returns:
      one row per held-out run: ``group, name, n_train_runs``, the metrics of ``evaluate``
      (``r2, mae, rmse, mse, pred_e, worst_e, final_error, ...``), ``train_objective``,
      ``train_r2``, ``converged`` and the fitted parameters (``param.<name>``).
      ``pandas.DataFrame(rows)`` gives the table.
    """
    runs = check_runs(runs, "leave_one_schedule_out")
    kf = _group_key(key)
    keys = [kf(r) for r in runs]
    groups = list(dict.fromkeys(keys))
    if len(groups) < 2:
        raise FitError("leave_one_schedule_out: need at least two schedule groups")
    rows: list[dict[str, Any]] = []
    for grp in groups:
        train = [r for r, k in zip(runs, keys, strict=True) if k != grp]
        test = [r for r, k in zip(runs, keys, strict=True) if k == grp]
        res = fit(law, train, **fit_kwargs)
        ev = evaluate(res.law, test)
        for row in ev.per_run:
            out: dict[str, Any] = {"group": grp, **row, "n_train_runs": len(train)}
            out["train_objective"] = res.objective
            out["train_r2"] = res.metrics["r2"]
            out["converged"] = res.convergence.converged
            out.update({f"param.{k}": v for k, v in res.params.items()})
            rows.append(out)
    return rows


def fit_short_predict_long(
    law: Law,
    runs: Sequence[Run],
    max_step: int,
    **fit_kwargs: Any,
) -> list[dict[str, Any]]:
    """Fit on every run truncated to ``max_step`` (observations ``<= max_step``), predict beyond.

    Runs with no observation up to ``max_step`` are left out of the fit but still predicted.

    Returns:
      one row per run: ``name, max_step, n_train, n_test``, the metrics of the prediction on
      the held-out steps ``> max_step`` (``r2, mae, ..., final_error``; absent when the run has
      no such step), ``train_r2`` (mean over the truncated runs), ``converged`` and
      ``param.<name>``. ``pandas.DataFrame(rows)`` gives the table.
    """
    runs = check_runs(runs, "fit_short_predict_long")
    max_step = int(max_step)
    train = [r.truncated(max_step) for r in runs]
    train = [r for r in train if r.steps.size > 0]
    if not train:
        raise FitError(f"fit_short_predict_long: no observation at or before step {max_step}")
    res = fit(law, train, **fit_kwargs)
    rows: list[dict[str, Any]] = []
    for r in runs:
        keep = r.steps > max_step
        n_train = int((~keep).sum())
        row: dict[str, Any] = {"name": r.name, "max_step": max_step, "n_train": n_train}
        row["n_test"] = int(keep.sum())
        if keep.any():
            assert r.loss is not None
            test = r.replace(steps=r.steps[keep], loss=r.loss[keep])
            ev = evaluate(res.law, [test]).per_run[0]
            row.update({k: v for k, v in ev.items() if k not in ("name", "n_obs")})
        row["train_r2"] = res.metrics["r2"]
        row["converged"] = res.convergence.converged
        row.update({f"param.{k}": v for k, v in res.params.items()})
        rows.append(row)
    return rows
