r"""Megatron-LM: command-line flags (iteration units), native only.

Step indexing: ``OptimizerParamScheduler.step(0)`` at construction, then
``step(increment=global_batch_size)`` after each *successful* update, so update ``n`` uses
``get_lr()`` at ``num_steps = n * global_batch_size`` (samples); the first update uses
``--lr-warmup-init``. Skipped (overflow) iterations do not advance the schedule.

Sources checked (read, not copied; :func:`_megatron_curve` re-states ``get_lr``):
NVIDIA/Megatron-LM ``megatron/core/optimizer_param_scheduler.py`` @
00caa53af30912914981c86f39db123961678bbd and ``megatron/training/config/training_config.py``
(``SchedulerConfig``, flag names) @ 008e9cdb53e75bbf9733d0089a5c9bf14553ca1c. Re-implemented again,
independently, in ``tests/schedules/export/test_megatron.py``.
"""

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._core import (
    WSD,
    ArraySchedule,
    Constant,
    Cosine,
    CPTSchedule,
    CyclicCosine,
    InverseSqrt,
    Linear,
    MultiStep,
    Polyline,
    Schedule,
    TwoStage,
)
from ._common import (
    Candidate,
    ExportResult,
    comment,
    final_of,
    fmt,
    frac_reason,
    note_native,
    peak_of,
    pick_or_raise,
    warmup_of,
    wsd_decay_steps,
)

__all__ = ["export_megatron"]


def _megatron_curve(cfg: Mapping[str, Any], T: int) -> np.ndarray:
    """optimizer_param_scheduler.py get_lr in iteration units (global batch size 1)."""
    mx, mn = float(cfg["lr"]), float(cfg["min_lr"])
    W = int(cfg["lr_warmup_iters"])
    init = float(cfg["lr_warmup_init"])
    Dd = int(cfg["lr_decay_iters"])
    style = cfg["lr_decay_style"]
    out = np.empty(T)
    for i in range(T):
        x = float(i)
        if W > 0 and x <= W:
            out[i] = init + (mx - init) * x / W
            continue
        if style == "constant":
            out[i] = mx
            continue
        if x > Dd:
            out[i] = mn
            continue
        if style == "inverse-square-root":
            out[i] = max(mn, mx * max(W, 1) ** 0.5 / max(x, 1) ** 0.5)
            continue
        ratio = (x - W) / (Dd - W)
        if style == "linear":
            coeff = 1.0 - ratio
        elif style == "cosine":
            coeff = 0.5 * (math.cos(math.pi * ratio) + 1.0)
        else:  # WSD
            wd = int(cfg["lr_wsd_decay_iters"])
            start = Dd - wd
            if x <= start:
                coeff = 1.0
            else:
                q = (x - start) / wd
                ws = cfg["lr_wsd_decay_style"]
                if ws == "linear":
                    coeff = 1.0 - q
                elif ws == "cosine":
                    coeff = 0.5 * (math.cos(math.pi * q) + 1.0)
                elif ws == "exponential":
                    coeff = 2.0 * 0.5**q - 1.0
                else:  # minus_sqrt
                    coeff = 1.0 - math.sqrt(q)
        out[i] = mn + coeff * (mx - mn)
    return out


_MEGATRON_WSD = {"linear": "linear", "cosine": "cosine", "1-sqrt": "minus_sqrt"}


