"""Priors learned from earlier models' runs (empirical Bayes; ``_priors`` module docstring,
"Learned priors"): fit every group on its own, then ``LearnedPrior`` of their values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import x64_context

from .._law import Law
from .._run import Run
from ._fit import fit
from ._priors import (
    LEARNED_SD_FLOOR,
    LearnedPrior,
    _peak,
    _published,
    _to_normalised,
    identified,
)

__all__ = ["learn_prior"]


def learn_prior(law: Law, groups: Sequence[Sequence[Run]],
                fit_fn: Callable[[Law, Sequence[Run]], Any] | None = None) -> LearnedPrior:
    """Empirical-Bayes prior for ``law`` from ``groups`` of runs (module docstring).

    ``momentum-lr``'s ``rho`` is learned only from groups with runs at two or more peak LRs
    (an earlier model's LR sweep); without any, it keeps the published prior.

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

    published = _published(law)
    if not published:
        raise ValueError(f"learn_prior: law {law.NAME!r} has no parameter with a prior")
    raws: dict[str, list[float]] = {k: [] for k in published}
    vals: dict[str, list[float]] = {k: [] for k in published}
    for g in groups:
        res = fit_fn(law, list(g))
        peak = _peak(g)
        for k in published:
            if not identified(k, g):
                continue  # the group cannot show it (rho at one peak LR): not learned from it
            v = _to_normalised(law, k, float(res.params[k]), peak)
            vals[k].append(v)
            raws[k].append(float(law.PARAMS[k].to_raw(v)))
    centres, sds = {}, {}
    for k, (c0, sd0) in published.items():
        r = np.asarray(raws[k])
        n = r.size
        if n == 0:  # no group could show it: the published prior
            centres[k], sds[k] = c0, sd0
            continue
        with x64_context():  # the mean in the unconstrained space, back to a value
            centres[k] = float(law.PARAMS[k].from_raw(jnp.asarray(r.mean(), jnp.float64)))
        sds[k] = sd0 if n < 2 else max(math.sqrt((1.0 + 1.0 / n) * float(r.var(ddof=1))),
                                       LEARNED_SD_FLOOR * sd0)
    return LearnedPrior(law.NAME, centres, sds, {k: tuple(v) for k, v in vals.items()})
