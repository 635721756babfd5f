"""The annealing ("Momentum") law of P2 (Tissue et al. 2024) and its variants.

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)                        (P2 Eq. 1, 5)
    L(s) = L0 + A * S1^(-alpha) + B * N^(-beta) - C * S2 * N^gamma    (P2 Eq. 7, N in millions)

Three registered laws:

* ``MomentumLaw`` (``"momentum"``): lambda is a static option (default 0.999, P2's value in every
  experiment); S1/S2 are precomputed once per run by ``features``.
* ``MomentumLamLaw`` (``"momentum-lam"``): the same law with lambda a fitted parameter
  (``interval(0.9, 0.9999)``). P2 footnote 5 says lambda *could* be fitted; this variant pays for
  it by recomputing S2 inside ``predict_features`` (the features are the effective LR array).
* ``MomentumSizeLaw`` (``"momentum-size"``): the model-size form (P2 Eq. 7); ``N`` comes from
  ``run.model_size`` (non-embedding parameters, in millions).

Every law here also has ``predict_lr(lr, steps, *, warmup_steps=0, ...)``: the prediction as a
pure-JAX function of a raw per-step LR array (differentiable w.r.t. ``lr``, jit/vmap friendly);
``features(run)`` is that same computation run in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import pytree_dataclass, static_field

from .._areas import areas, effective_lr
from .._law import concat_rows, interval, param, positive, real, register_law
from .._run import Run
from ..presets import P2_FIG2, P2_FIG7B
from ._area_law import AreaLaw, context_warmup, derive_A, grid_C, observed_losses, power_decay

__all__ = [
    "MomentumLaw",
    "MomentumLamLaw",
    "MomentumSizeLaw",
]


#: Bounds of the fitted lambda of ``MomentumLamLaw`` (P2: 0.99..0.999 "generally works well").
LAM_BOUNDS = (0.9, 0.9999)


# ------------------------------------------------------------------------------------------------
# laws


@register_law
@pytree_dataclass
class MomentumLaw(AreaLaw):
    """P2's annealing law ``L = L0 + A*S1^(-alpha) - C*S2`` with a fixed lambda.

    Warmup convention: option ``warmup``; default ``"peak"`` (P2 §3.4: the first
    ``run.warmup_steps`` updates count as the peak LR ``lr[warmup_steps]`` in S1 and add
    nothing to S2); ``"as-run"`` uses the LR array as it is (a warmup ramp then gives S2 < 0).
    Later re-warmups are always as run (S2 < 0, P2 App. A).

    Parameters (leaves): ``L0, A, alpha, C`` (all positive). Defaults: P2 Fig. 2.

    Options (static): ``lam`` in ``[0, 1)`` (default 0.999), ``warmup``.

    Features: ``{"S1", "S2"}`` at the observed steps (row-wise: ``stack_features`` concatenates
    runs).
    """

    NAME = "momentum"

    L0: Any = param(positive(), default=P2_FIG2["L0"])
    A: Any = param(positive(), default=P2_FIG2["A"])
    alpha: Any = param(positive(), default=P2_FIG2["alpha"])
    C: Any = param(positive(), default=P2_FIG2["C"])
    lam: float = static_field(default=0.999)
    warmup: str = static_field(default="peak")

    def lr_features(self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, **_: Any) -> Any:
        w = context_warmup(type(self).__name__, warmup_steps)
        a = areas(lr, steps, lam=self.lam, warmup_steps=w, warmup=self.warmup)
        return {"S1": a.S1, "S2": a.S2}

    def predict_features(self, feats: Any) -> jax.Array:
        return self.L0 + power_decay(feats["S1"], self.A, self.alpha) - self.C * feats["S2"]

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(feats["S1"], self.A, self.alpha),
                "annealing (S2)": -self.C * feats["S2"]}

    def stack_features(self, feats: Sequence[Any]) -> Any:
        return concat_rows(feats)  # row-wise: one row per observation

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """3 x 3 x 3 starts over (L0, alpha, C); A is set so that the curve passes through the
        median observation (data-driven; P2 §3.4 does not report its grid)."""
        y = observed_losses(runs)
        feats = [self.features(r) for r in runs if r.loss is not None]
        S1 = np.concatenate([f["S1"] for f in feats])
        S2max = max(float(np.max(f["S2"])) for f in feats)
        ymin = float(y.min())
        C0 = grid_C(ymin, S2max)
        out = []
        for L0 in (0.75 * ymin, 0.9 * ymin, 0.97 * ymin):
            for alpha in (0.3, 0.55, 0.8):
                A = derive_A(L0, alpha, S1, y)
                for C in (0.3 * C0, C0, 3.0 * C0):
                    out.append({"L0": L0, "A": A, "alpha": alpha, "C": C})
        return out


@register_law
@pytree_dataclass
class MomentumLamLaw(AreaLaw):
    """P2's annealing law with lambda fitted: ``lam`` is a parameter in ``[0.9, 0.9999]``.

    Warmup convention: option ``warmup`` (default ``"peak"``, as ``MomentumLaw``).

    Parameters: ``L0, A, alpha, C`` (positive), ``lam`` (``interval(0.9, 0.9999)``; P2 used 0.999
    everywhere and calls 0.99..0.999 the useful range). Defaults: P2 Fig. 2 with lam 0.999.

    Features: the effective LR array ``x`` (warmup convention applied), ``eta0`` and the observed
    ``steps``; S1/S2 are recomputed in ``predict_features`` (differentiable in ``lam``).
    """

    NAME = "momentum-lam"

    L0: Any = param(positive(), default=P2_FIG2["L0"])
    A: Any = param(positive(), default=P2_FIG2["A"])
    alpha: Any = param(positive(), default=P2_FIG2["alpha"])
    C: Any = param(positive(), default=P2_FIG2["C"])
    lam: Any = param(interval(*LAM_BOUNDS), default=0.999)
    warmup: str = static_field(default="peak")

    def lr_features(self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, **_: Any) -> Any:
        w = context_warmup(type(self).__name__, warmup_steps)
        x, eta0 = effective_lr(lr, warmup_steps=w, warmup=self.warmup)
        if steps is None:
            steps = np.arange(1, x.shape[-1] + 1)
        return {"x": x, "eta0": eta0, "steps": jnp.asarray(steps)}

    def predict_features(self, feats: Any) -> jax.Array:
        steps = feats["steps"]
        if not isinstance(steps, jax.core.Tracer):
            steps = np.rint(np.asarray(steps)).astype(np.int64)
        else:
            steps = jnp.round(steps).astype(jnp.int32)
        x = jnp.asarray(feats["x"])
        a = areas(x, steps, lam=self.lam, eta0=feats["eta0"], warmup="as-run")
        return self.L0 + power_decay(a.S1, self.A, self.alpha) - self.C * a.S2

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:
        steps = np.rint(np.asarray(feats["steps"])).astype(np.int64)
        a = areas(jnp.asarray(feats["x"]), steps, lam=self.lam, eta0=feats["eta0"],
                  warmup="as-run")
        return {"L0": jnp.asarray(self.L0), "power (S1)": power_decay(a.S1, self.A, self.alpha),
                "annealing (S2)": -self.C * a.S2}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``MomentumLaw``'s grid at lam 0.999, each start repeated with lam 0.99 and 0.999."""
        base = MomentumLaw(warmup=self.warmup).init_grid(runs)  # type: ignore[call-arg]
        return [{**g, "lam": lam} for lam in (0.99, 0.999) for g in base]


