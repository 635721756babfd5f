r"""Forward area S1 and annealing area S2 of a learning-rate schedule (P2 Eq. 1, 5).

One concept in one file (about 900 lines, like optax's ``_schedule.py``): the definitions, the
blocked compensated algorithm that computes them and its NumPy float64 path.

Step convention (``_run.py``): ``lr[t]`` is the LR of update ``t``; the loss "at step ``s``" was
measured after ``s`` updates. With ``eta_i = lr[i-1]`` (1-based, as in the papers)::

    S1(s) = sum_{i=1..s} eta_i                         = sum(lr[:s])
    m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),  m_0 = 0
    S2(s) = sum_{i=1..s} m_i = [(eta_0 - eta_s) - lam * m_s] / (1 - lam)

``eta_0`` is the LR "before" the first update: ``eta_0 = eta_1`` (so ``m_1 = 0``, the P2 convention)
unless the caller passes another one (the final PT LR for the CPT part of a run, as P1 §6 does).

Warmup conventions (``warmup=``):

* ``"peak"`` (P2 §3.4 and App. A; the default): the first ``warmup_steps`` updates count as the
  peak LR the warmup ramps to, ``eta_max = lr[warmup_steps]`` (the LR of the first update after
  the warmup; ``lr[-1]`` if the whole array is warmup) -- each adds ``eta_max`` to S1 and nothing
  to S2 (``eta_0 = eta_max``). Differentiable: the gradient of the warmup steps flows to
  ``lr[warmup_steps]``.
* ``"as-run"``: the LR array is used as it is; a warmup ramp then makes S2 negative (like a
  re-warmup).

Algorithm (no Python loop over steps; everything is linear in ``lr`` and smooth in ``lam``, so
``jit``, ``vmap`` and ``grad`` w.r.t. the LR array and ``lam`` all work):

1. The steps are cut in blocks of ``B`` (32, or the common step of a grid of observed steps,
   see 4). In each block ``y = x - x_before`` (``x_before``: the LR before the block), exactly 0
   for a flat LR, so S2 never comes from a difference of LR-sized sums. Every in-block quantity
   is a weighted sum of the block's ``y`` with float64-exact weights (``lam^n``, ...): the block
   totals (S1, momentum at the block end, S2), and for observed steps the same at the end of each
   8-step sub-block -- all of them from one small matmul ``(blocks, B) @ (B, 3..9)``.
2. Cache blocking: the rows (schedules) go through a ``lax.map`` in groups of ~2^19 LR values,
   so ``y`` and the matmul results stay in the CPU caches and no temporary is large (JAX's CPU
   allocator takes buffers above 32 MB fresh from the OS on every call: ~0.3 ms of page faults
   per MB, more than the arithmetic).
3. The block carries (prefix S1, momentum, prefix S2) come from two levels of ``lax.scan``: over
   the ``G ~ sqrt(blocks)`` blocks of every superblock at once, then over the superblocks; sums
   are compensated (TwoSum) and ``lam^B``, ``lam^(BG)`` are float64-accurate ``hi + lo`` pairs,
   so the carries are accurate to a few units in the last place whatever the number of blocks.
4. Observed steps (``method="gather"``, the laws' path): carry of the step's block + matmul
   columns at the end of the previous sub-block + a window of <= 8 LR values. Concrete steps that
   are all multiples of a length in 16..128 (a logging grid) use that length as ``B``: the steps
   end blocks and need only the block totals. All steps (``method="dense"``): a second pass adds
   the carries to in-block prefixes from a ``(B, 2B)`` matmul of ``y``.

The closed form ``S2 = [(eta_0 - eta_s) - lam m_s]/(1 - lam)`` is *not* used: in float32 it loses
``1/(1 - lam) = 1000`` ulps right after a sharp LR drop. Nor is ``jnp.cumsum``: on CPU it is ~5x
slower than ``np.cumsum`` and less accurate than the blocked sums.

Speed (``benchmarks/bench_areas.py``: 1,024 float32 schedules x 1e5 steps on 2 CPU cores, in
M schedule-steps/s; numpy/scipy reference ``np.cumsum`` + ``scipy.signal.lfilter`` at every
step: 61 (float64) / 78 (float32); ``np.cumsum`` alone: 340): 1,000 observed steps on a grid 1,600
(26x / 21x the reference), 1,000 random steps 730 (12x / 9.4x), every step 170 (2.8x / 2.2x;
0.5x ``np.cumsum``, most of it writing the two outputs).

Accuracy (tests/dynamics/test_areas.py): float64 results agree with a float64 (and an exact
rational) reference to ~1e-14 relative (asserted: 1e-9). float32 results on 1e5-step schedules:
S1 max relative error <= 8e-8 (dense, observed and grid steps), S2 max error / max|S2| <=
1.5e-7 -- a few float32 ulps, whatever the length (asserted: 4e-7 dense / 1.5e-7 observed for
S1, 4e-7 for S2), where a naive float32 sequential scan drifts to 1e-5..6e-4. (On the
benchmark's schedules, which start with an as-run warmup from ~0: S1 <= 2.5e-7, S2 <= 3.4e-7.)
A traced float32 ``lam`` carries its own rounding (1 ulp of 0.999 is 6e-5 of ``1 - lam``); a
Python-float ``lam`` gets float64-exact weights.

Eager float64 calls (the laws' fitting features: concrete LR, steps and ``lam``; up to
``NUMPY_MAX_SIZE`` values) are computed in NumPy instead (``method="numpy"``: ``np.cumsum`` and the
momentum recursion as chunked ``lam^j * cumsum(d * lam^-j)``), which agrees with the kernel to
~1e-13 and needs no compilation: one compile per run shape (0.35-0.5 s) made a three-run fit of
the annealing law 2.4 s instead of 1.1 s.

Enable float64 locally with ``cptdyn._pytree.x64_context()`` (never globally); the laws'
``features(run)`` do so.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import concrete_or_none
from cptdyn._validate import check_int as _check_int
from cptdyn._validate import check_unit_interval

lax = jax.lax

__all__ = [
    "NUMPY_MAX_SIZE",
    "WARMUP_CONVENTIONS",
    "S2_SPLITS",
    "Areas",
    "CPTAreas",
    "effective_lr",
    "areas",
    "forward_area",
    "annealing_area",
    "cpt_areas",
    "momentum_tail",
]

#: Warmup conventions understood by every law: P2's ("peak") and the LR as run ("as-run").
WARMUP_CONVENTIONS = ("peak", "as-run")
#: S2 PT/CPT splits (P1 does not say which one it used; see ``cpt_areas``).
S2_SPLITS = ("origin", "step")

#: Default block length (steps); a multiple of 8 that keeps the dense block matmul fast on CPU.
DEFAULT_BLOCK = 32


class Areas(NamedTuple):
    """Areas at the observed steps; each has shape ``lr.shape[:-1] + steps.shape``."""

    S1: jax.Array
    S2: jax.Array
    m: jax.Array | None = None  # annealing momentum m_s (only when ``return_momentum=True``)


class CPTAreas(NamedTuple):
    """PT/CPT split areas at the observed steps (P1 App. C); shapes as in ``Areas``."""

    S1pt: jax.Array
    S1cpt: jax.Array
    S2pt: jax.Array
    S2cpt: jax.Array


# ------------------------------------------------------------------------------------------------
# validation helpers (one-line ValueErrors naming the argument)


def check_warmup(warmup: Any, where: str = "warmup") -> str:
    if warmup not in WARMUP_CONVENTIONS:
        known = ", ".join(map(repr, WARMUP_CONVENTIONS))
        raise ValueError(f"{where}={warmup!r} is not one of {known}")
    return str(warmup)


def check_split(split: Any, where: str = "split") -> str:
    if split not in S2_SPLITS:
        raise ValueError(f"{where}={split!r} is not one of {', '.join(map(repr, S2_SPLITS))}")
    return str(split)


def check_lam(lam: Any, where: str = "lam") -> float:
    return check_unit_interval(None, where, lam)


# ------------------------------------------------------------------------------------------------
# float tricks


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``a + b = s + e`` exactly (Knuth's TwoSum; no branch, any order of magnitude)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _split_const(v: float, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """A float64 constant as ``hi + lo`` in ``dtype`` (``lo = 0`` for float64)."""
    hi = np.asarray(v, dtype=dtype)
    lo = np.asarray(v - float(hi), dtype=dtype)
    return jnp.asarray(hi), jnp.asarray(lo)


def _as_float(lr: Any) -> Any:
    x: Any
    if isinstance(lr, (jax.Array, jax.core.Tracer)):
        x = jnp.asarray(lr)
    else:  # host data stays on the host (the NumPy path needs no device copy), in the dtype
        # JAX would give it (float64 only under x64)
        x = np.asarray(lr)
        x = x.astype(jax.dtypes.canonicalize_dtype(x.dtype), copy=False)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"lr must have a last axis of length >= 1, got shape {x.shape}")
    return x


# ------------------------------------------------------------------------------------------------
# plan and weights

#: LR values handled together by one step of the loop over groups of schedules (cache blocking:
#: the group's temporaries stay in the CPU caches and allocations stay small).
_GROUP_ELEMS = 1 << 19
#: Longest sub-block (observed-step window).
_SUB = 8
#: Unrolling of the carry scans (2..4: ~10% faster observed-step path, twice the compile time).
_UNROLL = 1


class _Plan(NamedTuple):
    B: int  # block length (steps)
    b: int  # sub-block length (divides B): granularity of the observed-step windows
    nb: int  # blocks, ceil(T / B)
    G: int  # blocks per superblock (first level of the carries), ceil(sqrt(nb))
    nsb: int  # superblocks, ceil(nb / G)


def _plan(T: int, B: int) -> _Plan:
    b = max(d for d in range(1, min(B, _SUB) + 1) if B % d == 0)
    nb = -(-T // B)
    G = math.isqrt(nb - 1) + 1
    return _Plan(B, b, nb, G, -(-nb // G))


class _Weights(NamedTuple):
    cols: jax.Array  # (B, NC) block columns applied to y = x - x_before (see _columns)
    loc: jax.Array  # (B, 3B) in-block prefixes from y: [sum_{k<=j} y_k | S2 | m]
    win: jax.Array  # (3, b, b) sub-block window weights [S1 | S2 | m][r, i]
    pw: jax.Array  # (B+1,) lam^n
    g: jax.Array  # (B+1,) g_n = sum_{i=1..n} lam^i
    pB: tuple[jax.Array, jax.Array]  # lam^B as hi + lo
    gB: tuple[jax.Array, jax.Array]  # g_B as hi + lo
    pG: tuple[jax.Array, jax.Array]  # lam^(B G) as hi + lo
    gG: tuple[jax.Array, jax.Array]  # g_(B G) as hi + lo
    pBr: jax.Array  # (G,) lam^(B r)
    gBr: jax.Array  # (G,) g_(B r)
    tail_c: jax.Array  # lam / (1 - lam)
    tail_L: jax.Array  # log(lam) (finite)


def _columns(nsub: int) -> dict[str, int]:
    """Index of the first column of each kind in ``_Weights.cols`` (``e_q = b (q + 1) - 1``):
    ``sum`` (sum y), ``m`` (block momentum), ``S2`` (nsub: in-block S2 at ``e_q``; the last is the
    block total), ``Y1`` (nsub - 1: sum_{k<=e_q} y_k), ``M`` (nsub - 1: in-block m at ``e_q``),
    ``Y`` (nsub - 1: y at ``e_q``); ``n_obs`` / ``n_all``: column counts without / with m."""
    c = {"sum": 0, "m": 1, "S2": 2, "Y1": 2 + nsub}
    c["M"] = c["Y1"] + nsub - 1
    c["Y"] = c["M"] + nsub - 1
    c["n_obs"], c["n_all"] = c["M"], c["Y"] + nsub - 1
    return c


def _weights(lam: Any, plan: _Plan, dtype: Any) -> _Weights:
    """All weights of the blocked algorithm: float64-exact (then rounded once) for a static
    ``lam`` (cached), ``exp(n log lam)`` in ``dtype`` for a traced one (differentiable)."""
    lam_c = concrete_or_none(lam)
    if lam_c is not None:
        return _weights_static(check_lam(lam_c), plan, np.dtype(dtype))
    return _weights_impl(lam, plan, dtype)


@lru_cache(maxsize=64)
def _weights_static(lam: float, plan: _Plan, dtype: np.dtype) -> _Weights:
    with jax.ensure_compile_time_eval():  # concrete arrays even when called inside a trace
        return _weights_impl(lam, plan, dtype)


def _weights_impl(lam: Any, plan: _Plan, dtype: Any) -> _Weights:
    B, b, G = plan.B, plan.b, plan.G
    lam_c = concrete_or_none(lam)
    xp: Any
    lam_v: Any
    one_m: Any
    tail_c: Any
    tail_L: Any
    if lam_c is not None:
        lam_c = check_lam(lam_c)
        xp, lam_v, one_m = np, lam_c, 1.0 - lam_c
        L64 = math.log(lam_c) if lam_c > 0 else -math.inf

        def pw(n: Any) -> Any:
            return lam_c ** np.asarray(n, np.float64)

        def gs(n: Any) -> Any:  # sum_{i=1..n} lam^i = lam (1 - lam^n) / (1 - lam)
            n = np.asarray(n, np.float64)
            if lam_c == 0.0:
                return np.zeros_like(n)
            return lam_c * -np.expm1(n * L64) / one_m

        def spl(v: Any) -> tuple[jax.Array, jax.Array]:
            return _split_const(float(v), dtype)

        tail_c = jnp.asarray(lam_c / one_m, dtype)
        tail_L = jnp.asarray(math.log(max(lam_c, 1e-300)), dtype)
    else:
        xp = jnp
        lam_v = jnp.asarray(lam, dtype)
        one_m = 1.0 - lam_v
        # lam is kept in (0, 1) (the fitted range is an interval inside it)
        L = jnp.log(jnp.clip(lam_v, jnp.finfo(dtype).tiny, 1.0))

        def pw(n: Any) -> Any:
            return jnp.exp(jnp.asarray(n, dtype) * L)

        def gs(n: Any) -> Any:
            return lam_v * -jnp.expm1(jnp.asarray(n, dtype) * L) / one_m

        def spl(v: Any) -> tuple[jax.Array, jax.Array]:
            return v, jnp.zeros((), dtype)

        tail_c, tail_L = lam_v / one_m, L

    def low(n: int) -> Any:
        """(n, n) tables [k, j]: ``[k <= j]``, ``-lam^(j-k) [k <= j]`` and
        ``(1-lam) lam^(j-1-k) [k < j] - [k == j]`` (the in-block S1, S2, m weights on y)."""
        dd = np.arange(n)[None, :] - np.arange(n)[:, None]
        le, lt, eq = dd >= 0, dd > 0, dd == 0
        s1 = le.astype(np.float64)
        s2 = xp.where(le, -pw(np.maximum(dd, 0)), 0.0)
        m = xp.where(lt, one_m * pw(np.maximum(dd - 1, 0)), 0.0) - eq
        return s1, s2, m

    s1, s2, m = low(B)
    nsub = B // b
    ends = [b * (q + 1) - 1 for q in range(nsub)]
    onehot = np.eye(B)
    cols = (
        [np.ones(B), m[:, B - 1]] + [s2[:, e] for e in ends] + [s1[:, e] for e in ends[:-1]]
        + [m[:, e] for e in ends[:-1]] + [onehot[:, e] for e in ends[:-1]]
    )
    w1, w2, w3 = low(b)
    n = np.arange(B + 1)
    r = np.arange(G)
    arr = partial(jnp.asarray, dtype=dtype)
    return _Weights(
        cols=arr(xp.stack([xp.asarray(c) for c in cols], axis=1)),
        loc=arr(xp.concatenate([xp.asarray(s1), s2, m], axis=1)),
        win=arr(xp.stack([xp.asarray(w1.T), -w2.T, w3.T])),
        pw=arr(pw(n)), g=arr(gs(n)), pB=spl(pw(B)), gB=spl(gs(B)),
        pG=spl(pw(B * G)), gG=spl(gs(B * G)), pBr=arr(pw(B * r)), gBr=arr(gs(B * r)),
        tail_c=tail_c, tail_L=tail_L,
    )


def _tail_weights(lam: Any, dtype: Any) -> _Weights:
    return _weights(lam, _plan(1, 1), dtype)


# ------------------------------------------------------------------------------------------------
# warmup conventions


def effective_lr(
    lr: Any, *, warmup_steps: int = 0, warmup: str = "peak"
) -> tuple[jax.Array, jax.Array]:
    """The LR array the areas are computed from, and ``eta_0`` (see the module docstring).

    Args:
      lr: per-step LRs, shape ``(..., T)`` (absolute units).
      warmup_steps: length of the warmup at the start of ``lr`` (static int, ``0..T``).
      warmup: ``"peak"`` (P2: warmup counted at ``lr[warmup_steps]``) or ``"as-run"``.

    Returns:
      ``(x, eta0)``: ``x`` has the shape of ``lr``, ``eta0`` its batch shape.
    """
    check_warmup(warmup)
    x = _as_float(lr)
    T = x.shape[-1]
    W = _check_int(None, "warmup_steps", warmup_steps, 0, T)
    if warmup == "as-run" or W == 0:
        return x, x[..., 0]
    peak = x[..., min(W, T - 1)]
    t = jnp.arange(T)
    x = jnp.where(t < W, peak[..., None], x)
    return x, peak


# ------------------------------------------------------------------------------------------------
# the blocked core


def _diff(x: jax.Array, eta0: jax.Array) -> jax.Array:
    """``d[t] = x[t-1] - x[t]`` with ``x[-1] := eta0`` (pad + slice: one fused pass on CPU)."""
    nd = x.ndim
    prev = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)] * (nd - 1) + [(1, -1, 0)])
    first = lax.broadcasted_iota(jnp.int32, x.shape, nd - 1) == 0
    return jnp.where(first, eta0[..., None], prev) - x


def _steps_info(steps: Any, T: int) -> tuple[Any, bool]:
    """Observed steps as an int array (numpy when concrete: validated), and 'is concrete'."""
    if steps is None:
        return np.arange(1, T + 1), True
    if isinstance(steps, jax.core.Tracer):
        return steps, False
    s = np.asarray(steps)
    if s.dtype.kind == "f":
        si = np.rint(s)
        if not np.array_equal(si, s):
            raise ValueError("steps must be whole numbers")
        s = si
    s = s.astype(np.int64)
    if s.size and (s.min() < 1 or s.max() > T):
        bad = int(s.min()) if s.min() < 1 else int(s.max())
        raise ValueError(f"steps contains {bad}, outside 1..{T} (T = len(lr))")
    return s, True


def _group_rows(N: int, Tp: int) -> int:
    """Rows per group: ``cap = _GROUP_ELEMS // Tp`` (>= 1), or the largest divisor of ``N`` in
    ``cap/2..cap`` (no remainder group then)."""
    cap = max(1, _GROUP_ELEMS // max(Tp, 1))
    if N <= cap:
        return N
    return max([d for d in range(cap // 2 + 1, cap + 1) if N % d == 0] or [cap])


def _map_groups(fn: Any, xs: tuple[jax.Array, ...], ng: int) -> Any:
    """``lax.map`` over the leading (group) axis, or a plain call for a single group."""
    if ng == 1:
        return jax.tree_util.tree_map(lambda a: a[None], fn(tuple(a[0] for a in xs)))
    return lax.map(fn, xs)


def _prep(
    xg: jax.Array, eg: jax.Array, plan: _Plan, before: jax.Array | None = None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Blocks of a group ``(S, T)``: ``xb (S, nb, B)``, the LR before each block ``(S, nb)`` and
    ``y = xb - before`` (exactly 0 for a flat LR; the block sums below are taken over ``y``)."""
    S, T = xg.shape
    pad = plan.nb * plan.B - T
    if pad:  # steps past T never influence earlier steps
        xg = jnp.pad(xg, [(0, 0), (0, pad)])
    xb = xg.reshape(S, plan.nb, plan.B)
    if before is None:
        before = jnp.concatenate([eg[:, None], xb[:, :-1, plan.B - 1]], axis=1)
    return xb, before, xb - before[..., None]


