"""The prediction band of a regularised fit (Laplace approximation): widens with what the training
runs cannot pin down (see ``prediction_band``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._law import Law
from .._run import Run
from ._fit import (
    MAX_OBS,
    _as_x64,
    _constraints,
    _law_from_raw,
    _prior_arrays,
    _raw_from_params,
    bin_observations,
)
from ._priors import (
    MODEL_ERROR_PER_EFOLD,
    PEAK_RTOL,
    PRIOR_OBS_PER_RUN,
    RHO_SD,
    PriorSpec,
    fit_window,
    merge_peaks,
    resolve_prior,
)

__all__ = ["prediction_band", "lr_response_slope", "lr_response_slopes", "lr_response_variance",
           "cv_model_error", "cv_relative_error", "LaplacePosterior", "laplace_posterior",
           "posterior_band"]

#: step in log rho of the central difference of ``lr_response_slope``
_LOG_RHO_STEP = 0.01


def lr_response_slopes(law: Law, target: Run, lr_ref: float) -> dict[str, np.ndarray]:
    """Per additive term of ``law`` (``law.terms``: the power term, the annealing term, ...;
    ``L0`` left out), ``d term / d log(rho) / prediction`` at ``rho = 1`` at ``target.steps``,
    with the target's LR seen through ``lr_ref * (lr / lr_ref)^rho`` (``momentum-lr``'s
    transform) and ``law``'s parameters held. They sum to :func:`lr_response_slope`. A law
    without ``terms`` gives one entry, ``"prediction"``: the slope of the whole prediction.
    Central difference in ``log rho`` (step 0.01), float64."""
    from cptdyn._pytree import x64_context

    from .._simulate import run_context

    terms = getattr(law, "terms", None)
    lr = np.asarray(target.lr, np.float64)
    pos = lr > 0
    ratio = np.where(pos, lr, lr_ref) / lr_ref
    out: list[dict[str, np.ndarray]] = []
    with x64_context():
        base = np.asarray(law.predict(target), np.float64).reshape(-1)
        for s in (_LOG_RHO_STEP, -_LOG_RHO_STEP):
            t = target.replace(lr=np.where(pos, lr_ref * ratio ** math.exp(s), 0.0))
            if terms is None:
                out.append({"prediction": np.asarray(law.predict(t), np.float64).reshape(-1)})
            else:
                parts = terms(t.lr, t.steps, **run_context(t))
                out.append({k: np.asarray(v, np.float64).reshape(-1)
                            for k, v in parts.items() if k != "L0"})
    with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf where S1 = 0: NaN there
        return {k: (out[0][k] - out[1][k]) / (2 * _LOG_RHO_STEP) / base for k in out[0]}


def lr_response_variance(law: Law, target: Run, train_peaks: Sequence[float],
                         sd: float = RHO_SD) -> np.ndarray | None:
    """The log variance that the LR response adds to a prediction of ``target`` from runs at
    ``train_peaks`` (``distinct_peaks`` of the training runs), or None when it adds nothing:
    the training runs have one peak LR and the target's peak is more than ``PEAK_RTOL`` away
    from it (else the runs show the LR response, or the target needs none). Then
    ``max((sum_k s_k)^2, sum_k s_k^2) * sd^2`` with ``s_k = lr_response_slopes(...)[k]``: the
    wider of one LR-response exponent shared by every term (``momentum-lr``'s model) and one
    independent exponent per term (nothing at one peak says the progress term and the annealing
    term respond to the LR alike), with ``sd`` the exponent's prior width in ``log rho``."""
    peak_t = float(np.max(target.lr)) if np.size(target.lr) else 0.0
    if sd <= 0 or len(train_peaks) != 1 or not peak_t > 0 \
            or abs(math.log(peak_t / train_peaks[0])) <= math.log1p(PEAK_RTOL):
        return None
    slopes = list(lr_response_slopes(law, target, train_peaks[0]).values())
    shared = sum(slopes) ** 2  # one exponent for every term
    apart = sum(sl**2 for sl in slopes)  # one exponent per term, independent
    return np.asarray(np.maximum(shared, apart) * sd**2, np.float64)


def lr_response_slope(law: Law, target: Run, lr_ref: float) -> np.ndarray:
    """``d log(prediction) / d log(rho)`` at ``rho = 1`` at ``target.steps``, with the target's
    LR seen through ``lr_ref * (lr / lr_ref)^rho`` (``momentum-lr``'s transform) and ``law``'s
    parameters held: how much the prediction depends on the LR response that one peak LR
    cannot show. Central difference in ``log rho`` (step 0.01), float64."""
    from cptdyn._pytree import x64_context

    lr = np.asarray(target.lr, np.float64)
    pos = lr > 0
    ratio = np.where(pos, lr, lr_ref) / lr_ref
    out = []
    with x64_context():
        for s in (_LOG_RHO_STEP, -_LOG_RHO_STEP):
            lr_s = np.where(pos, lr_ref * ratio ** math.exp(s), 0.0)
            out.append(np.log(np.asarray(law.predict(target.replace(lr=lr_s)), np.float64)))
    return (out[0] - out[1]) / (2 * _LOG_RHO_STEP)


# ------------------------------------------------------------------------------------------------
# model error measured by cross-validation


def cv_relative_error(row: Mapping[str, Any], runs: Sequence[Run]) -> float:
    """``row["cv_abs_final_error"]`` (a ``select_law`` table row: the mean |final-loss error|
    over the held-out runs of its folds) relative to the mean final loss of ``runs``; 0.0 when
    it is unknown (no fold could be scored)."""
    return _relative(float(row.get("cv_abs_final_error", math.nan)), runs)


def _relative(err: float, runs: Sequence[Run]) -> float:
    finals = [float(np.asarray(r.loss)[-1]) for r in runs if r.loss is not None and r.steps.size]
    final = float(np.mean(finals)) if finals else math.nan
    rel = err / final if final > 0 else math.nan
    return rel if math.isfinite(rel) else 0.0


def cv_model_error(
    law: Law, runs: Sequence[Run], *, seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    prior: Any = None,
) -> float:
    """The model error that cross-validation measures for ``law`` on ``runs``, relative to the
    loss: the mean |final-loss error| over the held-out runs of ``select_law``'s folds (leave
    one run out with three or more runs, fit short / predict long at 60%, and the extrapolation
    folds: longest horizon, other schedule kind, other peak LR), over the mean final loss of
    ``runs``. Pass it as ``prediction_band(..., model_error=)``: the
    band then carries how far the law has missed runs it did not see, which the fit's residuals
    and the posterior width cannot show (a law that fits its runs to 0.1% and misses a held-out
    schedule by 0.5%). The folds are refitted as ``select_law`` fits them (``heldout_rows``:
    ``law_fit_options`` updated by ``fit_options``, the prior ``prior(law, runs)``, e.g. a
    ``learn_prior`` result, or the default one), without its fit on all runs; 0.0 when no fold
    can be scored (one run too short to cut)."""
    from ._select import cv_abs_final_error, heldout_rows

    rows = heldout_rows(law, runs, seed=seed, fit_options=fit_options, prior=prior)
    return _relative(cv_abs_final_error(rows), runs)


# ------------------------------------------------------------------------------------------------
# prediction band (Laplace approximation of the regularised fit)


def prediction_band(
    law: Law, runs: Sequence[Run], target: Run, level: float = 0.9,
    prior: PriorSpec = "default",
    lr_response_sd: float = RHO_SD,
    model_error: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: a ``level`` band of ``law``'s prediction at ``target.steps``, fitted on
    ``runs``, that widens with what the training runs cannot pin down.

    Laplace (Gauss-Newton) approximation of the same posterior the default fit maximises, in the
    unconstrained parameter space: the data count as ``PRIOR_OBS_PER_RUN`` independent
    observations per run with noise ``sigma`` = the rms log residual of the law on the training
    runs (the misfit the law cannot remove), the prior as the fit had it (``prior``, in
    ``fit``'s convention: ``"default"`` = ``default_prior``, None = none, or a mapping).
    ``Cov = (n_eff / n * J^T J / sigma^2 + diag(1 / sd^2))^-1``; the band on the log loss is
    ``+- z * sqrt(g^T Cov g + sigma^2)`` with ``g`` the gradient of the target's log prediction.
    A parameter that the runs cannot identify (the annealing amplitude from one constant run, the
    exponent from a short run) keeps its prior width, and the band shows it where the target
    depends on it (a cooldown, a longer horizon, another peak LR). Parameters without a prior
    get a flat one (sd 10 in the unconstrained space).

    The LR response: when the training runs have one peak LR (``distinct_peaks``) and the
    target's peak is more than ``PEAK_RTOL`` away from it, nothing in the fit says how the loss
    responds to the LR level (``momentum-lr``'s ``rho``, held at 1 by the fit), nor whether the
    law's terms (the progress term, the annealing term) respond to it alike. The band then adds
    ``lr_response_variance(law, target, peaks, lr_response_sd)`` to the log variance: the wider
    of one LR-response exponent shared by the terms and one independent exponent per term, with
    prior width ``lr_response_sd`` in ``log rho`` (``RHO_SD``, 0.25; 0 leaves it out). Model
    error on top: ``MODEL_ERROR_PER_EFOLD`` per e-fold of extrapolation in LR area and in peak
    LR, and ``model_error`` x the prediction added to each side (a relative error measured on
    held-out runs, ``cv_model_error``; what ``cptdyn fit --law auto`` stores as
    ``interval.model_error`` and the command line's bands add the same way; 0 leaves it out).
    """
    _check_band_args(level, model_error)  # before the posterior's work
    post = laplace_posterior(law, runs, prior)
    return posterior_band(law, post, target, level, lr_response_sd, model_error)


def _check_band_args(level: float, model_error: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"prediction_band: level={level} must be in (0, 1)")
    if not (math.isfinite(model_error) and model_error >= 0.0):
        raise ValueError(f"prediction_band: model_error={model_error} must be a finite number "
                         ">= 0")


@dataclass(frozen=True)
class LaplacePosterior:
    """What ``prediction_band`` needs of the training runs, kept so that a band can be drawn
    for any schedule later without them (``cptdyn fit`` stores it in the params file,
    ``interval.posterior``): the law's parameters ``names`` in the unconstrained space ``raw``
    (the fit), their covariance ``cov``, the rms log residual ``sigma``, the longest training
    run's LR area ``s1_train`` and every training run's peak LR ``peaks``."""

    names: tuple[str, ...]
    raw: np.ndarray
    cov: np.ndarray
    sigma: float
    s1_train: float
    peaks: tuple[float, ...]

    def to_doc(self) -> dict[str, Any]:
        return {"names": list(self.names), "raw": [float(v) for v in self.raw],
                "cov": [[float(v) for v in row] for row in self.cov],
                "sigma": float(self.sigma), "s1_train": float(self.s1_train),
                "peaks": [float(p) for p in self.peaks]}

    @classmethod
    def from_doc(cls, doc: Any, law: Law) -> LaplacePosterior:
        """Read ``to_doc``'s mapping back for ``law``; ``ValueError`` naming the field that is
        missing, of the wrong shape, not finite, or not ``law``'s parameters."""
        if not isinstance(doc, Mapping):
            raise ValueError("posterior: expected a mapping")
        names, _ = _constraints(law)
        got = doc.get("names")
        if not isinstance(got, list) or list(got) != names:
            raise ValueError(f"posterior: names={got!r} are not {law.NAME}'s parameters {names}")
        n = len(names)
        try:
            raw = np.asarray(doc["raw"], np.float64)
            cov = np.asarray(doc["cov"], np.float64)
            sigma, s1 = float(doc["sigma"]), float(doc["s1_train"])
            peaks = tuple(float(p) for p in doc["peaks"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"posterior: raw, cov, sigma, s1_train and peaks must be numbers "
                             f"({type(e).__name__}: {e})") from None
        if raw.shape != (n,) or cov.shape != (n, n):
            raise ValueError(f"posterior: raw has shape {raw.shape} and cov {cov.shape}; "
                             f"expected ({n},) and ({n}, {n})")
        if not (np.isfinite(raw).all() and np.isfinite(cov).all() and math.isfinite(sigma)
                and sigma >= 0 and s1 > 0 and math.isfinite(s1) and peaks
                and all(p > 0 and math.isfinite(p) for p in peaks)):
            raise ValueError("posterior: raw and cov must be finite, sigma >= 0, s1_train and "
                             "peaks > 0")
        return cls(tuple(names), raw, cov, sigma, s1, peaks)


@jax.jit
def _log_jacobian_all(law: Law, raw: Any, feats: list[Any]) -> tuple[Any, Any]:
    names, cons = _constraints(law)

    def logpred(r: Any) -> Any:
        lw = _law_from_raw(law, names, cons, r)
        return jnp.concatenate([jnp.log(jnp.reshape(lw.predict_features(f), (-1,)))
                                for f in feats])

    return jax.jacfwd(logpred)(raw), logpred(raw)


def _log_jacobian(law: Law, raw: np.ndarray, feats: Sequence[Any]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(d log prediction / d raw parameters, log prediction) at the observations of ``feats``
    (one entry per run, concatenated), in float64: one compiled program (``_log_jacobian_all``,
    kept by the program store) instead of an op-by-op Jacobian per run."""
    from cptdyn import _programs as programs

    x = jnp.asarray(np.asarray(raw, np.float64))
    fe = [jax.tree_util.tree_map(_as_x64, f) for f in feats]
    jac, val = programs.call(_log_jacobian_all, law, x, fe)
    return np.asarray(jac, np.float64), np.asarray(val, np.float64)


def laplace_posterior(law: Law, runs: Sequence[Run], prior: PriorSpec = "default",
                      ) -> LaplacePosterior:
    """The Laplace approximation of ``prediction_band`` for ``law`` fitted on ``runs``, with
    the fit's ``prior`` (``fit``'s convention, ``resolve_prior``: ``"default"``, None = none, or
    a mapping)."""
    from cptdyn._pytree import x64_context

    names, cons = _constraints(law)
    raw0 = _raw_from_params(law.params(), names, cons)
    if raw0 is None:
        raise ValueError("prediction_band: the law's parameters are outside their constraints")
    pri = resolve_prior(prior, law, runs, "prediction_band")
    centre, inv_sd = _prior_arrays(pri, names, cons)
    inv_sd = np.where(inv_sd > 0, inv_sd, 0.1)
    obs = []
    for r in runs:
        if r.loss is None or not r.steps.size:
            continue
        m = fit_window(r, law)
        obs.append(bin_observations(r.replace(steps=r.steps[m], loss=np.asarray(r.loss)[m]),
                                    None, MAX_OBS)[0])
    if not obs:
        raise ValueError("prediction_band: no training run has observations in its fit window")
    with x64_context():
        feats = [law.features(r) for r in obs]
        jm, lp = _log_jacobian(law, raw0, feats)
    rr = lp - np.concatenate([np.log(np.asarray(r.loss, np.float64)) for r in obs])
    sigma = max(float(np.sqrt(np.mean(rr**2))), 1e-4)
    n_eff = PRIOR_OBS_PER_RUN * len(obs)
    h = (n_eff / rr.size) * (jm.T @ jm) / sigma**2 + np.diag(inv_sd**2)
    cov = np.linalg.pinv(h)
    s1_train = max(float(np.sum(np.asarray(r.lr)[: int(r.steps[-1])])) for r in obs)
    return LaplacePosterior(tuple(names), np.asarray(raw0, np.float64), cov, sigma, s1_train,
                            tuple(sorted(float(np.max(r.lr)) for r in obs)))


def posterior_band(
    law: Law, post: LaplacePosterior, target: Run, level: float = 0.9,
    lr_response_sd: float = RHO_SD, model_error: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``prediction_band`` from a ``LaplacePosterior`` (``laplace_posterior``, or one read back
    from a params file) instead of the training runs."""
    from scipy.stats import norm

    from cptdyn._pytree import x64_context

    _check_band_args(level, model_error)
    with x64_context():
        tj, lp = _log_jacobian(law, post.raw, [law.features(target)])
    tp = np.exp(lp)
    # misspecification grows with the distance from the training data (log of the LR-area ratio
    # beyond the longest training run, log of the peak-LR ratio): MODEL_ERROR_PER_EFOLD each
    s1_t = np.cumsum(np.asarray(target.lr, np.float64))[np.asarray(target.steps) - 1]
    horizon = np.log(np.maximum(s1_t / post.s1_train, 1.0))
    peak_t = float(np.max(target.lr))
    peak_d = min(abs(math.log(peak_t / p)) for p in post.peaks) if peak_t > 0 else 0.0
    model = MODEL_ERROR_PER_EFOLD * (horizon + peak_d)
    var = np.einsum("ij,jk,ik->i", tj, post.cov, tj) + post.sigma**2 + model**2
    extra = lr_response_variance(law, target, merge_peaks(post.peaks), lr_response_sd)
    if extra is not None:
        var = var + extra
    z = float(norm.ppf(0.5 + level / 2))
    with np.errstate(invalid="ignore", over="ignore"):  # a step where the law is not finite
        half = z * np.sqrt(np.maximum(var, 0.0))
        pad = model_error * tp
        return tp * np.exp(-half) - pad, tp * np.exp(half) + pad
