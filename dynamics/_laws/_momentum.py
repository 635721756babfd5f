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

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import pytree_dataclass, static_field, x64_context

from .._areas import areas, effective_lr
from .._law import concat_rows, interval, param, positive, real, register_law
from .._run import Run
from ..presets import P2_FIG2, P2_FIG7B
from ._area_law import AreaLaw, context_warmup, derive_A, grid_C, observed_losses, power_decay

__all__ = [
    "MomentumLaw",
    "MomentumLamLaw",
    "MomentumLRLaw",
    "MomentumSizeLaw",
]


#: Bounds of the fitted lambda of ``MomentumLamLaw`` (P2: 0.99..0.999 "generally works well").
LAM_BOUNDS = (0.9, 0.9999)


# ------------------------------------------------------------------------------------------------
# S2(lam) at observed steps by a recurrence over the observations (MomentumLamLaw fitting)
#
# With d[u] the decrement of update u and h(n) = (1 - lam^n) / (1 - lam),
#   S2(s) = sum_{u<s} d[u] h(s - u),   M(s) = sum_{u<s} d[u] lam^(s - u).
# Between observed steps s' < s (Delta = s - s', h(Delta + c) = h(c) + lam^c h(Delta)):
#   S2(s) = S2(s') + h(Delta) M(s') + sum_{s'<=u<s} d[u] h(s - u)
#   M(s)  = lam^Delta M(s') + sum_{s'<=u<s} d[u] lam^(s - u)
# The in-between sums are independent per update (lam^n and h(n) with n the distance to the next
# observed step, then a segment sum), and a scan over the observations carries (S2, M): no
# sequential pass over the updates, and no lam-dependent array of the run's full length beyond
# the last observed step. n only takes the values 1..max gap between observed steps, so lam^n and
# expm1(n log lam) are computed once per value (a table, ``ntab``) and gathered per update (``ni``).


def _lam_obs_features(x: np.ndarray, eta0: float, steps: Any) -> dict[str, np.ndarray] | None:
    """Parameter-free arrays of the recurrence, or None when ``steps`` are not strictly
    increasing (or out of range)."""
    s = np.asarray(steps)
    if s.ndim != 1 or s.size == 0 or x.ndim != 1:
        return None
    s = np.rint(s).astype(np.int64)
    if s[0] < 1 or s[-1] > x.size or np.any(np.diff(s) <= 0):
        return None
    last = int(s[-1])
    prev = np.concatenate([[eta0], x[: last - 1]])
    d = prev - x[:last]
    u = np.arange(last)
    blk = np.searchsorted(s, u, side="right")
    gap = np.diff(np.concatenate([[0], s]))
    return {
        "d": d,
        "ni": (s[blk] - u - 1).astype(np.int32),  # n - 1 (index into ntab)
        "ntab": np.arange(1, int(gap.max()) + 1, dtype=np.float64),
        "blk": blk.astype(np.int32),
        "gi": (gap - 1).astype(np.int32),
        "reset": np.concatenate([[1.0], np.zeros(s.size - 1)]),
        "S1": np.cumsum(x)[s - 1],
    }


def _lam_obs_stack(feats: Sequence[Any]) -> dict[str, np.ndarray]:
    """Several runs' recurrence features end to end (the carry restarts at each run)."""
    out = {k: np.concatenate([np.asarray(f[k]) for f in feats])
           for k in ("d", "ni", "gi", "reset", "S1")}
    out["ntab"] = max((np.asarray(f["ntab"]) for f in feats), key=len)  # 1..largest gap
    offs = np.cumsum([0] + [np.asarray(f["S1"]).size for f in feats[:-1]])
    out["blk"] = np.concatenate(
        [np.asarray(f["blk"], np.int64) + o for f, o in zip(feats, offs, strict=True)]
    ).astype(np.int32)
    return out


