"""Data-mixture and scale laws of continual pre-training (Que et al. 2024; Zheng et al. 2024).

These laws are functions of the model size ``N`` (parameters), the number of CPT tokens ``D`` and
the mixture share ``r`` -- not of an LR schedule -- so they do not implement the ``Run``-based
``Law`` protocol. They are pytree dataclasses (parameters are leaves) whose ``__call__`` works on
numpy and JAX arrays alike.

* :class:`DCPTLaw` -- D-CPT Law (Que et al. 2024), form ``"L3"`` (chosen by the paper)::

      L(N, D, r) = E + A/N^alpha + B*r^eta/D^beta + C/(r+eps)^gamma

  fitted separately for the general loss (``r = r_g``) and the domain loss (``r = r_d = 1-r_g``).
  Form ``"L1"`` (our guess at the paper's L1: no D x r interaction, ``eta`` unused)::

      L(N, D, r) = E + A/N^alpha + B/D^beta + C/(r+eps)^gamma

  The exact formulas of the paper's L2, L4, L5 (and L6/L7) were not found (open question) and are
  not implemented; their Table 1 scores are kept in :data:`DCPT_TABLE1` for reference.
* :func:`fit_dcpt` -- Huber (delta 1e-3) on log loss in log-sum-exp form, dense BFGS from a grid
  of starts (Chinchilla-style grid, seeded subsample), vmapped, float64 (local x64).
* The paper's usages: :func:`max_domain_ratio` (1: largest domain ratio whose general-loss rise
  is <= T), :func:`best_ratio_limited_data` (2: limited domain data), :func:`dcpt_compute_optimal`
  (3: compute-optimal N / D split at a fixed ratio).
* :func:`check_monotone` / :func:`monotone_min_tokens`: the L3 form does not guarantee
  ``dL/dr < 0`` at small ``D``; check it on the range used.
* :class:`CrossDomainDCPTLaw` / :func:`fit_cross_domain` / :func:`domain_coefficients` /
  :func:`dlc`:
  Cross-Domain D-CPT Law ``L3 + F/K^mu`` with ``K = w1/k1 + w2*k2`` (k1: initial domain loss,
  k2: early rate of fall, ~1% of a run's cost).
* :class:`CrossLingualLaw` (Zheng et al. 2024): ``L = E + A/N^alpha + B/(D^beta * N^gamma)``
  with the published parameters :data:`ZHENG_CPT` / :data:`ZHENG_SCRATCH`,
  :func:`allocation` (Eq. 5) and :func:`fit_cross_lingual` (two-stage: E, A, alpha frozen).
* :func:`chinchilla_allocation`: N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b (Eq. 2), C = 6 N D.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._optim import bfgs, grid_starts, huber
from cptdyn._pytree import pytree_dataclass, static_field, x64_context
from cptdyn._validate import MAX_MAGNITUDE

from ..presets import ZHENG_CPT

__all__ = [
    "DCPT_FORMS",
    "DCPTLaw",
    "CrossDomainDCPTLaw",
    "CrossLingualLaw",
    "TableFit",
    "MonotoneReport",
    "Allocation",
    "fit_dcpt",
    "fit_cross_domain",
    "fit_cross_lingual",
    "check_monotone",
    "monotone_min_tokens",
    "max_domain_ratio",
    "best_ratio_limited_data",
    "dcpt_compute_optimal",
    "chinchilla_allocation",
    "allocation",
    "dlc",
    "domain_coefficients",
    "dcpt_from_dict",
]

DCPT_FORMS = ("L3", "L1")



_DCPT_NAMES = ("E", "A", "alpha", "B", "beta", "C", "gamma", "eta", "eps")


def _check_pos(name: str, value: Any, allow_zero: bool = False) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(a) | ((a < 0) if allow_zero else (a <= 0))
    if np.any(bad):
        v = a if a.ndim == 0 else a[bad].ravel()[0]
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}={float(v)!r}: must be finite and {what}")
    return a


def _check_ratio(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(a) | (a < 0) | (a > 1)
    if np.any(bad):
        v = a if a.ndim == 0 else a[bad].ravel()[0]
        raise ValueError(f"{name}={float(v)!r}: must be in [0, 1]")
    return a


def _xp(*xs: Any) -> Any:
    return jnp if any(isinstance(x, (jax.Array, jax.core.Tracer)) for x in xs) else np


# ------------------------------------------------------------------------------------------------
# D-CPT law


@pytree_dataclass
class DCPTLaw:
    """D-CPT Law (Que et al. 2024). ``r`` is the share of the corpus whose loss is modelled (``r_g``
    for the general loss, ``r_d`` for the domain loss). Use raw counts (parameters, tokens) for
    ``N`` and ``D`` so that the compute-optimal usage (``C = 6 N D``) is meaningful.

    No fitted parameter values were found in the paper: fit them with :func:`fit_dcpt`.
    """

    E: Any
    A: Any
    alpha: Any
    B: Any
    beta: Any
    C: Any
    gamma: Any
    eta: Any = 0.0
    eps: Any = 1e-2
    form: str = static_field(default="L3")

    def __post_init__(self) -> None:
        if self.form not in DCPT_FORMS:
            raise ValueError(f"form={self.form!r}: must be one of {', '.join(DCPT_FORMS)}")
        for k in ("E", "A", "B", "C", "eps"):
            v = getattr(self, k)
            if not isinstance(v, jax.core.Tracer):
                _check_pos(k, v, allow_zero=(k != "eps"))

    def __call__(self, N: Any, D: Any, r: Any) -> Any:
        rd = self._data_share(r)
        return (self.E + self.A / N**self.alpha + self.B * rd / D**self.beta
                + self.C / (r + self.eps) ** self.gamma)

    def _data_share(self, r: Any) -> Any:
        return r**self.eta if self.form == "L3" else 1.0

    def dL_dN(self, N: Any, D: Any, r: Any) -> Any:
        return -self.alpha * self.A * N ** (-self.alpha - 1.0) + 0.0 * (D + r)

    def dL_dD(self, N: Any, D: Any, r: Any) -> Any:
        return -self.beta * self.B * self._data_share(r) * D ** (-self.beta - 1.0) + 0.0 * N

    def dL_dr(self, N: Any, D: Any, r: Any) -> Any:
        """``eta*B*r^(eta-1)/D^beta - gamma*C/(r+eps)^(gamma+1)`` (L3; first term 0 in L1)."""
        xp = _xp(N, D, r)
        second = -self.gamma * self.C / (r + self.eps) ** (self.gamma + 1.0) + 0.0 * N
        if self.form == "L1":
            return second + 0.0 * D
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = xp.asarray(r, dtype=float)
            first = self.eta * self.B * rr ** (self.eta - 1.0) / D**self.beta
        return first + second

    def d2L_dDdr(self, N: Any, D: Any, r: Any) -> Any:
        """``-beta*eta*B*r^(eta-1)*D^(-beta-1)`` (L3); identically 0 in L1 (no implicit trend)."""
        if self.form == "L1":
            return 0.0 * (N + D + r)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (-self.beta * self.eta * self.B * np.asarray(r, dtype=float) ** (self.eta - 1.0)
                    * D ** (-self.beta - 1.0) + 0.0 * N)

    def at_ratio(self, r: float) -> tuple[float, float, float, float, float]:
        """Consistency (design requirement 4): at fixed ``r`` the law is Chinchilla's
        ``E' + A/N^alpha + B'/D^beta``; returns ``(E', A, alpha, B', beta)``."""
        r = float(_check_ratio("r", r))
        e2 = float(self.E) + float(self.C) / (r + float(self.eps)) ** float(self.gamma)
        b2 = float(self.B) * float(self._data_share(r))
        return e2, float(self.A), float(self.alpha), b2, float(self.beta)

    def params(self) -> dict[str, float]:
        names = _DCPT_NAMES if self.form == "L3" else tuple(n for n in _DCPT_NAMES if n != "eta")
        return {n: float(getattr(self, n)) for n in names}

    def to_dict(self) -> dict[str, Any]:
        return {"law": "dcpt", "form": self.form, "params": self.params()}


def dcpt_from_dict(doc: Mapping[str, Any]) -> DCPTLaw:
    """Inverse of ``DCPTLaw.to_dict`` (also accepts a bare ``{name: value}`` mapping)."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"D-CPT law: expected a mapping, got {type(doc).__name__}")
    form = str(doc.get("form", "L3"))
    params = doc.get("params", doc)
    if not isinstance(params, Mapping):
        raise ValueError("D-CPT law: field 'params' must be a mapping")
    need = [n for n in _DCPT_NAMES if n not in ("eta", "eps")] + (["eta"] if form == "L3" else [])
    missing = [n for n in need if n not in params]
    if missing:
        raise ValueError(f"D-CPT law: missing parameter(s) {', '.join(missing)}")
    if form not in DCPT_FORMS:
        raise ValueError(f"D-CPT law: form={doc.get('form')!r} must be one of "
                         f"{', '.join(DCPT_FORMS)}")
    unknown = [k for k in params if k not in _DCPT_NAMES] if "params" in doc else []
    if unknown:
        raise ValueError(f"D-CPT law: unknown parameter {unknown[0]!r}")
    kw = {}
    for n in _DCPT_NAMES:
        if n in params:
            v = params[n]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"D-CPT law: parameter {n}={v!r} is not a number")
            if not math.isfinite(float(v)):
                raise ValueError(f"D-CPT law: parameter {n}={v!r} is not a finite number")
            if n in ("alpha", "beta", "gamma", "eta") and not 0 <= float(v) <= 10:
                raise ValueError(f"D-CPT law: exponent {n}={v!r} must be in [0, 10]")
            if abs(float(v)) > MAX_MAGNITUDE:
                raise ValueError(f"D-CPT law: parameter {n}={v!r} is implausibly large "
                                 f"(|value| > {MAX_MAGNITUDE:g})")
            kw[n] = float(v)
    return DCPTLaw(**kw, form=form)


