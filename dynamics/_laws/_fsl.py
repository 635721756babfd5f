"""The Functional Scaling Law ansatz for LLM loss curves (FSL: Li et al., NeurIPS 2025,
arXiv 2509.19189, App. B.2 Eq. 30 with M fixed)::

    L(k)   = L0 + c1 * T(k)^(-s) - LRD(k),          T(k) = sum_{i<=k} eta_i   ("intrinsic time")
    LRD(k) = c2 * sum_{i=1..k} (eta_{i-1} - eta_i) * (c3 + T(i)^(-s))
                               * (1 - (1 + c4 * (T(k) - T(i)))^(-gamma))

In this library's step convention ``T(k) = S1(k) = sum(lr[:k])`` and the decrement of update
``t`` is ``d[t] = eta_prev - lr[t]`` (``eta_prev`` = the previous effective LR, ``eta_0`` for the
first update), the same decrements as the annealing law's S2.

Cost: ``O(K * T)`` per evaluation (K observed steps, T updates; there is no recurrence because of
the power). ``predict_features`` chunks over the observed steps (``lax.map``) so memory stays
``O(chunk * T)``. Option ``block_size`` (default 1 = exact) aggregates the decrements in blocks of
that many updates (sum of ``d``, ``T`` at the block end) -- MPL-style block aggregation
(MPL App. D.2), ``block_size`` times cheaper.

No published LLM parameter values exist (the paper releases no code, no data); the defaults are
illustrative values of the right order for absolute LRs around 2e-4, not a fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import pytree_dataclass, static_field
from cptdyn._validate import check_int as _check_int

from .._areas import _diff, areas, check_warmup, effective_lr
from .._law import param, positive, register_law
from .._run import Run
from ._area_law import AreaLaw, context_warmup, derive_A, observed_losses, power_decay

__all__ = ["FSLLaw"]

#: At most this many (observed step, block) pairs in the fitting features (else dense chunks).
_MAX_PAIRS = 1 << 22

#: Elements of one (observed-steps chunk x updates) slab in ``predict_features``.
_SLAB = 1 << 22


@register_law
@pytree_dataclass
class FSLLaw(AreaLaw):
    """Functional Scaling Law ansatz (see the module docstring).

    Warmup convention: option ``warmup``; default ``"peak"`` (as the annealing law, P2 §3.4: the
    warmup updates count as the peak LR in ``T`` and contribute no decrement); ``"as-run"`` uses
    the LR array as it is (warmup increases then enter LRD as negative decrements). The FSL paper
    does not state a convention.

    Parameters (all positive): ``L0, c1, s, c2, c3, c4, gamma``. Defaults are illustrative.

    Options: ``warmup``, ``block_size`` (int >= 1; 1 = exact).

    Features: ``{"d", "Ti", "Tk"}`` -- decrements and ``T`` after every (block of) update(s), and
    ``T`` at the observed steps.
    """

    NAME = "fsl"

    L0: Any = param(positive(), default=2.6)
    c1: Any = param(positive(), default=0.45)
    s: Any = param(positive(), default=0.55)
    c2: Any = param(positive(), default=300.0)
    c3: Any = param(positive(), default=0.5)
    c4: Any = param(positive(), default=50.0)
    gamma: Any = param(positive(), default=0.6)
    warmup: str = static_field(default="peak")
    block_size: int = static_field(default=1)

    def _validate(self) -> None:
        name = type(self).__name__
        check_warmup(self.warmup, f"{name}: warmup")
        _check_int(name, "block_size", self.block_size, 1)

    def lr_features(self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, **_: Any) -> Any:
        w = context_warmup(type(self).__name__, warmup_steps)
        x, eta0 = effective_lr(lr, warmup_steps=w, warmup=self.warmup)
        T = x.shape[-1]
        a = areas(x, None, eta0=eta0, warmup="as-run")
        Ti = a.S1  # (..., T): T after each update
        d = _diff(x, eta0)
        if steps is None:
            Tk = Ti
        else:
            Tk = areas(x, steps, eta0=eta0, warmup="as-run").S1
        b = int(self.block_size)
        if b > 1:
            nb = -(-T // b)
            pad = nb * b - T
            widths = [(0, 0)] * (x.ndim - 1) + [(0, pad)]
            d = jnp.pad(d, widths).reshape(*x.shape[:-1], nb, b).sum(-1)
            Ti = jnp.pad(Ti, widths, mode="edge").reshape(*x.shape[:-1], nb, b)[..., -1]
        return {"d": d, "Ti": Ti, "Tk": Tk}

    def features(self, run: Run) -> Any:
        """Fitting features: ``lr_features`` of the run (computed in NumPy, float64: the same
        values to rounding, without eager device operations) reduced to the (observed step,
        block) pairs that contribute (``_pair_features``)."""
        lr = np.asarray(run.lr, np.float64)
        if lr.ndim != 1 or lr.size == 0:
            return _pair_features(super().features(run))
        w = context_warmup(type(self).__name__, run.warmup_steps)
        return _pair_features(_lr_features_np(lr, np.asarray(run.steps), w, self.warmup,
                                              int(self.block_size)))

    def stack_features(self, feats: Sequence[Any]) -> Any:
        if not all("pk" in f for f in feats):
            return None
        out = {k: np.concatenate([np.asarray(f[k], np.float64) for f in feats])
               for k in ("d", "Ti", "Tk", "bd", "bTi")}
        for idx, size_of in (("pk", "Tk"), ("pb", "bd")):
            offs = np.cumsum([0] + [np.asarray(f[size_of]).size for f in feats[:-1]])
            out[idx] = np.concatenate([np.asarray(f[idx], np.int64) + o
                                       for f, o in zip(feats, offs, strict=True)]
                                      ).astype(np.int32)
        return out

    def predict_features(self, f: Any) -> jax.Array:
        return self.L0 + power_decay(jnp.asarray(f["Tk"]), self.c1, self.s) - self.c2 * self._lrd(f)

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(jnp.asarray(f["Tk"]), self.c1, self.s),
                "annealing (LR decrease)": -self.c2 * self._lrd(f)}

    def _lrd(self, f: Any) -> jax.Array:
        """The LR-decrease sum of the ansatz at the observed steps."""
        if "pk" in f:  # (observed step, contributing block) pairs
            Tk = jnp.asarray(f["Tk"])
            bTi = jnp.asarray(f["bTi"], Tk.dtype)
            pk = jnp.asarray(f["pk"]).astype(jnp.int32)
            pb = jnp.asarray(f["pb"]).astype(jnp.int32)
            pos = bTi > 0
            tpow = jnp.where(pos, jnp.where(pos, bTi, 1.0) ** (-self.s), 0.0)
            amp = jnp.asarray(f["bd"], Tk.dtype) * (self.c3 + tpow)  # once per block
            gap = jnp.take(Tk, pk) - jnp.take(bTi, pb)
            sat = -jnp.expm1(-self.gamma * jnp.log1p(self.c4 * gap))
            contrib = jnp.take(amp, pb) * sat
            return jax.ops.segment_sum(contrib, pk, num_segments=Tk.shape[0])
        d = jnp.asarray(f["d"])
        Ti = jnp.asarray(f["Ti"])
        Tk = jnp.asarray(f["Tk"])
        pos = Ti > 0  # T(i) = 0 only before any LR was used (then d = 0 as well)
        tpow = jnp.where(pos, jnp.where(pos, Ti, 1.0) ** (-self.s), 0.0)
        amp = d * (self.c3 + tpow)  # (..., n)
        n = Ti.shape[-1]
        batch = Tk.shape[:-1]
        K = Tk.shape[-1]

        def lrd_one(tk: jax.Array) -> jax.Array:  # tk: (...,) one observed step per batch row
            gap = jnp.maximum(tk[..., None] - Ti, 0.0)
            sat = -jnp.expm1(-self.gamma * jnp.log1p(self.c4 * gap))
            return jnp.sum(amp * sat, axis=-1)

        chunk = max(1, min(K, _SLAB // max(n, 1)))
        tks = jnp.moveaxis(Tk, -1, 0)  # (K, ...)
        lrd = jax.lax.map(lrd_one, tks, batch_size=chunk) if K > 1 else lrd_one(tks[0])[None]
        return jnp.moveaxis(lrd, 0, -1).reshape(*batch, K)

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """2^4 data-driven starts over (L0, s, c2, c4); c1 passes through the median observation,
        c2 makes the full-decay drop ~3% of the loss, c4 saturates over ~100..1000 peak-LR steps.
        """
        y = observed_losses(runs)
        ymin = float(y.min())
        feats = [self.features(r) for r in runs if r.loss is not None]
        Tk = np.concatenate([f["Tk"] for f in feats])
        drop = max(float(np.sum(np.maximum(f["d"], 0.0))) for f in feats)
        peak = max(float(np.max(r.lr)) for r in runs)
        c3 = 0.5
        out = []
        for L0 in (0.85 * ymin, 0.95 * ymin):
            for s in (0.4, 0.7):
                c1 = derive_A(L0, s, Tk, y)
                for k in (0.5, 2.0):
                    c2 = k * 0.03 * ymin / (drop * (c3 + 1.0)) if drop > 0 else 1.0
                    for steps in (100.0, 1000.0):
                        out.append({"L0": L0, "c1": c1, "s": s, "c2": c2, "c3": c3,
                                    "c4": 1.0 / (steps * peak), "gamma": 0.6})
        return out



def _lr_features_np(lr: np.ndarray, steps: np.ndarray, warmup_steps: int, warmup: str,
                    block_size: int) -> dict[str, np.ndarray]:
    """``FSLLaw.lr_features`` of one run in NumPy (float64 cumulative sums; the JAX version's
    compensated sums agree to rounding)."""
    x = lr
    T = x.size
    W = min(max(int(warmup_steps), 0), T)
    if warmup == "as-run" or W == 0:
        eta0 = x[0]
    else:  # "peak": the warmup updates count as the peak LR
        eta0 = x[min(W, T - 1)]
        x = np.where(np.arange(T) < W, eta0, x)
    Ti = np.cumsum(x)  # T after each update
    d = np.concatenate([[eta0], x[:-1]]) - x
    Tk = np.concatenate([[0.0], Ti])[np.rint(steps).astype(np.int64)]
    if block_size > 1:
        nb = -(-T // block_size)
        pad = nb * block_size - T
        d = np.pad(d, (0, pad)).reshape(nb, block_size).sum(-1)
        Ti = np.pad(Ti, (0, pad), mode="edge").reshape(nb, block_size)[:, -1]
    return {"d": d, "Ti": Ti, "Tk": Tk}


def _pair_features(f: Any) -> Any:
    """The terms of ``predict_features`` that are not exactly zero, as (observed step k, block
    i) pairs: ``d_i != 0`` and ``T(i) < T(k)`` (otherwise the saturation factor is exactly 0).
    Same values, summed in another order; for a cosine run about half of the dense
    (observed steps x blocks) array, for constant or WSD runs far less. 1-D features only.

    Keys added: ``pk`` (observed step of each pair), ``pb`` (index of its block among the
    contributing blocks), ``bd``, ``bTi`` (decrement and ``T`` of the contributing blocks): the
    block's amplitude ``d_i (c3 + T(i)^-s)`` is computed once per block, not once per pair."""
    d, Ti, Tk = (np.asarray(f[k], np.float64) for k in ("d", "Ti", "Tk"))
    if d.ndim != 1 or Tk.ndim != 1:
        return f
    nz = np.flatnonzero(d != 0)
    if Tk.size * nz.size > _MAX_PAIRS:  # bound memory: the chunked dense evaluation instead
        return f
    pk, pb = np.nonzero(Tk[:, None] > Ti[None, nz])
    return {"d": d, "Ti": Ti, "Tk": Tk, "pk": pk.astype(np.int32), "pb": pb.astype(np.int32),
            "bd": d[nz], "bTi": Ti[nz]}
