"""Priors learned from earlier models' runs (empirical Bayes; ``_priors`` module docstring,
"Learned priors"): fit every group on its own, then ``LearnedPrior`` of their values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._law import Law
from .._run import Run
from ._fit import fit
from ._priors import LEARNED_SD_FLOOR, LearnedPrior, _peak, _prior_scale, default_prior

__all__ = ["learn_prior"]


def learn_prior(law: Law, groups: Sequence[Sequence[Run]],
                fit_fn: Callable[[Law, Sequence[Run]], Any] | None = None) -> LearnedPrior:
    """Empirical-Bayes prior for ``law`` from ``groups`` of runs (module docstring).

    Args:
      law: the template (its static options, e.g. the warmup convention, are kept).
      groups: one list of runs per earlier model (each fitted on its own).
      fit_fn: ``(law, runs) -> FitResult``; default ``fit(law, runs)`` with the published prior.
    Raises:
      ValueError: no groups, or the law has no parameter with a prior.
    """
    if not groups:
        raise ValueError("learn_prior: groups is empty (give one list of runs per earlier model)")
    if fit_fn is None:
        def fit_fn(lw: Law, rs: Sequence[Run]) -> Any:
            return fit(lw, rs)

    names = list(default_prior(law, groups[0]))
    if not names:
        raise ValueError(f"learn_prior: law {law.NAME!r} has no parameter with a prior")
    raws: dict[str, list[float]] = {k: [] for k in names}
    vals: dict[str, list[float]] = {k: [] for k in names}
    for g in groups:
        res = fit_fn(law, list(g))
        peak = _peak(g)
        for k in names:
            v = float(res.params[k]) / _prior_scale(law, k, peak)
            vals[k].append(v)
            raws[k].append(float(law.PARAMS[k].to_raw(v)))
    published = default_prior(law, groups[0])
    centres, sds = {}, {}
    n = len(groups)
    for k in names:
        r = np.asarray(raws[k])
        c = law.PARAMS[k]
        m = float(r.mean())
        if c.kind == "positive":
            centres[k] = math.exp(m)
        elif c.kind == "interval":
            centres[k] = c.lo + (c.hi - c.lo) / (1.0 + math.exp(-m))
        else:
            centres[k] = m
        sd0 = published[k][1]
        if n < 2:
            sds[k] = sd0
        else:
            sds[k] = max(math.sqrt((1.0 + 1.0 / n) * float(r.var(ddof=1))),
                         LEARNED_SD_FLOOR * sd0)
    return LearnedPrior(law.NAME, centres, sds, {k: tuple(v) for k, v in vals.items()})
