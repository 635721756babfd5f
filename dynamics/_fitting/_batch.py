"""Many fits of one law as ONE compiled program: folds, bootstrap refits and restarts as weights.

``fit_many(law, runs, weight_sets)`` solves one ``fit`` problem per entry of ``weight_sets``
(per-observation weights on the *same* runs; a weight of 0 removes an observation, a run, or
everything after a truncation point), every problem from its own starting points. All problems
and all their starts form one batch: the features are computed once per run, the objective is
traced once, and one executable (a ``vmap`` over (problem, start) rows of the BFGS
``lax.while_loop`` of ``fit``) screens the starts (zero iterations) and then optimises the kept
ones. Shapes do not depend on which observations a problem uses, so nothing recompiles per fold,
per bootstrap sample or per law instance with the same options.

Each problem gives the same optimisation problem as ``fit`` on the corresponding runs: the same
starts (``law.init_grid`` of the problem's own runs, ``start_runs``), the same objective (zero
weights contribute exactly nothing, see ``_fit._make_objective``), the same normalisation
(``1 / (delta^2 * sum w)`` of that problem), the same screening and the same tie-breaking; only
the order of floating-point sums differs (rounding level). ``method="lm"`` runs
Levenberg-Marquardt on the same objective instead of BFGS (``fit``'s optimiser): the same minima
in far fewer iterations where the law's Jacobian is cheap (``select_law`` uses it for the
annealing law, the MPL and the FSL).

Used by ``select_law`` (all cross-validation folds plus the full fit of a law in one batch),
``bootstrap_samples`` and ``jackknife_samples``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn import _programs as programs
from cptdyn._optim import (
    FTOL,
    GTOL,
    LS_FAIL,
    RUNNING,
    STATUS_NAMES,
    bfgs_pool,
    bfgs_trips,
    huber_np,
    lm_trips,
)
from cptdyn._pytree import x64_context
from cptdyn._shard import batch_mesh, padded_size, shard_rows

from .._law import Constraint, Law
from .._run import Run
from ._fit import (
    _INTERVAL_RAW_EDGE,
    _POSITIVE_RAW_EDGE,
    METHODS,
    Convergence,
    FitError,
    FitResult,
    _as_x64,
    _constraints,
    _features,
    _make_gauss_newton,
    _make_objective,
    _prior_arrays,
    _run_weights,
    _stack,
    _starts,
    _values_from_raw,
    aggregate_rows,
    block_average_lr,
    check_runs,
    finite_value,
    finite_value_and_grad,
    first_line,
    run_row,
)

__all__ = ["fit_many", "predict_many"]

#: rows of the compiled BFGS program (the starts queue for them; ``bfgs_pool``)
_SLOTS = 8
#: loop trips per call of that program (between two looks at which starts have finished)
_PIECE = 16
#: restarts of a problem stop once two have converged to objectives this close (relative);
#: ``bfgs_pool``'s agreement stop
AGREE_RTOL = 1e-8


@partial(jax.jit, static_argnames=("names", "cons", "sizes", "method"))
def _trips_many(
    template: Law, feats: Any, logobs: Any, prior: Any, state: dict[str, jax.Array],
    w: jax.Array, scale: jax.Array, k_stop: jax.Array, delta: jax.Array, gtol: jax.Array,
    ftol: jax.Array, max_iter: jax.Array,
    *, names: tuple[str, ...], cons: tuple[Constraint, ...], sizes: tuple[int, ...],
    method: str = "bfgs",
) -> dict[str, jax.Array]:
    """BFGS trips (``bfgs_trips``; ``method="lm"``: Levenberg-Marquardt, ``lm_trips``) of every
    slot of ``state``, with that slot's weights ``w`` (concatenated over runs), normalisation
    ``scale`` and prior ``(centre, 1/sd)`` rows, up to its ``k_stop``. ``max_iter = 0`` only
    evaluates the starts (screening)."""
    cuts = np.cumsum(sizes)[:-1].tolist()

    def one(c: dict[str, jax.Array], wi: jax.Array, si: jax.Array, ki: jax.Array,
            pc: jax.Array, pi: jax.Array) -> dict[str, jax.Array]:
        parts = [wi] if len(sizes) == 1 else jnp.split(wi, cuts)
        pri = (pc, pi)
        objective = _make_objective(template, names, cons, feats, logobs, parts, delta, si, pri)
        if method == "lm":
            vgh = _make_gauss_newton(template, names, cons, feats, logobs, parts, delta, si, pri)
            return lm_trips(vgh, c, ki, max_iter, gtol, ftol, value=finite_value(objective))
        return bfgs_trips(finite_value_and_grad(objective), c, ki, max_iter, gtol, ftol)

    return jax.vmap(one)(state, w, scale, k_stop, prior[0], prior[1])


def fit_many(
    law: Law,
    runs: Sequence[Run],
    weight_sets: Sequence[Any],
    *,
    start_runs: Sequence[Sequence[Run] | None] | None = None,
    extra_starts: Sequence[Sequence[Mapping[str, float]]] | None = None,
    delta: float = 1e-3,
    n_random: int = 16,
    n_keep: int | None = 16,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-7,
    ftol: float = 1e-10,
    coarsen_lr: bool = False,
    coarsen_warmup: int = 0,
    prior: Mapping[str, tuple[float, float]] | None = None,
    predictions: list[list[np.ndarray] | None] | None = None,
    agree_rtol: float | None = AGREE_RTOL,
    method: str = "bfgs",
    every_start: Sequence[bool] | None = None,
    problem_priors: Sequence[Mapping[str, tuple[float, float]] | None] | None = None,
) -> list[FitResult | FitError]:
    """``fit(law, runs, weights=ws, ...)`` for every ``ws`` in ``weight_sets``, in one batch.

    Args:
      law, runs, delta, n_random, n_keep, seed, max_iter, tol, ftol, coarsen_lr,
        coarsen_warmup, prior: as ``fit``.
      weight_sets: one ``weights`` argument of ``fit`` per problem (None = all ones).
      start_runs: per problem, the runs whose ``init_grid`` gives its starts (as ``fit`` on
        those runs would; e.g. the truncated runs of a fit-short fold); None or a None entry:
        the runs with a positive weight in that problem.
      extra_starts: per problem, extra starting parameter dicts (``fit``'s ``starts``).
      predictions: a list that receives, per problem, the fitted law's predictions at every
        observed step of every run (one array per run; zero-weight observations included, on
        the runs as fitted, i.e. block-averaged with ``coarsen_lr``), or None where the fit
        failed: held-out predictions without a second compiled program.
      agree_rtol: a problem's remaining restarts stop once two of them have converged to
        objectives within this relative tolerance, with none lower (``bfgs_pool``'s agreement
        stop; skipped starts have status ``SKIPPED``); None runs every kept start to its end,
        as ``fit`` does.
      every_start: per problem, True: all its kept starts run to their end whatever
        ``agree_rtol`` (as ``fit`` does; ``select_law`` asks it for the fit on all runs, the
        one it returns: two starts can agree on a point that a third start beats).
      problem_priors: per problem, a prior in ``prior``'s form used instead of ``prior`` (None
        entries: ``prior``); e.g. the randomised prior centres of ``interval_samples``.
      method: ``"bfgs"`` (``fit``'s optimiser) or ``"lm"``: Levenberg-Marquardt
        (``cptdyn._optim.lm_trips``) on the same objective, with the iteratively reweighted
        Gauss-Newton Hessian of the Huber loss plus the prior's (``_fit._make_gauss_newton``)
        and Marquardt's damping. One Jacobian per trip from a forward-mode pass: far fewer
        iterations than BFGS where that pass is cheap (smooth laws with few parameters). Its
        per-step relative decrease is smaller than BFGS's near a minimum (damped steps), so
        give it a tighter ``ftol`` for the same accuracy (``select_law`` uses 1e-12).

    Returns:
      one ``FitResult`` per problem, or the ``FitError`` that ``fit`` would have raised. A
      result's ``per_run`` rows cover the runs with a positive weight, on the observations with
      a positive weight. ``time_s`` is the wall time of the whole batch.
    """
    t0 = time.perf_counter()
    runs = check_runs(runs, "fit_many")
    if not (delta > 0 and math.isfinite(delta)):
        raise FitError(f"fit: delta={delta} must be a positive number")
    if int(max_iter) < 0:
        raise FitError(f"fit: max_iter={max_iter} must be >= 0")
    if method not in METHODS:
        raise FitError(f"fit_many: method={method!r} is not one of "
                       f"{', '.join(map(repr, METHODS))}")
    n_prob = len(weight_sets)
    if every_start is not None and len(every_start) != n_prob:
        raise FitError(f"fit_many: {len(every_start)} every_start flags for {n_prob} problems")
    if n_prob == 0:
        return []
    if start_runs is not None and len(start_runs) != n_prob:
        raise FitError(f"fit_many: {len(start_runs)} start_runs for {n_prob} problems")
    if extra_starts is not None and len(extra_starts) != n_prob:
        raise FitError(f"fit_many: {len(extra_starts)} extra_starts for {n_prob} problems")
    if problem_priors is not None and len(problem_priors) != n_prob:
        raise FitError(f"fit_many: {len(problem_priors)} problem_priors for {n_prob} problems")
    names, cons = _constraints(law)
    fit_runs = [block_average_lr(r, coarsen_warmup) for r in runs] if coarsen_lr else runs
    feats = _features(law, fit_runs, "fit")
    stacked = _stack(law, feats, fit_runs) if len(feats) > 1 else None
    sizes = tuple(int(r.steps.size) for r in runs)
    logobs = [np.log(np.asarray(r.loss)) for r in runs]
    centre, inv_sd = _prior_arrays(prior, names, cons)

    out: list[FitResult | FitError | None] = [None] * n_prob
    probs: list[dict[str, Any]] = []
    for p, ws in enumerate(weight_sets):
        try:
            w = _run_weights(ws, runs)
            sr = None if start_runs is None else start_runs[p]
            if sr is None:
                sr = [r for r, a in zip(runs, w, strict=True) if float(a.sum()) > 0]
            sr = list(sr)
            if coarsen_lr:
                sr = [block_average_lr(r, coarsen_warmup) for r in sr]
            extra = () if extra_starts is None else extra_starts[p]
            raw0 = _starts(law, sr, names, cons, n_random, seed, extra)
            own = None if problem_priors is None else problem_priors[p]
            pc, pi = (centre, inv_sd) if own is None else _prior_arrays(own, names, cons)
        except FitError as e:
            out[p] = e
            continue
        n_starts = raw0.shape[0]
        keep = n_starts if n_keep is None else max(1, min(int(n_keep), n_starts))
        wcat = np.concatenate(w)
        probs.append({"p": p, "w": w, "wcat": wcat, "raw0": raw0, "keep": keep,
                      "centre": pc, "inv_sd": pi, "prior": prior if own is None else own,
                      "scale": 1.0 / (delta * delta * float(wcat.sum())),
                      "every": bool(every_start[p]) if every_start is not None else False})
    # identical problems (same weights and starts, e.g. a leave-one-run-out fold that is also
    # a constant-vs-annealed fold) are solved once and share the result
    first: dict[tuple[bytes, bytes, bytes, int, bool], dict[str, Any]] = {}
    same: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for pr in probs:
        key = (pr["wcat"].tobytes(), pr["raw0"].tobytes(),
               np.concatenate([pr["centre"], pr["inv_sd"]]).tobytes(), int(pr["keep"]),
               pr["every"])
        if key in first:
            same.append((pr, first[key]))
        else:
            first[key] = pr
    if first:
        _run_batch(law, runs, list(first.values()), feats, stacked, logobs, sizes, names, cons,
                   delta, tol, ftol, max_iter, agree_rtol, method)
    for pr, src in same:
        pr.update({k: src[k] for k in ("x", "f", "g", "pred", "it", "status")})
    if predictions is not None:
        predictions[:] = [None] * n_prob
        cuts = np.cumsum(sizes)[:-1]
        for pr in probs:
            fin = np.isfinite(pr["f"])
            if fin.any():
                b = int(np.argmin(np.where(fin, pr["f"], np.inf)))
                predictions[pr["p"]] = np.split(np.asarray(pr["pred"][b], np.float64), cuts)
    for pr in probs:
        try:
            out[pr["p"]] = _result(law, runs, pr, logobs, names, cons, delta, n_random, n_keep,
                                   seed, max_iter, tol, ftol, coarsen_lr, coarsen_warmup,
                                   pr["prior"], method)
        except FitError as e:
            out[pr["p"]] = e
    dt = time.perf_counter() - t0
    res: list[FitResult | FitError] = []
    for o in out:
        assert o is not None
        res.append(dataclasses.replace(o, time_s=dt) if isinstance(o, FitResult) else o)
    return res


def _run_batch(
    law: Law, runs: Sequence[Run], probs: list[dict[str, Any]], feats: list[Any],
    stacked: Any, logobs: list[np.ndarray], sizes: tuple[int, ...], names: list[str],
    cons: list[Constraint], delta: float, tol: float,
    ftol: float, max_iter: int, agree_rtol: float | None = None, method: str = "bfgs",
) -> None:
    """Screening and BFGS of every problem through one executable (each problem with its own
    weights and prior, ``centre`` / ``inv_sd``); stores ``x, f, g, pred, it, status`` (rows of
    the problem's kept starts) and ``n_starts`` in each problem dict."""
    n_par = len(names)
    n_pred = int(sum(sizes))
    with x64_context():
        if stacked is not None:
            fe = [jax.tree_util.tree_map(_as_x64, stacked)]
            lo = [jnp.asarray(np.concatenate(logobs))]
            sz: tuple[int, ...] = (int(sum(sizes)),)
        else:
            fe, lo, sz = feats, [jnp.asarray(y) for y in logobs], sizes
        consts = (law, fe, lo)
        opts = (jnp.asarray(delta, jnp.float64), jnp.asarray(tol, jnp.float64),
                jnp.asarray(ftol, jnp.float64))
        statics = {"names": tuple(names), "cons": tuple(cons), "sizes": sz, "method": method}
        mesh = batch_mesh()
        # one compiled program of `slots` rows for screening and BFGS: the starts queue for
        # the slots (bfgs_pool), so none waits for the slowest; slots split over the devices
        total = sum(pr["keep"] for pr in probs)
        slots = padded_size(min(total, _SLOTS), mesh)

        # one device: host arrays go to the compiled program as they are (its own transfer is
        # cheaper than an eager jnp.asarray per array and call)
        place = (lambda a: a) if mesh.size == 1 else (lambda a: shard_rows(a, mesh))

        prog: list[Any] = []

        def solve(x: np.ndarray, w: np.ndarray, s: np.ndarray, pc: np.ndarray, pi: np.ndarray,
                  iters: int, groups: np.ndarray | None = None) -> list[np.ndarray]:
            n_it = np.asarray(iters)

            def trips(state: dict[str, np.ndarray], rows: np.ndarray,
                      k_stop: np.ndarray) -> dict[str, Any]:
                args = (*consts, (place(pc[rows]), place(pi[rows])),
                        {k: place(v) for k, v in state.items()}, place(w[rows]),
                        place(s[rows]), place(k_stop), *opts, n_it)
                try:
                    if not prog:  # screening and the optimiser: one program, looked up once
                        prog.append(programs.program(_trips_many, *args, **statics))
                    return prog[0](*args)  # type: ignore[no-any-return]
                except (TypeError, ValueError) as e:  # shape errors of the law, at trace time
                    raise FitError(f"fit: law {law.NAME!r} cannot be evaluated on these runs: "
                                   f"{first_line(e)}") from e

            return list(bfgs_pool(trips, x, n_pred, iters, slots=slots,
                                  piece=1 if iters == 0 else _PIECE, groups=groups,
                                  agree_rtol=None if groups is None else agree_rtol))

        # screening: the objective at every start of every problem that keeps fewer than it has
        scr = [(k, i) for k, pr in enumerate(probs) if pr["keep"] < pr["raw0"].shape[0]
               for i in range(pr["raw0"].shape[0])]
        f0: dict[tuple[int, int], float] = {}
        if scr:
            fv = solve(np.stack([probs[k]["raw0"][i] for k, i in scr]),
                       np.stack([probs[k]["wcat"] for k, _ in scr]),
                       np.array([probs[k]["scale"] for k, _ in scr]),
                       np.stack([probs[k]["centre"] for k, _ in scr]),
                       np.stack([probs[k]["inv_sd"] for k, _ in scr]), 0)[1]
            f0 = {ki: float(v) for ki, v in zip(scr, fv, strict=True)}
        xs, ws, ss, pcs, pis = [], [], [], [], []
        for k, pr in enumerate(probs):
            n = pr["raw0"].shape[0]
            if pr["keep"] < n:
                fk = np.array([f0[(k, i)] for i in range(n)])
                order = np.argsort(np.where(np.isnan(fk), np.inf, fk), kind="stable")[: pr["keep"]]
            else:
                order = np.arange(n)
            xs.append(pr["raw0"][order])
            ws.append(np.broadcast_to(pr["wcat"], (order.size, pr["wcat"].size)))
            ss.append(np.full(order.size, pr["scale"]))
            pcs.append(np.broadcast_to(pr["centre"], (order.size, n_par)))
            pis.append(np.broadcast_to(pr["inv_sd"], (order.size, n_par)))
        groups = np.concatenate([np.full(len(xk), -1 - k if probs[k]["every"] else k)
                                 for k, xk in enumerate(xs)])
        x, f, g, pred, it, status = solve(np.concatenate(xs).reshape(-1, n_par),
                                          np.concatenate(ws), np.concatenate(ss),
                                          np.concatenate(pcs), np.concatenate(pis),
                                          int(max_iter), groups)
    o = 0
    for pr in probs:
        k = pr["keep"]
        pr.update(x=x[o:o + k], f=f[o:o + k], g=g[o:o + k], pred=pred[o:o + k],
                  it=it[o:o + k], status=status[o:o + k])
        o += k


def _result(
    law: Law, runs: Sequence[Run], pr: dict[str, Any], logobs: list[np.ndarray],
    names: list[str], cons: list[Constraint], delta: float, n_random: int, n_keep: int | None,
    seed: int, max_iter: int, tol: float, ftol: float, coarsen_lr: bool, coarsen_warmup: int,
    prior: Mapping[str, tuple[float, float]] | None, method: str = "bfgs",
) -> FitResult:
    """The ``FitResult`` of one problem (as ``fit`` builds it)."""
    f, x, keep = pr["f"], pr["x"], pr["keep"]
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
    preds = np.split(pr["pred"][b], np.cumsum([r.steps.size for r in runs])[:-1])
    rows = []
    objective = 0.0
    for r, p, y, wi in zip(runs, preds, logobs, pr["w"], strict=True):
        on = wi > 0
        if not on.any():
            continue
        assert r.loss is not None
        sub = r if on.all() else r.replace(steps=r.steps[on], loss=r.loss[on])
        rows.append(run_row(sub, p[on]))
        objective += float(np.sum(wi[on] * huber_np(np.log(p[on]) - y[on], delta)))
    if not math.isfinite(objective):
        raise FitError(f"fit: law {law.NAME!r}: the best objective is not finite")
    at_bound = []
    for i, (k, c) in enumerate(zip(names, cons, strict=True)):
        if c.kind == "interval" and abs(raw_best[i]) > _INTERVAL_RAW_EDGE:
            at_bound.append(k)
        elif c.kind == "positive" and raw_best[i] < _POSITIVE_RAW_EDGE:
            at_bound.append(k)
    st = int(pr["status"][b])
    conv = Convergence(
        status=STATUS_NAMES[st],
        converged=st in (GTOL, FTOL, LS_FAIL),
        grad_norm=float(np.max(np.abs(pr["g"][b]))),
        iterations=int(pr["it"][b]),
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
        n_starts=int(pr["raw0"].shape[0]),
        n_optimized=int(keep),
        n_finite=int(finite.sum()),
        start_objectives=tuple(float(v) / pr["scale"] for v in np.sort(f)),
        time_s=0.0,
        settings={
            "delta": float(delta), "seed": int(seed), "n_random": int(n_random),
            "n_keep": n_keep, "max_iter": int(max_iter), "tol": float(tol), "ftol": float(ftol),
            "coarsen_lr": bool(coarsen_lr), "coarsen_warmup": int(coarsen_warmup),
            "prior": {k: list(v) for k, v in (prior or {}).items()}, "method": method,
        },
    )


@jax.jit
def _predict_stack(laws: Law, feats: list[Any]) -> jax.Array:
    def one(law: Law) -> jax.Array:
        return jnp.concatenate([jnp.reshape(law.predict_features(f), (-1,)) for f in feats])

    return jax.vmap(one)(laws)


def predict_many(laws: Sequence[Law], runs: Sequence[Run]) -> list[list[np.ndarray]]:
    """Predictions of several parameter sets of one law (same class and static options) at the
    observed steps of ``runs``: ``out[i][j]`` = ``laws[i]`` on ``runs[j]`` (float64), from the
    features of each run computed once and one compiled, vmapped evaluation."""
    if not laws:
        return []
    runs = list(runs)
    feats = _features(laws[0], runs, "predict")
    stacked = _stack(laws[0], feats, runs) if len(feats) > 1 else None
    with x64_context():
        fe = [jax.tree_util.tree_map(_as_x64, stacked)] if stacked is not None else feats
        batch = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float64)
                                                              for x in xs]), *laws)
        out = np.asarray(programs.call(_predict_stack, batch, fe), np.float64)
    cuts = np.cumsum([r.steps.size for r in runs])[:-1]
    return [np.split(row, cuts) for row in out]