def _rowdot(a: jax.Array, w: jax.Array) -> jax.Array:
    """``sum(a * w, -1)`` for a short last axis, unrolled (one fused loop on CPU)."""
    acc = a[..., 0] * w[..., 0]
    for i in range(1, a.shape[-1]):
        acc = acc + a[..., i] * w[..., i]
    return acc


def _block_dots(y: jax.Array, cols: jax.Array) -> jax.Array:
    S, nb, B = y.shape
    return (y.reshape(S * nb, B) @ cols).reshape(S, nb, cols.shape[1])


def _group_totals(tot: tuple[jax.Array, ...], plan: _Plan) -> jax.Array:
    """A group's block totals ``(S1, m, S2)`` (each ``(S, nb)``) in the layout of the carry
    scan, ``(G, 3, S, nsb)`` (block ``q G + r`` at ``[r, :, :, q]``; done per group, in cache)."""
    G, nsb, nb = plan.G, plan.nsb, plan.nb
    a = jnp.stack(tot)
    S = a.shape[1]
    if G * nsb > nb:
        a = jnp.pad(a, [(0, 0), (0, 0), (0, G * nsb - nb)])
    return a.reshape(3, S, nsb, G).transpose(3, 0, 1, 2)


def _carries(
    totg: jax.Array, wt: _Weights, plan: _Plan
) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """Exclusive block prefixes of the block totals ``totg`` (``(groups, G, 3, S, nsb)``, from
    ``_group_totals``), in two levels.

    Level 1: a ``lax.scan`` over the ``G`` blocks of each superblock (all superblocks and rows at
    once) gives the prefixes inside the superblock and its totals; level 2: a scan over the
    ``nsb`` superblocks. Sums are TwoSum-compensated (``p + c``), ``lam^B``/``lam^(BG)`` are
    float64-accurate ``hi + lo`` pairs, so the carries are accurate to a few float ulps.

    Returns ``loc`` (4 arrays ``(G, N, nsb)``: p1, c1, M, S2 inside the superblock, S2 rounded
    once) and ``sup`` (5 arrays ``(nsb, N)``: p1, c1, M, p2, c2 at the superblock starts).
    """
    ng, G, _, S, nsb = totg.shape
    N = ng * S

    def make_body(pm: tuple[jax.Array, jax.Array], gm: tuple[jax.Array, jax.Array],
                  paired: bool) -> Any:
        def body(c: tuple[jax.Array, ...], x: Any) -> tuple[tuple[jax.Array, ...], Any]:
            p1, c1, M, p2, c2 = c
            if paired:
                a1, a1c, am, a2, a2c = x
            else:  # block r of every superblock (slices of S * nsb contiguous values)
                xr = lax.dynamic_index_in_dim(totg, x, axis=1, keepdims=False)
                a1, am, a2 = xr[:, 0], xr[:, 1], xr[:, 2]
            p1n, e1 = _two_sum(p1, a1)
            p2n, e2 = _two_sum(p2, gm[0] * M + (gm[1] * M + a2))
            if paired:
                e1, e2 = e1 + a1c, e2 + a2c
            Mn = pm[0] * M + (pm[1] * M + am)
            out = c if paired else (p1, c1, M, p2 + c2)
            return (p1n, c1 + e1, Mn, p2n, c2 + e2), out
        return body

    z = jnp.zeros((ng, S, nsb), totg.dtype)
    fin, loc = lax.scan(make_body(wt.pB, wt.gB, False), (z, z, z, z, z), jnp.arange(G),
                        unroll=_UNROLL)
    z = jnp.zeros((N,), totg.dtype)
    fin_t = tuple(f.reshape(N, nsb).T for f in fin)
    _, sup = lax.scan(make_body(wt.pG, wt.gG, True), (z, z, z, z, z), fin_t, unroll=_UNROLL)
    return tuple(v.reshape(G, N, nsb) for v in loc), sup


