"""One prediction entry point for every law: the loss from a raw per-step LR array.

``curve(law, lr, **context)[i]`` is the predicted loss after ``i + 1`` updates;
``loss_at(law, lr, steps, **context)`` the loss after each of the (concrete) ``steps``. Both are
pure JAX: differentiable w.r.t. ``lr`` and the law's parameters, jit/vmap friendly. Context keys
are those of :class:`cptdyn.dynamics.Run`: ``warmup_steps`` and ``transfer_step`` (static Python
ints), ``dataset`` (static), ``replay_ratio`` and ``model_size`` (may be traced).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn.dynamics._law import Law

__all__ = ["curve", "loss_at", "curve_jit"]


def curve(law: Law, lr: Any, **context: Any) -> jax.Array:
    """Predicted loss after ``1 .. len(lr)`` updates (pure JAX)."""
    lr = jnp.asarray(lr)
    if hasattr(law, "predict_lr"):
        return law.predict_lr(lr, None, **context)
    if hasattr(law, "curve"):  # the Multi-Power Law
        return law.curve(lr, int(context.get("warmup_steps", 0) or 0))
    raise TypeError(f"law {type(law).__name__} has no pure-JAX prediction from an LR array")


def loss_at(law: Law, lr: Any, steps: Sequence[int], **context: Any) -> jax.Array:
    """Predicted loss after each of the whole, concrete ``steps`` (``1..len(lr)``)."""
    lr = jnp.asarray(lr)
    s = np.asarray(steps, dtype=np.int64)
    if hasattr(law, "predict_lr"):
        return law.predict_lr(lr, s, **context)
    if hasattr(law, "final_loss"):  # MPL: a direct O(T) sum per requested step
        w = int(context.get("warmup_steps", 0) or 0)
        return jnp.stack([mpl_final_direct(law, lr[: int(k)], w) for k in s])
    return jnp.take(curve(law, lr, **context), jnp.asarray(s) - 1)


@partial(jax.jit, static_argnames=("dataset", "warmup_steps", "transfer_step"))
def _curve_jit(law: Law, lr: jax.Array, replay_ratio: Any, model_size: Any, *, dataset: str,
               warmup_steps: int, transfer_step: int | None) -> jax.Array:
    return curve(law, lr, dataset=dataset, warmup_steps=warmup_steps,
                 transfer_step=transfer_step, replay_ratio=replay_ratio, model_size=model_size)


def curve_jit(law: Law, lr: Any, *, dataset: str = "val", warmup_steps: int = 0,
              transfer_step: int | None = None, replay_ratio: Any = None,
              model_size: Any = None) -> jax.Array:
    """Jitted :func:`curve` (compiled once per law type, LR length and static context)."""
    return _curve_jit(law, jnp.asarray(lr), replay_ratio, model_size, dataset=dataset,
                      warmup_steps=int(warmup_steps),
                      transfer_step=None if transfer_step is None else int(transfer_step))


def mpl_final_direct(law: Any, lr: jax.Array, warmup_steps: int) -> jax.Array:
    """Multi-Power Law loss after all ``len(lr)`` updates by its defining sum, O(T):

    ``L0 + A S1^-alpha - B sum_k d_k (1 - (1 + C eta_k^-gamma S_k)^-beta)`` with ``S_k`` the LR
    area from update ``k`` to the end. One power per step (the per-step curve needs quadrature;
    the final value alone does not). Warmup convention from ``law.warmup``.
    """
    from cptdyn.dynamics._mpl import _drops_jnp

    drop = _drops_jnp(lr, int(warmup_steps), law.warmup)
    # LR area from update k to the end as a reverse cumulative sum: exactly 0 where the LR stays
    # 0 to the end (``s1 - (cumsum - lr)`` leaves rounding residues there, which made a drop to
    # exactly zero LR count fully)
    area_to_end = jnp.cumsum(lr[::-1])[::-1]
    s1 = area_to_end[0]
    pos = lr > 0
    eta = jnp.where(pos, lr, 1.0)
    x = law.C * eta ** (-law.gamma) * area_to_end
    # at eta_k = 0 the limit of G depends on what follows: with LR area still to come the drop
    # counts fully (x -> inf); with none (the LR stays 0 to the end) it counts nothing
    # (x ~ C eta^(1 - gamma) -> 0), so a drop to exactly zero LR is not a free lunch
    g = jnp.where(pos, 1.0 - (1.0 + x) ** (-law.beta), jnp.where(area_to_end > 0, 1.0, 0.0))
    ld = jnp.sum(drop * g)
    return law.L0 + law.A * s1 ** (-law.alpha) - law.B * ld
