"""Loss-curve prediction metrics, as the Multi-Power-Law repository computes them.

Per curve (``obs`` = observed loss, ``pred`` = predicted loss at the same steps):

* ``r2``: ``1 - sum((obs - pred)^2) / sum((obs - mean(obs))^2)`` (``sklearn.metrics.r2_score``);
* ``mae``: ``mean(|pred - obs|)``; ``mse``: ``mean((pred - obs)^2)``; ``rmse``: ``sqrt(mse)``;
* ``pred_e``: ``mean(|pred - obs| / obs)`` (the MPL paper's PredE);
* ``worst_e``: ``max(|pred - obs| / obs)`` (WorstE);
* ``final_error``: ``pred - obs`` at the last observed step (signed, nats).

Several curves are aggregated by the **unweighted mean over curves** of each per-curve metric
(``mean_metrics``), as the MPL repository's ``src/evaluation.py`` and README do (every test curve
counts once, whatever its number of points).

Numpy in, Python floats out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "r2",
    "mae",
    "mse",
    "rmse",
    "pred_e",
    "worst_e",
    "final_error",
    "curve_metrics",
    "mean_metrics",
]

#: Keys of the dictionaries returned by ``curve_metrics`` / ``mean_metrics``, in table order.
METRIC_NAMES: tuple[str, ...] = ("r2", "mae", "rmse", "mse", "pred_e", "worst_e", "final_error")


def _pair(obs: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    o = np.asarray(obs, dtype=np.float64).reshape(-1)
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    if o.shape != p.shape:
        raise ValueError(f"metrics: obs has {o.size} values but pred has {p.size}")
    if o.size == 0:
        raise ValueError("metrics: empty curve (no observed points)")
    return o, p


def r2(obs: Any, pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (NaN when ``obs`` is constant)."""
    o, p = _pair(obs, pred)
    ss_res = float(np.sum((o - p) ** 2))
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - ss_res / ss_tot


def mae(obs: Any, pred: Any) -> float:
    """Mean absolute error ``mean(|pred - obs|)``."""
    o, p = _pair(obs, pred)
    return float(np.mean(np.abs(p - o)))


def mse(obs: Any, pred: Any) -> float:
    """Mean squared error ``mean((pred - obs)^2)``."""
    o, p = _pair(obs, pred)
    return float(np.mean((p - o) ** 2))


def rmse(obs: Any, pred: Any) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(obs, pred)))


def pred_e(obs: Any, pred: Any) -> float:
    """PredE: mean relative error ``mean(|pred - obs| / obs)``."""
    o, p = _pair(obs, pred)
    return float(np.mean(np.abs(p - o) / o))


def worst_e(obs: Any, pred: Any) -> float:
    """WorstE: maximum relative error ``max(|pred - obs| / obs)``."""
    o, p = _pair(obs, pred)
    return float(np.max(np.abs(p - o) / o))


def final_error(obs: Any, pred: Any) -> float:
    """Signed error at the last observed step, ``pred[-1] - obs[-1]`` (nats)."""
    o, p = _pair(obs, pred)
    return float(p[-1] - o[-1])


def curve_metrics(obs: Any, pred: Any) -> dict[str, float]:
    """All metrics of one curve: ``{name: float}`` with the keys of ``METRIC_NAMES``.

    Args:
      obs: observed losses (1-D, positive).
      pred: predicted losses at the same steps.
    """
    o, p = _pair(obs, pred)
    return {
        "r2": r2(o, p),
        "mae": mae(o, p),
        "rmse": rmse(o, p),
        "mse": mse(o, p),
        "pred_e": pred_e(o, p),
        "worst_e": worst_e(o, p),
        "final_error": final_error(o, p),
    }


def mean_metrics(per_curve: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Unweighted mean over curves of each metric (the MPL repository's test-set average).

    Args:
      per_curve: dictionaries as returned by ``curve_metrics`` (one per curve).

    Returns:
      ``{name: mean}`` for every key present in all dictionaries, in ``METRIC_NAMES`` order first.
    """
    rows = list(per_curve)
    if not rows:
        raise ValueError("mean_metrics: no curves")
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    keys.sort(key=lambda k: (METRIC_NAMES.index(k) if k in METRIC_NAMES else len(METRIC_NAMES)))
    return {k: float(np.mean([float(r[k]) for r in rows])) for k in keys}
