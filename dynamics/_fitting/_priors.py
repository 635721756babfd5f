"""Weak priors for fitting loss laws from few runs (issue 12), stated with their sources.

``fit`` minimises ``sum w Huber(log pred - log obs) + delta^2 * strength * 0.5 * sum z^2`` with
``z = (raw - centre) / sd`` in each parameter's unconstrained space (log for positive parameters,
logit for intervals). ``default_prior(law, runs)`` gives the ``{name: (centre, sd)}`` used by
default; nothing here was tuned on the benchmark's predicted runs.

Centres and widths (empirical Bayes across published fits of different sizes and datasets):

* ``alpha`` (the ``A * S1^-alpha`` exponent, every law that has it): centre 0.5, sd 0.25 in
  ``log alpha`` (published 0.42-0.76: Tissue et al. 2024 Figs. 2, 7b, 19, 21, 23, 25, 27, 28:
  0.416-0.761; Wang et al. 2025 Figs. 3, 11: 0.497, 0.511; Luo et al. 2025 Table 7 and released
  config: 0.42-0.53; median 0.51).
* MPL ``beta``: centre 0.6, sd 0.75 in ``logit`` (released 0.583/0.594/0.598, Table 7 0.41-0.88).
* MPL ``gamma``: centre 0.6, sd 0.5 in ``logit`` (released 0.635-0.655, Table 7 0.52-0.65).
* MPL ``C``: centre ``2 * (peak / 3e-4)^(0.6 - 1)``, sd 1.5 in ``log C`` (released 2.02-2.13 at
  peak 3e-4; Table 7 0.16-2.07; ``C eta^-gamma S`` is dimensionless at ``gamma = 1``, so ``C``
  scales as ``peak^(gamma - 1)`` with the LR units; gamma at the prior centre).
* ``rho`` (``momentum-lr``'s LR-response exponent): centre 1, sd 0.25 in ``log rho``. The
  centre is P2's law (progress and noise floor linear in the LR); no published fit of ``rho``
  exists, so the width is the one ``alpha`` has (two sd: 0.61-1.65). Only runs at two or more
  peak LRs identify ``rho``: with one peak its sd is ``RHO_ONE_PEAK_SD`` (``rho`` stays 1 and
  the law is P2's).
* MPL ``B`` and annealing-law ``C``: the loss gained by a full anneal from the peak LR to 0
  (``B * peak``, resp. ``C * peak / (1 - lam)`` since ``S2`` saturates at ``peak / (1 - lam)``)
  has centre ``ANNEAL_GAIN`` = 0.10 nats, sd 1.0 in ``log B`` / ``log C``: the mean of the
  published fits (Tissue et al. Figs. 2, 19, 21, peak 2e-4: 0.069-0.092; Luo et al. released,
  peak 3e-4: 0.109-0.157).

``L0`` and ``A`` get no prior: the data pin them down (the level and the slope of the curve).

Learned priors (``learn_prior``): the same parameters, with centres and widths learned from your
own earlier runs instead of the papers. Each group of runs (one model: a size, a dataset, a
codebase) is fitted with the published prior; the fitted values are put on the prior's scale
(``B * peak`` and ``C * peak / (1 - lam)``, the anneal gain; MPL ``C / (peak / 3e-4)^(0.6 - 1)``;
exponents as they are) and in its unconstrained space (log / logit). Centre: their mean. Width:
the spread a new group is expected to have, ``sqrt((1 + 1/G) * s^2)`` with ``s`` the standard
deviation over the ``G`` groups, no narrower than ``LEARNED_SD_FLOOR`` times the published width
(three groups cannot show that the spread is small) and the published width itself with fewer
than two groups.

Strength: residuals of a loss law are correlated along a curve (misspecification, not noise),
so a run carries far fewer independent observations than points. The prior counts as much as
``PRIOR_OBS_PER_RUN`` independent observations per run would at the Huber scale: the penalty is
multiplied by ``strength = sum(w) / (PRIOR_OBS_PER_RUN * n_runs)``. With one or two runs it keeps
the parameters the data cannot identify (the MPL ``B, C, beta`` ridge, the exponent on a
single constant run) near the published values; with many long runs the data dominate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cptdyn._errors import FitError

from .._law import Law
from .._run import Run

__all__ = ["PRIOR_OBS_PER_RUN", "DEFAULT_WARMUP", "default_prior", "distinct_peaks", "identified",
           "prior_strength", "resolve_prior", "fit_window", "default_options", "LearnedPrior",
           "LEARNED_SD_FLOOR"]

#: Default warmup convention of the laws when fitted by ``cptdyn fit`` / ``select_law``: the LR
#: path starts from 0, so the warmup *increase* enters the annealing term with the opposite sign
#: (annealing law ``"as-run"``: S2 < 0 by ``peak / (1 - lam)``; MPL ``"repo"``: ``-B * d_0 * G``
#: with ``d_0 = -lr[0]``, every warmup step a negative drop). The fitted law then carries a term
#: ``+ B * eta`` (``+ C * eta / (1 - lam)``) at a constant LR ``eta``: the LR-noise floor that
#: makes a higher peak LR no free lunch. With the peak-LR / post-warmup conventions a law is
#: a function of the LR area alone and predicts a run at twice the peak LR as if it had trained
#: twice as long (0.2 nats too low on the 124M sweep, ``bench_generalisation.py`` X protocols).
DEFAULT_WARMUP = {"momentum": "as-run", "momentum-lam": "as-run", "momentum-lr": "as-run",
                  "mpl": "repo"}

#: effective independent observations per run (module docstring, "Strength").
PRIOR_OBS_PER_RUN = 10.0

#: loss gained by annealing from the peak LR to ~0, in nats: mean of the published fits
#: (Tissue et al. Figs. 2/19/21 ``C * peak / (1 - lam)``: 0.069, 0.092, 0.069; Luo et al. released
#: ``B * peak``: 0.109, 0.131, 0.157) = 0.10.
ANNEAL_GAIN = 0.10

#: the annealing laws' fit window skips ``WARMUP_MEMORY / (1 - lam)`` steps after the warmup
#: (``fit_window``).
WARMUP_MEMORY = 1.0

#: relative model error per e-fold of extrapolation (LR-area beyond the training runs, or peak
#: LR): the MPL paper's 3x-horizon predictions miss final losses by up to 0.024 nats at ~2.5
#: nats (Luo et al. released fits on their 72k runs: ~1% over ln 3 = 1.1 e-folds).
MODEL_ERROR_PER_EFOLD = 0.01

#: MPL released fits were made at this peak LR (Luo et al. 2025).
_MPL_PEAK = 3e-4

#: the annealing laws (``C * S2`` term, ``lam`` memory).
_ANNEALING = ("momentum", "momentum-lam", "momentum-lr")

#: sd of ``log rho`` (``momentum-lr``'s LR-response exponent) around P2's ``rho = 1``.
RHO_SD = 0.25

#: sd of ``log rho`` when the runs have one peak LR (``distinct_peaks``): ``rho`` stays at its
#: centre. The LR within a run (warmup, decay) does not identify it: it trades off against the
#: shape of the annealing term (the 124M sweep's cosine runs alone fit rho 0.65, its WSD runs
#: alone 1.17, and each made the other peak's predictions worse, ``bench_generalisation.py``).
RHO_ONE_PEAK_SD = 0.01

#: peak LRs closer than this relative gap count as one (``distinct_peaks``).
PEAK_RTOL = 0.1

#: a learned prior is no narrower than this fraction of the published width (``learn_prior``).
LEARNED_SD_FLOOR = 0.5


def _peak(runs: Sequence[Run]) -> float:
    peaks = [float(np.max(r.lr)) for r in runs if np.size(r.lr)]
    p = float(np.median(peaks)) if peaks else 0.0
    return p if p > 0 and math.isfinite(p) else 1e-3


def distinct_peaks(runs: Sequence[Run]) -> list[float]:
    """The runs' peak LRs (``max(lr)``), ascending, those within ``PEAK_RTOL`` of the previous
    one merged."""
    return merge_peaks([float(np.max(r.lr)) for r in runs if np.size(r.lr)])


def merge_peaks(peaks: Sequence[float]) -> list[float]:
    """Positive finite peak LRs, ascending, those within ``PEAK_RTOL`` of the previous one
    merged (``distinct_peaks`` of runs with these peaks)."""
    out: list[float] = []
    for p in sorted(float(x) for x in peaks):
        if p > 0 and math.isfinite(p) and (not out or p > out[-1] * (1.0 + PEAK_RTOL)):
            out.append(p)
    return out


def identified(name: str, runs: Sequence[Run]) -> bool:
    """Whether ``runs`` can identify parameter ``name`` at all: ``rho`` needs two or more peak
    LRs (``distinct_peaks``); every other parameter, any runs. Where not, the prior holds the
    parameter (sd ``RHO_ONE_PEAK_SD``) and ``learn_prior`` does not learn it from them."""
    return name != "rho" or len(distinct_peaks(runs)) >= 2


def _published(law: Law) -> dict[str, tuple[float, float]]:
    """The published prior of ``law`` (module docstring) on the normalised scale of
    ``_to_value``: ``{parameter: (centre, sd in the unconstrained space)}``."""
    names = set(law.PARAMS)
    out: dict[str, tuple[float, float]] = {}
    if "alpha" in names and law.PARAMS["alpha"].kind == "positive":
        out["alpha"] = (0.5, 0.25)
    if law.NAME == "mpl":
        out["beta"] = (0.6, 0.75)
        out["gamma"] = (0.6, 0.5)
        out["C"] = (2.0, 1.5)
        out["B"] = (ANNEAL_GAIN, 1.0)
    elif law.NAME in _ANNEALING:
        out["C"] = (ANNEAL_GAIN, 1.0)
    if law.NAME == "momentum-lr":
        out["rho"] = (1.0, RHO_SD)
    return {k: v for k, v in out.items() if k in names}


def _lam(law: Law) -> float:
    lam = float(getattr(law, "lam", 0.999))
    return lam if 0.0 <= lam < 1.0 else 0.999


def _to_value(law: Law, name: str, c: float, peak: float) -> float:
    """A parameter value from its normalised prior scale: the anneal gain in nats to MPL ``B``
    (``gain / peak``) or the annealing law's ``C`` (``gain (1 - lam) / peak``), MPL ``C`` at
    the 3e-4 of the released fits to the run's peak LR; exponents as they are."""
    if law.NAME == "mpl" and name == "C":
        return c * (peak / _MPL_PEAK) ** (0.6 - 1.0)
    if law.NAME == "mpl" and name == "B":
        return c / peak
    if law.NAME in _ANNEALING and name == "C":
        return c * (1.0 - _lam(law)) / peak
    return c