@register_law
@pytree_dataclass
class MomentumSizeLaw(AreaLaw):
    """P2 Eq. 7: ``L = L0 + A*S1^(-alpha) + B*N^(-beta) - C*S2*N^gamma``, N in millions.

    ``N`` is ``run.model_size`` (non-embedding parameters in millions; the published fits only
    make sense in these units -- inferred, not stated: in P2 Fig. 7b 1.504 + 3.067 * 594.6^-0.158
    = 2.62, the L0 fitted at 594M in Fig. 2); a run without it is an error.

    Warmup convention: option ``warmup`` (default ``"peak"``, as ``MomentumLaw``).

    Parameters: ``L0, A, alpha, B, beta, C`` (positive), ``gamma`` (real). Defaults: P2 Fig. 7b.
    Options: ``lam`` (default 0.999), ``warmup``.
    """

    NAME = "momentum-size"

    L0: Any = param(positive(), default=P2_FIG7B["L0"])
    A: Any = param(positive(), default=P2_FIG7B["A"])
    alpha: Any = param(positive(), default=P2_FIG7B["alpha"])
    B: Any = param(positive(), default=P2_FIG7B["B"])
    beta: Any = param(positive(), default=P2_FIG7B["beta"])
    C: Any = param(positive(), default=P2_FIG7B["C"])
    gamma: Any = param(real(), default=P2_FIG7B["gamma"])
    lam: float = static_field(default=0.999)
    warmup: str = static_field(default="peak")

    def lr_features(
        self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, model_size: Any = None,
        **_: Any,
    ) -> Any:
        if model_size is None:
            raise ValueError(
                f"{type(self).__name__}: model_size is required "
                "(non-embedding parameters, in millions)"
            )
        w = context_warmup(type(self).__name__, warmup_steps)
        a = areas(lr, steps, lam=self.lam, warmup_steps=w, warmup=self.warmup)
        N = jnp.broadcast_to(jnp.asarray(model_size, a.S1.dtype), a.S1.shape)  # one per row
        return {"S1": a.S1, "S2": a.S2, "N": N}

    def predict_features(self, feats: Any) -> jax.Array:
        N = feats["N"]
        return (
            self.L0
            + power_decay(feats["S1"], self.A, self.alpha)
            + self.B * N ** (-self.beta)
            - self.C * feats["S2"] * N**self.gamma
        )

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:
        N = feats["N"]
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(feats["S1"], self.A, self.alpha),
                "model size (N)": self.B * N ** (-self.beta),
                "annealing (S2)": -self.C * feats["S2"] * N**self.gamma}

    def stack_features(self, feats: Sequence[Any]) -> Any:
        return concat_rows(feats)  # row-wise (N is broadcast to one value per observation)

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """2^4 starts over (L0, beta, alpha, C); B puts ``L0 + B*N^-beta`` at 0.9 x the lowest
        loss for the median model size, A passes through the median observation."""
        y = observed_losses(runs)
        feats = [self.features(r) for r in runs if r.loss is not None]
        S1 = np.concatenate([f["S1"] for f in feats])
        S2max = max(float(np.max(f["S2"])) for f in feats)
        Nmed = float(np.median([float(np.ravel(f["N"])[0]) for f in feats]))
        ymin = float(y.min())
        C0 = grid_C(ymin, S2max)
        out = []
        for L0 in (0.5 * ymin, 0.75 * ymin):
            for beta in (0.15, 0.3):
                B = max(0.9 * ymin - L0, 1e-3) * Nmed**beta
                for alpha in (0.4, 0.7):
                    A = derive_A(0.9 * ymin, alpha, S1, y)
                    for C in (0.5 * C0, 2.0 * C0):
                        out.append(
                            {"L0": L0, "A": A, "alpha": alpha, "B": B, "beta": beta, "C": C,
                             "gamma": 0.05}
                        )
        return out
