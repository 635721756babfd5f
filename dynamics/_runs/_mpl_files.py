"""The MultiPowerLaw repository's loss-curve files: their per-step LR, rebuilt from the file name.

The repository's data loader builds an array ``r`` of length T with ``r[0] = 0`` (families and
formulas: ``mpl_schedule``) and takes the loss at step ``s`` as having seen ``r[0..s]``. Our
per-step array is ``lr[t] = r[t + 1]``, so ``S1(s) = sum(lr[:s]) = sum(r[:s + 1])``: the same LR
sums. The files' logged ``lr`` at step ``s`` is therefore ``lr[s - 1]``, and the loader drops
observations at steps ``>= T``; ``load_csv`` uses the rebuilt LR only when the logged column
agrees with it (``logged_deviation`` < 1e-6).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ._files import file_stem

__all__ = ["MPL_WARMUP", "mpl_schedule", "mpl_meta", "logged_deviation"]

MPL_PEAK, MPL_END, MPL_WARMUP = 3e-4, 3e-5, 2160


def _mpl_repo_lr(kind: str, total: int, i: np.ndarray, a: int = 0, b: float = 0.0) -> np.ndarray:
    """The MPL repository's schedule value at its array index ``i`` (index 0 is the dummy 0)."""
    W, peak, end = MPL_WARMUP, MPL_PEAK, MPL_END
    i = i.astype(np.float64)
    warm = peak * i / (W - 1)  # np.linspace(0, peak, W)
    if kind == "constant":
        post = np.full_like(i, peak)
    elif kind == "cosine":
        post = end + 0.5 * (peak - end) * (1 + np.cos(np.pi * (i - W) / (total - W)))
    elif kind == "wsdcon":
        post = np.where(i < a, peak, b)
    elif kind == "wsd":
        post = np.where(i < a, peak,
                        peak ** ((total - i) / (total - a)) * end ** ((i - a) / (total - a)))
    elif kind == "wsdld":
        post = np.where(i < a, peak,
                        peak * (1 - (i - a) / (total - a)) + end * (i - a) / (total - a))
    else:  # pragma: no cover - guarded by the caller
        raise ValueError(kind)
    return np.where(i < W, warm, post)


def mpl_schedule(name: str) -> tuple[np.ndarray, int, dict[str, Any]] | None:
    """Per-step LR of a MultiPowerLaw curve from its file name, or ``None`` if not recognised.

    Families (peak 3e-4, end 3e-5, linear warmup of 2160 steps from 0): ``constant_T``,
    ``cosine_T`` (cosine to 3e-5 at T), ``wsd_A_T`` (geometric decay from step A),
    ``wsdld_A_T`` (linear decay from step A), ``wsdcon_X`` (3e-4 until step 8000, then X * 1e-5,
    T = 16000). The repository builds an array ``r`` of length T with ``r[0] = 0`` and takes the
    loss at step ``s`` as having seen ``r[0..s]``; our per-step array is ``lr[t] = r[t + 1]`` (the
    same formulas, evaluated one step further at ``t = T - 1``), which gives the same LR sums.

    Returns:
      ``(lr, warmup_steps, info)`` with ``lr`` of length T and ``warmup_steps = 2160``.
    """
    stem = file_stem(name, (".gz", ".csv", ".tsv"))
    m = re.fullmatch(r"(constant|cosine)_(\d+)", stem)
    a, b = 0, 0.0
    if m:
        kind, total = m.group(1), int(m.group(2))
    elif m := re.fullmatch(r"(wsdld|wsd)_(\d+)_(\d+)", stem):
        kind, a, total = m.group(1), int(m.group(2)), int(m.group(3))
        if not MPL_WARMUP < a < total:
            return None
    elif m := re.fullmatch(r"wsdcon_(\d+)", stem):
        kind, total, a, b = "wsdcon", 16000, 8000, int(m.group(1)) * 1e-5
    else:
        return None
    if total <= MPL_WARMUP:
        return None
    lr = _mpl_repo_lr(kind, total, np.arange(1, total + 1), a, b)
    info = {"family": kind, "total_steps": total, "peak_lr": MPL_PEAK, "final_lr": MPL_END,
            "warmup_steps": MPL_WARMUP}
    if kind in ("wsd", "wsdld"):
        info["decay_start"] = a
    if kind == "wsdcon":
        info.update(stage_a_steps=a, lr_b=b)
    return lr, MPL_WARMUP, info


def mpl_meta(info: dict[str, Any], warmup_steps: int) -> dict[str, Any]:
    """The meta entries of a run whose LR ``mpl_schedule`` rebuilt (``info`` its third value)."""
    return {
        "lr_source": "mpl-repository",
        "mpl_schedule": info,
        "lr_reconstruction": (
            f"rebuilt from the file name as the MultiPowerLaw repository's data loader does "
            f"({info['family']}, warmup {warmup_steps} from 0, peak 3e-4, end 3e-5); "
            f"observations at steps >= {info['total_steps']} dropped"
        ),
    }


def logged_deviation(lr: np.ndarray, steps: np.ndarray, logged: np.ndarray) -> float | None:
    """Largest relative deviation ``|lr[s - 1] - logged| / |logged|`` over the logged LRs at steps
    ``1 <= s <= len(lr)`` (the files' ``lr`` column is ``lr[s - 1]``); ``None`` if there are
    none."""
    m = ~np.isnan(logged) & (steps >= 1) & (steps <= lr.size)
    if not m.any():
        return None
    ref = lr[steps[m].astype(np.int64) - 1]
    return float(np.max(np.abs(ref - logged[m]) / np.maximum(np.abs(logged[m]), 1e-12)))
