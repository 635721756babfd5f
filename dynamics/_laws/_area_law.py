"""What the area-based laws share: the base class and the helpers of their starting grids.

The annealing law (``_momentum``), the CPT laws (``_cpt``) and the FSL ansatz (``_fsl``) are all
computed from LR areas of one run (``cptdyn.dynamics.areas``): ``lr_features`` maps a raw LR
array to those areas in pure JAX, and :class:`AreaLaw` turns that into the ``Law`` protocol.
"""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import x64_context

from .._areas import check_lam, check_warmup
from .._law import Law, check_lr_array
from .._run import Run
from .._simulate import run_context

__all__ = [
    "AreaLaw",
    "context_warmup",
    "derive_A",
    "grid_C",
    "observed_losses",
    "power_decay",
    "predict_jit",
]


def power_decay(S: Any, A: Any, alpha: Any) -> jax.Array:
    """``A * S^(-alpha)`` with ``+inf`` at ``S <= 0`` (double-where: finite gradients elsewhere)."""
    S = jnp.asarray(S)
    pos = S > 0
    safe = jnp.where(pos, S, jnp.ones((), S.dtype))
    return jnp.where(pos, A * safe ** (-alpha), jnp.inf)


def observed_losses(runs: Sequence[Run]) -> np.ndarray:
    ys = [np.asarray(r.loss, np.float64) for r in runs if r.loss is not None and r.loss.size]
    if not ys:
        raise ValueError("init_grid: no run has observed losses")
    return np.concatenate(ys)


def derive_A(L0: float, alpha: float, S1: np.ndarray, y: np.ndarray) -> float:
    """``A`` such that ``L0 + A * S1^-alpha`` passes through the median observation."""
    keep = S1 > 0
    if not keep.any():
        return 0.5
    S1, y = S1[keep], y[keep]
    i = int(np.argsort(S1)[S1.size // 2])
    excess = max(float(y[i]) - L0, 1e-3)
    return excess * float(S1[i]) ** alpha


def context_warmup(name: str, warmup_steps: Any) -> int:
    try:
        w = int(warmup_steps)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: warmup_steps={warmup_steps!r} is not an integer") from None
    return w


class AreaLaw(Law):
    """Base of the laws computed from LR areas (S1, S2 ...; no fields of its own).

    A subclass defines ``lr_features(lr, steps, **context)`` (pure JAX, any float dtype) and
    ``predict_features``; this base derives ``features(run)`` (the same computation in float64),
    ``predict(run)`` and the protocol's ``predict_lr``.
    """

    def _validate(self) -> None:
        name = type(self).__name__
        check_warmup(self.warmup, f"{name}: warmup")  # type: ignore[attr-defined]
        lam = getattr(self, "lam", None)
        if "lam" not in self.PARAMS:
            check_lam(lam, f"{name}: lam")

    def __post_init__(self) -> None:
        self._check_param_types()
        self._validate()

    def predict_lr(self, lr: Any, steps: Any = None, **context: Any) -> jax.Array:
        """Predicted loss at ``steps`` from a raw per-step LR array (pure JAX).

        Args:
          lr: per-step LRs, shape ``(..., T)`` (absolute units); differentiable.
          steps: observed steps in ``1..T`` (default: all).
          **context: ``warmup_steps``, ``transfer_step``, ``dataset``, ``replay_ratio``,
            ``model_size`` (see ``run_context``); the ones a law does not use are ignored.
        """
        check_lr_array(lr, f"{type(self).__name__}.predict_lr")
        return predict_jit(self, self.lr_features(lr, steps, **context))

    def predict(self, run: Run) -> jax.Array:
        """Predicted loss at ``run.steps`` (``predict_features(features(run))``, jitted)."""
        return predict_jit(self, self.features(run))

    def lr_features(self, lr: Any, steps: Any = None, **context: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:  # pragma: no cover
        """The additive terms of ``predict_features(feats)`` by name (they sum to it)."""
        raise NotImplementedError

    def terms(self, lr: Any, steps: Any = None, **context: Any) -> dict[str, np.ndarray]:
        """The prediction split into its additive terms (float64 numpy, computed under a local
        x64 context), e.g. ``{"L0": ..., "power (S1)": ..., "annealing (S2)": ...}``; the terms
        sum to ``predict_lr(lr, steps, **context)``. Arguments as for :meth:`predict_lr`."""
        with x64_context():
            f = self.lr_features(jnp.asarray(lr, jnp.float64), steps, **context)
            parts = self.terms_features(f)
            shape = jnp.shape(self.predict_features(f))
            return {k: np.broadcast_to(np.asarray(v, np.float64), shape).copy()
                    for k, v in parts.items()}

    def features(self, run: Run) -> Any:
        """Parameter-independent arrays for ``run`` (float64 numpy, local x64)."""
        with x64_context():
            f = self.lr_features(np.asarray(run.lr, np.float64), run.steps, **run_context(run))
            return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), f)


@jax.jit
def predict_jit(law: Law, feats: Any) -> jax.Array:
    # one compiled program per (law class, options, shapes) instead of many eager ops
    return law.predict_features(feats)


def grid_C(ymin: float, S2max: float) -> float:
    """Scale of C: an annealing drop of about 3% of the loss at the largest S2 (P2 Fig. 2)."""
    return 0.03 * ymin / S2max if S2max > 1e-12 else 0.4
