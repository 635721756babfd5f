r"""Forward area S1 and annealing area S2 of a learning-rate schedule (P2 Eq. 1, 5).

Step convention (``_run.py``): ``lr[t]`` is the LR of update ``t``; the loss "at step ``s``" was
measured after ``s`` updates. With ``eta_i = lr[i-1]`` (1-based, as in the papers)::

    S1(s) = sum_{i=1..s} eta_i                         = sum(lr[:s])
    m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),  m_0 = 0
    S2(s) = sum_{i=1..s} m_i = [(eta_0 - eta_s) - lam * m_s] / (1 - lam)

``eta_0`` is the LR "before" the first update: ``eta_0 = eta_1`` (so ``m_1 = 0``, the P2 convention)
unless the caller passes another one (the final PT LR for the CPT part of a run, laws.md §3.3).

Warmup conventions (``warmup=``):

* ``"peak"`` (P2 §3.4, laws.md §2.2; the default): the first ``warmup_steps`` updates count as the
  peak LR the warmup ramps to, ``eta_max = lr[warmup_steps]`` (the LR of the first update after
  the warmup; ``lr[-1]`` if the whole array is warmup) -- each adds ``eta_max`` to S1 and nothing
  to S2 (``eta_0 = eta_max``). Differentiable: the gradient of the warmup steps flows to
  ``lr[warmup_steps]``.
* ``"as-run"``: the LR array is used as it is; a warmup ramp then makes S2 negative (like a
  re-warmup).

Algorithm (no Python loop over steps; everything is linear in ``lr`` and smooth in ``lam``, so
``jit``, ``vmap`` and ``grad`` w.r.t. the LR array and ``lam`` all work):

1. ``d = eta_prev - eta`` (explicitly, so that S2 never comes from a difference of LR-sized sums).
2. The steps are cut in blocks of ``B``. Inside a block every quantity is a short weighted sum of
   ``B`` values with exact (float64-computed) weights ``lam^n`` and ``w_n = sum_{i<=n} lam^i``.
3. The block carries (prefix S1, momentum at the block end, prefix S2) are propagated by a
   ``lax.scan`` over the blocks with compensated (TwoSum) accumulation and a float64-accurate
   ``lam^B`` split into two floats, so the carries are accurate to a few units in the last place
   whatever the number of blocks.
4. Values at the observed steps are the carry of their block plus the partial sum inside the
   block: a gather of the ``B`` values of that block (few observed steps), or a dense block
   matmul for all steps (many observed steps).

The closed form ``S2 = [(eta_0 - eta_s) - lam m_s]/(1 - lam)`` is *not* used: in float32 it loses
``1/(1 - lam) = 1000`` ulps right after a sharp LR drop. Nor is ``jnp.cumsum``: on CPU it is ~5x
slower than ``np.cumsum`` and less accurate than the blocked sums.

Accuracy (tests/dynamics/test_areas.py): float64 results agree with a float64 (and an exact
rational) reference to ~1e-14 relative (asserted: 1e-9). float32 results on 1e5-step schedules:
S1 max relative error 2.8e-7 with the dense path (block matmuls) and 7e-8 with the gather path,
S2 max error / max|S2| <= 2.5e-7 -- a few float32 ulps, whatever the length (asserted: 4e-7,
1.5e-7, 4e-7), where a naive float32 sequential scan drifts to 1e-5..6e-4. A traced float32
``lam`` carries its own rounding (1 ulp of 0.999 is 6e-5 of ``1 - lam``); a Python-float ``lam``
gets float64-exact weights.

Enable float64 locally with ``cptdyn.schedules._pytree.x64_context()`` (never globally); the laws'
``features(run)`` do so.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn.schedules._pytree import concrete_or_none

lax = jax.lax

__all__ = [
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
#: S2 PT/CPT splits of laws.md §3.3.
S2_SPLITS = ("origin", "step")

#: Default block length (steps); a multiple of 8 that keeps the dense block matmul fast on CPU.
DEFAULT_BLOCK = 32


class Areas(NamedTuple):
    """Areas at the observed steps; each has shape ``lr.shape[:-1] + steps.shape``."""

    S1: jax.Array
    S2: jax.Array
    m: jax.Array | None = None  # annealing momentum m_s (only when ``return_momentum=True``)


class CPTAreas(NamedTuple):
    """PT/CPT split areas at the observed steps (laws.md §3.3); shapes as in ``Areas``."""

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
    try:
        v = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"{where}={lam!r} is not a number in [0, 1)") from None
    if not (0.0 <= v < 1.0) or not math.isfinite(v):
        raise ValueError(f"{where}={lam!r} is outside [0, 1)")
    return v


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if v != value or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}={value!r} is outside {rng}")
    return v


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


def _as_float(lr: Any) -> jax.Array:
    x = jnp.asarray(lr)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"lr must have a last axis of length >= 1, got shape {x.shape}")
    return x


# ------------------------------------------------------------------------------------------------
# weights


class _Weights(NamedTuple):
    pw: jax.Array  # (B+1,) lam^n
    w: jax.Array  # (B+1,) w_n = sum_{i=0..n} lam^i   (w[B] unused)
    g: jax.Array  # (B+1,) g_n = sum_{i=1..n} lam^i = lam * w_{n-1}
    pB: tuple[jax.Array, jax.Array]  # lam^B as hi + lo
    gB: tuple[jax.Array, jax.Array]  # g_B as hi + lo
    tail_c: jax.Array  # lam / (1 - lam)
    tail_L: jax.Array  # log(lam) (finite)
    U: jax.Array  # (B, B) U[k, j] = 1       for k <= j  (inclusive prefix sums in a block)
    V: jax.Array  # (B, B) V[k, j] = lam^(j-k)  (momentum)
    Z: jax.Array  # (B, B) Z[k, j] = w_(j-k)    (annealing area)


def _weights(lam: Any, block: int, dtype: Any) -> _Weights:
    lam_c = concrete_or_none(lam)
    n = np.arange(block + 1)
    if lam_c is not None:  # static lam: exact float64 weights, rounded once to dtype
        lam_c = check_lam(lam_c)
        pw64 = lam_c ** n.astype(np.float64)
        w64 = np.cumsum(pw64)
        g64 = np.concatenate([[0.0], lam_c * w64[:-1]])
        diff = np.arange(block)[None, :] - np.arange(block)[:, None]
        mask = diff >= 0
        dd = np.where(mask, diff, 0)
        return _Weights(
            jnp.asarray(pw64, dtype), jnp.asarray(w64, dtype), jnp.asarray(g64, dtype),
            _split_const(float(pw64[block]), dtype), _split_const(float(g64[block]), dtype),
            jnp.asarray(lam_c / (1.0 - lam_c), dtype),
            jnp.asarray(math.log(max(lam_c, 1e-300)), dtype),
            jnp.asarray(mask, dtype),
            jnp.asarray(np.where(mask, pw64[dd], 0.0), dtype),
            jnp.asarray(np.where(mask, w64[dd], 0.0), dtype),
        )
    lam_t = jnp.asarray(lam, dtype)
    # lam^n = exp(n log lam); lam is kept in (0, 1) (the fitted range is an interval inside it).
    tiny = jnp.finfo(dtype).tiny
    loglam = jnp.log(jnp.clip(lam_t, tiny, 1.0))
    pw = jnp.exp(jnp.asarray(n, dtype) * loglam)
    w = jnp.cumsum(pw)
    g = jnp.concatenate([jnp.zeros((1,), dtype), lam_t * w[:-1]])
    zero = jnp.zeros((), dtype)
    diff = np.arange(block)[None, :] - np.arange(block)[:, None]
    mask_t = jnp.asarray(diff >= 0)
    dd_t = jnp.asarray(np.maximum(diff, 0), dtype)
    V = jnp.where(mask_t, jnp.exp(dd_t * loglam), zero)
    return _Weights(
        pw, w, g, (pw[block], zero), (g[block], zero), lam_t / (1.0 - lam_t), loglam,
        mask_t.astype(dtype), V, _tri(w[:block], block, dtype),
    )


def _tri(table: jax.Array, block: int, dtype: Any) -> jax.Array:
    """``M[k, j] = table[j - k]`` for ``k <= j`` else 0 (B x B, upper triangular Toeplitz)."""
    diff = np.arange(block)[None, :] - np.arange(block)[:, None]
    mask = diff >= 0
    vals = jnp.take(table, jnp.asarray(np.where(mask, diff, 0)), axis=0)
    return jnp.where(jnp.asarray(mask), vals, jnp.zeros((), dtype))


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
    W = _check_int("warmup_steps", warmup_steps, 0, T)
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


def _carries(
    s1tot: jax.Array, mtot: jax.Array, s2tot: jax.Array, wt: _Weights
) -> tuple[jax.Array, ...]:
    """Exclusive block prefixes (blocks on the last axis): P1 = p1 + c1, M, P2 = p2 + c2."""
    pB_hi, pB_lo = wt.pB
    gB_hi, gB_lo = wt.gB

    def body(carry, xs):
        p1, c1, M, p2, c2 = carry
        a1, am, a2 = xs
        out = (p1, c1, M, p2, c2)
        p1n, e1 = _two_sum(p1, a1)
        inc2 = gB_hi * M + (gB_lo * M + a2)
        p2n, e2 = _two_sum(p2, inc2)
        Mn = pB_hi * M + (pB_lo * M + am)
        return (p1n, c1 + e1, Mn, p2n, c2 + e2), out

    xs = tuple(jnp.moveaxis(a, -1, 0) for a in (s1tot, mtot, s2tot))
    z = jnp.zeros(s1tot.shape[:-1], s1tot.dtype)
    _, outs = lax.scan(body, (z, z, z, z, z), xs)
    return tuple(jnp.moveaxis(o, 0, -1) for o in outs)


def _blocked(
    x: jax.Array,
    eta0: jax.Array,
    steps: Any,
    wt: _Weights,
    *,
    block: int,
    method: str,
    return_momentum: bool,
) -> Areas:
    dtype = x.dtype
    T = x.shape[-1]
    batch = x.shape[:-1]
    B = int(block)
    nb = -(-T // B)
    pad = nb * B - T
    s_arr, concrete = _steps_info(steps, T)
    all_steps = steps is None
    K = T if all_steps else int(np.prod(np.shape(s_arr)))
    if method == "auto":
        method = "dense" if (all_steps or K * B > 2 * T) else "gather"

    d = _diff(x, eta0.astype(dtype))
    if pad:
        x = jnp.pad(x, [(0, 0)] * len(batch) + [(0, pad)])
        d = jnp.pad(d, [(0, 0)] * len(batch) + [(0, pad)])
    xb = x.reshape(*batch, nb, B)
    db = d.reshape(*batch, nb, B)
    U, V, Z = wt.U, wt.V, wt.Z

    if method == "dense":
        s1loc = (xb.reshape(-1, B) @ U).reshape(*batch, nb, B)
        if return_momentum:
            dz = db.reshape(-1, B) @ jnp.concatenate([Z, V], axis=1)
            s2loc = dz[:, :B].reshape(*batch, nb, B)
            mloc = dz[:, B:].reshape(*batch, nb, B)
            mtot = mloc[..., -1]
        else:
            dz = db.reshape(-1, B) @ jnp.concatenate([Z, V[:, -1:]], axis=1)
            s2loc = dz[:, :B].reshape(*batch, nb, B)
            mtot = dz[:, B].reshape(*batch, nb)
        p1, c1, M, p2, c2 = _carries(s1loc[..., -1], mtot, s2loc[..., -1], wt)
        S1 = p1[..., None] + (c1[..., None] + s1loc)
        S2 = p2[..., None] + ((c2[..., None] + wt.g[1:][None, :] * M[..., None]) + s2loc)
        S1 = S1.reshape(*batch, nb * B)[..., :T]
        S2 = S2.reshape(*batch, nb * B)[..., :T]
        m = None
        if return_momentum:
            m = (wt.pw[1:][None, :] * M[..., None] + mloc).reshape(*batch, nb * B)[..., :T]
        if all_steps:
            return Areas(S1, S2, m)
        idx = (jnp.asarray(s_arr) - 1) if not concrete else np.asarray(s_arr) - 1
        take = lambda a: jnp.take(a, jnp.asarray(idx).reshape(-1), axis=-1).reshape(
            *batch, *np.shape(s_arr)
        )
        return Areas(take(S1), take(S2), None if m is None else take(m))

    if method != "gather":
        raise ValueError(f"method={method!r} is not one of 'auto', 'dense', 'gather'")
    s_flat = (jnp.asarray(s_arr) if not concrete else np.asarray(s_arr)).reshape(-1)
    if not concrete:
        s_flat = s_flat.astype(jnp.int32)
    bi, ji = (s_flat - 1) // B, (s_flat - 1) % B
    s1tot = jnp.sum(xb, axis=-1)
    dm = db.reshape(-1, B) @ jnp.stack([V[:, -1], Z[:, -1]], axis=1)
    mtot = dm[:, 0].reshape(*batch, nb)
    s2tot = dm[:, 1].reshape(*batch, nb)
    p1, c1, M, p2, c2 = _carries(s1tot, mtot, s2tot, wt)
    bi_j = jnp.asarray(bi)
    ji_j = jnp.asarray(ji)
    # the observed steps' blocks of x (one gather), and their LR decrements rebuilt from them
    xg = jnp.take(xb, bi_j, axis=-2)  # (..., K, B)
    before = jnp.concatenate([eta0[..., None].astype(dtype), xb[..., :-1, -1]], axis=-1)
    dg0 = jnp.take(before, bi_j, axis=-1) - xg[..., 0]
    dg = jnp.concatenate([dg0[..., None], xg[..., :-1] - xg[..., 1:]], axis=-1)
    s1loc = jnp.sum(xg * jnp.take(U.T, ji_j, axis=0), axis=-1)
    s2loc = jnp.sum(dg * jnp.take(Z.T, ji_j, axis=0), axis=-1)
    tk = lambda a: jnp.take(a, bi_j, axis=-1)
    g_j = jnp.take(wt.g, ji_j + 1)
    S1 = tk(p1) + (tk(c1) + s1loc)
    S2 = tk(p2) + ((tk(c2) + g_j * tk(M)) + s2loc)
    m = None
    if return_momentum:
        mloc = jnp.sum(dg * jnp.take(V.T, ji_j, axis=0), axis=-1)
        m = jnp.take(wt.pw, ji_j + 1) * tk(M) + mloc
    shp = (*batch, *np.shape(s_arr))
    return Areas(S1.reshape(shp), S2.reshape(shp), None if m is None else m.reshape(shp))


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
    block_size: int = DEFAULT_BLOCK,
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
      block_size: block length ``B`` (static).
      method: ``"auto"``, ``"dense"`` (all steps via block matmuls) or ``"gather"``.

    Returns:
      ``Areas(S1, S2, m)`` with shapes ``lr.shape[:-1] + steps.shape`` (``m`` is None unless
      requested).
    """
    check_warmup(warmup)
    if method not in ("auto", "dense", "gather"):
        raise ValueError(f"method={method!r} is not one of 'auto', 'dense', 'gather'")
    B = _check_int("block_size", block_size, 1)
    x = _as_float(lr)
    W = _check_int("warmup_steps", warmup_steps, 0, x.shape[-1])
    _steps_info(steps, x.shape[-1])  # validation (skipped for traced steps)
    wt = _weights(lam, B, x.dtype)
    if eta0 is not None:
        eta0 = jnp.broadcast_to(jnp.asarray(eta0, x.dtype), x.shape[:-1])
    if steps is not None and not isinstance(steps, jax.core.Tracer):
        steps = jnp.asarray(np.rint(np.asarray(steps)).astype(np.int64))
    return _areas_jit(
        x, steps, eta0, wt, warmup_steps=W, warmup=warmup, block=B, method=method,
        return_momentum=bool(return_momentum),
    )


