"""Prediction intervals from refits on reweighted (Bayesian-bootstrap) and reduced training data.

``bootstrap_samples`` refits a fitted law ``n_samples`` times; refit ``b`` uses weights
``w = g_run * g_block``, where ``g_run ~ Exp(1)`` per run (normalised to mean 1 over runs) and
``g_block ~ Exp(1)`` per block of ``block`` consecutive observations (Bayesian bootstrap, Rubin
1981: continuous weights, so that no run or region drops out entirely and every refit stays
identifiable). Each refit starts from the fitted parameters. The parameter samples give a
predictive band: pointwise quantiles of the sampled curves (``predict_interval``).

``jackknife_samples`` adds the refits on the cross-validation folds of ``select_law`` (each run
left out when there are >= 3, and every run truncated at 60% of the horizon): how much the
prediction moves when a schedule, or the end of the runs, is unseen. ``interval_samples`` =
both (the default of ``cptdyn fit --law auto``), on the observations and with the prior the fit
had, each bootstrap refit with its prior's centre drawn from the prior (randomise-then-optimise),
so that what the runs do not identify spreads as the prior says.

The band reflects parameter uncertainty given the law (how much the fit depends on which runs and
which parts of them it saw), not the law's own misspecification; coverage on held-out curves is
measured in ``benchmarks/bench_accuracy.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._law import Law, law_from_dict
from .._run import Run
from ._batch import fit_many
from ._fit import FitError, FitResult, _constraints, _prior_arrays, check_runs
from ._priors import PriorSpec, prior_strength, resolve_prior
from ._select import binned_runs, cv_fold_masks, law_fit_options, window_weights

__all__ = [
    "bootstrap_weights",
    "bootstrap_samples",
    "jackknife_samples",
    "interval_samples",
    "predict_interval",
    "samples_to_doc",
    "samples_from_doc",
]


def bootstrap_weights(runs: Sequence[Run], rng: np.random.Generator,
                      block: int = 8) -> list[np.ndarray]:
    """One draw of per-observation weights (run weight x block weight, both Exp(1))."""
    g = rng.exponential(size=len(runs))
    g = g / g.mean()
    out = []
    for gi, r in zip(g, runs, strict=True):
        n = r.steps.size
        nb = -(-n // max(1, int(block)))
        b = rng.exponential(size=nb)
        out.append(gi * np.repeat(b, max(1, int(block)))[:n])
    return out


def _refits(fitted: FitResult | Law, runs: Sequence[Run], n_boot: int, folds: bool, *,
            seed: int, block: int, fspl_fraction: float, prior: PriorSpec, skip_warmup: bool,
            fit_options: Mapping[str, Any] | None, what: str) -> tuple[list[Law], list[Law]]:
    """(bootstrap refits, fold refits) of ``fitted`` on ``runs``, solved as one batch
    (``fit_many``): the shared machinery of ``bootstrap_samples``, ``jackknife_samples`` and
    ``interval_samples`` (``interval_samples``' docstring says what the refits see)."""
    law = fitted.law if isinstance(fitted, FitResult) else fitted
    runs, counts = binned_runs(check_runs(runs, what))
    n = int(n_boot)
    kw = law_fit_options(law)
    kw.update({"n_random": 0, "n_keep": 2, "seed": seed})
    rng = np.random.default_rng(seed)
    win = window_weights(law, runs, counts) if skip_warmup else counts
    ws: list[Any] = [[b * m for b, m in zip(bootstrap_weights(runs, rng, block), win,
                                            strict=True)] for _ in range(n)]
    fm = cv_fold_masks(runs, fspl_fraction) if folds else []
    ws += [[np.where(t, m, 0.0) for t, m in zip(tr, win, strict=True)] for _, _, tr, _ in fm]
    starts: list[Sequence[Run] | None] = [None] * n + [f[1] for f in fm]
    if not ws:
        return [], []
    pri = resolve_prior(prior, law, runs, what)
    drawn: list[Mapping[str, tuple[float, float]] | None] | None = None
    if pri:
        k = math.sqrt(prior_strength(win, len(runs)))
        kw["prior"] = {p: (float(c), float(sd) / k) for p, (c, sd) in pri.items()}
        names, cons = _constraints(law)
        # drawn at the prior's own width: the fit's penalty is the prior's times the strength
        # because the data's is a sum over every observation (``prior_strength``)
        centre, inv_sd = _prior_arrays(pri, names, cons)
        has = inv_sd > 0
        drawn = []
        for _ in range(n):
            raw = centre + np.where(has, rng.standard_normal(centre.size), 0.0) / np.where(
                has, inv_sd, 1.0)
            drawn.append({p: (cons[i].value_of(raw[i]), kw["prior"][p][1])
                          for i, p in enumerate(names) if has[i]})
        drawn += [None] * len(fm)
    kw.update(fit_options or {})
    if "prior" in (fit_options or {}):  # the caller's own prior, as it is
        drawn = None
    fits = fit_many(law, runs, ws, start_runs=starts, problem_priors=drawn, **kw)
    return ([r.law for r in fits[:n] if isinstance(r, FitResult)],
            [r.law for r in fits[n:] if isinstance(r, FitResult)])


def bootstrap_samples(
    fitted: FitResult | Law,
    runs: Sequence[Run],
    n_samples: int = 16,
    *,
    seed: int = 0,
    block: int = 8,
    fit_options: Mapping[str, Any] | None = None,
    prior: PriorSpec = "default",
    skip_warmup: bool = True,
) -> list[Law]:
    """Parameter samples of ``fitted`` from refits on reweighted ``runs`` (module docstring),
    each with its prior's centre drawn from the prior (``interval_samples``).

    Args:
      fitted: the fitted law (or its ``FitResult``); refits start from its parameters.
      runs: the runs it was fitted on.
      n_samples: number of refits.
      seed: seed of the weights and of the prior draws.
      block: observations per weight block.
      fit_options: extra ``fit_many`` options (default: ``law_fit_options`` of the law, with few
        starts; a ``"prior"`` here is used as it is, not drawn).
      prior, skip_warmup: the fit's prior and warmup rule (``interval_samples``).

    Returns:
      the refitted laws (refits that fail are skipped; at least one must succeed).
    """
    if int(n_samples) < 1:
        raise FitError(f"bootstrap_samples: n_samples={n_samples} must be >= 1")
    boot, _ = _refits(fitted, runs, int(n_samples), False, seed=seed, block=block,
                      fspl_fraction=0.6, prior=prior, skip_warmup=skip_warmup,
                      fit_options=fit_options, what="bootstrap_samples")
    if not boot:
        raise FitError("bootstrap_samples: every refit failed")
    return boot


def jackknife_samples(
    fitted: FitResult | Law,
    runs: Sequence[Run],
    *,
    fspl_fraction: float = 0.6,
    seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    prior: PriorSpec = "default",
    skip_warmup: bool = True,
) -> list[Law]:
    """Refits of ``fitted`` on the training folds of ``select_law`` (leave-one-run-out with
    >= 3 runs, and all runs truncated at ``fspl_fraction`` of the horizon), with the fit's
    prior at its centre; failed refits are skipped (the list may be empty)."""
    return _refits(fitted, runs, 0, True, seed=seed, block=8, fspl_fraction=fspl_fraction,
                   prior=prior, skip_warmup=skip_warmup, fit_options=fit_options,
                   what="jackknife_samples")[1]


def interval_samples(fitted: FitResult | Law, runs: Sequence[Run], n_samples: int = 8, *,
                     seed: int = 0, prior: PriorSpec = "default",
                     skip_warmup: bool = True) -> list[Law]:
    """``n_samples`` bootstrap refits followed by ``jackknife_samples``' refits, solved as one
    batch (``fit_many``: one compiled program for all of them), on the observations the fit used
    (``fit_window``; every observation with ``skip_warmup=False``; a per-step log binned as
    ``fit`` bins it, ``binned_runs``) and with the prior it had.

    ``prior``: the fit's prior in ``default_prior``'s form (``"default"``: ``default_prior(law,
    runs)``; None or ``{}``: none), scaled by ``prior_strength`` as ``fit`` and ``select_law``
    scale it. Each bootstrap refit draws its prior's centre from that prior (its own width, not
    the scaled one: the data's penalty is a sum over every observation), in the unconstrained
    space (randomise-then-optimise: Bardsley et al. 2014; the perturbed-MAP form of the weighted
    Bayesian bootstrap): a direction the runs do not identify (the anneal gain of a constant
    run) then spreads as the prior says, instead of every refit returning the prior's centre.
    The jackknife refits keep the prior's centre."""
    if int(n_samples) < 1:
        raise FitError(f"bootstrap_samples: n_samples={n_samples} must be >= 1")
    boot, folds = _refits(fitted, runs, int(n_samples), True, seed=seed, block=8,
                          fspl_fraction=0.6, prior=prior, skip_warmup=skip_warmup,
                          fit_options=None, what="interval_samples")
    if not boot:
        raise FitError("bootstrap_samples: every refit failed")
    return boot + folds


def _predict(law: Law, target: Run) -> np.ndarray:
    from cptdyn._pytree import x64_context

    with x64_context():
        return np.asarray(law.predict(target), np.float64).reshape(-1)


def predict_interval(
    samples: Sequence[Law],
    run_or_lr: Run | Any,
    level: float = 0.9,
    *,
    steps: Any = None,
    warmup_steps: int = 0,
    rel_error: float = 0.0,
) -> dict[str, np.ndarray]:
    """Pointwise predictive band of the sampled laws.

    Args:
      samples: laws (e.g. ``bootstrap_samples``).
      run_or_lr: a ``Run`` (predicted at ``run.steps``) or a per-step LR array.
      level: central probability of the band (0.9 -> 5% and 95% quantiles).
      steps: with an LR array, the steps to predict at (default every step 1..T).
      warmup_steps: with an LR array, its warmup length.
      rel_error: widen the band by ``rel_error * median`` on each side (e.g. the law's
        cross-validated relative error, to account for misspecification); default 0.

    Returns:
      ``{"steps", "lo", "hi", "median", "samples"}`` (``samples``: shape (n, len(steps))).
    """
    if not samples:
        raise ValueError("predict_interval: no samples")
    if not 0 < level < 1:
        raise ValueError(f"predict_interval: level={level} must be in (0, 1)")
    if isinstance(run_or_lr, Run):
        target = run_or_lr
    else:
        lr = np.asarray(run_or_lr, np.float64)
        st = np.arange(1, lr.size + 1) if steps is None else np.asarray(steps, np.int64)
        target = Run("interval", lr, st, warmup_steps=int(warmup_steps))
    preds = np.stack([_predict(s, target) for s in samples])
    q = (1.0 - level) / 2.0
    med = np.median(preds, axis=0)
    pad = max(float(rel_error), 0.0) * med
    return {
        "steps": np.asarray(target.steps),
        "lo": np.quantile(preds, q, axis=0) - pad,
        "hi": np.quantile(preds, 1.0 - q, axis=0) + pad,
        "median": med,
        "samples": preds,
    }


def samples_to_doc(samples: Sequence[Law]) -> list[dict[str, float]]:
    """Parameter dicts of the samples (for a params document's ``"samples"`` key)."""
    return [{k: float(np.asarray(v)) for k, v in s.params().items()} for s in samples]


def samples_from_doc(doc: Mapping[str, Any]) -> list[Law]:
    """Laws of a params document's ``"samples"`` (same law and options as the document)."""
    raw = doc.get("samples") or []
    base = {"law": doc["law"], "options": doc.get("options", {})}
    return [law_from_dict({**base, "params": dict(p)}) for p in raw]
