"""The CPT learning-dynamics law of P1 (Wang et al. 2025, Eq. 4) and its derived quantities.

Eq. 4 (one parameter tuple per validation set; the same form for D_pt and D_cpt)::

    L = L0 + A*(S1pt + S1cpt)^(-alpha) - C1*S2pt - C2*S2cpt + B*(1 - (1 + E*S1cpt)^(-beta))

* ``B`` is sign-free: ``B > 0`` on the general set D_pt (its loss rises during CPT), ``B < 0`` on
  the downstream set D_cpt (signs of P1's fits). ``E`` is fitted in log space (``positive``).
* Before the transfer (``s <= transfer_step``) ``S1cpt = S2cpt = 0``: the same equation is the PT
  curve. A run with ``transfer_step=None`` is a plain PT run.
* S1/S2 splits: ``cptdyn.dynamics._areas.cpt_areas`` (option ``split``: ``"origin"``, the
  default, or ``"step"``; a cptdyn choice -- the paper does not say which one it used).

Registered laws:

* ``CPTLaw`` (``"cpt"``): Eq. 4.
* ``CPTReplayLaw`` (``"cpt-replay"``): Eq. 8, replay ratio ``r_pt = run.replay_ratio``.
* ``CPTReplayCurveLaw`` (``"cpt-replay-curve"``): Eq. 8 with the replay factor normalised and its
  curvature fitted (either sign).
* ``CPTSizeLaw`` (``"cpt-size"``): Eq. 7, ``N = run.model_size`` in millions.
* ``CPTOpenLaw`` (``"cpt-open"``): open-source PT models (P1 §6, Fig. 18): ``S1pt`` is a fitted
  parameter and there is no S2pt term.

Derived quantities: ``loss_potential``, ``turning_length``, ``critical_point``.

Published parameter tuples are module constants (``P1_FIG3_DPT`` ...). P1's PDF text drops the
minus signs in figure labels; the signs are reconstructed: negative exponents, S2 terms negative,
the shift term ``+`` on D_pt and ``-`` on D_cpt (the only reading that fits the figures' axes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import pytree_dataclass, static_field, x64_context

from .._areas import (
    areas,
    check_lam,
    check_split,
    check_warmup,
    cpt_areas,
)
from .._law import Law, concat_rows, param, positive, real, register_law
from .._run import Run
from ..presets import P1_FIG3_DPT, P1_FIG15_DPT, P1_FIG18_MODEL1_DCPT, P1_FIG19_DPT, P1_OOD
from ._area_law import AreaLaw, context_warmup, derive_A, grid_C, observed_losses, power_decay

__all__ = [
    "CPTLaw",
    "CPTReplayLaw",
    "CPTReplayCurveLaw",
    "CPTSizeLaw",
    "CPTOpenLaw",
    "loss_potential",
    "turning_length",
    "critical_point",
    "ood_loss",
    "fit_ood_weights",
]


ROLES = ("auto", "pt", "cpt")
ANNEAL_RATIOS = ("r_cpt", "r_pt")


# ------------------------------------------------------------------------------------------------
# shared pieces


def _shift(S1cpt: Any, B: Any, E: Any, beta: Any) -> jax.Array:
    """``B * (1 - (1 + E*S1cpt)^(-beta))`` (expm1/log1p: accurate at small S1cpt)."""
    return B * -jnp.expm1(-beta * jnp.log1p(E * S1cpt))


def _split_features(
    lr: Any, steps: Any, *, lam: Any, warmup_steps: Any, warmup: str, split: str,
    transfer_step: Any, where: str,
) -> dict[str, jax.Array]:
    w = context_warmup(where, warmup_steps)
    if transfer_step is None:
        a = areas(lr, steps, lam=lam, warmup_steps=w, warmup=warmup)
        z = jnp.zeros_like(a.S1)
        return {"S1pt": a.S1, "S1cpt": z, "S2pt": a.S2, "S2cpt": z}
    c = cpt_areas(
        lr, steps, transfer_step=transfer_step, lam=lam, warmup_steps=w, warmup=warmup,
        split=split,
    )
    return {"S1pt": c.S1pt, "S1cpt": c.S1cpt, "S2pt": c.S2pt, "S2cpt": c.S2cpt}


def _eq8_terms(law: Any, f: Any) -> dict[str, jax.Array]:
    """P1 Eq. 8's additive terms for a replay law; ``law._shift_factor(r_cpt, is_pt)`` is the
    replay factor of the distribution shift (the one place the replay laws differ)."""
    r_pt = f["r_pt"]
    r_cpt = 1.0 - r_pt
    is_pt = f["is_pt"] > 0.5
    r_anneal_cpt = r_cpt if law.cpt_anneal_ratio == "r_cpt" else r_pt
    anneal = jnp.exp(law.a1 * jnp.where(is_pt, r_pt, r_anneal_cpt))
    return {"L0": jnp.asarray(law.L0),
            "power (S1)": power_decay(f["S1pt"] + f["S1cpt"], law.A, law.alpha),
            "annealing PT (S2pt)": -law.C1 * f["S2pt"],
            "annealing CPT (S2cpt)": -law.C2 * f["S2cpt"] * anneal,
            "distribution shift": _shift(f["S1cpt"], law.B, law.E, law.beta)
            * law._shift_factor(r_cpt, is_pt)}


def _role(role: str, dataset: Any, where: str) -> float:
    r = role
    if r == "auto":
        if dataset not in ("pt", "cpt"):
            raise ValueError(
                f"{where}: role='auto' needs dataset 'pt' or 'cpt', got dataset={dataset!r} "
                "(set the run's dataset or the law's role)"
            )
        r = dataset
    return 1.0 if r == "pt" else 0.0


class _CPTBase(AreaLaw):
    """Validation and grid helpers shared by the CPT laws (no fields)."""

    def stack_features(self, feats: Sequence[Any]) -> Any:
        """All CPT features are one value per observation: runs concatenate (fit fast path)."""
        return concat_rows(feats)

    def predict_features(self, f: Any) -> jax.Array:
        """The loss: the sum of :meth:`terms_features` (one formula per law, written once)."""
        total: Any = 0.0
        for term in self.terms_features(f).values():
            total = total + term
        return jnp.asarray(total)

    def _validate(self) -> None:
        name = type(self).__name__
        check_lam(self.lam, f"{name}: lam")  # type: ignore[attr-defined]
        if hasattr(self, "warmup"):
            check_warmup(self.warmup, f"{name}: warmup")  # type: ignore[attr-defined]
        if hasattr(self, "split"):
            check_split(self.split, f"{name}: split")  # type: ignore[attr-defined]

    def _grid(self, runs: Sequence[Run], extra: Sequence[dict[str, float]] = ({},)) -> list[dict]:
        """Data-driven starts: 2 L0 x 2 alpha x 2 B (sign from the runs' dataset) x 4 E x 2 beta.

        A passes through the median observation; C1 = C2 = an annealing drop of ~3% of the loss at
        the largest |S2|; E spans 1/E = 1..1000 steps at the peak LR (P1: E = 3..17920).
        """
        y = observed_losses(runs)
        ymin = float(y.min())
        feats = [self.features(r) for r in runs if r.loss is not None]
        S1 = np.concatenate([np.asarray(f.get("S1pt", 0.0)) + f["S1cpt"] for f in feats])
        S2max = max(
            float(np.max(np.abs(f.get("S2pt", 0.0)) + np.abs(f["S2cpt"]))) for f in feats
        )
        C0 = grid_C(ymin, S2max)
        peak = max(float(np.max(r.lr)) for r in runs)
        datasets = {r.dataset for r in runs}
        role = getattr(self, "role", "auto")
        if role == "pt" or (role == "auto" and datasets == {"pt"}):
            Bs = (0.1, 0.4)
        elif role == "cpt" or (role == "auto" and datasets == {"cpt"}):
            Bs = (-0.2, -0.6)
        else:
            Bs = (0.3, -0.5)
        out = []
        for L0 in (0.85 * ymin, 0.95 * ymin):
            for alpha in (0.4, 0.6):
                A = derive_A(L0, alpha, S1, y)
                for B in Bs:
                    for e in (1e-3, 1e-2, 1e-1, 1.0):
                        for beta in (0.15, 0.4):
                            for x in extra:
                                out.append(
                                    {"L0": L0, "A": A, "alpha": alpha, "C1": C0, "C2": C0,
                                     "B": B, "E": e / peak, "beta": beta, **x}
                                )
        return out


# ------------------------------------------------------------------------------------------------
# laws


@register_law
@pytree_dataclass
class CPTLaw(_CPTBase):
    """P1 Eq. 4, the CPT scaling law (see the module docstring).

    Warmup convention: option ``warmup``; default ``"peak"`` (P2's, which P1 builds on; P1 never
    mentions warmup): the PT warmup (``run.warmup_steps`` at the start of ``lr``) counts as the
    peak LR in S1pt and adds nothing to S2pt. A CPT re-warmup always counts as run, so S2cpt < 0
    while the LR rises (P2 App. A, P1 §3.3). ``"as-run"`` also takes the PT warmup as run.

    Parameters: ``L0, A, alpha, C1, C2, E, beta`` (positive; ``E`` is fitted in log space),
    ``B`` (real, sign-free). Defaults: P1 Fig. 3, D_pt.

    Options: ``lam`` (default 0.999), ``split`` (``"origin"`` or ``"step"``), ``warmup``.

    Features: ``{"S1pt", "S1cpt", "S2pt", "S2cpt"}`` at the observed steps.
    """

    NAME = "cpt"

    L0: Any = param(positive(), default=P1_FIG3_DPT["L0"])
    A: Any = param(positive(), default=P1_FIG3_DPT["A"])
    alpha: Any = param(positive(), default=P1_FIG3_DPT["alpha"])
    C1: Any = param(positive(), default=P1_FIG3_DPT["C1"])
    C2: Any = param(positive(), default=P1_FIG3_DPT["C2"])
    B: Any = param(real(), default=P1_FIG3_DPT["B"])
    E: Any = param(positive(), default=P1_FIG3_DPT["E"])
    beta: Any = param(positive(), default=P1_FIG3_DPT["beta"])
    lam: float = static_field(default=0.999)
    split: str = static_field(default="origin")
    warmup: str = static_field(default="peak")

    def lr_features(
        self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, transfer_step: Any = None,
        **_: Any,
    ) -> Any:
        return _split_features(
            lr, steps, lam=self.lam, warmup_steps=warmup_steps, warmup=self.warmup,
            split=self.split, transfer_step=transfer_step, where=type(self).__name__,
        )

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(f["S1pt"] + f["S1cpt"], self.A, self.alpha),
                "annealing PT (S2pt)": -self.C1 * f["S2pt"],
                "annealing CPT (S2cpt)": -self.C2 * f["S2cpt"],
                "distribution shift": _shift(f["S1cpt"], self.B, self.E, self.beta)}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        return self._grid(runs)


@register_law
@pytree_dataclass
class CPTReplayLaw(_CPTBase):
    """P1 Eq. 8: Eq. 4 with a PT-data replay ratio ``r_pt`` (``r_cpt = 1 - r_pt``)::

        D_pt : L = ... - C1*S2pt - C2*S2cpt*exp(a1*r_pt)  + shift*(1 - exp(-a2*r_cpt))
        D_cpt: L = ... - C1*S2pt - C2*S2cpt*exp(a1*r_cpt) + shift*(exp(a2*r_cpt) - 1)

    with ``shift = B*(1 - (1 + E*S1cpt)^(-beta))``. Both shift factors vanish at ``r_cpt = 0``.

    Which formula applies: option ``role`` -- ``"auto"`` (default) reads ``run.dataset``
    (``"pt"`` or ``"cpt"``; anything else is an error), ``"pt"``/``"cpt"`` force one.
    ``r_pt = run.replay_ratio``; a run without one counts as no replay (``r_pt = 0``).

    Unclear in P1 (App. H; an open question): the Fig. 19 caption writes the D_cpt annealing
    factor as ``exp(0.037*r_pt)`` whereas Eq. 8 has ``exp(a1*r_cpt)``: option
    ``cpt_anneal_ratio`` = ``"r_cpt"`` (Eq. 8, default) or ``"r_pt"`` (caption). Fig. 19's beta is
    not printed; the default beta here (0.189) is Fig. 3's D_pt value, a placeholder.

    Warmup convention: as ``CPTLaw`` (option ``warmup``, default ``"peak"``; CPT re-warmup as run).

    Parameters: ``CPTLaw``'s plus ``a1`` (real) and ``a2`` (positive). Defaults: P1 Fig. 19 D_pt
    (beta: placeholder, see above).
    """

    NAME = "cpt-replay"

    L0: Any = param(positive(), default=P1_FIG19_DPT["L0"])
    A: Any = param(positive(), default=P1_FIG19_DPT["A"])
    alpha: Any = param(positive(), default=P1_FIG19_DPT["alpha"])
    C1: Any = param(positive(), default=P1_FIG19_DPT["C1"])
    C2: Any = param(positive(), default=P1_FIG19_DPT["C2"])
    B: Any = param(real(), default=P1_FIG19_DPT["B"])
    E: Any = param(positive(), default=P1_FIG19_DPT["E"])
    beta: Any = param(positive(), default=P1_FIG3_DPT["beta"])
    a1: Any = param(real(), default=P1_FIG19_DPT["a1"])
    a2: Any = param(positive(), default=P1_FIG19_DPT["a2"])
    lam: float = static_field(default=0.999)
    split: str = static_field(default="origin")
    warmup: str = static_field(default="peak")
    role: str = static_field(default="auto")
    cpt_anneal_ratio: str = static_field(default="r_cpt")

    def _validate(self) -> None:
        super()._validate()
        name = type(self).__name__
        if self.role not in ROLES:
            raise ValueError(f"{name}: role={self.role!r} is not one of 'auto', 'pt', 'cpt'")
        if self.cpt_anneal_ratio not in ANNEAL_RATIOS:
            raise ValueError(
                f"{name}: cpt_anneal_ratio={self.cpt_anneal_ratio!r} is not one of 'r_cpt', 'r_pt'"
            )

    def lr_features(
        self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, transfer_step: Any = None,
        dataset: Any = None, replay_ratio: Any = None, **_: Any,
    ) -> Any:
        name = type(self).__name__
        f = _split_features(
            lr, steps, lam=self.lam, warmup_steps=warmup_steps, warmup=self.warmup,
            split=self.split, transfer_step=transfer_step, where=name,
        )
        r = 0.0 if replay_ratio is None else replay_ratio
        dt, shape = f["S1pt"].dtype, f["S1pt"].shape
        f["r_pt"] = jnp.broadcast_to(jnp.asarray(r, dt), shape)  # one value per observation
        f["is_pt"] = jnp.broadcast_to(jnp.asarray(_role(self.role, dataset, name), dt), shape)
        return f

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        return _eq8_terms(self, f)

    def _shift_factor(self, r_cpt: Any, is_pt: Any) -> jax.Array:
        """Eq. 8's replay factors: 1 - exp(-a2 r_cpt) on D_pt, exp(a2 r_cpt) - 1 on D_cpt."""
        return jnp.where(is_pt, -jnp.expm1(-self.a2 * r_cpt), jnp.expm1(self.a2 * r_cpt))

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``CPTLaw``'s grid with ``a1 = 0.05`` and ``a2`` in {1, 4} (P1 Fig. 19: 0.04-0.06,
        3.2-5.7)."""
        return self._grid(runs, extra=({"a1": 0.05, "a2": 1.0}, {"a1": 0.05, "a2": 4.0}))


def replay_curve(r_cpt: Any, k: Any) -> jax.Array:
    """``expm1(k*r_cpt) / expm1(k)``: 0 at ``r_cpt = 0``, 1 at ``r_cpt = 1``, ``r_cpt`` at ``k = 0``
    (the limit, taken to second order for ``|k| < 1e-4``); convex for ``k > 0``, concave below."""
    small = jnp.abs(k) < 1e-4
    ks = jnp.where(small, 1.0, k)
    exact = jnp.expm1(ks * r_cpt) / jnp.expm1(ks)
    return jnp.where(small, r_cpt * (1.0 + 0.5 * k * (r_cpt - 1.0)), exact)


@register_law
@pytree_dataclass
class CPTReplayCurveLaw(_CPTBase):
    """Eq. 8 of P1 with the replay factor of the shift normalised and its curvature fitted::

        L = L0 + A*S1^(-alpha) - C1*S2pt - C2*S2cpt*exp(a1*r) + shift * g(r_cpt)
        g(r_cpt) = expm1(k*r_cpt) / expm1(k)        (g(0) = 0, g(1) = 1, g = r_cpt at k = 0)

    with ``shift = B*(1 - (1 + E*S1cpt)^(-beta))`` and ``r`` in the annealing factor as in
    ``CPTReplayLaw`` (``r_pt`` for D_pt, ``r_cpt`` -- or ``r_pt``, option ``cpt_anneal_ratio`` --
    for D_cpt). ``B`` is the shift with no replay.

    Why: P1's factors are ``B*(1 - exp(-a2*r_cpt))`` for D_pt and ``B*(exp(a2*r_cpt) - 1)`` for
    D_cpt with ``a2 > 0``. Up to the scale of ``B`` they are ``g`` with ``k = -a2`` (concave: a
    little replay removes little of the D_pt shift) and ``k = +a2`` (convex). So this law is the
    same family with the sign of the curvature left to the data instead of fixed per validation
    set. The CPT lab's training runs (small byte-level GPTs, English -> Python) need the convex
    shape on D_pt: 25 % replay removed about three quarters of the D_pt rise, which P1's concave
    D_pt factor (at least 75 % of the shift kept at ``r_cpt = 0.75``) cannot express. At
    ``k = -a2``, ``B = B_P1 * (1 - exp(-a2))`` (D_pt) and ``k = a2``, ``B = B_P1 * expm1(a2)``
    (D_cpt) it predicts exactly what ``CPTReplayLaw`` does (tested).

    Warmup convention: as ``CPTLaw`` (option ``warmup``, default ``"peak"``; CPT re-warmup as run).

    Parameters: ``CPTLaw``'s plus ``a1`` and ``k`` (real). Defaults: P1 Fig. 19 D_pt mapped as
    above (beta: Fig. 3's D_pt value, a placeholder, as in ``CPTReplayLaw``).
    """

    NAME = "cpt-replay-curve"

    L0: Any = param(positive(), default=P1_FIG19_DPT["L0"])
    A: Any = param(positive(), default=P1_FIG19_DPT["A"])
    alpha: Any = param(positive(), default=P1_FIG19_DPT["alpha"])
    C1: Any = param(positive(), default=P1_FIG19_DPT["C1"])
    C2: Any = param(positive(), default=P1_FIG19_DPT["C2"])
    B: Any = param(real(), default=P1_FIG19_DPT["B"] * -math.expm1(-P1_FIG19_DPT["a2"]))
    E: Any = param(positive(), default=P1_FIG19_DPT["E"])
    beta: Any = param(positive(), default=P1_FIG3_DPT["beta"])
    a1: Any = param(real(), default=P1_FIG19_DPT["a1"])
    k: Any = param(real(), default=-P1_FIG19_DPT["a2"])
    lam: float = static_field(default=0.999)
    split: str = static_field(default="origin")
    warmup: str = static_field(default="peak")
    role: str = static_field(default="auto")
    cpt_anneal_ratio: str = static_field(default="r_cpt")

    lr_features = CPTReplayLaw.lr_features  # r_pt and the role per observation, as Eq. 8

    def _validate(self) -> None:
        _CPTBase._validate(self)
        name = type(self).__name__
        if self.role not in ROLES:
            raise ValueError(f"{name}: role={self.role!r} is not one of 'auto', 'pt', 'cpt'")
        if self.cpt_anneal_ratio not in ANNEAL_RATIOS:
            raise ValueError(
                f"{name}: cpt_anneal_ratio={self.cpt_anneal_ratio!r} is not one of 'r_cpt', 'r_pt'"
            )

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        return _eq8_terms(self, f)  # Eq. 8's terms with the factor below

    def _shift_factor(self, r_cpt: Any, is_pt: Any) -> jax.Array:
        """The normalised replay factor ``g(r_cpt)``, the same form on both validation sets."""
        return replay_curve(r_cpt, self.k)

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``CPTLaw``'s grid with ``a1 = 0.05`` and ``k`` in {-3, +3} (P1's two curvatures)."""
        return self._grid(runs, extra=({"a1": 0.05, "k": -3.0}, {"a1": 0.05, "k": 3.0}))


@register_law
@pytree_dataclass
class CPTSizeLaw(_CPTBase):
    """P1 Eq. 7, the model-size extension (N = ``run.model_size``, non-embedding, millions)::

        L = L0 + A*S1^(-alpha) - C1*S2pt*N^gamma1 - C2*S2cpt*N^gamma2 + shift + F*N^(-gamma3)

    Warmup convention: as ``CPTLaw`` (option ``warmup``, default ``"peak"``; CPT re-warmup as run).

    Parameters: ``CPTLaw``'s plus ``gamma1, gamma2`` (real), ``F, gamma3`` (positive).
    Defaults: P1 Fig. 15, D_pt.
    """

    NAME = "cpt-size"

    L0: Any = param(positive(), default=P1_FIG15_DPT["L0"])
    A: Any = param(positive(), default=P1_FIG15_DPT["A"])
    alpha: Any = param(positive(), default=P1_FIG15_DPT["alpha"])
    C1: Any = param(positive(), default=P1_FIG15_DPT["C1"])
    C2: Any = param(positive(), default=P1_FIG15_DPT["C2"])
    B: Any = param(real(), default=P1_FIG15_DPT["B"])
    E: Any = param(positive(), default=P1_FIG15_DPT["E"])
    beta: Any = param(positive(), default=P1_FIG15_DPT["beta"])
    gamma1: Any = param(real(), default=P1_FIG15_DPT["gamma1"])
    gamma2: Any = param(real(), default=P1_FIG15_DPT["gamma2"])
    F: Any = param(positive(), default=P1_FIG15_DPT["F"])
    gamma3: Any = param(positive(), default=P1_FIG15_DPT["gamma3"])
    lam: float = static_field(default=0.999)
    split: str = static_field(default="origin")
    warmup: str = static_field(default="peak")

    def lr_features(
        self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, transfer_step: Any = None,
        model_size: Any = None, **_: Any,
    ) -> Any:
        name = type(self).__name__
        if model_size is None:
            raise ValueError(f"{name}: model_size is required (non-embedding parameters, millions)")
        f = _split_features(
            lr, steps, lam=self.lam, warmup_steps=warmup_steps, warmup=self.warmup,
            split=self.split, transfer_step=transfer_step, where=name,
        )
        f["N"] = jnp.broadcast_to(jnp.asarray(model_size, f["S1pt"].dtype), f["S1pt"].shape)
        return f

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        N = f["N"]
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(f["S1pt"] + f["S1cpt"], self.A, self.alpha),
                "annealing PT (S2pt)": -self.C1 * f["S2pt"] * N**self.gamma1,
                "annealing CPT (S2cpt)": -self.C2 * f["S2cpt"] * N**self.gamma2,
                "distribution shift": _shift(f["S1cpt"], self.B, self.E, self.beta),
                "model size (N)": self.F * N ** (-self.gamma3)}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``CPTLaw``'s grid with ``L0`` lowered by the size term: ``F*N^-gamma3`` takes 30% of
        ``L0`` at the median size, ``gamma1 = gamma2 = 0.1`` (P1 Fig. 15: 0.01-0.24)."""
        Ns = [float(r.model_size) for r in runs if r.model_size is not None]
        if not Ns:
            raise ValueError(f"{type(self).__name__}: init_grid needs runs with model_size")
        Nmed = float(np.median(Ns))
        out = []
        for g in self._grid(runs):
            F = 0.3 * g["L0"] * Nmed**0.19
            out.append({**g, "L0": 0.7 * g["L0"], "gamma1": 0.1, "gamma2": 0.1, "F": F,
                        "gamma3": 0.19})
        return out


@register_law
@pytree_dataclass
class CPTOpenLaw(_CPTBase):
    """P1 §6 / Fig. 18: CPT from an open-source model whose PT schedule is unknown::

        L = L0 + A*(S1pt + S1cpt)^(-alpha) - C2*S2cpt + B*(1 - (1 + E*S1cpt)^(-beta))

    ``S1pt`` is a fitted parameter (it is not a physical estimate: P1's two validation sets of one
    model give different values) and there is no S2pt term (the PT annealing is assumed long
    over). S2cpt starts from the final PT LR ``pt_final_lr`` (option; default 0.0, P1's assumption
    that open models are annealed to zero), so the CPT re-warmup gives S2cpt < 0.

    Run layout: with ``transfer_step=None`` the whole ``lr`` is the CPT schedule and the steps
    count CPT updates; with a ``transfer_step`` the first ``transfer_step`` entries of ``lr`` are
    ignored (unknown PT) and observed steps ``<= transfer_step`` get ``S1cpt = S2cpt = 0``.

    Warmup convention: the CPT LR is taken as run (the re-warmup is part of S2cpt); there is no
    PT warmup to account for (the PT is not modelled).

    Parameters: ``L0, A, alpha, S1pt, C2, E, beta`` (positive), ``B`` (real). Defaults: P1
    Fig. 18, Model I, D_cpt (Pile-of-Law). Options: ``lam`` (0.999), ``pt_final_lr`` (>= 0).
    """

    NAME = "cpt-open"

    L0: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["L0"])
    A: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["A"])
    alpha: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["alpha"])
    S1pt: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["S1pt"])
    C2: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["C2"])
    B: Any = param(real(), default=P1_FIG18_MODEL1_DCPT["B"])
    E: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["E"])
    beta: Any = param(positive(), default=P1_FIG18_MODEL1_DCPT["beta"])
    lam: float = static_field(default=0.999)
    pt_final_lr: float = static_field(default=0.0)

    def _validate(self) -> None:
        super()._validate()
        v = self.pt_final_lr
        try:
            ok = float(v) >= 0.0 and np.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{type(self).__name__}: pt_final_lr={v!r} must be a number >= 0")

    def lr_features(
        self, lr: Any, steps: Any = None, *, transfer_step: Any = None, **_: Any
    ) -> Any:
        x = jnp.asarray(lr)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        eta0 = jnp.full(x.shape[:-1], self.pt_final_lr, x.dtype)
        if transfer_step is None:
            a = areas(x, steps, lam=self.lam, eta0=eta0, warmup="as-run")
            return {"S1cpt": a.S1, "S2cpt": a.S2}
        T = x.shape[-1]
        Tp = int(transfer_step)
        s = np.arange(1, T + 1) if steps is None else steps
        s = jnp.asarray(s)
        n = s - Tp
        sc = jnp.clip(n, 1, T - Tp)
        a = areas(x[..., Tp:], sc, lam=self.lam, eta0=eta0, warmup="as-run")
        zero = jnp.zeros((), x.dtype)
        return {"S1cpt": jnp.where(n > 0, a.S1, zero), "S2cpt": jnp.where(n > 0, a.S2, zero)}

    def terms_features(self, f: Any) -> dict[str, jax.Array]:
        return {"L0": jnp.asarray(self.L0),
                "power (S1)": power_decay(self.S1pt + f["S1cpt"], self.A, self.alpha),
                "annealing CPT (S2cpt)": -self.C2 * f["S2cpt"],
                "distribution shift": _shift(f["S1cpt"], self.B, self.E, self.beta)}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``CPTLaw``'s grid (no C1) with ``S1pt`` in {0.1, 1, 5} (P1 Fig. 18: 0.085-5.157)."""
        out = []
        for g in self._grid(runs):
            g = {k: v for k, v in g.items() if k != "C1"}
            for s1 in (0.1, 1.0, 5.0):
                out.append({**g, "S1pt": s1})
        return out