@partial(
    jax.jit, static_argnames=("warmup_steps", "warmup", "block", "method", "return_momentum")
)
def _areas_jit(
    x: jax.Array, steps: Any, eta0: Any, wt: _Weights, *, warmup_steps: int, warmup: str,
    block: int, method: str, return_momentum: bool,
) -> Areas:
    x, e0 = effective_lr(x, warmup_steps=warmup_steps, warmup=warmup)
    if eta0 is not None:
        e0 = eta0
    return _blocked(x, e0, steps, wt, block=block, method=method,
                    return_momentum=return_momentum)


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
    return _tail(m, n, _weights(lam, 1, m.dtype))


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
    """S1pt, S1cpt, S2pt, S2cpt at observed steps for a PT + CPT schedule (laws.md §3.3).

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
    B = _check_int("block_size", block_size, 1)
    x = _as_float(lr)
    T = x.shape[-1]
    W = _check_int("warmup_steps", warmup_steps, 0, T)
    Tp = _check_int("transfer_step", transfer_step, 1, T - 1)
    _steps_info(steps, T)
    if steps is None:
        steps = np.arange(1, T + 1)
    if not isinstance(steps, jax.core.Tracer):
        steps = jnp.asarray(np.rint(np.asarray(steps)).astype(np.int64))
    wt = _weights(lam, B, x.dtype)
    return _cpt_jit(x, steps, wt, transfer_step=Tp, warmup_steps=W, warmup=warmup, split=split,
                    block=B)


@partial(
    jax.jit, static_argnames=("transfer_step", "warmup_steps", "warmup", "split", "block")
)
def _cpt_jit(
    x: jax.Array, steps: jax.Array, wt: _Weights, *, transfer_step: int, warmup_steps: int,
    warmup: str, split: str, block: int,
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
    pt = _blocked(x[..., :Tp], e0, pt_steps, wt, block=B, method="auto", return_momentum=True)
    K = pt_steps.shape[0] - 1
    shp = (*x.shape[:-1], *steps.shape)
    S1pt = pt.S1[..., :K].reshape(shp)
    S2pt_obs = pt.S2[..., :K].reshape(shp)
    assert pt.m is not None
    m_T = pt.m[..., K:]  # (..., 1)
    cpt = _blocked(
        x[..., Tp:], x[..., Tp - 1], s_cpt.reshape(-1), wt, block=B, method="auto",
        return_momentum=False,
    )
    zero = jnp.zeros((), x.dtype)
    S1cpt = jnp.where(in_cpt, cpt.S1.reshape(shp), zero)
    S2c_origin = jnp.where(in_cpt, cpt.S2.reshape(shp), zero)
    tail = _tail(m_T, n_cpt.reshape(-1), wt).reshape(shp)
    if split == "origin":
        return CPTAreas(S1pt, S1cpt, S2pt_obs + tail, S2c_origin)
    return CPTAreas(S1pt, S1cpt, S2pt_obs, S2c_origin + tail)