def _to_normalised(law: Law, name: str, v: float, peak: float) -> float:
    """The inverse of ``_to_value``."""
    if law.NAME == "mpl" and name == "C":
        return v / (peak / _MPL_PEAK) ** (0.6 - 1.0)
    if law.NAME == "mpl" and name == "B":
        return v * peak
    if law.NAME in _ANNEALING and name == "C":
        return v * peak / (1.0 - _lam(law))
    return v


def _at_peak(law: Law, table: Mapping[str, tuple[float, float]],
             runs: Sequence[Run]) -> dict[str, tuple[float, float]]:
    """A normalised ``{name: (centre, sd)}`` table put on the scale of ``runs``' peak LR."""
    peak = _peak(runs)
    out = {k: (_to_value(law, k, float(c), peak), float(sd)) for k, (c, sd) in table.items()}
    return {k: (c, sd if identified(k, runs) else RHO_ONE_PEAK_SD) for k, (c, sd) in out.items()}


def default_prior(law: Law, runs: Sequence[Run]) -> dict[str, tuple[float, float]]:
    """``{parameter: (centre value, sd in the unconstrained space)}`` for ``law`` fitted to
    ``runs`` (module docstring). Parameters the law does not have are left out."""
    return _at_peak(law, _published(law), runs)


PriorSpec = Mapping[str, tuple[float, float]] | str | None