def _megatron_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if isinstance(s, (CPTSchedule, ArraySchedule, Polyline, MultiStep, TwoStage, CyclicCosine)):
        return [], "Megatron-LM's --lr-decay-style has no such shape"
    W, r = warmup_of(s)
    peak = peak_of(s)
    if W >= T and W > 0:
        return [], f"warmup_steps={W} (Megatron asserts warmup < total_steps={T})"
    # warmup: r-form maps exactly; the (t+1)/W form is a warmup of W-1 iters from peak/W.
    if W == 0:
        warm = [(0, 0.0)]
    elif r is not None:
        warm = [(W, r * peak)]
    else:
        warm = [(W - 1, peak / W)]
    base: dict[str, Any] = {"lr": peak, "lr_decay_iters": T, "train_iters": T}
    styles: list[dict[str, Any]] = []
    reasons: list[str] = []
    if isinstance(s, Constant):
        styles.append({"lr_decay_style": "constant", "min_lr": 0.0})
    elif isinstance(s, Cosine):
        styles.append({"lr_decay_style": "cosine", "min_lr": final_of(s)})
    elif isinstance(s, Linear):
        styles.append({"lr_decay_style": "linear", "min_lr": final_of(s)})
    elif isinstance(s, InverseSqrt):
        styles.append({"lr_decay_style": "inverse-square-root", "min_lr": 0.0})
    elif isinstance(s, WSD):
        D = wsd_decay_steps(s)
        if D is None:
            reasons.append(frac_reason(s))
        elif s.decay_shape not in _MEGATRON_WSD:
            reasons.append(
                f"decay_shape={s.decay_shape!r} (--lr-wsd-decay-style is linear, cosine or "
                "minus_sqrt; Megatron's 'exponential' is 2*0.5^x-1, not geometric)"
            )
        elif D == 0:
            styles.append({"lr_decay_style": "constant", "min_lr": 0.0})
        else:
            styles.append({"lr_decay_style": "WSD", "min_lr": final_of(s),
                           "lr_wsd_decay_style": _MEGATRON_WSD[s.decay_shape],
                           "lr_wsd_decay_iters": D})
    out = []
    for wi, init in warm:
        for st in styles:
            cfg = {**base, "lr_warmup_iters": wi, "lr_warmup_init": init, **st}
            desc = f"--lr-decay-style {st['lr_decay_style']}, --lr-warmup-iters {wi}"
            out.append(Candidate(cfg, functools.partial(_megatron_curve, cfg, T), desc))
    if W and r is None and not isinstance(s, (Constant, WSD)):
        reasons.append(
            "warmup_init=None (Megatron's warmup is linear to peak at step W, here "
            "peak*(t+1)/W maps only when the LR stays at peak after it; use warmup_init=0.0)"
        )
    return out, "; ".join(reasons)


_MEGATRON_FLAGS = [
    ("lr", "--lr"), ("min_lr", "--min-lr"), ("lr_decay_style", "--lr-decay-style"),
    ("lr_warmup_iters", "--lr-warmup-iters"), ("lr_warmup_init", "--lr-warmup-init"),
    ("lr_decay_iters", "--lr-decay-iters"), ("lr_wsd_decay_style", "--lr-wsd-decay-style"),
    ("lr_wsd_decay_iters", "--lr-wsd-decay-iters"), ("train_iters", "--train-iters"),
]


def export_megatron(schedule: Schedule) -> ExportResult:
    """Megatron-LM command-line flags (iteration units: ``--lr-*-iters``, ``--train-iters``)."""
    s, best, err = pick_or_raise("megatron", schedule, _megatron_candidates)
    T = s.total_steps
    cfg = best.config
    flags: list[str] = []
    for key, flag in _MEGATRON_FLAGS:
        if key in cfg:
            v = cfg[key]
            flags += [flag, fmt(v) if isinstance(v, float) else str(v)]
    lines = [f"{flags[i]} {flags[i + 1]}" for i in range(0, len(flags), 2)]
    text = (
        comment(
            f"Megatron-LM LR flags for a cptdyn {s.KIND!r} schedule ({T} iterations). Iteration "
            "units: Megatron counts samples internally (iters x global batch size), so keep the "
            "global batch size constant (no --rampup-batch-size) for the curve to hold. Add "
            "--override-opt-param-scheduler when resuming a checkpoint with a new schedule (CPT)."
        )
        + " \\\n".join(lines) + "\n"
    )
    note = note_native("megatron", best.desc, err, T,
                        "Update n uses get_lr() at num_steps = n*global_batch_size.")
    return ExportResult("megatron", True, note, flags, {"megatron_lr_flags.txt": text}, err, T)