# ------------------------------------------------------------------------------------------------
# derived quantities


def loss_potential(lr: Any, transfer_step: int | None = None) -> float:
    """P1 §3.3: final PT LR / peak PT LR (1.0 = not annealed, 0.0 = annealed to zero).

    ``lr`` is the PT schedule, or a PT + CPT schedule with ``transfer_step`` PT updates.
    """
    a = np.asarray(lr, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"loss_potential: lr must be a non-empty 1-D array, got shape {a.shape}")
    pt = a if transfer_step is None else a[: int(transfer_step)]
    if pt.size == 0 or pt.max() <= 0:
        raise ValueError(
            f"loss_potential: transfer_step={transfer_step!r} leaves no positive PT LR"
        )
    return float(pt[-1] / pt.max())


def _curve(law: Law, lr: np.ndarray, steps: np.ndarray, context: dict[str, Any]) -> np.ndarray:
    with x64_context():
        return np.asarray(law.predict_lr(lr, steps, **context), dtype=np.float64)  # type: ignore[attr-defined]


def turning_length(
    law: Law,
    lr: Any,
    transfer_step: int,
    *,
    cpt_law: Law | None = None,
    weight: float = 1.0,
    warmup_steps: int = 0,
    replay_ratio: float | None = None,
    model_size: float | None = None,
) -> int | None:
    """CPT steps until the D_pt loss is back at its value at the transfer (P1 §3.1, §4.4).

    The loss is ``law`` (the D_pt law) or, with ``cpt_law``, the composite
    ``weight * L_Dpt + (1 - weight) * L_Dcpt`` (P1 §5.1, Fig. 13; ``weight`` is lambda1).
    It is evaluated at every step of ``lr`` (PT + CPT, ``transfer_step`` PT updates).

    Returns:
      ``0`` if the loss never rises above its transfer value; otherwise the first CPT step count
      ``n`` after the rise at which the loss is again ``<=`` its transfer value; ``None`` if that
      does not happen within ``lr``.
    """
    a = np.asarray(lr, dtype=np.float64)
    Tp = int(transfer_step)
    if not 1 <= Tp < a.size:
        raise ValueError(
            f"turning_length: transfer_step={transfer_step!r} is outside 1..{a.size - 1}"
        )
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"turning_length: weight={weight!r} is outside [0, 1]")
    steps = np.arange(Tp, a.size + 1)
    ctx = {"warmup_steps": warmup_steps, "transfer_step": Tp, "replay_ratio": replay_ratio,
           "model_size": model_size}
    L = _curve(law, a, steps, {**ctx, "dataset": "pt"})
    if cpt_law is not None:
        L = weight * L + (1.0 - weight) * _curve(cpt_law, a, steps, {**ctx, "dataset": "cpt"})
    L0, rest = L[0], L[1:]
    above = rest > L0
    if not above.any():
        return 0
    first_up = int(np.argmax(above))
    back = np.nonzero(~above[first_up:])[0]
    if back.size == 0:
        return None
    return int(first_up + back[0] + 1)


