"""The optimisers every layer shares, in one place.

* :func:`bfgs`: dense BFGS with a backtracking Armijo line search for one start, written as one
  flat ``lax.while_loop`` so that ``vmap`` runs many starts without waiting for each other (law
  fits, the mixture-law fits). Status codes :data:`STATUS_NAMES`.
* :func:`adamw_early_stopped`: AdamW with the early stopping of the Multi-Power Law authors'
  fitting procedure (``fit_mpl_reference``).
* :func:`lbfgs`: unconstrained L-BFGS in NumPy around a compiled objective (the free-form
  planner: thousands of variables, one small compiled program).
* :func:`huber` / :func:`huber_np`: the robust loss of every fit; :func:`grid_starts`: starting
  points on a Cartesian grid.
"""

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "RUNNING",
    "GTOL",
    "FTOL",
    "LS_FAIL",
    "NONFINITE",
    "STATUS_NAMES",
    "LBFGSResult",
    "adamw_early_stopped",
    "bfgs",
    "dot",
    "grid_starts",
    "huber",
    "huber_np",
    "lbfgs",
]

# BFGS status codes (per start).
RUNNING, GTOL, FTOL, LS_FAIL, NONFINITE = 0, 1, 2, 3, 4
STATUS_NAMES = {
    RUNNING: "max_iter",
    GTOL: "gradient tolerance reached",
    FTOL: "objective stalled (relative decrease below ftol)",
    LS_FAIL: "no further decrease found (step below 1e-10)",
    NONFINITE: "non-finite objective at the start",
}

_C1 = 1e-4  # Armijo constant
_STORE = np.float32  # dtype of the L-BFGS correction pairs


def huber(r: jax.Array, delta: jax.Array) -> jax.Array:
    """Huber loss of residuals ``r``: quadratic within ``delta``, linear beyond (JAX)."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_np(r: np.ndarray, delta: float) -> np.ndarray:
    """:func:`huber` in NumPy (reporting objectives outside compiled code)."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def grid_starts(
    axes: Sequence[Sequence[float] | np.ndarray], n_starts: int, seed: int
) -> np.ndarray:
    """Starting points on the Cartesian product of ``axes``: all of them, or a seeded subsample
    of ``n_starts`` (in grid order) when the product is larger."""
    grid = np.array(list(itertools.product(*axes)), dtype=np.float64)
    if len(grid) <= n_starts:
        return grid
    rng = np.random.default_rng(seed)
    return grid[np.sort(rng.choice(len(grid), n_starts, replace=False))]


