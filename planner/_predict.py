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

from cptdyn.dynamics import Law

__all__ = ["curve", "loss_at", "curve_jit"]


def curve(law: Law, lr: Any, **context: Any) -> jax.Array:
    """Predicted loss after ``1 .. len(lr)`` updates (pure JAX): ``law.predict_lr(lr, None)``."""
    return law.predict_lr(jnp.asarray(lr), None, **context)


def loss_at(law: Law, lr: Any, steps: Sequence[int], **context: Any) -> jax.Array:
    """Predicted loss after each of the whole, concrete ``steps`` (``1..len(lr)``)."""
    return law.predict_lr(jnp.asarray(lr), np.asarray(steps, dtype=np.int64), **context)


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
