"""The optimisers every layer shares, in one place.

* :func:`bfgs`: dense BFGS with a backtracking Armijo line search for one start, written as one
  flat ``lax.while_loop`` so that ``vmap`` runs many starts without waiting for each other (law
  fits, the mixture-law fits). Status codes :data:`STATUS_NAMES`.
* :func:`lm_trips`: Levenberg-Marquardt on the same state, statuses and trip protocol as
  :func:`bfgs_trips` (a Gauss-Newton Hessian instead of BFGS's estimate; :func:`spd_solve`, an
  unrolled Cholesky, solves its step), so :func:`bfgs_pool` runs either.
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

from ._progress import checkpoint

__all__ = [
    "RUNNING",
    "CONVERGED",
    "GTOL",
    "FTOL",
    "LS_FAIL",
    "NONFINITE",
    "SKIPPED",
    "STATUS_NAMES",
    "LBFGSResult",
    "adamw_early_stopped",
    "BFGS_OUTPUTS",
    "bfgs",
    "bfgs_init",
    "bfgs_pool",
    "bfgs_running",
    "bfgs_trip_limit",
    "bfgs_trips",
    "lm_trips",
    "spd_solve",
    "dot",
    "grid_starts",
    "huber",
    "huber_np",
    "lbfgs",
]

# BFGS status codes (per start).
RUNNING, GTOL, FTOL, LS_FAIL, NONFINITE, SKIPPED = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {
    RUNNING: "max_iter",
    GTOL: "gradient tolerance reached",
    FTOL: "objective stalled (relative decrease below ftol)",
    LS_FAIL: "no further decrease found (step below 1e-10)",
    NONFINITE: "non-finite objective at the start",
    SKIPPED: "stopped: two other starts of the problem agreed on a lower minimum",
}
#: statuses of a start that stopped at a minimum (``bfgs_pool``'s agreement test uses them)
CONVERGED = (GTOL, FTOL, LS_FAIL)

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


_MAX_LS = 30  # line-search trials before the steepest-descent retry


def bfgs_trip_limit(max_iter: jax.Array | int) -> jax.Array | int:
    """Loop trips :func:`bfgs` allows for ``max_iter`` iterations (every iteration may backtrack
    ``_MAX_LS`` times and retry once)."""
    return (max_iter + 1) * 2 * (_MAX_LS + 2)


def bfgs_init(x0: jax.Array, n_pred: int) -> dict[str, jax.Array]:
    """The state of :func:`bfgs` before its first trip, for one start (see :func:`bfgs_trips`)."""
    dt = x0.dtype
    zero = jnp.zeros((), dt)
    return {
        "x": x0, "f": jnp.asarray(jnp.inf, dt), "g": jnp.zeros_like(x0),
        "pred": jnp.zeros((n_pred,), dt), "h": jnp.eye(x0.size, dtype=dt),
        "fresh": jnp.asarray(True), "p": jnp.zeros_like(x0), "gp": zero, "pmax": zero,
        "a": zero, "ntrial": jnp.asarray(0), "status": jnp.asarray(RUNNING),
        "it": jnp.asarray(0), "k": jnp.asarray(0),
    }


def _init_np(x0: np.ndarray, n_pred: int) -> dict[str, np.ndarray]:
    """:func:`bfgs_init` as host arrays (the dtypes from its abstract evaluation; no eager device
    operations, which cost more than the pool's compiled calls on small problems)."""
    shapes = jax.eval_shape(lambda x: bfgs_init(x, n_pred),
                            jax.ShapeDtypeStruct(x0.shape, x0.dtype))
    fill: dict[str, Any] = {"x": x0, "f": np.inf, "h": np.eye(x0.size), "fresh": True,
                            "status": RUNNING}
    return {k: np.array(np.broadcast_to(np.asarray(fill.get(k, 0)), v.shape), dtype=v.dtype)
            for k, v in shapes.items()}


def bfgs_running(c: dict[str, Any], max_iter: Any) -> Any:
    """Whether a :func:`bfgs` state still has trips to make (NumPy or JAX arrays)."""
    running = (c["status"] == RUNNING) & (c["it"] < max_iter) & (
        c["k"] < bfgs_trip_limit(max_iter))
    return (c["k"] == 0) | running


def bfgs_trips(
    vg: Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array]],
    c: dict[str, jax.Array], k_stop: jax.Array,
    max_iter: jax.Array, gtol: jax.Array, ftol: jax.Array, max_step: float = 2.0,
) -> dict[str, jax.Array]:
    """Continue a :func:`bfgs` state (:func:`bfgs_init`) until it stops or its trip counter
    ``k`` reaches ``k_stop``. The trips are those of an uninterrupted run, so a run cut into
    pieces ends in the same state: a pool of starts (:func:`bfgs_pool`) can stop between pieces,
    put a finished start's slot to other work, and carry on."""
    n = c["x"].size
    dt = c["x"].dtype
    eye = jnp.eye(n, dtype=dt)
    c1, max_ls, xtol = _C1, _MAX_LS, 1e-10

    def direction(h: jax.Array, g: jax.Array) -> tuple[jax.Array, ...]:
        p = -h @ g
        gp = g @ p
        bad = ~(gp < 0) | ~jnp.all(jnp.isfinite(p))
        p = jnp.where(bad, -g, p)
        gp = jnp.where(bad, -(g @ g), gp)
        pmax = jnp.max(jnp.abs(p))
        return p, gp, jnp.minimum(1.0, max_step / jnp.maximum(pmax, 1e-300)), pmax

    def cond(c: dict[str, jax.Array]) -> jax.Array:
        return bfgs_running(c, max_iter) & (c["k"] < k_stop)

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

    return jax.lax.while_loop(cond, body, c)


def spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a^-1 b`` for a small symmetric positive-definite ``a`` (Cholesky, unrolled at trace
    time: no LAPACK call, so the programs that use it need no run-time set-up). Pivots are
    floored at a tiny positive value; a singular ``a`` gives large but finite entries."""
    n = a.shape[0]
    tiny = jnp.asarray(1e-300 if a.dtype == jnp.float64 else 1e-30, a.dtype)
    low: list[list[Any]] = [[None] * n for _ in range(n)]
    for j in range(n):
        d = jnp.sqrt(jnp.maximum(a[j, j] - sum((low[j][k] ** 2 for k in range(j)), 0.0), tiny))
        low[j][j] = d
        for i in range(j + 1, n):
            low[i][j] = (a[i, j] - sum((low[i][k] * low[j][k] for k in range(j)), 0.0)) / d
    y: list[Any] = []
    for i in range(n):
        y.append((b[i] - sum((low[i][k] * y[k] for k in range(i)), 0.0)) / low[i][i])
    x: list[Any] = [None] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum((low[k][i] * x[k] for k in range(i + 1, n)), 0.0)) / low[i][i]
    return jnp.stack(x)


def lm_trips(
    vgh: Callable[[jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array]],
    c: dict[str, jax.Array], k_stop: jax.Array,
    max_iter: jax.Array, gtol: jax.Array, ftol: jax.Array, max_step: float = 2.0,
    value: Callable[[jax.Array], tuple[jax.Array, jax.Array]] | None = None,
) -> dict[str, jax.Array]:
    """Levenberg-Marquardt trips on the state of :func:`bfgs_init` (same keys, statuses and
    trip protocol as :func:`bfgs_trips`, so :func:`bfgs_pool` runs it unchanged).

    ``vgh(x) -> (f, grad, H, predictions)`` with ``H`` a positive semi-definite model of the
    Hessian (Gauss-Newton; for a Huber loss the iteratively-reweighted one, which majorises it).
    One evaluation per trip: the first evaluates the start; each later one a trial
    ``x + p``, with ``p`` solving ``(H + mu diag(H)) p = -grad``. A trial is accepted when the
    objective falls (gain ratio > 1e-4 of the model's decrease); ``mu`` then shrinks (Nielsen's
    rule), else it grows and a new ``p`` is solved from the stored ``H`` without an evaluation
    being wasted on the same point. State use: ``h`` = H at ``x``, ``a`` = mu, ``gp`` = nu
    (Nielsen's growth factor), ``p`` = the step being tried, ``pmax`` = the model decrease.
    ``value(x) -> (f, predictions)``: with ``max_iter == 0`` (screening: only the objective at
    the starts) the evaluation uses it instead of ``vgh`` (no Jacobian; ``max_iter`` must then
    be the same for every start, as it is under ``vmap`` when not mapped)."""
    xtol = 1e-10

    def step(h: jax.Array, g: jax.Array, mu: jax.Array) -> tuple[jax.Array, jax.Array]:
        d = jnp.maximum(jnp.diag(h), 1e-12 * jnp.maximum(jnp.max(jnp.diag(h)), 1e-300))
        a = h + mu * jnp.diag(d)
        p = spd_solve(a, -g)
        bad = ~jnp.all(jnp.isfinite(p))
        p = jnp.where(bad, -g / jnp.maximum(mu * d, 1e-300), p)
        pmax = jnp.max(jnp.abs(p))
        p = p * jnp.minimum(1.0, max_step / jnp.maximum(pmax, 1e-300))
        dec = -(g @ p + 0.5 * p @ (h @ p))  # the model's predicted decrease
        return p, dec

    def cond(c: dict[str, jax.Array]) -> jax.Array:
        return bfgs_running(c, max_iter) & (c["k"] < k_stop)

    def body(c: dict[str, jax.Array]) -> dict[str, jax.Array]:
        first = c["k"] == 0
        x, f, g, h, p = c["x"], c["f"], c["g"], c["h"], c["p"]
        xt = jnp.where(first, x, x + p)
        if value is None:
            ft, gt, ht, pt = vgh(xt)
        else:
            def value_only(z: jax.Array) -> tuple[jax.Array, ...]:
                fz, pz = value(z)
                return fz, jnp.zeros_like(g), jnp.zeros_like(h), pz

            ft, gt, ht, pt = jax.lax.cond(max_iter == 0, value_only, vgh, xt)
        dec = c["pmax"]
        rho = (f - ft) / jnp.maximum(dec, 1e-300)
        acc = jnp.isfinite(ft) & (first | ((ft < f) & (rho > 1e-4)))
        # mu multiplies diag(H) (Marquardt's scaling: invariant to each parameter's scale)
        mu_acc = jnp.where(first, 1e-3,
                           c["a"] * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3))
        p_acc, dec_acc = step(ht, gt, mu_acc)
        rel = jnp.where(
            first, jnp.inf, (f - ft) / jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(ft)), 1.0)
        )
        st_acc = jnp.select([jnp.max(jnp.abs(gt)) <= gtol, rel <= ftol], [GTOL, FTOL], RUNNING)
        # rejected: more damping, a new step from the stored H and gradient
        mu_rej = c["a"] * c["gp"]
        p_rej, dec_rej = step(h, g, mu_rej)
        tiny = (jnp.max(jnp.abs(p_rej)) <= xtol * (1.0 + jnp.max(jnp.abs(x)))) | (
            mu_rej > 1e20) | (c["ntrial"] + 1 > 60)
        st_rej = jnp.where(first, NONFINITE, jnp.where(tiny, LS_FAIL, RUNNING))
        return {
            "x": jnp.where(acc, xt, x),
            "f": jnp.where(acc, ft, f),
            "g": jnp.where(acc, gt, g),
            "pred": jnp.where(acc, pt, c["pred"]),
            "h": jnp.where(acc, ht, h),
            "fresh": c["fresh"],
            "p": jnp.where(acc, p_acc, p_rej),
            "gp": jnp.where(acc, 2.0, 2.0 * c["gp"]),
            "pmax": jnp.where(acc, dec_acc, dec_rej),
            "a": jnp.where(acc, mu_acc, mu_rej),
            "ntrial": jnp.where(acc, 0, c["ntrial"] + 1),
            "status": jnp.where(acc, st_acc, st_rej),
            "it": c["it"] + (acc & ~first).astype(c["it"].dtype),
            "k": c["k"] + 1,
        }

    return jax.lax.while_loop(cond, body, c)


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
    Returns ``x, f, g, pred, it, status``. :func:`bfgs_pool` runs many starts in a fixed number
    of slots instead, so that no start waits for the slowest one.
    """
    c = bfgs_init(x0, n_pred)
    c = bfgs_trips(vg, c, jnp.asarray(bfgs_trip_limit(max_iter)), max_iter, gtol, ftol, max_step)
    return c["x"], c["f"], c["g"], c["pred"], c["it"], c["status"]


#: the outputs of a BFGS run, in the order :func:`bfgs` returns them
BFGS_OUTPUTS = ("x", "f", "g", "pred", "it", "status")


def bfgs_pool(
    trips: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, Any]],
    x0: np.ndarray, n_pred: int, max_iter: int, *, slots: int, piece: int = 16,
    groups: np.ndarray | None = None, agree_rtol: float | None = None,
) -> tuple[np.ndarray, ...]:
    """BFGS from every row of ``x0``, through a fixed number of ``slots`` (one compiled program).

    A vmapped loop over all starts runs until the slowest one stops: with 100 starts that need
    40-100 iterations and one that needs 440, every start pays for 440. Here the starts wait in
    a queue; ``slots`` of them run ``piece`` loop trips at a time, and after each piece every
    finished start leaves its slot to the next in the queue. The results are those of
    :func:`bfgs` on each row (the trips are the same, only cut into pieces).

    Agreement stop (``groups`` and ``agree_rtol`` given): the rows of one group are restarts of
    one problem. Once two of its rows have converged (:data:`CONVERGED`) to objectives within
    ``agree_rtol`` of each other (relative; absolute below 1), and no finished row of the group
    is lower, that minimum has been found twice: the group's rows still waiting in the queue
    are not started and its running rows whose objective is already above that minimum are
    stopped (status :data:`SKIPPED`; queued rows keep their start and ``f = inf``). A running
    row that is already below it carries on. Restarts exist to find the lowest minimum; the
    rows skipped are the slow ones (a start on a long, flat path), where the pool spent its
    tail. With the stop on, the queue takes the groups round-robin (each group's first row,
    then each group's second, ...), so that a group's later restarts are still waiting when
    its first ones agree.

    Args:
      trips: ``(state, rows, k_stop) -> state``: :func:`bfgs_trips` vmapped over ``slots`` rows
        of ``state`` (a dict of arrays with a leading slot axis), ``rows`` the index of the
        start each slot holds (for per-start data such as fold weights), ``k_stop`` per slot.
      x0: ``(n_starts, n_par)`` starting points.
      n_pred, max_iter: as :func:`bfgs`.
      slots: rows per call (the batch of the compiled program).
      piece: loop trips per call.
      groups: ``(n_starts,)`` problem index of every row (agreement stop only); a negative
        index: a problem whose rows all run to their end (never stopped by an agreement).
      agree_rtol: relative tolerance of the agreement stop; None = run every row to its end.

    Returns:
      ``x, f, g, pred, it, status`` with one row per start, as :func:`bfgs` gives them.
    """
    x0 = np.asarray(x0)
    n_rows = x0.shape[0]
    proto = _init_np(x0[0], n_pred)
    out = {k: np.empty((n_rows, *v.shape), v.dtype) for k, v in proto.items() if k in BFGS_OUTPUTS}
    if n_rows == 0:
        return tuple(out[k] for k in BFGS_OUTPUTS)
    stop = groups is not None and agree_rtol is not None
    rtol = 0.0 if agree_rtol is None else float(agree_rtol)
    grp = np.zeros(n_rows, np.int64) if groups is None else np.asarray(groups, np.int64)
    done: dict[int, list[tuple[float, bool]]] = {}  # group -> (f, converged) of finished rows
    agreed: dict[int, float] = {}  # group -> the minimum two of its rows agreed on

    def fresh(r: int) -> dict[str, np.ndarray]:
        return {**proto, "x": x0[r]}

    def finish(r: int, row: dict[str, np.ndarray]) -> None:
        for k in out:
            out[k][r] = row[k]
        if not stop:
            return
        g = int(grp[r])
        if g < 0:  # a problem exempt from the agreement stop
            return
        fins = done.setdefault(g, [])
        fins.append((float(row["f"]), int(row["status"]) in CONVERGED))
        lowest = min(f for f, _ in fins)
        conv = sorted(f for f, c in fins if c and math.isfinite(f))
        for a, b in itertools.pairwise(conv):
            if a <= lowest and b - a <= rtol * max(abs(a), abs(b), 1.0):
                agreed[g] = a
                break

    def skip(r: int, row: dict[str, np.ndarray]) -> None:
        for k in out:
            out[k][r] = row[k]
        out["status"][r] = SKIPPED

    if stop:
        # round-robin over the groups (every group's first row, then every group's second, ...):
        # a group's later restarts wait in the queue while its first ones run, so an agreement
        # skips them instead of stopping them half-way
        rank = np.zeros(n_rows, np.int64)
        for g in np.unique(grp):
            rank[grp == g] = np.arange(int(np.sum(grp == g)))
        order = np.lexsort((np.arange(n_rows), rank)).tolist()
    else:
        order = list(range(n_rows))
    queue = order[::-1]  # pop() from the end = in that order

    def next_row() -> int | None:
        while queue:
            r = queue.pop()
            if int(grp[r]) not in agreed:
                return r
            skip(r, {**fresh(r), "f": np.asarray(np.inf, proto["f"].dtype)})
        return None

    held = [queue.pop() for _ in range(min(slots, n_rows))]
    held += [held[-1]] * (slots - len(held))  # spare slots repeat the last start
    live = [True] * min(slots, n_rows) + [False] * (slots - min(slots, n_rows))
    state = {k: np.stack([fresh(r)[k] for r in held]) for k in proto}
    while any(live):
        checkpoint()  # Ctrl-C point between pieces (also in worker threads)
        rows = np.asarray(held)
        k_stop = np.where(live, state["k"] + piece, state["k"])  # idle slots make no trips
        state = {k: np.array(v) for k, v in trips(state, rows, k_stop).items()}
        going = np.asarray(bfgs_running(state, max_iter))
        ended = []
        for j in range(slots):
            if live[j] and not going[j]:
                finish(held[j], {k: state[k][j] for k in out})
                ended.append(j)
        for j in range(slots):  # rows made pointless by an agreement of their group
            g = int(grp[held[j]])
            if live[j] and j not in ended and g in agreed and float(state["f"][j]) > agreed[g]:
                skip(held[j], {k: state[k][j] for k in out})
                ended.append(j)
        for j in ended:
            nxt = next_row()
            if nxt is None:
                live[j] = False
                continue
            held[j] = nxt
            for k, v in fresh(nxt).items():
                state[k][j] = v
    return tuple(out[k] for k in BFGS_OUTPUTS)


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