def _combine(
    loc: tuple[jax.Array, ...], sup: tuple[jax.Array, ...], pBr: jax.Array, gBr: jax.Array
) -> tuple[jax.Array, ...]:
    """Block carries ``P1 = p1 + c1``, ``M``, ``P2 = p2 + c2`` from the superblock start values
    ``sup`` and the in-superblock prefixes ``loc`` (``pBr``/``gBr``: lam^(B r), g_(B r) of the
    block's position r in its superblock; all broadcast together)."""
    Q1, QC1, QM, Q2, QC2 = sup
    p1, c1, M, p2 = loc
    P1, e1 = _two_sum(Q1, p1)
    P2, e2 = _two_sum(Q2, gBr * QM + p2)
    return P1, (QC1 + c1) + e1, pBr * QM + M, P2, QC2 + e2


def _blocked(
    x: jax.Array,
    eta0: jax.Array,
    steps: Any,
    wt: _Weights,
    *,
    block: int,
    method: str,
    return_momentum: bool,
    aligned: bool = False,
) -> Areas:
    """S1, S2 (and m) at ``steps`` (``None``: every step) of the LRs ``x (..., T)``."""
    batch, T = x.shape[:-1], x.shape[-1]
    plan = _plan(T, block)
    N = int(np.prod(batch, dtype=np.int64))
    x2 = x.reshape(N, T)
    e2 = jnp.broadcast_to(eta0.astype(x.dtype), batch).reshape(N)
    S = _group_rows(N, plan.nb * plan.B)
    ng = N // S
    groups = [(x2[: ng * S].reshape(ng, S, T), e2[: ng * S].reshape(ng, S))]
    if N % S:  # the remaining rows: one more (smaller) group
        groups.append((x2[ng * S:][None], e2[ng * S:][None]))
    s_arr = jnp.arange(1, T + 1) if steps is None else jnp.asarray(steps)
    if method == "auto":
        big = s_arr.size * plan.B > 2 * T and not aligned
        method = "dense" if (steps is None or big) else "gather"
    if method == "dense":
        parts = [_dense(xs, wt, plan, T, return_momentum) for xs in groups]
        res = [jnp.concatenate(r, axis=0).reshape(*batch, T) for r in zip(*parts, strict=True)]
        if steps is not None:
            idx = (s_arr.astype(jnp.int32) - 1).reshape(-1)
            res = [jnp.take(r, idx, axis=-1, mode="clip").reshape(*batch, *s_arr.shape)
                   for r in res]
    elif method == "gather":
        s_flat = s_arr.reshape(-1)
        parts = [_observed(xs, wt, plan, s_flat, return_momentum, aligned) for xs in groups]
        res = [jnp.concatenate(r, axis=1).T.reshape(*batch, *s_arr.shape)
               for r in zip(*parts, strict=True)]
    else:
        raise ValueError(f"method={method!r} is not one of 'auto', 'dense', 'gather'")
    return Areas(res[0], res[1], res[2] if return_momentum else None)