def resolve_prior(prior: PriorSpec, law: Law, runs: Sequence[Run],
                  what: str = "fit") -> dict[str, tuple[float, float]]:
    """The prior a fit uses, in ``fit``'s convention: ``"default"`` -> ``default_prior(law,
    runs)``; None (or ``{}``) -> none; a mapping ``{name: (centre, sd)}`` -> a copy. ``what``
    names the caller in the error for any other string."""
    if isinstance(prior, str):
        if prior != "default":
            raise FitError(f"{what}: prior={prior!r} must be 'default', None or a mapping")
        return default_prior(law, runs)
    return dict(prior or {})


def default_options(name: str) -> dict[str, Any]:
    """Static options of the default template of law ``name`` (``DEFAULT_WARMUP``)."""
    return {"warmup": DEFAULT_WARMUP[name]} if name in DEFAULT_WARMUP else {}


def prior_strength(weights: Sequence[np.ndarray], n_runs: int) -> float:
    """Multiplier of the prior penalty: ``sum(w) / (PRIOR_OBS_PER_RUN * n_runs)`` (>= 1)."""
    total = float(sum(float(np.sum(w)) for w in weights))
    return max(total / (PRIOR_OBS_PER_RUN * max(int(n_runs), 1)), 1.0)


def fit_window(run: Run, law: Law | None = None) -> np.ndarray:
    """Mask of the observations a default fit uses: steps after ``warmup_steps + memory``.

    Rule: observations inside the warmup ramp are left out (the laws' warmup conventions are
    approximations there), and so is the law's memory of the ramp: for the annealing laws
    (``momentum``, ``momentum-lam``, ``momentum-lr``) ``1 / (1 - lam)`` steps, the time constant
    over which ``S2`` still moves after the warmup (P2 §6.1: lam = 0.999 keeps ~1000 steps of
    history); otherwise none. Fitting those points let a single constant run "identify" the
    annealing amplitude from the warmup transient. Skipping more (2 x warmup for every law) made
    the horizon extrapolation worse: the early post-warmup points pin the power law's exponent.
    A run whose every observation falls inside the window keeps them all.
    """
    memory = 0
    if law is not None and law.NAME in _ANNEALING:
        lam = getattr(law, "lam", 0.999)
        lam = float(lam) if isinstance(lam, (int, float)) and 0.0 <= float(lam) < 1.0 else 0.999
        memory = int(round(WARMUP_MEMORY / (1.0 - lam)))
    keep = np.asarray(run.steps) > int(run.warmup_steps) + memory
    return keep if keep.any() else np.ones(np.size(run.steps), bool)


def describe(prior: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}~({float(c):.4g}, sd {float(s):.3g})" for k, (c, s) in prior.items())


@dataclasses.dataclass(frozen=True)
class LearnedPrior:
    """A prior learned from groups of earlier runs (``learn_prior``); call it like
    ``default_prior``: ``prior(law, runs) -> {name: (centre, sd)}``, the centre put on the scale
    of ``runs``' peak LR. Pass the result as ``fit(..., prior=...)``.

    Attributes:
      law: the law's name.
      centres: ``{name: centre}`` on the normalised scale (anneal gain ``B * peak`` in nats, ...).
      sds: ``{name: sd}`` in the unconstrained space.
      values: ``{name: [normalised fitted value per group]}`` (what the prior was learned from).
    """

    law: str
    centres: Mapping[str, float]
    sds: Mapping[str, float]
    values: Mapping[str, tuple[float, ...]]

    def __call__(self, law: Law, runs: Sequence[Run]) -> dict[str, tuple[float, float]]:
        if law.NAME != self.law:
            raise ValueError(f"LearnedPrior: learned for law {self.law!r}, not {law.NAME!r}")
        return _at_peak(law, {k: (c, self.sds[k]) for k, c in self.centres.items()}, runs)