def critical_point(
    law: Law,
    lr: Any = None,
    transfer_step: int | None = None,
    *,
    warmup_steps: int = 0,
    dataset: str = "pt",
    replay_ratio: float | None = None,
    model_size: float | None = None,
) -> float:
    """Limit of the predicted loss as CPT goes on forever (P1 §4.4 "critical point").

    * ``lr=None``: CPT at a constant LR with no annealing: ``S1cpt -> inf``, ``S2 = 0``; for
      ``CPTLaw`` this is ``L0 + B``.
    * with ``lr`` (PT + CPT, ``transfer_step`` PT updates): the schedule is continued at its
      final LR forever; S2pt/S2cpt take their saturated values (the momenta decay away) and
      ``S1cpt -> inf`` if the final LR is > 0 (else it stays at its final value).

    Works with every CPT law here (``cpt``, ``cpt-replay``, ``cpt-size``, ``cpt-open``).
    """
    ctx = {"warmup_steps": warmup_steps, "dataset": dataset, "replay_ratio": replay_ratio,
           "model_size": model_size}
    with x64_context():
        if lr is None:
            probe = np.full(2, 1.0)
            f = law.lr_features(probe, np.array([2]), transfer_step=1, **ctx)  # type: ignore[attr-defined]
            f = dict(f)
            f["S1cpt"] = jnp.full_like(f["S1cpt"], jnp.inf)
            for k in ("S2pt", "S2cpt"):
                if k in f:
                    f[k] = jnp.zeros_like(f[k])
            return float(np.asarray(law.predict_features(f)).reshape(-1)[0])
        a = np.asarray(lr, dtype=np.float64)
        T = a.size
        is_open = isinstance(law, CPTOpenLaw)
        if transfer_step is None and not is_open:
            raise ValueError("critical_point: transfer_step is required with lr")
        Tp = 0 if transfer_step is None else int(transfer_step)
        f = dict(law.lr_features(  # type: ignore[attr-defined]
            a, np.array([T]), transfer_step=transfer_step, **ctx
        ))
        lam = float(law.lam)  # type: ignore[attr-defined]
        g_inf = lam / (1.0 - lam)
        if is_open:
            eta0 = jnp.full((), law.pt_final_lr)  # type: ignore[attr-defined]
            m_c = areas(a[Tp:], np.array([T - Tp]), lam=lam, eta0=eta0, warmup="as-run",
                        return_momentum=True).m
            assert m_c is not None
            f["S2cpt"] = f["S2cpt"] + m_c * g_inf
        else:
            conv = getattr(law, "warmup", "peak")
            m = areas(a, np.array([Tp, T]), lam=lam, warmup_steps=warmup_steps, warmup=conv,
                      return_momentum=True).m
            assert m is not None
            m_p = m[..., :1] * lam ** (T - Tp)  # what is left at T of the PT momentum
            m_c = m[..., 1:] - m_p  # the CPT decrements' momentum (float64: no cancellation issue)
            if getattr(law, "split", "origin") == "origin":
                f["S2pt"] = f["S2pt"] + m_p * g_inf
                f["S2cpt"] = f["S2cpt"] + m_c * g_inf
            else:
                f["S2cpt"] = f["S2cpt"] + (m_p + m_c) * g_inf
        if a[-1] > 0:
            f["S1cpt"] = jnp.full_like(f["S1cpt"], jnp.inf)
        return float(np.asarray(law.predict_features(f)).reshape(-1)[0])