def _flat(a: jax.Array) -> jax.Array:
    """``(groups, S, ...) -> (groups * S, ...)``."""
    return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])


def _dense(
    xs: tuple[jax.Array, jax.Array], wt: _Weights, plan: _Plan, T: int, return_momentum: bool
) -> list[jax.Array]:
    """Every step, ``(N, T)`` each: pass 1 (block totals and ``before``), the carries, pass 2
    (in-block prefixes by one matmul of ``y``, plus the carries of the block)."""
    B, nb, G, nsb = plan.B, plan.nb, plan.G, plan.nsb
    ng, S = xs[1].shape
    N = ng * S
    c = _columns(B // plan.b)
    cols3 = wt.cols[:, [c["sum"], c["m"], c["S2"] + B // plan.b - 1]]

    def pass1(a: tuple[jax.Array, jax.Array]) -> Any:
        xb, before, y = _prep(*a, plan)
        dc = _block_dots(y, cols3)
        return _group_totals((B * before + dc[..., 0], dc[..., 1], dc[..., 2]), plan), before

    totg, bef = _map_groups(pass1, xs, ng)
    loc, sup = _carries(totg, wt, plan)
    car = _combine(loc, tuple(v.T[None] for v in sup), wt.pBr[:, None, None],
                   wt.gBr[:, None, None])  # (G, N, nsb)
    carb = jnp.stack(car).transpose(0, 2, 3, 1).reshape(5, N, G * nsb)[:, :, :nb]
    carb = carb.reshape(5, ng, S, nb)
    nq = 3 if return_momentum else 2
    D = wt.loc[:, : nq * B]
    j1 = jnp.arange(1, B + 1, dtype=bef.dtype)

    def pass2(a: tuple[jax.Array, ...]) -> Any:
        xg, eg, bg, P1, C1, M, P2, C2 = a
        xb, before, y = _prep(xg, eg, plan, bg)
        lc = _block_dots(y, D).reshape(S, nb, nq, B)
        P1, C1, M, P2, C2, before = (v[..., None] for v in (P1, C1, M, P2, C2, before))
        out = [P1 + (C1 + (j1 * before + lc[:, :, 0])),
               P2 + ((C2 + wt.g[1:] * M) + lc[:, :, 1])]
        if return_momentum:
            out.append(wt.pw[1:] * M + lc[:, :, 2])
        return tuple(o.reshape(S, nb * B)[:, :T] for o in out)

    args = (*xs, bef, *carb)
    return [_flat(o) for o in _map_groups(pass2, args, ng)]


def _observed(
    xs: tuple[jax.Array, jax.Array], wt: _Weights, plan: _Plan, s: jax.Array,
    return_momentum: bool, aligned: bool,
) -> list[jax.Array]:
    """At the steps ``s`` (``(K,)``), ``(K, N)`` each: the carries of their blocks plus the sums
    inside the block -- from the matmul columns at the end of the previous sub-block and a
    window of ``b`` values (``aligned``: every step ends a block, its block totals)."""
    B, b, nb, G = plan.B, plan.b, plan.nb, plan.G
    nsub = B // b
    ng, S = xs[1].shape
    N = ng * S
    c = _columns(nsub)
    t = s.astype(jnp.int32) - 1
    bi, ji = t // B, t % B
    if aligned:
        ji = jnp.full_like(t, B - 1)
        cols = wt.cols[:, [c["sum"], c["m"], c["S2"] + nsub - 1]]
    else:
        cols = wt.cols[:, : c["n_all"] if return_momentum else c["n_obs"]]
    nc = cols.shape[1]
    qi, ri = ji // b, ji % b
    hasq, qm1 = qi > 0, jnp.maximum(qi - 1, 0)
    wr = [jnp.take(w, ri, axis=0) for w in wt.win]  # (K, b) each
    lam_r1 = jnp.take(wt.pw, ri + 1)

    def gpass(a: tuple[jax.Array, jax.Array]) -> Any:
        xb, before, y = _prep(*a, plan)
        dc = _block_dots(y, cols)
        tot = (B * before + dc[..., c["sum"]], dc[..., c["m"]], dc[..., c["S2"] + nsub - 1])
        totg = _group_totals(tot, plan)
        if aligned:
            return (totg,)
        xw = jnp.take(xb.reshape(S, nb * nsub, b), bi * nsub + qi, axis=1, mode="clip")
        bk = jnp.take(before, bi, axis=1, mode="clip")  # (S, K)
        yw = xw - bk[..., None]  # (S, K, b)
        dflat = dc.reshape(S, nb * nc)

        def col(c0: int) -> jax.Array:  # column c0 + q - 1 of the step's block
            return jnp.take(dflat, bi * nc + c0 + qm1, axis=1, mode="clip")

        zero = jnp.zeros((), xb.dtype)
        s1 = jnp.where(hasq, (b * qi).astype(xb.dtype) * bk + col(c["Y1"]), zero)
        out = [s1 + _rowdot(xw, wr[0]),
               jnp.where(hasq, lam_r1 * col(c["S2"]), zero) - _rowdot(yw, wr[1])]
        if return_momentum:
            mq = lam_r1 * col(c["M"]) + jnp.take(wt.pw, ri) * col(c["Y"])
            out.append(jnp.where(hasq, mq, zero) + _rowdot(yw, wr[2]))
        return (totg, *out)

    totg, *res = _map_groups(gpass, xs, ng)
    r_, q_ = bi % G, bi // G
    if aligned:  # S1, S2, m inside the block = its totals
        part = [totg[:, r_, i, :, q_].reshape(-1, N) for i in (0, 2, 1)]
    else:
        part = [_flat(p).T for p in res]
    loc, sup = _carries(totg, wt, plan)
    lk = tuple(v[r_, :, q_] for v in loc)  # (K, N)
    sk = tuple(jnp.take(v, q_, axis=0, mode="clip") for v in sup)
    P1, C1, M, P2, C2 = _combine(lk, sk, jnp.take(wt.pBr, r_)[:, None],
                                 jnp.take(wt.gBr, r_)[:, None])  # (K, N)
    out = [P1 + (C1 + part[0]), P2 + ((C2 + jnp.take(wt.g, ji + 1)[:, None] * M) + part[1])]
    if return_momentum:
        out.append(jnp.take(wt.pw, ji + 1)[:, None] * M + part[2])
    return out


# ------------------------------------------------------------------------------------------------
# public functions


def areas(
    lr: Any,
    steps: Any = None,
    *,
    lam: Any = 0.999,
    warmup_steps: int = 0,
    warmup: str = "peak",
    eta0: Any = None,
    return_momentum: bool = False,
    block_size: int | None = None,
    method: str = "auto",
) -> Areas:
    """Forward area S1 and annealing area S2 (and optionally the momentum m) at observed steps.

    Args:
      lr: per-step LRs, shape ``(..., T)``, absolute units; any float dtype (the computation runs
        in that dtype; float64 needs a local ``x64_context()``).
      steps: observed steps (updates done), any shape, values in ``1..T``; ``None`` = all steps
        ``1..T``. May be traced (no validation then).
      lam: annealing-momentum decay (P2's lambda), in ``[0, 1)``; a Python float (exact float64
        weights) or a traced scalar (differentiable).
      warmup_steps: warmup length at the start of ``lr`` (static int).
      warmup: ``"peak"`` (P2) or ``"as-run"`` (see the module docstring).
      eta0: the LR before the first update (default: the first effective LR, so ``m_1 = 0``);
        shape ``lr.shape[:-1]``. Overrides the warmup convention's ``eta_0``.
      return_momentum: also return ``m`` at the steps.
      block_size: block length ``B`` (static); ``None``: ``DEFAULT_BLOCK``, or, for concrete
        observed steps that are all multiples of a length in ``16..128``, that length (the
        largest; the steps then end blocks and need no in-block sums).
      method: ``"auto"``, ``"dense"`` (all steps via block matmuls), ``"gather"`` (observed
        steps from the block carries and sums over their sub-blocks) or ``"numpy"`` (float64
        NumPy: ``cumsum`` and a first-order ``lfilter``; concrete inputs only). ``"auto"`` uses
        ``"numpy"`` for eager float64 calls on up to ``NUMPY_MAX_SIZE`` values (fitting features:
        no compilation, ~1 ms per run; relative error ~T * 1e-16) and the compiled kernel
        otherwise.

    Returns:
      ``Areas(S1, S2, m)`` with shapes ``lr.shape[:-1] + steps.shape`` (``m`` is None unless
      requested).
    """
    check_warmup(warmup)
    if method not in ("auto", "dense", "gather", "numpy"):
        raise ValueError(f"method={method!r} is not one of 'auto', 'dense', 'gather', 'numpy'")
    x = _as_float(lr)
    T = x.shape[-1]
    W = _check_int(None, "warmup_steps", warmup_steps, 0, T)
    s_arr, concrete = _steps_info(steps, T)  # validation (skipped for traced steps)
    eager = (concrete and not isinstance(x, jax.core.Tracer) and concrete_or_none(lam) is not None
             and (eta0 is None or not isinstance(eta0, jax.core.Tracer)))
    if method == "numpy" or (method == "auto" and eager and x.dtype == np.float64
                             and x.size <= NUMPY_MAX_SIZE):
        if not eager:
            raise ValueError("method='numpy' needs concrete lr, steps, lam and eta0 (not traced)")
        return _areas_numpy(np.asarray(x, np.float64), None if steps is None else s_arr,
                            check_lam(concrete_or_none(lam)), W, warmup,
                            None if eta0 is None else np.asarray(eta0, np.float64),
                            bool(return_momentum))
    aligned = False
    if block_size is None:
        B = DEFAULT_BLOCK
        if steps is not None and concrete:
            B = _aligned_block(s_arr, T) or B
    else:
        B = _check_int(None, "block_size", block_size, 1)
    if steps is not None and concrete and method != "dense":
        aligned = bool(s_arr.size) and not np.any(s_arr % B)
    wt = _weights(lam, _plan(T, B), x.dtype)
    if eta0 is not None:
        eta0 = jnp.broadcast_to(jnp.asarray(eta0, x.dtype), x.shape[:-1])
    if steps is not None and concrete:
        steps = jnp.asarray(s_arr)
    return _areas_jit(
        x, steps, eta0, wt, warmup_steps=W, warmup=warmup, block=B, method=method,
        return_momentum=bool(return_momentum), aligned=aligned,
    )


#: ``areas(method="auto")`` computes eager float64 calls up to this many LR values in NumPy
NUMPY_MAX_SIZE = 1 << 22


def _momentum_numpy(d: np.ndarray, lam: float) -> np.ndarray:
    """``m_t = lam * m_{t-1} + d_t`` (``m_{-1} = 0``) along the last axis, float64, vectorised:
    in chunks short enough that ``lam^-L`` stays below 1e150, ``m = lam^j * cumsum(d * lam^-j)``
    (the same rounding as the recursion: every partial sum is dominated by its latest terms),
    the chunks joined by their carries (a loop over chunks, not steps)."""
    if lam == 0.0:
        return d.copy()
    T = d.shape[-1]
    L = max(1, min(T, int(345.0 / -math.log(lam))))
    j = np.arange(L, dtype=np.float64)
    up = np.exp(-j * math.log(lam))  # lam^-j
    down = np.exp(j * math.log(lam))  # lam^j
    out = np.empty_like(d)
    carry = np.zeros(d.shape[:-1])
    for a in range(0, T, L):
        n = min(L, T - a)
        loc = down[:n] * np.cumsum(d[..., a:a + n] * up[:n], axis=-1)
        out[..., a:a + n] = loc + (lam * down[:n]) * carry[..., None]
        carry = out[..., a + n - 1]
    return out


def _areas_numpy(x: np.ndarray, steps: np.ndarray | None, lam: float, W: int, warmup: str,
                 eta0: np.ndarray | None, return_momentum: bool) -> Areas:
    """float64 areas by ``np.cumsum`` and the momentum recursion (``_momentum_numpy``)."""
    T = x.shape[-1]
    x = np.array(x, np.float64)
    if warmup == "peak" and W > 0:
        peak = x[..., min(W, T - 1)].copy()
        x[..., :W] = peak[..., None]
        e0 = peak
    else:
        e0 = x[..., 0].copy()
    if eta0 is not None:
        e0 = np.broadcast_to(eta0, x.shape[:-1])
    d = np.concatenate([np.asarray(e0)[..., None], x[..., :-1]], axis=-1) - x
    m = _momentum_numpy(d, lam)
    S1, S2 = np.cumsum(x, axis=-1), np.cumsum(m, axis=-1)
    if steps is not None:
        idx = np.asarray(steps).reshape(-1) - 1
        shp = (*x.shape[:-1], *np.shape(steps))
        S1, S2, m = (a[..., idx].reshape(shp) for a in (S1, S2, m))
    return Areas(jnp.asarray(S1), jnp.asarray(S2), jnp.asarray(m) if return_momentum else None)


def _aligned_block(steps: np.ndarray, T: int) -> int | None:
    """The largest ``B`` in ``16..128`` (preferring multiples of 8) dividing every step."""
    if not steps.size:
        return None
    g = int(np.gcd.reduce(steps.reshape(-1)))
    ok = [d for d in range(16, min(128, T) + 1) if g % d == 0]
    ok8 = [d for d in ok if d % 8 == 0]
    return max(ok8 or ok) if ok else None


@partial(
    jax.jit,
    static_argnames=("warmup_steps", "warmup", "block", "method", "return_momentum", "aligned"),
)
def _areas_jit(
    x: jax.Array, steps: Any, eta0: Any, wt: _Weights, *, warmup_steps: int, warmup: str,
    block: int, method: str, return_momentum: bool, aligned: bool,
) -> Areas:
    x, e0 = effective_lr(x, warmup_steps=warmup_steps, warmup=warmup)
    if eta0 is not None:
        e0 = eta0
    return _blocked(x, e0, steps, wt, block=block, method=method,
                    return_momentum=return_momentum, aligned=aligned)


def forward_area(
    lr: Any, steps: Any = None, *, warmup_steps: int = 0, warmup: str = "peak"
) -> jax.Array:
    """S1 at the observed steps (``areas(...).S1``)."""
    return areas(lr, steps, warmup_steps=warmup_steps, warmup=warmup).S1


def annealing_area(
    lr: Any, steps: Any = None, *, lam: Any = 0.999, warmup_steps: int = 0, warmup: str = "peak"
) -> jax.Array:
    """S2 at the observed steps (``areas(...).S2``)."""
    return areas(lr, steps, lam=lam, warmup_steps=warmup_steps, warmup=warmup).S2


def momentum_tail(m: jax.Array, n: Any, lam: Any) -> jax.Array:
    """``m * sum_{i=1..n} lam^i``: what a momentum ``m`` adds to S2 over ``n`` more steps
    without any further LR change (``n`` may be an array; ``n <= 0`` gives 0)."""
    m = jnp.asarray(m)
    if not jnp.issubdtype(m.dtype, jnp.floating):
        m = m.astype(jnp.result_type(float))
    return _tail(m, n, _tail_weights(lam, m.dtype))


def _tail(m: jax.Array, n: Any, wt: _Weights) -> jax.Array:
    # lam * (1 - lam^n) / (1 - lam) with both factors relative-accurate
    n = jnp.maximum(jnp.asarray(n), 0).astype(m.dtype)
    return m * (wt.tail_c * -jnp.expm1(n * wt.tail_L))


def cpt_areas(
    lr: Any,
    steps: Any = None,
    *,
    transfer_step: int,
    lam: Any = 0.999,
    warmup_steps: int = 0,
    warmup: str = "peak",
    split: str = "origin",
    block_size: int = DEFAULT_BLOCK,
) -> CPTAreas:
    """S1pt, S1cpt, S2pt, S2cpt at observed steps for a PT + CPT schedule (P1 App. C).

    ``lr[:transfer_step]`` is the PT schedule, ``lr[transfer_step:]`` the CPT schedule; a step
    ``s <= transfer_step`` is in PT (``S1cpt = S2cpt = 0``). The warmup convention applies to the
    PT warmup at the start of ``lr``; a CPT re-warmup always counts as run (S2cpt < 0).

    * ``S1pt(s) = S1(min(s, T_pt))``, ``S1cpt(s) = sum(lr[T_pt:s])``.
    * ``split="origin"``: S2pt holds the contributions of the LR changes made during PT (they keep
      growing into CPT through the PT momentum, ``m_pt * sum lam^i``); S2cpt those of the CPT
      steps, the transfer jump ``eta_pt_end - eta_cpt_1`` included.
    * ``split="step"``: ``S2pt = S2(min(s, T_pt))`` (frozen at the transfer) and
      ``S2cpt = S2(s) - S2(T_pt)`` (includes the PT momentum tail).

    Both satisfy ``S2pt + S2cpt = S2`` of the whole schedule.
    """
    check_split(split)
    check_warmup(warmup)
    B = _check_int(None, "block_size", block_size, 1)
    x = _as_float(lr)
    T = x.shape[-1]
    W = _check_int(None, "warmup_steps", warmup_steps, 0, T)
    Tp = _check_int(None, "transfer_step", transfer_step, 1, T - 1)
    _steps_info(steps, T)
    if steps is None:
        steps = np.arange(1, T + 1)
    if not isinstance(steps, jax.core.Tracer):
        steps = jnp.asarray(np.rint(np.asarray(steps)).astype(np.int64))
    wts = (_weights(lam, _plan(Tp, B), x.dtype), _weights(lam, _plan(T - Tp, B), x.dtype))
    return _cpt_jit(x, steps, wts, transfer_step=Tp, warmup_steps=W, warmup=warmup, split=split,
                    block=B)


@partial(
    jax.jit, static_argnames=("transfer_step", "warmup_steps", "warmup", "split", "block")
)
def _cpt_jit(
    x: jax.Array, steps: jax.Array, wts: tuple[_Weights, _Weights], *, transfer_step: int,
    warmup_steps: int, warmup: str, split: str, block: int,
) -> CPTAreas:
    x, e0 = effective_lr(x, warmup_steps=warmup_steps, warmup=warmup)
    T = x.shape[-1]
    Tp = transfer_step
    B = block
    s_j = steps.astype(jnp.int32)
    s_pt = jnp.minimum(s_j, Tp)
    n_cpt = s_j - Tp  # > 0 in the CPT phase
    s_cpt = jnp.clip(n_cpt, 1, T - Tp)
    in_cpt = n_cpt > 0

    pt_steps = jnp.concatenate([s_pt.reshape(-1), jnp.asarray([Tp], s_pt.dtype)])
    wt, wt_cpt = wts
    pt = _blocked(x[..., :Tp], e0, pt_steps, wt, block=B, method="auto", return_momentum=True)
    K = pt_steps.shape[0] - 1
    shp = (*x.shape[:-1], *steps.shape)
    S1pt = pt.S1[..., :K].reshape(shp)
    S2pt_obs = pt.S2[..., :K].reshape(shp)
    assert pt.m is not None
    m_T = pt.m[..., K:]  # (..., 1)
    cpt = _blocked(
        x[..., Tp:], x[..., Tp - 1], s_cpt.reshape(-1), wt_cpt, block=B, method="auto",
        return_momentum=False,
    )
    zero = jnp.zeros((), x.dtype)
    S1cpt = jnp.where(in_cpt, cpt.S1.reshape(shp), zero)
    S2c_origin = jnp.where(in_cpt, cpt.S2.reshape(shp), zero)
    tail = _tail(m_T, n_cpt.reshape(-1), wt).reshape(shp)
    if split == "origin":
        return CPTAreas(S1pt, S1cpt, S2pt_obs + tail, S2c_origin)
    return CPTAreas(S1pt, S1cpt, S2pt_obs, S2c_origin + tail)