# ------------------------------------------------------------------------------------------------
# generic tabular fitter (Huber on log loss, BFGS from many starts)


@dataclasses.dataclass(frozen=True)
class TableFit:
    """Result of a tabular fit: the law, the mean Huber loss on log loss, R^2 on the loss, the
    number of points and of starts, and the best raw (log-space) parameter vector."""

    law: Any
    huber: float
    r2: float
    n_points: int
    n_starts: int
    raw: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {**self.law.to_dict(), "fit": {"huber": self.huber, "r2": self.r2,
                                              "n_points": self.n_points, "n_starts": self.n_starts}}


def _objective(
    logpred: Callable[[jax.Array, Any], jax.Array], X: Any, logy: jax.Array, delta: jax.Array,
    theta: jax.Array,
) -> jax.Array:
    res = logpred(theta, X) - logy
    tot = jnp.sum(huber(res, delta)) / (delta * delta * logy.shape[0])
    return jnp.where(jnp.isnan(tot), jnp.inf, tot)


@partial(jax.jit, static_argnames=("logpred",))
def _screen(logpred: Any, X: Any, logy: jax.Array, delta: jax.Array, x0: jax.Array) -> jax.Array:
    return jax.vmap(partial(_objective, logpred, X, logy, delta))(x0)


@partial(jax.jit, static_argnames=("logpred",))
def _solve(
    logpred: Any, X: Any, logy: jax.Array, delta: jax.Array, x0: jax.Array, max_iter: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    vg0 = jax.value_and_grad(partial(_objective, logpred, X, logy, delta))

    def vg(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        f, g = vg0(x)
        bad = ~jnp.isfinite(f) | ~jnp.all(jnp.isfinite(g))
        return jnp.where(bad, jnp.inf, f), jnp.where(bad, 0.0, g), jnp.zeros((1,), x.dtype)

    one = partial(bfgs, vg, n_pred=1, max_iter=max_iter, gtol=jnp.asarray(1e-9, x0.dtype),
                  ftol=jnp.asarray(1e-13, x0.dtype))
    out = jax.vmap(one)(x0)
    return out[0], out[1]


def _fit_table(
    logpred: Callable[[jax.Array, Any], jax.Array], X: Mapping[str, np.ndarray], loss: np.ndarray,
    starts: np.ndarray, *, delta: float, max_iter: int, n_keep: int,
) -> tuple[np.ndarray, float]:
    """Best raw vector and its mean Huber over ``starts`` (rows). ``logpred`` must be a
    module-level function (it is a static jit argument: compiled code is reused across fits of
    the same shapes)."""
    with x64_context():
        Xj = {k: jnp.asarray(v) for k, v in X.items()}
        logy = jnp.log(jnp.asarray(loss, jnp.float64))
        dj = jnp.asarray(delta, jnp.float64)
        x0 = jnp.asarray(starts, jnp.float64)
        f0 = np.asarray(_screen(logpred, Xj, logy, dj, x0))
        f0 = np.where(np.isfinite(f0), f0, np.inf)
        keep = np.argsort(f0, kind="stable")[: max(1, min(n_keep, len(f0)))]
        x, f = _solve(logpred, Xj, logy, dj, x0[keep], jnp.asarray(max_iter))
        x, f = np.asarray(x), np.asarray(f)
        f = np.where(np.isfinite(f), f, np.inf)
        if not np.any(np.isfinite(f)):
            raise ValueError("fit: no start gave a finite objective (check the data)")
        i = int(np.argmin(f))
        return x[i], float(f[i]) * delta * delta


def _as_columns(what: str, **cols: Any) -> dict[str, np.ndarray]:
    arrs = {k: np.ravel(np.asarray(v, dtype=np.float64)) for k, v in cols.items()}
    sizes = {k: a.size for k, a in arrs.items()}
    n = max(sizes.values())
    for k, a in arrs.items():
        if a.size == 1 and n > 1:
            arrs[k] = np.full(n, a[0])
        elif a.size != n:
            raise ValueError(f"{what}: {k} has {a.size} values, expected {n}")
    if n < 2:
        raise ValueError(f"{what}: need at least 2 data points, got {n}")
    return arrs


def _r2(pred: np.ndarray, y: np.ndarray) -> float:
    ss = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - float(np.sum((pred - y) ** 2)) / ss if ss > 0 else float("nan")


def _lse(*terms: jax.Array) -> jax.Array:
    return jax.nn.logsumexp(jnp.stack(jnp.broadcast_arrays(*terms)), axis=0)


def _dcpt_logterms(th: jax.Array, X: Mapping[str, jax.Array], form: str) -> list[jax.Array]:
    # th = e, a, alpha, b, beta, c, gamma, log_eps[, eta]
    e, a, alpha, b, beta, c, gamma, leps = (th[i] for i in range(8))
    logN, logD, r = X["logN"], X["logD"], X["r"]
    if form == "L3":
        eta = th[8]
        pos = r > 0
        logr = jnp.log(jnp.where(pos, r, 1.0))
        data = jnp.where(pos, b + eta * logr - beta * logD, -jnp.inf)
    else:
        data = b - beta * logD
    return [e + 0.0 * logN, a - alpha * logN, data, c - gamma * jnp.log(r + jnp.exp(leps))]


def _logpred_l3(th: jax.Array, Xj: Any) -> jax.Array:
    return _lse(*_dcpt_logterms(th, Xj, "L3"))


def _logpred_l1(th: jax.Array, Xj: Any) -> jax.Array:
    return _lse(*_dcpt_logterms(th, Xj, "L1"))


def _logpred_cross_domain(th: jax.Array, Xj: Any) -> jax.Array:
    K = 1.0 / Xj["k1"] + jnp.exp(th[11]) * Xj["k2"]
    return _lse(*_dcpt_logterms(th[:9], Xj, "L3"), th[9] - th[10] * jnp.log(K))


def _logpred_cross_lingual(th: jax.Array, Xj: Any) -> jax.Array:
    full = Xj["base"].astype(th.dtype).at[Xj["idx"]].set(th)
    e, a, alpha, b, beta, gamma = (full[i] for i in range(6))
    logN, logD = Xj["logN"], Xj["logD"]
    return _lse(e + 0.0 * logN, a - alpha * logN, b - beta * logD - gamma * logN)


def fit_dcpt(
    N: Any, D: Any, r: Any, loss: Any, *, form: str = "L3", delta: float = 1e-3,
    n_starts: int = 512, n_keep: int = 48, max_iter: int = 400, seed: int = 0,
) -> TableFit:
    """Fit a :class:`DCPTLaw` to tabular ``(N, D, r, loss)`` data (Que et al. 2024: Huber + L-BFGS).

    Minimises ``sum Huber_delta(LSE(e, a - alpha log N, b + eta log r - beta log D,
    c - gamma log(r + eps)) - log L)`` with ``E, A, B, C = exp(e, a, b, c)``; exponents are left
    unconstrained (as in Chinchilla) -- check the result with :func:`check_monotone`. Starts: a
    seeded subsample of ``n_starts`` points of the grid alpha, beta in {0, .5, ..., 2},
    gamma, eta in {0, .5, 1, 1.5}, e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25},
    c in {-4, -2, 0}, eps in {1e-3, 1e-2, 1e-1}; BFGS runs from the ``n_keep`` best.
    """
    if form not in DCPT_FORMS:
        raise ValueError(f"form={form!r}: must be one of {', '.join(DCPT_FORMS)}")
    cols = _as_columns("fit_dcpt", N=N, D=D, r=r, loss=loss)
    _check_pos("N", cols["N"])
    _check_pos("D", cols["D"])
    _check_ratio("r", cols["r"])
    _check_pos("loss", cols["loss"])
    _check_pos("n_starts", n_starts)
    X = {"logN": np.log(cols["N"]), "logD": np.log(cols["D"]), "r": cols["r"]}
    axes: list[Sequence[float] | np.ndarray] = [
        np.arange(-1.0, 1.01, 0.5), np.arange(0.0, 25.1, 5.0), np.arange(0.0, 2.01, 0.5),
        np.arange(0.0, 25.1, 5.0), np.arange(0.0, 2.01, 0.5), (-4.0, -2.0, 0.0),
        (0.0, 0.5, 1.0, 1.5), np.log([1e-3, 1e-2, 1e-1]),
    ]
    if form == "L3":
        axes.append((0.0, 0.5, 1.0, 1.5))
    starts = grid_starts(axes, int(n_starts), seed)
    logpred = _logpred_l3 if form == "L3" else _logpred_l1
    raw, hub = _fit_table(logpred, X, cols["loss"], starts, delta=delta, max_iter=max_iter,
                          n_keep=n_keep)
    law = _dcpt_from_raw(raw, form)
    pred = np.asarray(law(cols["N"], cols["D"], cols["r"]))
    return TableFit(law, hub, _r2(pred, cols["loss"]), len(cols["loss"]), len(starts), raw)


def _dcpt_from_raw(raw: np.ndarray, form: str) -> DCPTLaw:
    e, a, alpha, b, beta, c, gamma, leps = (float(v) for v in raw[:8])
    eta = float(raw[8]) if form == "L3" else 0.0
    return DCPTLaw(E=math.exp(e), A=math.exp(a), alpha=alpha, B=math.exp(b), beta=beta,
                   C=math.exp(c), gamma=gamma, eta=eta, eps=math.exp(leps), form=form)


# ------------------------------------------------------------------------------------------------
# monotonicity


@dataclasses.dataclass(frozen=True)
class MonotoneReport:
    """Signs of the derivatives on a (N, D, r) grid. ``violations`` maps each requirement
    (``"dL/dN<0"``, ``"dL/dD<0"``, ``"dL/dr<0"``, ``"d2L/dDdr<0"``) to the number of grid points
    where it fails; ``first`` to the first failing ``(N, D, r)``; ``ok`` is True when none fail."""

    ok: bool
    violations: dict[str, int]
    first: dict[str, tuple[float, float, float]]
    n_points: int


def check_monotone(law: DCPTLaw, N: Any, D: Any, r: Any) -> MonotoneReport:
    """Check the D-CPT design requirements (Que et al. 2024) on the grid ``N x D x r``.

    ``r = 0`` is skipped for the r-derivatives (``r^(eta-1)`` is infinite there when eta < 1).
    Derived from the formula (not stated in the paper): L3 does **not** guarantee ``dL/dr < 0``
    at small ``D``.
    """
    Ns = _check_pos("N", np.atleast_1d(N)).ravel()
    Ds = _check_pos("D", np.atleast_1d(D)).ravel()
    rs = _check_ratio("r", np.atleast_1d(r)).ravel()
    n, d, rr = (a.ravel() for a in np.meshgrid(Ns, Ds, rs, indexing="ij"))
    checks = {
        "dL/dN<0": (np.asarray(law.dL_dN(n, d, rr)), np.ones_like(rr, bool)),
        "dL/dD<0": (np.asarray(law.dL_dD(n, d, rr)), rr > 0),
        "dL/dr<0": (np.asarray(law.dL_dr(n, d, rr)), rr > 0),
        "d2L/dDdr<0": (np.asarray(law.d2L_dDdr(n, d, rr)), rr > 0),
    }
    viol, first = {}, {}
    for k, (v, mask) in checks.items():
        bad = mask & ~(v < 0)
        viol[k] = int(np.sum(bad))
        if viol[k]:
            i = int(np.argmax(bad))
            first[k] = (float(n[i]), float(d[i]), float(rr[i]))
    return MonotoneReport(not any(viol.values()), viol, first, int(n.size))


def monotone_min_tokens(law: DCPTLaw, r: Any) -> float:
    """Smallest ``D`` above which ``dL/dr < 0`` at every ``r`` given (closed form for L3)::

        D > (eta*B*r^(eta-1)*(r+eps)^(gamma+1) / (gamma*C))^(1/beta)

    0 for L1 (``dL/dr = -gamma*C/(r+eps)^(gamma+1) < 0`` whenever gamma*C > 0); ``inf`` when no
    ``D`` works (gamma*C <= 0 or beta <= 0 with a positive first term).
    """
    rs = _check_ratio("r", np.atleast_1d(r)).ravel()
    rs = rs[rs > 0]
    g, C, B, eta, beta, eps = (float(law.gamma), float(law.C), float(law.B), float(law.eta),
                               float(law.beta), float(law.eps))
    if law.form == "L1" or eta * B <= 0:
        return 0.0 if g * C > 0 else math.inf
    if g * C <= 0 or beta <= 0:
        return math.inf
    q = eta * B * rs ** (eta - 1.0) * (rs + eps) ** (g + 1.0) / (g * C)
    return float(np.max(q ** (1.0 / beta))) if rs.size else 0.0


# ------------------------------------------------------------------------------------------------
# the three usages


def _refine_crossing(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float) -> float:
    """Largest x in [lo, hi] with f(x) <= 0 given f(lo) <= 0 < f(hi) (bisection)."""
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(f(np.asarray(mid))) <= 0:
            lo = mid
        else:
            hi = mid
    return lo


def max_domain_ratio(
    general: Callable[..., Any], N: float, D: float, tolerance: float, general_loss0: float,
    *, grid: int = 2001,
) -> float:
    """Usage 1 of Que et al. 2024: the largest domain ratio ``r_d`` with
    ``L_g(N, D, 1 - r_d) <= (1 + tolerance) * general_loss0``.

    ``general`` is a D-CPT law of the general loss (``r = r_g``) or any callable
    ``(N, D, r_g) -> loss``. A dense grid over ``r_d`` locates the last feasible point (the law
    need not be monotone), then bisection refines the crossing. Returns ``nan`` when even
    ``r_d = 0`` breaks the limit.
    """
    _check_pos("N", N)
    _check_pos("D", D)
    _check_pos("tolerance", tolerance, allow_zero=True)
    _check_pos("general_loss0", general_loss0)
    limit = (1.0 + float(tolerance)) * float(general_loss0)

    def excess(rd: np.ndarray) -> np.ndarray:
        return np.asarray(general(N, D, 1.0 - rd), dtype=np.float64) - limit

    rd = np.linspace(0.0, 1.0, int(grid))
    ok = excess(rd) <= 0
    if not ok[0]:
        return float("nan")
    if ok[-1]:
        return 1.0
    i = int(np.argmin(ok)) - 1  # last feasible point before the first infeasible one
    return _refine_crossing(excess, float(rd[i]), float(rd[i + 1]))


def best_ratio_limited_data(
    domain: Callable[..., Any], N: float, domain_tokens: float, *, r_min: float = 1e-3,
    grid: int = 2001,
) -> tuple[float, float]:
    """Usage 2 of Que et al. 2024: with ``domain_tokens`` of domain data, the total CPT budget is
    ``D = domain_tokens / r_d``; returns ``(r_d*, L_d*)`` minimising ``L_d(N, D_d/r_d, r_d)``
    over ``[r_min, 1]`` (grid, then golden section around the best grid point)."""
    _check_pos("N", N)
    _check_pos("domain_tokens", domain_tokens)
    if not 0 < r_min < 1:
        raise ValueError(f"r_min={r_min!r}: must be in (0, 1)")

    def f(rd: Any) -> np.ndarray:
        return np.asarray(domain(N, domain_tokens / rd, rd), dtype=np.float64)

    rs = np.linspace(r_min, 1.0, int(grid))
    vals = f(rs)
    i = int(np.nanargmin(vals))
    a, b = float(rs[max(i - 1, 0)]), float(rs[min(i + 1, len(rs) - 1)])
    phi = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):
        c, d = b - phi * (b - a), a + phi * (b - a)
        if float(f(c)) <= float(f(d)):
            b = d
        else:
            a = c
    x = 0.5 * (a + b)
    best = (x, float(f(x))) if float(f(x)) <= vals[i] else (float(rs[i]), float(vals[i]))
    return best


@dataclasses.dataclass(frozen=True)
class Allocation:
    """Compute-optimal allocation ``N_opt = n_coef * C^a``, ``D_opt = d_coef * C^b`` (C = 6 N D)
    and, when a compute was given, ``N``, ``D`` and the predicted ``loss`` there."""

    G: float
    a: float
    b: float
    n_coef: float
    d_coef: float
    C: float | None = None
    N: float | None = None
    D: float | None = None
    loss: float | None = None


def chinchilla_allocation(A: float, alpha: float, B: float, beta: float,
                          C: float | None = None, E: float = 0.0) -> Allocation:
    """Zheng et al. Eq. 2 for ``L = E + A/N^alpha + B/D^beta`` under ``C = 6 N D``::

        G = (alpha*A/(beta*B))^(1/(alpha+beta)), N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b,
        a = beta/(alpha+beta), b = alpha/(alpha+beta)
    """
    return allocation(CrossLingualLaw(E=E, A=A, alpha=alpha, B=B, beta=beta, gamma=0.0), C)


def dcpt_compute_optimal(law: DCPTLaw, r: float, C: float | None = None) -> Allocation:
    """Usage 3 of Que et al. 2024: at a fixed ratio ``r`` the D-CPT law is Chinchilla's form
    (:meth:`DCPTLaw.at_ratio`), so the N / D split under ``C = 6 N D`` follows Eq. 2."""
    e2, A, alpha, b2, beta = law.at_ratio(r)
    if b2 <= 0:
        raise ValueError(f"r={r!r}: the data term vanishes (B*r^eta = 0), no finite optimum")
    return chinchilla_allocation(A, alpha, b2, beta, C, E=e2)


# ------------------------------------------------------------------------------------------------
# Cross-Domain D-CPT law


def dlc(k1: Any, k2: Any, w1: float = 1.0, w2: float = 1.0) -> Any:
    """Domain-specific Learnable Coefficient ``K = w1/k1 + w2*k2`` (Que et al.): ``k1`` the base
    model's initial validation loss on the domain, ``k2`` the early rate of fall of that loss."""
    _check_pos("k1", k1)
    _check_pos("k2", k2, allow_zero=True)
    return w1 / np.asarray(k1, dtype=np.float64) + w2 * np.asarray(k2, dtype=np.float64)


def domain_coefficients(
    steps: Any, losses: Any, *, early: float | None = None
) -> tuple[float, float]:
    """``(k1, k2)`` of a domain from a short probe run: ``k1`` = loss at the first observation
    (the base model's initial loss), ``k2`` = minus the least-squares slope of the loss over the
    observations with ``step <= early`` (default: all given), in loss per unit of ``steps``.
    Probing ~1% of a normal run is what the Cross-Domain D-CPT Law needs (Que et al.'s abstract)."""
    s = np.ravel(np.asarray(steps, dtype=np.float64))
    y = np.ravel(np.asarray(losses, dtype=np.float64))
    if s.size != y.size or s.size < 2:
        raise ValueError(f"steps/losses: need >= 2 matching values, got {s.size} and {y.size}")
    _check_pos("losses", y)
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    if early is not None:
        m = s <= float(early)
        if m.sum() < 2:
            raise ValueError(f"early={early!r}: fewer than 2 observations at or before it")
        s, y = s[m], y[m]
    slope = np.polyfit(s, y, 1)[0]
    return float(y[0]), float(max(-slope, 0.0))


@pytree_dataclass
class CrossDomainDCPTLaw:
    """Cross-Domain D-CPT Law ``L(N, D, r, K) = L3(N, D, r) + F/K^mu`` with
    ``K = w1/k1 + w2*k2`` (Que et al. 2024; w1 fixed to 1 by default: a common scale of w1, w2 is
    absorbed by F). ``base`` holds the shared L3 parameters."""

    base: DCPTLaw
    F: Any
    mu: Any
    w2: Any
    w1: float = static_field(default=1.0)

    def K(self, k1: Any, k2: Any) -> Any:
        return self.w1 / k1 + self.w2 * k2

    def __call__(self, N: Any, D: Any, r: Any, k1: Any, k2: Any) -> Any:
        return self.base(N, D, r) + self.F / self.K(k1, k2) ** self.mu

    def for_domain(self, k1: float, k2: float) -> DCPTLaw:
        """The (ordinary) D-CPT law of a new domain from its probe coefficients."""
        _check_pos("k1", k1)
        _check_pos("k2", k2, allow_zero=True)
        shift = float(self.F) / float(self.K(float(k1), float(k2))) ** float(self.mu)
        return dataclasses.replace(self.base, E=float(self.base.E) + shift)

    def to_dict(self) -> dict[str, Any]:
        return {"law": "cross-domain-dcpt", "form": self.base.form,
                "params": {**self.base.params(), "F": float(self.F), "mu": float(self.mu),
                           "w1": float(self.w1), "w2": float(self.w2)}}


def fit_cross_domain(
    N: Any, D: Any, r: Any, k1: Any, k2: Any, loss: Any, *, delta: float = 1e-3,
    n_starts: int = 512, n_keep: int = 48, max_iter: int = 600, seed: int = 0,
) -> TableFit:
    """Fit a :class:`CrossDomainDCPTLaw` on rows from several domains (each row carries its
    domain's ``k1``, ``k2``); predict an unseen domain with ``fit.law.for_domain(k1, k2)``."""
    cols = _as_columns("fit_cross_domain", N=N, D=D, r=r, k1=k1, k2=k2, loss=loss)
    for k in ("N", "D", "loss", "k1"):
        _check_pos(k, cols[k])
    _check_pos("k2", cols["k2"], allow_zero=True)
    _check_ratio("r", cols["r"])
    X = {"logN": np.log(cols["N"]), "logD": np.log(cols["D"]), "r": cols["r"],
         "k1": cols["k1"], "k2": cols["k2"]}
    axes: list[Sequence[float] | np.ndarray] = [
        (-1.0, 0.0, 1.0), (0.0, 5.0, 10.0, 20.0), (0.0, 0.5, 1.0), (0.0, 5.0, 10.0, 20.0),
        (0.0, 0.5, 1.0), (-4.0, -2.0, 0.0), (0.0, 0.5, 1.0), np.log([1e-3, 1e-2, 1e-1]),
        (0.0, 0.5, 1.0), (-4.0, -2.0, 0.0), (0.5, 1.0, 2.0), (-2.0, 0.0, 2.0),
    ]
    starts = grid_starts(axes, int(n_starts), seed)
    raw, hub = _fit_table(_logpred_cross_domain, X, cols["loss"], starts, delta=delta,
                          max_iter=max_iter,
                          n_keep=n_keep)
    law = CrossDomainDCPTLaw(base=_dcpt_from_raw(raw[:9], "L3"), F=math.exp(raw[9]),
                             mu=float(raw[10]), w2=math.exp(raw[11]))
    pred = np.asarray(law(cols["N"], cols["D"], cols["r"], cols["k1"], cols["k2"]))
    return TableFit(law, hub, _r2(pred, cols["loss"]), len(cols["loss"]), len(starts), raw)


# ------------------------------------------------------------------------------------------------
# cross-lingual CPT law (Zheng et al. 2024)


@pytree_dataclass
class CrossLingualLaw:
    """Zheng et al. 2024 Eq. 4: ``L(N, D) = E + A/N^alpha + B/(D^beta * N^gamma)`` (``B`` is the
    paper's B', ``beta`` its beta'); ``gamma = 0`` is the Chinchilla law (Eq. 1). Defaults: the
    published CPT fit (Table 2, :data:`ZHENG_CPT`). ``N`` in parameters, ``D`` in tokens."""

    E: Any = ZHENG_CPT["E"]
    A: Any = ZHENG_CPT["A"]
    alpha: Any = ZHENG_CPT["alpha"]
    B: Any = ZHENG_CPT["B"]
    beta: Any = ZHENG_CPT["beta"]
    gamma: Any = ZHENG_CPT["gamma"]

    def __call__(self, N: Any, D: Any) -> Any:
        return self.E + self.A / N**self.alpha + self.B / (D**self.beta * N**self.gamma)

    def params(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in ("E", "A", "alpha", "B", "beta", "gamma")}

    def to_dict(self) -> dict[str, Any]:
        return {"law": "cross-lingual", "params": self.params()}


def allocation(law: CrossLingualLaw, C: float | None = None) -> Allocation:
    """Compute-optimal ``N``/``D`` of a :class:`CrossLingualLaw` under ``C = 6 N D``
    (Zheng et al. Eq. 5; Eq. 2 when gamma = 0)::

        G = (alpha*A/((beta-gamma)*B))^(1/(alpha+beta-gamma)),
        a = beta/(alpha+beta-gamma), b = (alpha-gamma)/(alpha+beta-gamma),
        N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b.

    Published (Zheng et al. 2024 text): CPT N = 4.79 C^0.385, D = 0.035 C^0.615; from scratch
    N = 0.324 C^0.429, D = 0.514 C^0.571.
    """
    A, alpha, B, beta, gamma = (float(law.A), float(law.alpha), float(law.B), float(law.beta),
                                float(law.gamma))
    s = alpha + beta - gamma
    if not (A > 0 and B > 0 and alpha > 0 and beta - gamma > 0 and alpha - gamma >= 0):
        raise ValueError(f"law: need A, B, alpha > 0 and beta > gamma, alpha >= gamma "
                         f"(got alpha={alpha}, beta={beta}, gamma={gamma})")
    G = (alpha * A / ((beta - gamma) * B)) ** (1.0 / s)
    a, b = beta / s, (alpha - gamma) / s
    n_coef, d_coef = G * 6.0 ** (-a), 6.0 ** (-b) / G
    if C is None:
        return Allocation(G, a, b, n_coef, d_coef)
    _check_pos("C", C)
    N, D = n_coef * C**a, d_coef * C**b
    return Allocation(G, a, b, n_coef, d_coef, float(C), N, D, float(law(N, D)))


def fit_cross_lingual(
    N: Any, D: Any, loss: Any, *, fixed: Mapping[str, float] | None = None,
    delta: float = 1e-3, n_starts: int = 256, n_keep: int = 32, max_iter: int = 400,
    seed: int = 0,
) -> TableFit:
    """Fit a :class:`CrossLingualLaw` (Huber on log loss, LSE form). ``fixed`` freezes some of
    ``E, A, alpha, B, beta, gamma`` -- the paper's second stage freezes ``E, A, alpha`` from the
    from-scratch fit and fits ``B, beta, gamma`` on the CPT runs (Zheng et al. 2024). Pass
    ``fixed={"gamma": 0.0}`` for the Chinchilla law."""
    cols = _as_columns("fit_cross_lingual", N=N, D=D, loss=loss)
    for k in ("N", "D", "loss"):
        _check_pos(k, cols[k])
    names = ("E", "A", "alpha", "B", "beta", "gamma")
    fixed = dict(fixed or {})
    for k, v in fixed.items():
        if k not in names:
            raise ValueError(f"fixed: unknown parameter {k!r} (one of {', '.join(names)})")
        if k in ("E", "A", "B"):
            _check_pos(f"fixed[{k!r}]", v)
    # raw: e, a, alpha, b, beta, gamma (log for E, A, B)
    base = np.array([math.log(fixed[k]) if k in ("E", "A", "B") and k in fixed
                     else float(fixed.get(k, 0.0)) for k in names])
    free = np.array([k not in fixed for k in names])
    grid: dict[str, Sequence[float] | np.ndarray] = {
            "E": np.arange(-1.0, 1.01, 0.5), "A": np.arange(0.0, 25.1, 5.0),
            "alpha": np.arange(0.0, 2.01, 0.5), "B": np.arange(0.0, 25.1, 5.0),
            "beta": np.arange(0.0, 2.01, 0.5), "gamma": (-0.5, 0.0, 0.5)}
    if not free.any():
        raise ValueError("fixed: every parameter is fixed, nothing to fit")
    starts = grid_starts([grid[k] for k, f in zip(names, free, strict=True) if f],
                          int(n_starts), seed)
    idx = np.flatnonzero(free)
    X = {"logN": np.log(cols["N"]), "logD": np.log(cols["D"]), "base": base, "idx": idx}
    raw, hub = _fit_table(_logpred_cross_lingual, X, cols["loss"], starts, delta=delta,
                          max_iter=max_iter,
                          n_keep=n_keep)
    full = base.copy()
    full[idx] = raw
    law = CrossLingualLaw(E=math.exp(full[0]), A=math.exp(full[1]), alpha=float(full[2]),
                          B=math.exp(full[3]), beta=float(full[4]), gamma=float(full[5]))
    pred = np.asarray(law(cols["N"], cols["D"]))
    return TableFit(law, hub, _r2(pred, cols["loss"]), len(cols["loss"]), len(starts), full)
