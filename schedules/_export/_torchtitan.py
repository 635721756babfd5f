r"""torchtitan: ``[lr_scheduler]`` TOML, native only.

Step indexing: ``LambdaLR`` with warmup factor ``(step + 1) / warmup_steps``: the first update uses
``lr / warmup_steps`` (cptdyn ``warmup_style="torchtitan"``, i.e. ``warmup_init=None``); the
decay uses a virtual last step (``stable = total + 1 - warmup - decay``).

Source checked (read, not copied; :func:`_torchtitan_curve` re-states it): pytorch/torchtitan
``torchtitan/components/optimizer/lr_scheduler.py`` @ 26291926f92b594c8d1415f059f749b6f686ae65
(``LRSchedulersContainer.Config``; ``min_lr_factor``). Re-implemented again, independently, in
``tests/schedules/export/test_torchtitan.py``.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._core import WSD, Constant, Cosine, Linear, Schedule
from ._common import (
    Candidate,
    ExportResult,
    comment,
    final_of,
    frac_reason,
    note_native,
    peak_of,
    pick_or_raise,
    toml_scalar,
    warmup_of,
    wsd_decay_steps,
)

__all__ = ["export_torchtitan"]


def _torchtitan_curve(cfg: Mapping[str, Any], T: int) -> np.ndarray:
    """LRSchedulersContainer.Config.build (torchtitan 2629192): (step+1)/W warmup, virtual step."""
    W = min(int(cfg["warmup_steps"]), T)
    ratio = cfg.get("decay_ratio")
    if ratio is not None:
        D = round(T * ratio)
        if W + D > T:
            D = T - W
    else:
        D = T - W
    S = T + 1 - W - D
    m = float(cfg["min_lr_factor"])
    out = np.empty(T)
    for t in range(T):
        if t < W:
            f = (t + 1) / W
        elif t < W + S or D == 0:
            f = 1.0
        else:
            p = (t + 1 - (W + S)) / D
            dt = cfg["decay_type"]
            c = 1 - p if dt == "linear" else (1 - math.sqrt(p) if dt == "sqrt"
                                              else 0.5 * (1.0 + math.cos(math.pi * p)))
            f = m + (1 - m) * c
        out[t] = f
    return float(cfg["lr"]) * out


_TT_DECAY = {"linear": "linear", "cosine": "cosine", "1-sqrt": "sqrt"}


def _torchtitan_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "torchtitan has only warmup + linear/sqrt/cosine decay"
    W, r = warmup_of(s)
    if W and r is not None:
        return [], (
            f"warmup_init={r:g} (torchtitan warms up as (step+1)/warmup_steps, i.e. cptdyn "
            "warmup_style='torchtitan')"
        )
    peak = peak_of(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    cfg: dict[str, Any] = {"lr": peak, "warmup_steps": W, "steps": T}
    if isinstance(s, Constant):
        cfg.update(decay_ratio=0.0, decay_type="linear", min_lr_factor=1.0)
    elif isinstance(s, (Cosine, Linear)):
        cfg.update(decay_type="cosine" if isinstance(s, Cosine) else "linear",
                   min_lr_factor=final_of(s) / peak)
    else:
        D = wsd_decay_steps(s)
        if D is None:
            return [], frac_reason(s)
        if s.decay_shape not in _TT_DECAY:
            return [], (f"decay_shape={s.decay_shape!r} (torchtitan decay_type is linear, sqrt "
                        "or cosine)")
        ratio = D / T
        if round(T * ratio) != D:  # pragma: no cover - float guard
            ratio = (D + 0.25) / T
        cfg.update(decay_ratio=ratio, decay_type=_TT_DECAY[s.decay_shape],
                   min_lr_factor=final_of(s) / peak)
    desc = f"decay_type={cfg['decay_type']!r}, decay_ratio={cfg.get('decay_ratio')}"
    return [Candidate(cfg, lambda: _torchtitan_curve(cfg, T), desc)], ""


def export_torchtitan(schedule: Schedule) -> ExportResult:
    """torchtitan ``[lr_scheduler]`` TOML (plus ``[optimizer] lr`` and ``[training] steps``)."""
    s, best, err = pick_or_raise("torchtitan", schedule, _torchtitan_candidates)
    T = s.total_steps
    cfg = best.config
    sched = {k: cfg[k] for k in ("warmup_steps", "decay_ratio", "decay_type", "min_lr_factor")
             if cfg.get(k) is not None}
    py = ", ".join(f"{k}={v!r}" for k, v in sched.items())
    text = (
        comment(
            f"torchtitan LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
            "Python config (2026 torchtitan): "
            f"LRSchedulersContainer.Config({py}, total_steps={T})\n"
            "Before 2025-07-30 min_lr_factor was called lr_min."
        )
        + f"\n[optimizer]\nlr = {toml_scalar(cfg['lr'])}\n\n[lr_scheduler]\n"
        + "".join(f"{k} = {toml_scalar(v)}\n" for k, v in sched.items())
        + f"\n[training]\nsteps = {T}\n"
    )
    payload = {"optimizer": {"lr": cfg["lr"]}, "lr_scheduler": sched, "training": {"steps": T}}
    note = note_native("torchtitan", best.desc, err, T,
                        "Update t uses lr*factor(t) with warmup factor (t+1)/warmup_steps.")
    return ExportResult("torchtitan", True, note, payload,
                        {"torchtitan_lr_scheduler.toml": text}, err, T)
