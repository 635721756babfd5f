r"""The Multi-Power Law (MPL) of Luo et al. (ICLR 2025, arXiv 2503.12811) as a ``Law``.

.. math::

    L(s) = L_0 + A\,S_1(s)^{-\alpha} - B \sum_{k} d_k\, G\!\left(\eta_k^{-\gamma} S_k(s)\right),
    \qquad G(x) = 1 - (C x + 1)^{-\beta}

in the library's step convention (``cptdyn.dynamics._run``): ``lr[k]`` is the LR of update ``k``
(0-based) and the loss "at step ``s``" is measured after updates ``0 .. s-1``, so

* ``S1(s) = sum(lr[:s])`` (the whole LR area, warmup included),
* ``S_k(s) = sum(lr[k:s])`` (LR area from update ``k`` to the last update before the measurement),
* ``d_k = lr[k-1] - lr[k]`` (the LR *drop* at update ``k``), summed over ``k < s``.

Two warmup conventions (static option ``warmup``; they differ only in which drops enter the sum):

``"paper"`` (paper Eqs. 1-2, paper Table 7 parameters)
    Drops are counted only after the warmup: ``k >= W`` with ``W = run.warmup_steps``, and
    ``eta_0 := lr[W-1]`` (the last warmup LR, i.e. the peak), so ``d_W = lr[W-1] - lr[W]``. With
    ``W = 0`` there is no initial drop (``d_0 = 0``). ``S1`` includes the warmup area ``S_W``, here
    the actual area ``sum(lr[:W])`` (``eta_max * W / 2`` for a linear ramp from 0, as in the paper).
``"repo"`` (``src/models.py`` / ``src/evaluation.py`` of the MPL repository, its released
    ``src/config.py`` parameters)
    Every LR change enters the sum, including the warmup *increases* (negative drops), and the LR
    path starts from 0 before update 0 (``lr[-1] := 0``, so ``d_0 = -lr[0]``). For the MPL data,
    whose repository schedule array starts with a dummy 0 (``np.linspace(0, peak, 2160)``), our
    per-step array is the repository array without that leading 0, and this convention reproduces
    the repository's numbers exactly. Mixing conventions and parameters gives an offset of about
    ``B * eta_max`` (0.13-0.18 nats on the MPL data, checked in ``tests/dynamics/test_mpl.py``).

Fast evaluation (no O(T^2) work). With ``a_k = C eta_k^{-gamma}`` and ``X = 1/a_k + S_k(s)``,
``G = 1 - a_k^{-beta} X^{-beta}``, and ``X^{-beta}`` has the Laplace representation
``X^{-beta} = (1/Gamma(beta)) * integral lam^(beta-1) exp(-lam X) dlam``. The integral is
discretised by the trapezoidal rule in ``log(lam)`` on ``n_nodes`` points (spectrally accurate:
relative error about ``exp(-pi^2 / h)``, below 1e-8 for the default 64 nodes), plus the
closed-form sum of the infinitely many nodes below the grid (a power series in ``lam X``, four
terms, whose running moments are prefix sums). Each node turns the history sum into a linear
recurrence ``R_q(s) = exp(-lam_q lr[s-1]) * (R_q(s-1) + d_{s-1} a^{-beta} exp(-lam_q / a))``, run
by one ``lax.scan`` (chunked and rematerialised, so reverse mode stores one carry per 256 steps):
a whole curve costs ``O(T * n_nodes)`` and observed steps only ``O(E * n_nodes)``, where ``E``
counts the updates that carry a drop plus the observed steps (constant stretches are merged
exactly). At observed steps only (``predict``/``predict_features``, what fitting evaluates)
the recurrence is not scanned: being linear, its value after observation ``b`` is the value after
``b - 1`` times ``exp(-lam * area between them)`` plus a sum of independent per-event terms, so
one ``(events x n_nodes)`` array, a segment sum and a scan over the observations give the same
numbers with no sequential pass over the events (2-3x cheaper to differentiate on long cosine
runs); above ``BLOCKED_MAX_ELEMENTS`` array elements the scan is used. The grid is placed from
the run's LR range and the parameters (``lam`` from ``0.01 / X_max`` to ``40 / X_min``; at
observed steps ``X_min`` is the smallest ``X`` actually evaluated) and is excluded from
differentiation (the exact value does not depend on it). Measured against a direct float64
evaluation: relative error < 1e-13 on the MPL runs (``tests/dynamics/test_mpl.py``); float32
inputs give ~3e-7.

Use float64 (``features``/``predict``/``predict_curve`` do, locally); ``curve`` and ``final_loss``
follow the dtype of their input. To differentiate the final loss w.r.t. the LR array use
``final_loss`` (no per-step outputs; differentiating ``curve(lr)[-1]`` makes XLA constant-fold the
transposed prefix sum of a one-hot cotangent, which compiles slowly for long runs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from cptdyn._pytree import pytree_dataclass, static_field, x64_context

from .._law import Law, check_lr_array, interval, param, positive, register_law
from .._run import Run, RunError
from ..presets import PAPER_PARAMS, REPO_PARAMS

__all__ = [
    "MPLLaw",
    "MPL_CONVENTIONS",
    "mpl_curve",
]

MPL_CONVENTIONS = ("paper", "repo")



_CHUNK = 256  # events per checkpointed inner scan (bounds reverse-mode memory)
_TAIL_TERMS = 4  # power-series terms for the nodes below the grid
_LAM_LO = 0.01  # lam_lo * X_max
_LAM_HI = 40.0  # lam_hi * X_min


# ----------------------------------------------------------------------------------- drops
def _drops_np(lr: np.ndarray, warmup_steps: int, convention: str) -> np.ndarray:
    prev = np.concatenate([[0.0], lr[:-1]])
    d = prev - lr
    if convention == "paper":
        d[: max(warmup_steps, 1)] = 0.0
    return d


def _drops_jnp(lr: jax.Array, warmup_steps: int, convention: str) -> jax.Array:
    prev = jnp.concatenate([jnp.zeros((1,), lr.dtype), lr[:-1]])
    d = prev - lr
    if convention == "paper":
        d = jnp.where(jnp.arange(lr.shape[0]) < max(warmup_steps, 1), 0.0, d)
    return d


# ------------------------------------------------------------------------------ core kernel
def _mpl_events(law: MPLLaw, area: jax.Array, drop: jax.Array, eta: jax.Array,
                pstart: jax.Array, p_max: jax.Array,
                seg: tuple[jax.Array, jax.Array, jax.Array] | None = None,
                final_only: bool = False) -> jax.Array:
    """Loss-drop sum ``sum_k d_k G(a_k S_k)`` after each event (``LD / B``).

    Events are consecutive groups of updates; event ``e`` starts with update ``k_e`` (LR ``eta[e]``,
    drop ``drop[e]``, prefix area ``pstart[e] = sum(lr[:k_e])``) and covers LR area ``area[e]``.
    Updates inside an event after its first carry no drop. The value is taken after the event.
    ``seg = (keep, start, dsum)`` (from ``features``, possibly stacked): ``keep[e] = 0`` restarts
    the history at event ``e`` (a new run), ``start[e]`` is the first event of ``e``'s run and
    ``dsum`` the per-run prefix sum of the drops (run-only quantities are precomputed in numpy so
    that XLA never constant-folds prefix sums of captured features).
    Compiled once per (number of events, ``n_nodes``), whatever the warmup convention. With
    ``final_only`` only the value after the last event is returned (a scalar; ``p_max`` must then
    be the total area), without per-event outputs.
    """
    return _events_jit(law.C, law.beta, law.gamma, area, drop, eta, pstart, p_max, seg,
                       n_nodes=law.n_nodes, final_only=final_only)


def _node_setup(C: Any, beta: Any, gamma: Any, area: jax.Array, drop: jax.Array, eta: jax.Array,
                p_max: jax.Array, n_nodes: int,
                x_min_fn: Callable[[jax.Array], jax.Array] | None = None) -> tuple[Any, ...]:
    """Per-event weights, the quadrature nodes and the closed-form tail (``_events_jit``).

    The grid spans ``lam`` in ``[0.01 / X_max, 40 / X_min]`` over the ``X = 1/a_k + S_k(s)`` that
    are evaluated; by default ``X_min`` is bounded by ``1/a_k + eta_k`` (any step), and
    ``x_min_fn(1/a)`` may give the actual smallest ``X`` (a narrower grid, fewer nodes for the
    same accuracy).
    """
    dt = area.dtype
    has = (drop != 0) & (eta > 0)
    eta_s = jnp.where(eta > 0, eta, 1.0)
    log_eta = jnp.log(eta_s)
    inv_a = jnp.where(eta > 0, jnp.exp(gamma * log_eta) / C, 0.0)  # 1 / a_k
    a_pow = jnp.where(eta > 0, jnp.exp(beta * (gamma * log_eta - jnp.log(C))), 0.0)  # a^-beta
    w_ev = drop * a_pow  # d_k a_k^-beta

    # node grid (not differentiated: the exact value does not depend on it)
    sg = jax.lax.stop_gradient
    inv_a_g, eta_g, has_g = sg(inv_a), sg(eta), has
    any_drop = jnp.any(has_g)
    x_max = jnp.max(jnp.where(has_g, inv_a_g, 0.0)) + sg(p_max)
    if x_min_fn is None:
        x_min = jnp.min(jnp.where(has_g, inv_a_g + eta_g, jnp.inf))
    else:
        x_min = sg(x_min_fn(inv_a_g))
    x_max = jnp.where(any_drop & (x_max > 0), x_max, 1.0)
    x_min = jnp.where(any_drop & jnp.isfinite(x_min) & (x_min > 0), x_min, x_max)
    s_lo = jnp.log(_LAM_LO / x_max)
    s_hi = jnp.maximum(jnp.log(_LAM_HI / x_min), s_lo + 1.0)
    q = n_nodes
    h = (s_hi - s_lo) / (q - 1)
    s_nodes = s_lo + h * jnp.arange(q, dtype=dt)
    lam = jnp.exp(s_nodes)
    lam_lo = lam[0]
    w_nodes = h * jnp.exp(beta * s_nodes - gammaln(beta))  # trapezoid weights (incl. 1/Gamma)

    # nodes below the grid, summed in closed form: for lam X << 1,
    #   sum_{j>=1} h f(s_lo - j h)
    #     = (h lam_lo^beta / Gamma(beta)) sum_n (-lam_lo X)^n / n! * r_n / (1 - r_n),
    # r_n = exp(-(beta + n) h), with lam_lo X = al_k + pe(s), al_k = lam_lo (1/a_k - pstart_k),
    # pe(s) = lam_lo P_end(s): binomial expansion over running sums M_m = sum_k w_k al_k^m.
    tail_scale = h * jnp.exp(beta * jnp.log(lam_lo) - gammaln(beta))
    coefs = []
    for nn in range(_TAIL_TERMS):
        # r / (1 - r) with r = exp(-(beta + n) h), written as 1 / expm1((beta + n) h): for small
        # beta (n = 0) ``1 - r`` rounds to 0 once beta h < 1e-16 and ``tail_scale * inf`` (with
        # tail_scale -> 0 through 1/Gamma(beta)) was NaN; this form stays finite down to beta = 0
        coefs.append(tail_scale * ((-1.0) ** nn / math.factorial(nn))
                     / jnp.expm1((beta + nn) * h))

    def tail_value(mom: Sequence[jax.Array], pe: jax.Array) -> jax.Array:
        out = jnp.zeros_like(pe)
        for nn in range(_TAIL_TERMS):
            for m in range(nn + 1):
                out = out + coefs[nn] * math.comb(nn, m) * mom[m] * pe ** (nn - m)
        return out

    return dt, inv_a, w_ev, lam, lam_lo, w_nodes, tail_value


@functools.partial(jax.jit, static_argnames=("n_nodes", "final_only"))
def _events_jit(C: Any, beta: Any, gamma: Any, area: jax.Array, drop: jax.Array, eta: jax.Array,
                pstart: jax.Array, p_max: jax.Array,
                seg: tuple[jax.Array, jax.Array, jax.Array] | None, *, n_nodes: int,
                final_only: bool = False) -> jax.Array:
    dt, inv_a, w_ev, lam, lam_lo, w_nodes, tail_value = _node_setup(
        C, beta, gamma, area, drop, eta, p_max, n_nodes)

    # one linear recurrence per node, scanned over events (the history restarts where keep = 0)
    def step(rq: jax.Array, x: tuple[jax.Array, ...]) -> tuple[jax.Array, Any]:
        ar, we, ia = x[:3]
        if len(x) == 4:
            rq = rq * x[3]
        rq = jnp.exp(-lam * ar) * (rq + we * jnp.exp(-lam * ia))
        return rq, (None if final_only else rq @ w_nodes)

    n = area.shape[0]
    n_pad = (-n) % _CHUNK
    xs: tuple[jax.Array, ...] = (area, w_ev, inv_a)
    if seg is not None:
        xs = xs + (seg[0].astype(dt),)
    if n_pad:
        xs = tuple(jnp.concatenate([v, jnp.full((n_pad,), 1.0 if i == 3 else 0.0, v.dtype)])
                   for i, v in enumerate(xs))
    n_chunks = (n + n_pad) // _CHUNK
    xs = tuple(v.reshape(n_chunks, _CHUNK) for v in xs)

    @jax.checkpoint
    def chunk(carry: jax.Array, xc: tuple[jax.Array, ...]) -> tuple[jax.Array, Any]:
        return jax.lax.scan(step, carry, xc)

    last, main = jax.lax.scan(chunk, jnp.zeros(lam.shape, jnp.result_type(dt, lam.dtype)), xs)

    al = lam_lo * (inv_a - pstart)
    terms = [w_ev * al**m for m in range(_TAIL_TERMS)]
    # A drop into an LR of exactly 0 counts nothing (G -> 0: x = C eta^-gamma S_k ~ eta^(1-gamma)
    # -> 0 when no LR area follows); without this a drop straight to 0 would be credited in full.
    # (A re-warmup after an exact 0 would deserve G = 1 again; that case is undercounted here.)
    drop_pos = jnp.where(eta > 0, drop, 0.0)
    if final_only:  # one run (seg is None), plain sums, no per-event outputs
        sums = [jnp.sum(drop_pos)] + [jnp.sum(t) for t in terms]
        # G = 1 - a^-beta X^-beta  ->  sum d G = sum d - sum d a^-beta X^-beta
        return sums[0] - last @ w_nodes - tail_value(sums[1:], lam_lo * p_max)
    # running sums, restarted at the start of every run (stacked features)
    sums = [jnp.cumsum(t) for t in terms]
    if seg is None:
        sums = [jnp.cumsum(drop_pos)] + sums
    else:
        start = seg[1]
        sums = [seg[2]] + [cs - (cs - t)[start] for cs, t in zip(sums, terms, strict=True)]
    pe = lam_lo * (pstart + area)
    return sums[0] - main.reshape(-1)[:n] - tail_value(sums[1:], pe)


@functools.partial(jax.jit, static_argnames=("n_nodes",))
def _events_at_obs_jit(C: Any, beta: Any, gamma: Any, area: jax.Array, drop: jax.Array,
                       eta: jax.Array, pstart: jax.Array, p_max: jax.Array,
                       seg: tuple[jax.Array, jax.Array, jax.Array], obs: jax.Array,
                       blk: jax.Array, *, n_nodes: int) -> jax.Array:
    """``_events_jit`` (stacked ``seg`` form) evaluated only after the events ``obs`` (strictly
    increasing), without a scan over events.

    The node recurrence is linear, so its value after observation ``b`` is the value after
    ``b - 1`` decayed by ``exp(-lam (P_b - P_{b-1}))`` plus, for every event ``e`` of block ``b``
    (the events after observation ``b - 1`` up to ``b``), ``w_e exp(-lam (1/a_e + P_b - P_e))``,
    with ``P`` the prefix LR area (``P_e = pstart[e]``, ``P_b`` the area after observation
    ``b``; ``blk[e]`` is the block of event ``e``, ``n_obs`` past the last). Those terms are
    independent: one ``(events x nodes)`` array and a segment sum, then a
    scan over the observations only. Same value as the event scan up to rounding; much cheaper
    to differentiate (no sequential pass over the events).
    """
    n_obs = obs.shape[0]
    inside = blk < n_obs
    blk_c = jnp.minimum(blk, n_obs - 1)
    p_obs = (pstart + area)[obs]
    gap_e = jnp.take(p_obs, blk_c) - pstart  # >= area >= 0 inside a block

    def x_min_fn(inv_a_g: jax.Array) -> jax.Array:  # the smallest X at an observation
        zg = inv_a_g + gap_e
        use = inside & (zg >= 0) & (drop != 0) & (eta > 0)
        return jnp.min(jnp.where(use, zg, jnp.inf))

    dt, inv_a, w_ev, lam, lam_lo, w_nodes, tail_value = _node_setup(
        C, beta, gamma, area, drop, eta, p_max, n_nodes, x_min_fn)
    keep = seg[0]
    z = inv_a + gap_e
    # padding events of a stacked run fall into the next run's first block (z < 0 there; they
    # carry no drop): mask them before the exponential so that neither value nor gradient sees inf
    valid = inside & (z >= 0)
    z = jnp.where(valid, z, 0.0)
    w_in = jnp.where(valid, w_ev, 0.0)
    contrib = w_in[:, None] * jnp.exp(-lam[None, :] * z[:, None])
    bsum = jax.ops.segment_sum(contrib, blk_c, num_segments=n_obs)
    # a run boundary (keep = 0) inside block b restarts the history there
    reset = jax.ops.segment_sum(jnp.where(inside, 1.0 - keep, 0.0), blk_c, num_segments=n_obs)
    gap = jnp.concatenate([jnp.zeros((1,), dt), p_obs[1:] - p_obs[:-1]])
    decay = jnp.where((reset > 0)[:, None], 0.0,
                      jnp.exp(-lam[None, :] * jnp.maximum(gap, 0.0)[:, None]))

    # running sums of the drops and of the tail moments, by block (a reset restarts them too)
    al = lam_lo * (inv_a - pstart)
    drop_in = jnp.where(inside & (eta > 0), drop, 0.0)
    mom = jnp.stack([drop_in] + [w_in * al**m for m in range(_TAIL_TERMS)], axis=1)
    bmom = jax.ops.segment_sum(mom, blk_c, num_segments=n_obs)
    cont = (reset <= 0).astype(dt)

    def body(c: tuple[jax.Array, jax.Array], x: tuple[jax.Array, ...]
             ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
        r, mo = c
        r = x[0] * r + x[1]
        mo = x[3] * mo + x[2]
        return (r, mo), (r @ w_nodes, mo)

    init = (jnp.zeros_like(lam), jnp.zeros((_TAIL_TERMS + 1,), dt))
    _, (main, mo) = jax.lax.scan(body, init, (decay, bsum, bmom, cont))
    sums_obs = [mo[:, m] for m in range(_TAIL_TERMS + 1)]
    return sums_obs[0] - main - tail_value(sums_obs[1:], lam_lo * p_obs)


#: Above this many (events x nodes) elements ``predict_features`` uses the event scan instead of
#: the blocked evaluation (memory: 8 bytes each, about 3x that while differentiating).
BLOCKED_MAX_ELEMENTS = 1 << 23


#: Runs with at most this many (observed step, earlier LR change) pairs use the dense features.
DENSE_MAX_PAIRS = 400_000


def _dense_features(run: Run, convention: str) -> dict[str, np.ndarray] | None:
    """The law as a direct sum over (observed step s, LR change k < s) pairs, or ``None`` when
    there are more than ``DENSE_MAX_PAIRS`` pairs (then the quadrature kernel is cheaper).

    Exact for the given LR array, like the kernel, and far cheaper when the LR changes at few
    updates (constant and step schedules, or LRs block-averaged between observed steps, as
    ``fit(..., coarsen_lr=True)`` does). Changes into an LR of exactly 0 count nothing (see
    ``_events_jit``). Features per pair: ``d_k``, ``log eta_k``, ``log S_k(s)``, the observation.
    """
    lr = np.asarray(run.lr, np.float64)[: int(run.steps[-1])]
    d = np.concatenate([[0.0], lr[:-1]]) - lr
    if convention == "paper":
        d[: max(int(run.warmup_steps), 1)] = 0.0
    k = np.flatnonzero((d != 0) & (lr > 0))
    n_pairs = int(np.searchsorted(k, run.steps, side="left").sum())
    if n_pairs > DENSE_MAX_PAIRS:
        return None
    csum = np.concatenate([[0.0], np.cumsum(lr)])
    p_obs = csum[run.steps]
    obs, ev = np.nonzero(k[None, :] < run.steps[:, None])
    return {
        "s1": p_obs,
        "seg": obs.astype(np.int32),
        "d": d[k[ev]],
        "log_eta": np.log(lr[k[ev]]),
        "log_s": np.log(p_obs[obs] - csum[k[ev]]),
    }


def _dense_predict(law: MPLLaw, f: Mapping[str, Any]) -> jax.Array:
    s1 = jnp.asarray(f["s1"])
    u = jnp.log(law.C) - law.gamma * jnp.asarray(f["log_eta"]) + jnp.asarray(f["log_s"])
    g = -jnp.expm1(-law.beta * jnp.logaddexp(0.0, u))  # 1 - (1 + C eta^-gamma S)^-beta
    ld = jax.ops.segment_sum(jnp.asarray(f["d"]) * g, jnp.asarray(f["seg"]),
                             num_segments=s1.shape[0])
    return _loss(law, s1, ld)


def _dense_stack(feats: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    offsets = np.cumsum([0] + [np.asarray(f["s1"]).shape[0] for f in feats])[:-1]
    out = {k: np.concatenate([np.asarray(f[k]) for f in feats])
           for k in ("s1", "d", "log_eta", "log_s")}
    out["seg"] = np.concatenate(
        [np.asarray(f["seg"]) + o for f, o in zip(feats, offsets, strict=True)]).astype(np.int32)
    return out


def _loss(law: MPLLaw, s1: jax.Array, ld: jax.Array) -> jax.Array:
    return law.L0 + law.A * s1 ** (-law.alpha) - law.B * ld


# --------------------------------------------------------------------------------- the law
@register_law
@pytree_dataclass
class MPLLaw(Law):
    """Multi-Power Law ``L0 + A S1^-alpha - B sum_k d_k (1 - (1 + C eta_k^-gamma S_k)^-beta)``.

    Args:
      L0, A, alpha, B, C, beta, gamma: parameters (pytree leaves). Constraints (``PARAMS``):
        ``L0, A, alpha, B, C > 0``; ``beta, gamma`` in ``(0, 1)`` (MPL App. D.2).
      warmup: ``"paper"`` (drops after the warmup only, ``eta_0`` = last warmup LR) or ``"repo"``
        (every LR change from 0, warmup increases included, as the MPL repository's code); see the
        module docstring. Static.
      n_nodes: quadrature nodes of the fast evaluation (static; 64 gives relative errors < 1e-8).

    Examples:
      >>> law = MPLLaw.released("400M")                  # repository parameters, warmup="repo"
      >>> law.predict(run)                                # loss at run.steps (float64)
      >>> law.predict_curve(run)                          # loss after 1 .. T updates
      >>> law.curve(lr_array, warmup_steps=2160)          # pure JAX, differentiable in lr
    """

    NAME: ClassVar[str] = "mpl"

    L0: Any = param(positive(), default=3.0)
    A: Any = param(positive(), default=0.5)
    alpha: Any = param(positive(), default=0.5)
    B: Any = param(positive(), default=400.0)
    C: Any = param(positive(), default=2.0)
    beta: Any = param(interval(0.0, 1.0), default=0.5)
    gamma: Any = param(interval(0.0, 1.0), default=0.5)
    warmup: str = static_field(default="paper")
    n_nodes: int = static_field(default=64)

    def __post_init__(self) -> None:
        self._check_param_types()
        if self.warmup not in MPL_CONVENTIONS:
            raise ValueError(
                f"MPLLaw: warmup={self.warmup!r} must be one of {', '.join(MPL_CONVENTIONS)}"
            )
        if (isinstance(self.n_nodes, bool) or not isinstance(self.n_nodes, int)
                or not 8 <= self.n_nodes <= 4096):
            raise ValueError(f"MPLLaw: n_nodes={self.n_nodes!r} must be an int in 8..4096")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def released(cls, size: str, source: str = "repo", **options: Any) -> MPLLaw:
        """Published parameters for the MPL data: ``size`` in ``25M``/``100M``/``400M``.

        ``source="repo"``: the repository's ``src/config.py`` values with ``warmup="repo"``;
        ``source="paper"``: paper Table 7 values with ``warmup="paper"``. ``options`` override.
        """
        table = {"repo": REPO_PARAMS, "paper": PAPER_PARAMS}.get(source)
        if table is None:
            raise ValueError(f"MPLLaw.released: source={source!r} must be 'repo' or 'paper'")
        key = str(size).upper()
        if not key.endswith("M"):
            key += "M"
        if key not in table:
            raise ValueError(f"MPLLaw.released: size={size!r} must be one of {', '.join(table)}")
        kwargs: dict[str, Any] = {**table[key], "warmup": source, **options}
        return cls(**kwargs)

    # ------------------------------------------------------------------ features / prediction
    def features(self, run: Run, *, form: str = "auto") -> dict[str, np.ndarray]:
        """Parameter-free arrays for ``predict_features`` (float64 numpy).

        The updates up to the last observed step are grouped into events: a new event starts at
        every update that carries a drop (under this law's warmup convention) and right after
        every observed step; updates without a drop are merged into the preceding event exactly.
        ``form="auto"`` uses the direct (observed step, LR change) pairs instead when there are
        few (at most ``DENSE_MAX_PAIRS``); ``"events"`` always gives the event form (features of
        several runs in that form stack into one evaluation).
        """
        if run.steps.size == 0:
            raise RunError(f"run {run.name!r}: no observed steps to predict")
        if form not in ("auto", "events"):
            raise ValueError(f"MPLLaw.features: form={form!r} must be 'auto' or 'events'")
        dense = _dense_features(run, self.warmup) if form == "auto" else None
        if dense is not None:
            return dense
        with x64_context():
            lr = np.asarray(run.lr, dtype=np.float64)
            steps = np.asarray(run.steps, dtype=np.int64)
            s_max = int(steps[-1])
            lr = lr[:s_max]
            drop = _drops_np(lr, int(run.warmup_steps), self.warmup)
            starts = np.union1d(np.flatnonzero(drop != 0), steps[steps < s_max])
            starts = np.union1d(starts, [0]).astype(np.int64)
            csum = np.concatenate([[0.0], np.cumsum(lr)])
            ends = np.concatenate([starts[1:], [s_max]])
            area = csum[ends] - csum[starts]
            obs_idx = np.searchsorted(ends, steps)
            if not np.array_equal(ends[obs_idx], steps):  # pragma: no cover - internal invariant
                raise AssertionError("event grid does not contain the observed steps")
            # pad with empty events (no area, no drop) to a size bucket (<= 25% more) so that runs
            # of similar length share one compiled kernel
            n = starts.size
            bucket = max(_CHUNK, 1 << max(int(math.log2(n)) - 2, 0))
            pad = (-n) % bucket
            z = np.zeros(pad)
            return {
                "area": np.concatenate([area, z]),
                "drop": np.concatenate([drop[starts], z]),
                "eta": np.concatenate([lr[starts], z]),
                "pstart": np.concatenate([csum[starts], np.full(pad, csum[s_max])]),
                "keep": np.concatenate([[0.0], np.ones(n - 1 + pad)]),
                "start": np.zeros(n + pad, np.int32),
                # drops into an exactly-zero LR count nothing (see _events_jit)
                "dsum": np.cumsum(np.concatenate([np.where(lr[starts] > 0, drop[starts], 0.0),
                                                  z])),
                "obs_idx": obs_idx.astype(np.int32),
                # observation block of every event (the first observation at or after it)
                "blk": np.searchsorted(obs_idx, np.arange(n + pad)).astype(np.int32),
                "s1": csum[steps],
                "p_max": np.asarray(csum[s_max]),
            }

    def predict_features(self, feats: Mapping[str, Any]) -> jax.Array:
        """Loss at the observed steps from ``features(run)`` (pure JAX; jit/vmap/grad in params)."""
        if "log_s" in feats:  # dense (observed step, LR change) pairs
            return _dense_predict(self, feats)
        area = jnp.asarray(feats["area"])
        dt = area.dtype
        args = (
            area,
            jnp.asarray(feats["drop"], dt),
            jnp.asarray(feats["eta"], dt),
            jnp.asarray(feats["pstart"], dt),
            jnp.asarray(feats["p_max"], dt),
            (jnp.asarray(feats["keep"], dt), jnp.asarray(feats["start"]),
             jnp.asarray(feats["dsum"], dt)),
        )
        obs = jnp.asarray(feats["obs_idx"])
        if area.shape[0] * self.n_nodes <= BLOCKED_MAX_ELEMENTS:
            ld_obs = _events_at_obs_jit(self.C, self.beta, self.gamma, *args, obs,
                                        jnp.asarray(feats["blk"]), n_nodes=self.n_nodes)
        else:
            ld_obs = jnp.take(_mpl_events(self, *args), obs)
        return _loss(self, jnp.asarray(feats["s1"], dt), ld_obs)

    def stack_features(self, feats: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray] | None:
        """One features pytree for several runs (their event sequences end to end, the history
        restarted at each run): ``predict_features`` of it is the concatenation of the per-run
        predictions, evaluated by a single scan."""
        if not feats:
            raise ValueError("MPLLaw.stack_features: no features")
        dense = ["log_s" in f for f in feats]
        if all(dense):
            return _dense_stack(feats)
        if any(dense):
            return None  # type: ignore[return-value]  # mixed forms: evaluate run by run
        cat = {k: np.concatenate([np.asarray(f[k], np.float64) for f in feats])
               for k in ("area", "drop", "eta", "pstart", "keep", "dsum", "s1")}
        offsets = np.cumsum([0] + [np.asarray(f["area"]).size for f in feats[:-1]])
        cat["start"] = np.concatenate(
            [np.asarray(f["start"], np.int64) + o for f, o in zip(feats, offsets, strict=True)]
        ).astype(np.int32)
        cat["obs_idx"] = np.concatenate(
            [np.asarray(f["obs_idx"], np.int64) + o for f, o in zip(feats, offsets, strict=True)]
        ).astype(np.int32)
        obs_off = np.cumsum([0] + [np.asarray(f["obs_idx"]).size for f in feats[:-1]])
        cat["blk"] = np.concatenate(
            [np.asarray(f["blk"], np.int64) + o for f, o in zip(feats, obs_off, strict=True)]
        ).astype(np.int32)
        cat["p_max"] = np.asarray(max(float(np.asarray(f["p_max"])) for f in feats))
        return cat

    def predict(self, run: Run) -> jax.Array:
        """Predicted loss at ``run.steps`` (float64, computed under a local x64 context)."""
        with x64_context():
            return self.predict_features(self.features(run))

    def curve(self, lr: Any, warmup_steps: int = 0) -> jax.Array:
        """Predicted loss after ``s = 1 .. T`` updates for a per-step LR array (pure JAX).

        Differentiable w.r.t. ``lr`` and the parameters; jit it with ``warmup_steps`` static
        (it is a Python int). Uses the dtype of ``lr`` (pass float64 under ``x64_context`` for
        accuracy).
        """
        lr = jnp.asarray(lr)
        if not jnp.issubdtype(lr.dtype, jnp.floating):
            lr = lr.astype(jnp.result_type(float))
        if lr.ndim != 1 or lr.shape[0] == 0:
            raise ValueError(f"MPLLaw.curve: lr must be a non-empty 1-D array, got {lr.shape}")
        w = int(warmup_steps)
        drop = _drops_jnp(lr, w, self.warmup)
        p_end = jnp.cumsum(lr)
        pstart = p_end - lr
        ld = _mpl_events(self, lr, drop, lr, pstart, p_end[-1])
        return _loss(self, p_end, ld)

    def final_loss(self, lr: Any, warmup_steps: int = 0) -> jax.Array:
        """Predicted loss after all ``len(lr)`` updates (pure JAX scalar; ``curve(lr)[-1]``).

        Cheaper than ``curve`` (no per-step outputs) and the better objective to differentiate
        w.r.t. ``lr`` for schedule optimisation.
        """
        lr = jnp.asarray(lr)
        if not jnp.issubdtype(lr.dtype, jnp.floating):
            lr = lr.astype(jnp.result_type(float))
        if lr.ndim != 1 or lr.shape[0] == 0:
            raise ValueError(f"MPLLaw.final_loss: lr must be a non-empty 1-D array, got {lr.shape}")
        drop = _drops_jnp(lr, int(warmup_steps), self.warmup)
        s1 = jnp.sum(lr)
        pstart = jnp.cumsum(lr) - lr
        ld = _mpl_events(self, lr, drop, lr, pstart, s1, final_only=True)
        return _loss(self, s1, ld)

    def predict_lr(self, lr: Any, steps: Any = None, **context: Any) -> jax.Array:
        """The ``Law`` protocol: loss after each of ``steps`` updates of ``lr`` (pure JAX).

        ``steps=None``: every step ``1..len(lr)`` (:meth:`curve`). Given (concrete) ``steps``:
        :meth:`final_loss_direct` of each prefix ``lr[:s]`` (one power per update, no
        quadrature), the form the planner differentiates. Context: ``warmup_steps``; other keys
        are ignored.
        """
        check_lr_array(lr, "MPLLaw.predict_lr")
        w = int(context.get("warmup_steps", 0) or 0)
        if steps is None:
            return self.curve(lr, w)
        lr = jnp.asarray(lr)
        s = np.asarray(steps, dtype=np.int64).reshape(-1)
        if s.size and (s.min() < 1 or s.max() > lr.shape[-1]):
            raise ValueError(f"MPLLaw.predict_lr: steps must be in 1..{lr.shape[-1]}")
        return jnp.stack([self.final_loss_direct(lr[: int(k)], w) for k in s])

    def terms(self, lr: Any, steps: Any = None, **context: Any) -> dict[str, np.ndarray]:
        """The prediction split into its additive terms (float64 numpy): ``"L0"``, ``"power
        (S1)"`` = ``A*S1^-alpha`` (S1 the whole LR area) and ``"annealing (loss drop)"`` =
        ``-B*LD``; they sum to ``predict_lr(lr, steps, **context)``."""
        with x64_context():
            lr64 = jnp.asarray(lr, jnp.float64)
            # the whole curve (one scan), read at the steps: cheaper than one sum per step
            curve = np.asarray(self.predict_lr(lr64, None, **context), np.float64)
            s1 = np.concatenate([[0.0], np.cumsum(np.asarray(lr64, np.float64), axis=-1)])
            idx = np.arange(1, s1.size) if steps is None else np.asarray(steps, np.int64)
            if idx.size and (idx.min() < 1 or idx.max() >= s1.size):
                raise ValueError(f"MPLLaw.terms: steps must be in 1..{s1.size - 1}")
            pred = curve[idx - 1]
            # a step with no LR area yet (warmup from 0): the power term is inf there and the
            # annealing term undefined (NaN), as the prediction is
            with np.errstate(divide="ignore", invalid="ignore"):
                power = float(self.A) * s1[idx] ** (-float(self.alpha))
                base = np.full(pred.shape, float(self.L0))
                return {"L0": base, "power (S1)": power,
                        "annealing (loss drop)": pred - base - power}

    def final_loss_direct(self, lr: Any, warmup_steps: int = 0) -> jax.Array:
        """Loss after all ``len(lr)`` updates by the law's defining sum, O(T):

        ``L0 + A S1^-alpha - B sum_k d_k (1 - (1 + C eta_k^-gamma S_k)^-beta)`` with ``S_k`` the
        LR area from update ``k`` to the end. One power per step (the per-step curve needs
        quadrature; the final value alone does not). Warmup convention from ``self.warmup``.
        """
        lr = jnp.asarray(lr)
        drop = _drops_jnp(lr, int(warmup_steps), self.warmup)
        # LR area from update k to the end as a reverse cumulative sum: exactly 0 where the LR
        # stays 0 to the end (``s1 - (cumsum - lr)`` leaves rounding residues there, which made a
        # drop to exactly zero LR count fully)
        area_to_end = jnp.cumsum(lr[::-1])[::-1]
        s1 = area_to_end[0]
        pos = lr > 0
        eta = jnp.where(pos, lr, 1.0)
        x = self.C * eta ** (-self.gamma) * area_to_end
        # at eta_k = 0 the limit of G depends on what follows: with LR area still to come the
        # drop counts fully (x -> inf); with none (the LR stays 0 to the end) it counts nothing
        # (x ~ C eta^(1 - gamma) -> 0), so a drop to exactly zero LR is not a free lunch
        g = jnp.where(pos, 1.0 - (1.0 + x) ** (-self.beta), jnp.where(area_to_end > 0, 1.0, 0.0))
        ld = jnp.sum(drop * g)
        return self.L0 + self.A * s1 ** (-self.alpha) - self.B * ld

    def predict_curve(self, run: Run, upto: int | None = None) -> jax.Array:
        """Predicted loss after every number of updates ``1 .. upto`` (default ``run.total_steps``).

        Runs jitted under a local x64 context; entry ``s - 1`` is the loss at step ``s``.
        """
        t = run.total_steps if upto is None else int(upto)
        if not 1 <= t <= run.total_steps:
            raise ValueError(f"MPLLaw.predict_curve: upto={upto} is outside 1..{run.total_steps}")
        with x64_context():
            lr = jnp.asarray(run.lr[:t], dtype=jnp.float64)
            return _curve_jit(self, lr, int(run.warmup_steps))

    # ------------------------------------------------------------------ fitting support
    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """Starting points (16 parameter dicts) from the observed losses and the peak LR.

        ``L0`` below the lowest observed loss (by 0.1 and 0.4 times the observed loss range,
        floored at 10% of the lowest loss), ``alpha`` in {0.3, 0.6}, ``A`` matching the median
        point of the longest run, ``B * peak_lr`` in {0.05, 0.2}, ``C`` in {0.5, 2}, and
        ``beta = gamma = 0.5`` (the repository's start).
        """
        obs = [r for r in runs if r.loss is not None and r.loss.size]
        losses = [np.asarray(r.loss) for r in obs]
        if not obs:
            raise ValueError("MPLLaw.init_grid: no run has observed losses")
        lo = min(float(v.min()) for v in losses)
        hi = max(float(v.max()) for v in losses)
        rng = max(hi - lo, 1e-3)
        peak = max(r.peak_lr for r in obs)
        j = max(range(len(obs)), key=lambda k: obs[k].steps.size)
        ref = obs[j]
        i = ref.steps.size // 2
        s1_mid = float(np.sum(ref.lr[: int(ref.steps[i])]))
        l_mid = float(losses[j][i])
        grid = []
        for l0 in (max(lo - 0.1 * rng, 0.1 * lo), max(lo - 0.4 * rng, 0.1 * lo)):
            for alpha in (0.3, 0.6):
                a = max(l_mid - l0, 1e-3) * s1_mid**alpha
                for bp in (0.05, 0.2):
                    for c in (0.5, 2.0):
                        grid.append(dict(L0=l0, A=a, alpha=alpha, B=bp / peak, C=c,
                                         beta=0.5, gamma=0.5))
        return grid


def _curve_impl(law: MPLLaw, lr: jax.Array, warmup_steps: int) -> jax.Array:
    return law.curve(lr, warmup_steps)


_curve_jit = jax.jit(_curve_impl, static_argnums=2)


def mpl_curve(law: MPLLaw, lr: Any, warmup_steps: int = 0) -> jax.Array:
    """Functional form of ``MPLLaw.curve``: loss after ``1 .. len(lr)`` updates (pure JAX)."""
    return law.curve(lr, warmup_steps)