# ------------------------------------------------------------------------------------------------
# out-of-domain validation sets (P1 Eq. 6, §5.2, App. K)



def ood_loss(loss_pt: Any, loss_cpt: Any, weights: tuple[float, float] | str) -> Any:
    """P1 Eq. 6: the loss on an out-of-domain set as ``l1 * L_pt + l2 * L_cpt``.

    ``weights`` is ``(l1, l2)`` or a name of ``P1_OOD`` (coefficients of P1's FineWeb ->
    Knowledge-Pile setting; refit them for your own data with :func:`fit_ood_weights`).
    """
    if isinstance(weights, str):
        if weights not in P1_OOD:
            raise ValueError(f"ood_loss: unknown set {weights!r}; known: {', '.join(P1_OOD)}")
        weights = P1_OOD[weights]
    l1, l2 = weights
    return l1 * loss_pt + l2 * loss_cpt


def fit_ood_weights(loss_pt: Any, loss_cpt: Any, loss_ood: Any) -> tuple[float, float]:
    """Least-squares ``(l1, l2)`` of ``L_ood ~ l1 * L_pt + l2 * L_cpt`` over observed points (the
    same steps on the three validation sets, from one or several runs). P1 §5.2: the coefficients
    depend only on the data sets, not on the schedule, so one run's curves determine them."""
    a = np.stack([np.ravel(np.asarray(loss_pt, np.float64)),
                  np.ravel(np.asarray(loss_cpt, np.float64))], axis=1)
    y = np.ravel(np.asarray(loss_ood, np.float64))
    if a.shape[0] != y.size or y.size < 2:
        raise ValueError(f"fit_ood_weights: need >= 2 matching points, got {a.shape[0]} and "
                         f"{y.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(y))):
        raise ValueError("fit_ood_weights: losses must be finite")
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(coef[0]), float(coef[1])