def bfgs(
    vg: Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]],
    x0: jax.Array, n_pred: int,
    max_iter: jax.Array, gtol: jax.Array, ftol: jax.Array, max_step: float = 2.0,
) -> tuple[jax.Array, ...]:
    """Dense BFGS (inverse Hessian) with a backtracking Armijo line search, for one start.

    ``vg(x) -> (f, grad, predictions)``. Written as one flat loop with exactly one evaluation per
    trip (the first trip evaluates the start; later trips evaluate a line-search trial and, when
    it is accepted, update the inverse Hessian and set the next direction). Under ``vmap`` the
    starts thus never wait for each other's backtracking, and the objective is traced once.
    """
    n = x0.size
    dt = x0.dtype
    eye = jnp.eye(n, dtype=dt)
    c1, max_ls, xtol = 1e-4, 30, 1e-10

    def direction(h: jax.Array, g: jax.Array) -> tuple[jax.Array, ...]:
        p = -h @ g
        gp = g @ p
        bad = ~(gp < 0) | ~jnp.all(jnp.isfinite(p))
        p = jnp.where(bad, -g, p)
        gp = jnp.where(bad, -(g @ g), gp)
        pmax = jnp.max(jnp.abs(p))
        return p, gp, jnp.minimum(1.0, max_step / jnp.maximum(pmax, 1e-300)), pmax

    def cond(c: dict[str, jax.Array]) -> jax.Array:
        running = (c["status"] == RUNNING) & (c["it"] < max_iter)
        return (c["k"] == 0) | (running & (c["k"] < (max_iter + 1) * 2 * (max_ls + 2)))

    def body(c: dict[str, jax.Array]) -> dict[str, jax.Array]:
        first = c["k"] == 0
        x, f, g, h, a, p, gp = c["x"], c["f"], c["g"], c["h"], c["a"], c["p"], c["gp"]
        xt = x + a * p
        ft, gt, pt = vg(xt)
        acc = jnp.isfinite(ft) & (first | (ft <= f + c1 * a * gp))

        # accepted: BFGS update (not after the first evaluation), next direction
        s = xt - x
        y = gt - g
        sy = s @ y
        h0 = jnp.where(c["fresh"], eye * sy / jnp.maximum(y @ y, 1e-300), h)  # N&W Eq. 6.20
        rho = 1.0 / jnp.where(sy > 0, sy, 1.0)
        v = eye - rho * jnp.outer(s, y)
        h_upd = v @ h0 @ v.T + rho * jnp.outer(s, s)
        good = ~first & (sy > 1e-12 * jnp.linalg.norm(s) * jnp.linalg.norm(y)) & jnp.all(
            jnp.isfinite(h_upd)
        )
        h_acc = jnp.where(good, h_upd, h)
        p_acc, gp_acc, a_acc, pmax_acc = direction(h_acc, gt)
        rel = jnp.where(
            first, jnp.inf, (f - ft) / jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(ft)), 1.0)
        )
        st_acc = jnp.select(
            [jnp.max(jnp.abs(gt)) <= gtol, rel <= ftol], [GTOL, FTOL], RUNNING
        )

        # rejected: shrink (safeguarded quadratic interpolation); when the step is exhausted,
        # retry once from steepest descent with a fresh H, else stop
        ntrial = c["ntrial"] + 1
        exhausted = (ntrial > max_ls) | (a * c["pmax"] <= xtol)
        denom = 2.0 * (ft - f - gp * a)
        aq = jnp.where(jnp.isfinite(ft) & (denom > 0), -gp * a * a / denom, 0.25 * a)
        a_bt = jnp.clip(aq, 0.1 * a, 0.5 * a)
        retry = exhausted & ~c["fresh"] & ~first
        p_rt, gp_rt, a_rt, pmax_rt = direction(eye, g)
        st_rej = jnp.where(first, NONFINITE, jnp.where(exhausted & ~retry, LS_FAIL, RUNNING))

        def pick(on_acc: jax.Array, on_retry: jax.Array, otherwise: jax.Array) -> jax.Array:
            return jnp.where(acc, on_acc, jnp.where(retry, on_retry, otherwise))

        return {
            "x": jnp.where(acc, xt, x),
            "f": jnp.where(acc, ft, f),
            "g": jnp.where(acc, gt, g),
            "pred": jnp.where(acc, pt, c["pred"]),
            "h": pick(h_acc, eye, h),
            "fresh": pick(c["fresh"] & ~good, jnp.asarray(True), c["fresh"]),
            "p": pick(p_acc, p_rt, p),
            "gp": pick(gp_acc, gp_rt, gp),
            "pmax": pick(pmax_acc, pmax_rt, c["pmax"]),
            "a": pick(a_acc, a_rt, a_bt),
            "ntrial": jnp.where(acc | retry, 0, ntrial),
            "status": jnp.where(acc, st_acc, st_rej),
            "it": c["it"] + (acc & ~first).astype(c["it"].dtype),
            "k": c["k"] + 1,
        }

    zero = jnp.zeros((), dt)
    c = {
        "x": x0, "f": jnp.asarray(jnp.inf, dt), "g": jnp.zeros_like(x0),
        "pred": jnp.zeros((n_pred,), dt), "h": eye, "fresh": jnp.asarray(True),
        "p": jnp.zeros_like(x0), "gp": zero, "pmax": zero, "a": zero,
        "ntrial": jnp.asarray(0), "status": jnp.asarray(RUNNING), "it": jnp.asarray(0),
        "k": jnp.asarray(0),
    }
    c = jax.lax.while_loop(cond, body, c)
    return c["x"], c["f"], c["g"], c["pred"], c["it"], c["status"]


def adamw_early_stopped(
    vg: Callable[[jax.Array], tuple[tuple[jax.Array, jax.Array], jax.Array]],
    p0: jax.Array, n_pred: int, lr: jax.Array, wd: jax.Array, grad_tol: jax.Array,
    max_steps: int, patience: int,
) -> tuple[jax.Array, ...]:
    """AdamW (PyTorch's update and defaults: betas 0.9/0.999, eps 1e-8, decoupled weight decay)
    with the early stopping of the MPL authors' procedure, as one ``lax.while_loop``.

    ``vg(p) -> ((objective, predictions), gradient)``. Stops after ``max_steps``, when the
    objective has not improved for ``patience`` steps, or when the gradient norm drops below
    ``grad_tol``. Keeps the parameters after the step that followed the lowest objective. Returns
    (stop code: 0 max_steps / 1 patience / 2 gradient, kept parameters, steps taken, lowest
    objective, predictions of the kept parameters (NaN when the last step was kept: the caller
    evaluates them), gradient norm at the last step). Trace it inside ``jax.jit`` with
    ``max_steps`` and ``patience`` static.
    """
    b1, b2, eps = 0.9, 0.999, 1e-8
    inf = jnp.asarray(jnp.inf, p0.dtype)

    def cond(c: tuple[Any, ...]) -> jax.Array:
        return (c[0] < max_steps) & (c[8] < 0)

    def body(c: tuple[Any, ...]) -> tuple[Any, ...]:
        step, p, m, v, low, stale, best, best_p, code, pending, pred_best, _ = c
        (val, pred), g = vg(p)
        # the kept parameters are those after the previous step: their predictions are these
        pred_best = jnp.where(pending, pred, pred_best)
        t = (step + 1).astype(p.dtype)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        new_p = p * (1 - lr * wd) - (lr / (1 - b1**t)) * m / (
            jnp.sqrt(v) / jnp.sqrt(1 - b2**t) + eps)
        improved = val < low
        low = jnp.where(improved, val, low)
        stale = jnp.where(improved, 0, stale + 1)
        stop_pat = (step > patience) & (stale >= patience)
        gnorm = jnp.sqrt(jnp.sum(g * g))
        stop_grad = gnorm < grad_tol
        code = jnp.where(stop_pat, 1, jnp.where(stop_grad, 2, -1))
        keep = (code < 0) & (val < best)
        best = jnp.where(keep, val, best)
        best_p = jnp.where(keep, new_p, best_p)
        return step + 1, new_p, m, v, low, stale, best, best_p, code, keep, pred_best, gnorm

    z = jnp.zeros_like(p0)
    c = (jnp.asarray(0), p0, z, z, inf, jnp.asarray(0), inf, jnp.full_like(p0, jnp.nan),
         jnp.asarray(-1), jnp.asarray(False), jnp.full((n_pred,), jnp.nan, p0.dtype), inf)
    step, _, _, _, _, _, best, best_p, code, pending, pred, gnorm = jax.lax.while_loop(
        cond, body, c)
    # pending: the last step (max_steps) improved; its predictions are computed by the caller
    pred = jnp.where(pending, jnp.nan, pred)
    return jnp.maximum(code, 0), best_p, step, best, pred, gnorm


def dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not BLAS: OpenBLAS threads level-1 calls on long vectors, which stalls on a busy
    # machine
    return float(np.einsum("i,i->", a, b))


@dataclasses.dataclass
class LBFGSResult:
    x: np.ndarray  # the best point evaluated
    value: float
    history: list[float]  # objective at the start and after each accepted step
    nfev: int
    message: str


def lbfgs(fg: Any, x0: np.ndarray, *, max_iter: int, memory: int) -> LBFGSResult:
    """Unconstrained L-BFGS: two-loop recursion, Armijo backtracking (quadratic interpolation).

    Accepted steps lower the objective, so ``history`` (the start and every accepted iterate) is
    decreasing; ``x`` is the best point evaluated (a rejected trial point can be slightly lower
    than the step finally accepted). Non-finite trial values are backtracked from.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fg(x)
    nfev = 1
    hist = [f]
    if not math.isfinite(f):
        return LBFGSResult(x, f, hist, nfev, "objective not finite at the start")
    best_x, best_f = x, f
    n = x.size
    S = np.empty((memory, n), _STORE)  # correction pairs in float32: half the memory traffic of
    Y = np.empty((memory, n), _STORE)  # the two-loop recursion; the direction needs no more
    rho = np.empty(memory)
    alpha = np.empty(memory)
    k = 0  # stored pairs
    head = 0  # next slot
    gamma = 1.0
    message = "max_iter reached"
    for _ in range(max_iter):
        q = g.astype(_STORE)
        order = [(head - 1 - i) % memory for i in range(k)]  # newest first
        for j in order:
            alpha[j] = rho[j] * dot(S[j], q)
            q -= float(alpha[j]) * Y[j]
        q *= gamma if k else 1.0 / max(float(np.max(np.abs(g))), 1e-300)
        for j in reversed(order):
            q += float(alpha[j] - rho[j] * dot(Y[j], q)) * S[j]
        d = -q.astype(np.float64)
        gd = dot(g, d)
        if not gd < 0:  # not a descent direction (round-off): restart from steepest descent
            k = 0
            d = -g / max(float(np.max(np.abs(g))), 1e-300)
            gd = dot(g, d)
            if not gd < 0:
                message = "zero gradient"
                break
        step = 1.0
        while True:
            xn = x + step * d
            fn, gn = fg(xn)
            nfev += 1
            if fn < best_f:  # False for nan
                best_x, best_f = xn, fn
            if math.isfinite(fn) and fn <= f + _C1 * step * gd:
                break
            if math.isfinite(fn):  # minimiser of the quadratic through f, gd and fn
                den = 2.0 * (fn - f - step * gd)
                new = -gd * step * step / den if den > 0 else 0.5 * step
                step = min(max(new, 0.1 * step), 0.5 * step)
            else:
                step *= 0.1
            if step < 1e-12:
                break
        if step < 1e-12:
            message = "the line search found no decrease"
            break
        s = xn - x
        y = gn - g
        sy = dot(s, y)
        yy = dot(y, y)
        if sy > 1e-10 * math.sqrt(dot(s, s) * yy):  # usable curvature pair (else skip it)
            S[head], Y[head], rho[head] = s, y, 1.0 / sy
            head = (head + 1) % memory
            k = min(k + 1, memory)
            gamma = sy / yy
        x, f, g = xn, fn, gn
        hist.append(f)
    return LBFGSResult(best_x, best_f, hist, nfev, message)