def _lam_obs_s2(lam: Any, f: Any) -> jax.Array:
    """S2 at the observed steps from ``_lam_obs_features`` (differentiable in ``lam``)."""
    d = jnp.asarray(f["d"])
    dt = d.dtype
    lam = jnp.asarray(lam, dt)
    ll = jnp.log(lam)
    om = 1.0 - lam
    ntab = jnp.asarray(f["ntab"], dt)
    pw, em = jnp.exp(ntab * ll), -jnp.expm1(ntab * ll)  # lam^n, 1 - lam^n for n = 1..max gap
    ni = jnp.asarray(f["ni"]).astype(jnp.int32)
    gi = jnp.asarray(f["gi"]).astype(jnp.int32)
    blk = jnp.asarray(f["blk"]).astype(jnp.int32)
    k = gi.shape[0]
    b_m = jax.ops.segment_sum(d * jnp.take(pw, ni), blk, num_segments=k)
    b_s = jax.ops.segment_sum(d * jnp.take(em, ni), blk, num_segments=k) / om
    dec = jnp.take(pw, gi)
    hg = jnp.take(em, gi) / om
    keep = 1.0 - jnp.asarray(f["reset"], dt)

    def body(c: tuple[jax.Array, jax.Array], xs: tuple[jax.Array, ...]
             ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        s2, m = c
        kp, de, h, bm, bs = xs
        s2n = kp * (s2 + h * m) + bs
        mn = kp * de * m + bm
        return (s2n, mn), s2n

    zero = jnp.zeros((), dt)
    _, s2 = jax.lax.scan(body, (zero, zero), (keep, dec, hg, b_m, b_s))
    return s2


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


def _obs_steps(steps: Any) -> Any:
    """Observed steps as integers: NumPy when concrete, JAX when traced."""
    if not isinstance(steps, jax.core.Tracer):
        return np.rint(np.asarray(steps)).astype(np.int64)
    return jnp.round(steps).astype(jnp.int32)


class _RecurrenceLaw(AreaLaw):
    """Base of the annealing-law variants whose fitting features are an observed-step
    recurrence (``_OBS_FEATURES``, stacked by ``_OBS_STACK``; ``_OBS_KEY`` marks that form) and
    whose ``lr_features`` keep the effective LR (``x``, ``eta0``, ``steps``), so that the areas
    are recomputed per evaluation (a fitted ``lam``, a transformed LR)."""

    _OBS_FEATURES: Any = None
    _OBS_STACK: Any = None
    _OBS_KEY = "d"

    def lr_features(self, lr: Any, steps: Any = None, *, warmup_steps: int = 0, **_: Any) -> Any:
        w = context_warmup(type(self).__name__, warmup_steps)
        x, eta0 = effective_lr(lr, warmup_steps=w, warmup=self.warmup)  # type: ignore[attr-defined]
        if steps is None:
            steps = np.arange(1, x.shape[-1] + 1)
        return {"x": x, "eta0": eta0, "steps": jnp.asarray(steps)}

    def features(self, run: Run) -> Any:
        """Fitting features: the observed-step recurrence form when the observed steps are
        strictly increasing, else ``lr_features`` of the run."""
        with x64_context():
            w = context_warmup(type(self).__name__, int(run.warmup_steps))
            x, eta0 = effective_lr(np.asarray(run.lr, np.float64), warmup_steps=w,
                                   warmup=self.warmup)  # type: ignore[attr-defined]
            f = type(self)._OBS_FEATURES(np.asarray(x, np.float64), float(eta0), run.steps)
        return f if f is not None else super().features(run)

    def stack_features(self, feats: Sequence[Any]) -> Any:
        if not feats or not all(self._OBS_KEY in f for f in feats):
            return None
        return type(self)._OBS_STACK(feats)


@register_law
@pytree_dataclass
class MomentumLamLaw(_RecurrenceLaw):
    """P2's annealing law with lambda fitted: ``lam`` is a parameter in ``[0.9, 0.9999]``.

    Warmup convention: option ``warmup`` (default ``"peak"``, as ``MomentumLaw``).

    Parameters: ``L0, A, alpha, C`` (positive), ``lam`` (``interval(0.9, 0.9999)``; P2 used 0.999
    everywhere and calls 0.99..0.999 the useful range). Defaults: P2 Fig. 2 with lam 0.999.

    Features (``features(run)``, the fitting path): S1 and the parameter-free arrays of an
    observed-step recurrence for S2(lam) (decrements, distance of every update to the next
    observed step, gaps between observed steps), O(updates) per evaluation with no sequential
    pass over the updates; runs stack into one evaluation. ``lr_features`` (``predict_lr``) gives
    the effective LR array ``x``, ``eta0`` and ``steps``, from which ``areas`` recomputes S1/S2.
    Both are differentiable in ``lam`` and agree to rounding.
    """

    NAME = "momentum-lam"

    L0: Any = param(positive(), default=P2_FIG2["L0"])
    A: Any = param(positive(), default=P2_FIG2["A"])
    alpha: Any = param(positive(), default=P2_FIG2["alpha"])
    C: Any = param(positive(), default=P2_FIG2["C"])
    lam: Any = param(interval(*LAM_BOUNDS), default=0.999)
    warmup: str = static_field(default="peak")

    _OBS_FEATURES = staticmethod(_lam_obs_features)
    _OBS_STACK = staticmethod(_lam_obs_stack)

    def predict_features(self, feats: Any) -> jax.Array:
        if "d" in feats:  # observed-step recurrence form
            s1 = jnp.asarray(feats["S1"])
            s2 = _lam_obs_s2(self.lam, feats)
            return self.L0 + power_decay(s1, self.A, self.alpha) - self.C * s2
        steps = _obs_steps(feats["steps"])
        x = jnp.asarray(feats["x"])
        a = areas(x, steps, lam=self.lam, eta0=feats["eta0"], warmup="as-run")
        return self.L0 + power_decay(a.S1, self.A, self.alpha) - self.C * a.S2

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:
        if "d" in feats:  # observed-step recurrence form
            return {"L0": jnp.asarray(self.L0),
                    "power (S1)": power_decay(jnp.asarray(feats["S1"]), self.A, self.alpha),
                    "annealing (S2)": -self.C * _lam_obs_s2(self.lam, feats)}
        steps = np.rint(np.asarray(feats["steps"])).astype(np.int64)
        a = areas(jnp.asarray(feats["x"]), steps, lam=self.lam, eta0=feats["eta0"],
                  warmup="as-run")
        return {"L0": jnp.asarray(self.L0), "power (S1)": power_decay(a.S1, self.A, self.alpha),
                "annealing (S2)": -self.C * a.S2}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``MomentumLaw``'s grid at lam 0.999, each start repeated with lam 0.99 and 0.999."""
        base = MomentumLaw(warmup=self.warmup).init_grid(runs)  # type: ignore[call-arg]
        return [{**g, "lam": lam} for lam in (0.99, 0.999) for g in base]


def _lr_obs_features(x: np.ndarray, eta0: float, steps: Any) -> dict[str, np.ndarray] | None:
    """``_lam_obs_features`` reduced to what an LR transform ``f`` (``x -> f(x)``, elementwise)
    needs, exactly for every ``f``: the updates whose raw LR changes (``x``, ``xprev``, and their
    ``d``, ``ni``, ``blk``; an update with ``x[u] == x[u-1]`` has ``f(x[u-1]) - f(x[u]) = 0``)
    and the runs of equal LR, split at the observed steps (``sv`` the LR, ``sc`` the count;
    ``idx`` the run ending at each observation, ``base`` the one before the run's first, -1), so
    that S1 is a sum over runs. A stable phase costs one entry, a cosine one per update. None as
    ``_lam_obs_features``."""
    f = _lam_obs_features(x, eta0, steps)
    if f is None:
        return None
    s = np.rint(np.asarray(steps)).astype(np.int64)
    last = int(s[-1])
    xs = np.asarray(x[:last], np.float64)
    prev = np.concatenate([[eta0], xs[:-1]]).astype(np.float64)
    ch = np.flatnonzero(prev != xs)
    for k in ("d", "ni", "blk"):
        f[k] = np.asarray(f[k])[ch]
    f["x"], f["xprev"] = xs[ch], prev[ch]
    starts = np.unique(np.concatenate([[0], ch, s[:-1]]))
    ends = np.append(starts[1:], last)
    f["sv"] = xs[starts]
    f["sc"] = (ends - starts).astype(np.float64)
    f["idx"] = np.searchsorted(ends, s).astype(np.int32)
    f["base"] = np.full(s.size, -1, np.int32)
    return f


def _lr_obs_stack(feats: Sequence[Any]) -> dict[str, np.ndarray]:
    """Several runs' ``_lr_obs_features`` end to end (S1's sum restarts per run)."""
    out = _lam_obs_stack(feats)
    for k in ("x", "xprev", "sv", "sc"):
        out[k] = np.concatenate([np.asarray(f[k]) for f in feats])
    offs = np.cumsum([0] + [np.asarray(f["sv"]).size for f in feats[:-1]])
    out["idx"] = np.concatenate([np.asarray(f["idx"], np.int64) + o
                                 for f, o in zip(feats, offs, strict=True)]).astype(np.int32)
    out["base"] = np.concatenate([np.full(np.asarray(f["idx"]).size, o - 1, np.int64)
                                  for f, o in zip(feats, offs, strict=True)]).astype(np.int32)
    return out


@register_law
@pytree_dataclass
class MomentumLRLaw(_RecurrenceLaw):
    """The annealing law with an LR-response exponent ``rho``: P2's law applied to the
    transformed LR ``x~ = lr_ref * (x / lr_ref)^rho``, so that
    ``L = L0 + A * S1~^(-alpha) - C * S2~`` with S1~, S2~ the areas of ``x~``.

    Why: in P2's law the progress per update is linear in the LR (S1 is the LR area), so a run
    at twice the peak LR counts as twice as long, and with the from-zero warmup convention the
    LR-noise floor ``C * eta / (1 - lam)`` is linear in it too. Measured loss is much flatter
    in the peak LR than that (the 124M sweep: 20%-WSD finals within 0.012 nats from 5e-4 to
    2e-3, and the cooldown gain grows ~eta^0.3-0.4, not eta). ``rho < 1`` makes both
    sublinear; ``rho = 1`` is P2's law exactly. Runs at two or more peak LRs identify ``rho``;
    the LR variation within one run does not reliably (it trades off against the shape of the
    annealing term), so with one peak the default prior of ``fit`` holds ``rho`` at 1.

    Warmup convention: option ``warmup`` (default ``"peak"``, as ``MomentumLaw``; the command
    line and ``select_law`` use ``"as-run"``).

    Parameters: ``L0, A, alpha, C, rho`` (positive). Defaults: P2 Fig. 2 with ``rho = 1``.
    Options: ``lam`` (default 0.999), ``warmup``, ``lr_ref`` (default 1e-3: the LR at which the
    transform is the identity; ``A`` and ``C`` have P2's meaning for runs at that peak).

    Features (fitting): the observed-step recurrence of ``MomentumLamLaw`` on the updates where
    the raw effective LR changes, and the runs of equal LR for S1 (``_lr_obs_features``); S1~ and
    the decrements of ``x~`` are recomputed per evaluation: O(LR changes), exact.
    ``lr_features`` (``predict_lr``) gives ``x``, ``eta0`` and ``steps``.
    """

    NAME = "momentum-lr"

    L0: Any = param(positive(), default=P2_FIG2["L0"])
    A: Any = param(positive(), default=P2_FIG2["A"])
    alpha: Any = param(positive(), default=P2_FIG2["alpha"])
    C: Any = param(positive(), default=P2_FIG2["C"])
    rho: Any = param(positive(), default=1.0)
    lam: float = static_field(default=0.999)
    warmup: str = static_field(default="peak")
    lr_ref: float = static_field(default=1e-3)

    _OBS_FEATURES = staticmethod(_lr_obs_features)
    _OBS_STACK = staticmethod(_lr_obs_stack)
    _OBS_KEY = "blk"

    def _validate(self) -> None:
        super()._validate()
        ref = self.lr_ref
        if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not math.isfinite(ref) \
                or ref <= 0:
            raise ValueError(f"{type(self).__name__}: lr_ref={ref!r} must be a positive number")

    def _tilde(self, x: Any) -> jax.Array:
        """``lr_ref * (x / lr_ref)^rho`` (0 at x <= 0, finite gradient in ``rho`` there)."""
        x = jnp.asarray(x)
        pos = x > 0
        safe = jnp.where(pos, x, jnp.asarray(self.lr_ref, x.dtype))
        return jnp.where(pos, self.lr_ref * jnp.exp(self.rho * jnp.log(safe / self.lr_ref)), 0.0)

    def _areas(self, feats: Any) -> tuple[jax.Array, jax.Array]:
        """(S1~, S2~) at the observed steps, from either feature form."""
        if "blk" in feats:  # observed-step recurrence form (``_lr_obs_features``)
            c = jnp.cumsum(jnp.asarray(feats["sc"]) * self._tilde(feats["sv"]))
            idx = jnp.asarray(feats["idx"]).astype(jnp.int32)
            base = jnp.asarray(feats["base"]).astype(jnp.int32)
            s1 = jnp.take(c, idx) - jnp.where(base >= 0, jnp.take(c, jnp.maximum(base, 0)), 0.0)
            d = self._tilde(feats["xprev"]) - self._tilde(feats["x"])
            return s1, _lam_obs_s2(self.lam, {**feats, "d": d})
        steps = _obs_steps(feats["steps"])
        a = areas(self._tilde(feats["x"]), steps, lam=self.lam,
                  eta0=self._tilde(feats["eta0"]), warmup="as-run")
        return a.S1, a.S2

    def predict_features(self, feats: Any) -> jax.Array:
        s1, s2 = self._areas(feats)
        return self.L0 + power_decay(s1, self.A, self.alpha) - self.C * s2

    def terms_features(self, feats: Any) -> dict[str, jax.Array]:
        s1, s2 = self._areas(feats)
        return {"L0": jnp.asarray(self.L0), "power (S1)": power_decay(s1, self.A, self.alpha),
                "annealing (S2)": -self.C * s2}

    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """``MomentumLaw``'s grid (rho 1), each start repeated with rho 0.7."""
        base = MomentumLaw(lam=self.lam, warmup=self.warmup).init_grid(runs)  # type: ignore[call-arg]
        return [{**g, "rho": rho} for rho in (1.0, 0.7) for g in base]


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
