"""Mixture planning with the D-CPT Law: which domain ratio, model size and token budget.

:func:`plan_mixture` takes two fitted D-CPT laws (``cptdyn.dynamics._mixture._dcpt.DCPTLaw``, or any
callables ``(N, D, r) -> loss``): the general-corpus loss ``L_g(N, D, r_g)`` and the domain loss
``L_d(N, D, r_d)``, with ``r_g = 1 - r_d``. It searches

* the domain ratio ``r_d`` (grid on ``[ratio_min, ratio_max]`` then a local refinement),
* the model size ``N`` among the candidate ``model_sizes`` (the sizes one can actually train),
* the CPT token budget ``D`` below its cap ``min(tokens, compute/(6N), domain_tokens/r_d)``
  (the cap itself and a log grid below it, so a law that is not monotone in ``D`` is handled),

minimising ``(1 - general_weight) * L_d + general_weight * L_g`` subject to the general-loss
tolerance ``L_g <= (1 + tolerance) * general_loss0`` (D-CPT usage 1) when a tolerance is given.
``domain_tokens`` is D-CPT usage 2 (limited domain data: the domain part of the mix, ``r_d * D``,
cannot exceed it) and ``compute`` usage 3 (``6 N D <= compute``). The D-CPT law itself was fitted
at one schedule (20K steps, Que et al. 2024): the plan is only as good as that extrapolation, and
:func:`cptdyn.dynamics._mixture._dcpt.check_monotone` should pass on the range searched.

Relation to the replay ratio of the CPT law (P1 Eq. 8, ``cpt-replay``)
----------------------------------------------------------------------
Both describe the same knob: the share of general (pre-training) data mixed into the CPT corpus.
The CPT law's replay ratio is ``r_pt = r_g = 1 - r_d`` (``MixturePlan.replay_ratio``). They answer
different questions:

* the D-CPT Law predicts the *final* general and domain losses as a function of ``(N, D, r)`` at a
  fixed LR schedule -- it chooses the ratio, the model size and the token budget;
* the CPT law (Eq. 8) predicts the *whole loss curve* as a function of the LR schedule at a fixed
  model and data (replay enters through ``exp(a1*r)`` on the annealing term and a shift term that
  vanishes at ``r_cpt = 0``) -- it chooses the schedule (peak LR, decay, loss potential) for a
  given replay ratio.

A workflow is therefore: ``plan-mixture`` for ``r_d``, ``N`` and ``D``; then ``plan`` with a
``cpt-replay`` law at ``replay_ratio = 1 - r_d`` and ``D`` tokens for the schedule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["MixturePlan", "plan_mixture", "replay_ratio"]


def replay_ratio(domain_ratio: float) -> float:
    """The CPT law's replay ratio ``r_pt`` (Eq. 8) of a mixture with domain ratio ``r_d``:
    ``1 - r_d`` (the general-data share)."""
    r = float(domain_ratio)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"domain_ratio={domain_ratio!r}: must be in [0, 1]")
    return 1.0 - r


@dataclasses.dataclass(frozen=True)
class MixturePlan:
    """The chosen mixture. ``binding`` names the constraints active at the optimum (``"tolerance"``,
    ``"tokens"``, ``"compute"``, ``"domain_tokens"``); ``by_model_size`` holds the best feasible
    plan of every candidate size (``None`` fields when a size has no feasible point)."""

    domain_ratio: float
    model_size: float
    tokens: float
    domain_tokens: float
    compute: float
    general_loss: float
    domain_loss: float
    objective: float
    general_limit: float | None
    binding: tuple[str, ...]
    by_model_size: tuple[dict[str, Any], ...]

    @property
    def replay_ratio(self) -> float:
        """``r_pt = 1 - r_d``: the replay ratio of the CPT law (P1 Eq. 8)."""
        return 1.0 - self.domain_ratio

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["binding"] = list(self.binding)
        d["by_model_size"] = [dict(r) for r in self.by_model_size]
        d["replay_ratio"] = self.replay_ratio
        return d


def _pos(name: str, v: Any, allow_none: bool = True) -> float | None:
    if v is None:
        if allow_none:
            return None
        raise ValueError(f"{name}=None: a value is required")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={v!r}: not a number") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name}={v!r}: must be finite and positive")
    return x


def plan_mixture(
    general: Callable[..., Any],
    domain: Callable[..., Any],
    *,
    model_sizes: float | Sequence[float],
    tokens: float | None = None,
    compute: float | None = None,
    domain_tokens: float | None = None,
    tolerance: float | None = None,
    general_loss0: float | None = None,
    general_weight: float = 0.0,
    ratio_min: float = 0.0,
    ratio_max: float = 1.0,
    grid: int = 401,
    token_grid: int = 25,
) -> MixturePlan:
    """Best ``(r_d, N, D)`` for the mixture objective (see the module docstring).

    At least one of ``tokens``, ``compute`` and ``domain_tokens`` must bound ``D``. ``tolerance``
    (relative rise of the general loss, e.g. 0.03) needs ``general_loss0`` (the general loss of the
    model before CPT). Raises ValueError when no candidate is feasible.
    """
    sizes = np.atleast_1d(np.asarray(model_sizes, dtype=np.float64)).ravel()
    if sizes.size == 0:
        raise ValueError("model_sizes=[]: give at least one model size")
    for s in sizes:
        _pos("model_sizes", float(s), allow_none=False)
    tokens, compute, domain_tokens = (_pos("tokens", tokens), _pos("compute", compute),
                                      _pos("domain_tokens", domain_tokens))
    if tokens is None and compute is None and domain_tokens is None:
        raise ValueError("tokens=None: give tokens, compute or domain_tokens to bound the budget")
    limit = None
    if tolerance is not None:
        t = float(tolerance)
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"tolerance={tolerance!r}: must be finite and >= 0")
        g0 = _pos("general_loss0", general_loss0, allow_none=False)
        limit = (1.0 + t) * g0  # type: ignore[operator]
    w = float(general_weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"general_weight={general_weight!r}: must be in [0, 1]")
    lo, hi = float(ratio_min), float(ratio_max)
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(
            f"ratio_min={ratio_min!r}, ratio_max={ratio_max!r}: need 0 <= min < max <= 1")
    if domain_tokens is not None:
        lo = max(lo, 1e-3)  # r_d = 0 would need infinitely many total tokens
        if lo >= hi:
            raise ValueError(f"ratio_max={ratio_max!r}: must exceed 1e-3 with domain_tokens")
    if int(grid) < 3 or int(token_grid) < 1:
        raise ValueError(
            f"grid={grid!r}, token_grid={token_grid!r}: need grid >= 3, token_grid >= 1")
    fracs = np.geomspace(1e-2, 1.0, int(token_grid)) if token_grid > 1 else np.ones(1)

    def evaluate(N: float, rd: np.ndarray) -> dict[str, np.ndarray]:
        caps = np.full_like(rd, np.inf)
        if tokens is not None:
            caps = np.minimum(caps, tokens)
        if compute is not None:
            caps = np.minimum(caps, compute / (6.0 * N))
        if domain_tokens is not None:
            caps = np.minimum(caps, domain_tokens / rd)
        D = caps[:, None] * fracs[None, :]
        R = np.broadcast_to(rd[:, None], D.shape)
        with np.errstate(all="ignore"):
            lg = np.asarray(general(N, D, 1.0 - R), dtype=np.float64)
            ld = np.asarray(domain(N, D, R), dtype=np.float64)
        obj = (1.0 - w) * ld + w * lg
        ok = np.isfinite(obj)
        if limit is not None:
            ok &= lg <= limit
        return {"D": D, "R": R, "lg": lg, "ld": ld, "obj": np.where(ok, obj, np.inf),
                "caps": np.broadcast_to(caps[:, None], D.shape)}

    def best_of(ev: dict[str, np.ndarray]) -> tuple[int, int] | None:
        if not np.isfinite(ev["obj"]).any():
            return None
        i, j = np.unravel_index(int(np.argmin(ev["obj"])), ev["obj"].shape)
        return int(i), int(j)

    rgrid = np.linspace(lo, hi, int(grid))
    step = (hi - lo) / (int(grid) - 1)
    rows: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    for N in sizes:
        ev = evaluate(float(N), rgrid)
        ij = best_of(ev)
        if ij is not None:  # refine r_d around the best grid point
            r0 = float(ev["R"][ij])
            fine = np.linspace(max(lo, r0 - step), min(hi, r0 + step), 401)
            ev2 = evaluate(float(N), fine)
            ij2 = best_of(ev2)
            if ij2 is not None and ev2["obj"][ij2] <= ev["obj"][ij]:
                ev, ij = ev2, ij2
        if ij is None:
            rows.append({"model_size": float(N), "domain_ratio": None, "tokens": None,
                         "domain_tokens": None, "compute": None, "general_loss": None,
                         "domain_loss": None, "objective": None})
            continue
        D, rd = float(ev["D"][ij]), float(ev["R"][ij])
        row = {"model_size": float(N), "domain_ratio": rd, "tokens": D, "domain_tokens": rd * D,
               "compute": 6.0 * float(N) * D, "general_loss": float(ev["lg"][ij]),
               "domain_loss": float(ev["ld"][ij]), "objective": float(ev["obj"][ij]),
               "_cap": float(ev["caps"][ij])}
        rows.append(row)
        if best is None or row["objective"] < best[0]:
            best = (row["objective"], row)
    if best is None:
        what = f"general loss <= {limit:.6g}" if limit is not None else "finite predicted losses"
        raise ValueError(f"tolerance={tolerance!r}: no (ratio, model size, tokens) gives {what}")
    b = best[1]
    binding = []
    rel = 1e-6
    if limit is not None and b["general_loss"] >= limit * (1 - 1e-4):
        binding.append("tolerance")
    D = b["tokens"]
    if D >= b["_cap"] * (1 - rel):
        if tokens is not None and D >= tokens * (1 - rel):
            binding.append("tokens")
        if compute is not None and 6.0 * b["model_size"] * D >= compute * (1 - rel):
            binding.append("compute")
        if domain_tokens is not None and b["domain_tokens"] >= domain_tokens * (1 - rel):
            binding.append("domain_tokens")
    for r in rows:
        r.pop("_cap", None)
    return MixturePlan(
        domain_ratio=b["domain_ratio"], model_size=b["model_size"], tokens=D,
        domain_tokens=b["domain_tokens"], compute=b["compute"], general_loss=b["general_loss"],
        domain_loss=b["domain_loss"], objective=b["objective"], general_limit=limit,
        binding=tuple(binding), by_model_size=tuple(rows),
    )
