r"""OLMo-core: a scheduler from ``olmo_core.optim.scheduler`` (Python snippet and dict), native
only.

Step indexing: the Trainer increments ``global_step`` *before* the batch and ``optim_step`` calls
``scheduler.set_lr(group, trainer)`` before ``optim.step()``, so update ``t`` uses
``get_lr(initial_lr, current=t + 1, t_max=max_steps)``: OLMo-core counts from 1.

Sources checked (read, not copied; :func:`_olmo_curve` re-states them): allenai/OLMo-core
``src/olmo_core/optim/scheduler.py`` @ 014c4c6200ac7bad0f687719d6f1df298de0596b (``CosWithWarmup``,
``LinearWithWarmup``, ``InvSqrtWithWarmup``, ``WSD``, ``_linear_warmup``, ``_linear_decay``; field
names ``warmup``/``decay`` of the later version, OLMo-core ``fa6c501``) and
``src/olmo_core/train/trainer.py::_fit_epoch`` (``global_step += 1`` before the batch).
Re-implemented again, independently, in ``tests/schedules/export/test_olmo_core.py``.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from cptdyn._errors import ExportError

from .._core import WSD, Constant, Cosine, InverseSqrt, Linear, Schedule
from ._common import (
    Candidate,
    ExportResult,
    as_float,
    final_of,
    fmt,
    frac_reason,
    note_native,
    peak_of,
    pick_or_raise,
    r_text,
    warmup_of,
    wsd_decay_steps,
)

__all__ = ["export_olmo_core"]


def _olmo_warmup(init: float, c: np.ndarray, w: int, m: float) -> np.ndarray:
    return m + (init - m) * np.minimum(c, w) / w


def _olmo_curve(cls: str, kw: Mapping[str, Any], T: int, lr: float) -> np.ndarray:
    """olmo_core/optim/scheduler.py get_lr(initial_lr, current=t + 1, t_max=T)."""
    c = np.arange(1, T + 1, dtype=np.float64)
    m = float(kw.get("warmup_min_lr", 0.0))
    w = int(kw.get("warmup", 0))
    if cls == "ConstantScheduler":
        return np.full(T, lr)
    if cls == "ConstantWithWarmup":
        return np.where(c <= w, _olmo_warmup(lr, c, max(w, 1), m), lr)
    if cls in ("CosWithWarmup", "LinearWithWarmup"):
        tm = int(kw.get("t_max") or T)
        eta_min = lr * float(kw["alpha_f"])
        x = (c - w) / (tm - w)
        body = (eta_min + (lr - eta_min) * (1 + np.cos(np.pi * x)) / 2 if cls == "CosWithWarmup"
                else lr - (lr - eta_min) * x)
        return np.where(c < w, _olmo_warmup(lr, c, max(w, 1), m), np.where(c >= tm, eta_min, body))
    if cls == "InvSqrtWithWarmup":
        eta_min = lr * float(kw["alpha_f"])
        return np.where(c < w, _olmo_warmup(lr, c, max(w, 1), m),
                        eta_min + (lr - eta_min) * np.sqrt(w / c))
    if cls == "WSD":
        d = int(kw["decay"])
        dm = float(kw["decay_min_lr"])
        dec = dm + (lr - dm) * np.minimum(T - c, d) / max(d, 1)
        return np.where(c <= w, _olmo_warmup(lr, c, max(w, 1), m), np.where(c >= T - d, dec, lr))
    raise ExportError(f"olmo-core: no model of {cls}")  # pragma: no cover


def _olmo_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, InverseSqrt, WSD)):
        return [], "OLMo-core has no scheduler class of this form"
    W, r = warmup_of(s)
    peak = peak_of(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    # OLMo-core calls get_lr(current=t+1). Warmups "current <= warmup" (Constant, WSD) map
    # warmup_init=None exactly with warmup=W; the r-form needs warmup=W+1 and
    # warmup_min_lr=peak*(r*(W+1)-1)/W >= 0. "current < warmup" warmups (Cos/Linear/InvSqrt)
    # need warmup=W+1 (to line the decay up) and the same warmup_min_lr.
    def shifted() -> tuple[int, float] | None:
        if W == 0:
            return 1, 0.0
        if r is None:
            return None
        m = peak * (r * (W + 1) - 1) / W
        if m < -1e-15 * peak:
            return None
        return W + 1, max(m, 0.0)

    def le_warm() -> tuple[int, float] | None:
        if W == 0:
            return 0, 0.0
        if r is None:
            return W, 0.0
        return shifted()

    bad_warm = (
        f"warmup_init={r_text(r)} (OLMo-core counts steps from 1, so its linear warmup from "
        f"warmup_min_lr >= 0 needs warmup_init >= 1/(warmup_steps+1)={1 / (W + 1):g})"
    )
    out: list[Candidate] = []

    def add(cls: str, kw: dict[str, Any], desc: str) -> None:
        out.append(Candidate({"class": cls, "kwargs": kw},
                              lambda: _olmo_curve(cls, kw, T, peak), desc))

    flat = isinstance(s, WSD) and (wsd_decay_steps(s) == 0 or final_of(s) == peak)
    if isinstance(s, Constant) or flat:
        if W == 0:
            add("ConstantScheduler", {}, "ConstantScheduler")
        else:
            wm = le_warm()
            if wm is None:
                return [], bad_warm
            add("ConstantWithWarmup", {"warmup": wm[0], "warmup_min_lr": wm[1]},
                "ConstantWithWarmup")
    elif isinstance(s, (Cosine, Linear)):
        wm = shifted()
        if wm is None:
            return [], bad_warm
        cls = "CosWithWarmup" if isinstance(s, Cosine) else "LinearWithWarmup"
        add(cls, {"warmup": wm[0], "alpha_f": final_of(s) / peak, "t_max": T + 1,
                  "warmup_min_lr": wm[1]}, f"{cls} with warmup={wm[0]}, t_max={T + 1}")
    elif isinstance(s, InverseSqrt):
        wm = shifted()
        ts = as_float(s.effective_timescale, "timescale")
        if wm is None:
            return [], bad_warm
        if ts != W + 1:
            return [], (f"timescale={ts:g} (OLMo-core's InvSqrtWithWarmup decays as "
                        f"sqrt(warmup/step), i.e. timescale=warmup_steps+1={W + 1})")
        add("InvSqrtWithWarmup", {"warmup": wm[0], "alpha_f": 0.0, "warmup_min_lr": wm[1]},
            "InvSqrtWithWarmup")
    else:
        D = wsd_decay_steps(s)
        if D is None:
            return [], frac_reason(s)
        if s.decay_shape != "linear":
            return [], (f"decay_shape={s.decay_shape!r} (OLMo-core's WSD decays linearly "
                        "only)")
        wm = le_warm()
        if wm is None:
            return [], bad_warm
        final = final_of(s)
        if D == 1:
            return [], "decay_fraction*total_steps=1 (OLMo-core's 1-based WSD needs >= 2)"
        else:
            # step counted from 1: decay=D-1 ending at the LR of our last step reproduces it
            kw = {"warmup": wm[0], "decay": D - 1, "decay_fraction": None,
                  "warmup_min_lr": wm[1], "decay_min_lr": final + (peak - final) / D}
        add("WSD", kw, f"WSD with decay={kw['decay']}")
    return out, ""


def export_olmo_core(schedule: Schedule) -> ExportResult:
    """OLMo-core scheduler (``olmo_core.optim.scheduler``) as a Python snippet and a dict."""
    s, best, err = pick_or_raise("olmo-core", schedule, _olmo_candidates)
    T = s.total_steps
    cls, kw = best.config["class"], best.config["kwargs"]
    args = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else repr(v)}" for k, v in kw.items())
    text = (
        f'"""OLMo-core scheduler for a cptdyn {s.KIND!r} schedule ({T} steps).\n\n'
        "OLMo-core's Trainer increments global_step before each batch, so update t (0-based) uses\n"
        "get_lr(current=t+1); the warmup / t_max / decay values below account for that. Set the\n"
        f"optimizer lr to {fmt(peak_of(s))} and train for exactly {T} steps (max_duration).\n"
        f'"""\nfrom olmo_core.optim.scheduler import {cls}\n\nscheduler = {cls}({args})\n'
    )
    payload = {"class": cls, "kwargs": kw, "lr": peak_of(s), "max_steps": T}
    note = note_native("olmo-core", best.desc, err, T,
                        "Update t uses get_lr(current=t+1) (OLMo-core counts steps from 1).")
    return ExportResult("olmo-core", True, note, payload, {"olmo_core_scheduler.py": text}, err, T)
