r"""MaxText: config overrides (``base.yml`` keys), native only.

Step indexing: an optax ``join_schedules`` (``create_learning_rate_schedule``): update ``t`` uses
``schedule(t)``; its warmup ``linear_schedule(0, lr, W - 1)`` starts at 0.

Source checked (read, not copied; :func:`_maxtext_curve` re-states it): AI-Hypercomputer/maxtext
``src/maxtext/utils/maxtext_utils.py::create_learning_rate_schedule`` @
65dda9aeac1811345a0372709cc28a6f3c56cc91. Re-implemented again with real optax in
``tests/schedules/export/test_maxtext.py``.
"""

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._core import WSD, Constant, Cosine, Linear, Schedule
from ._common import (
    Candidate,
    ExportResult,
    comment,
    final_of,
    frac_for,
    note_native,
    peak_of,
    pick_or_raise,
    warmup_of,
    wsd_decay_steps,
    yaml_scalar,
    yaml_text,
    zero_init_refusal,
)

__all__ = ["export_maxtext"]


def _maxtext_curve(cfg: Mapping[str, Any]) -> np.ndarray:
    """maxtext_utils.create_learning_rate_schedule (65dda9a), numpy re-statement."""
    L = int(cfg["learning_rate_schedule_steps"])
    steps = int(cfg["steps"])
    lr = float(cfg["learning_rate"])
    final = lr * float(cfg["learning_rate_final_fraction"])
    W = int(L * float(cfg["warmup_steps_fraction"]))
    t = np.arange(steps, dtype=np.float64)
    out = np.zeros(steps)
    pieces: list[tuple[int, Callable[[np.ndarray], np.ndarray]]] = []  # (start, fn(relative))

    def lin(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        if n <= 0:
            return lambda u: np.full_like(u, a)
        return lambda u: (a - b) * (1 - np.clip(u, 0, n) / n) + b

    def cos(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        def f(u: np.ndarray) -> np.ndarray:
            pct = u / (n - 1) if n > 1 else np.ones_like(u)
            x = 0.5 * (np.cos(np.pi * pct) + 1)
            return a * x + b * (1 - x)
        return f

    start = 0
    if W > 0:
        pieces.append((0, lin(0.0, lr, W - 1)))
        start = W
    if cfg["lr_schedule_type"] == "cosine":
        n = L - W
        if n > 0:
            pieces.append((start, cos(lr, final, n)))
    else:
        D = int(L * float(cfg["wsd_decay_steps_fraction"]))
        S = L - W - D
        if S > 0:
            pieces.append((start, lambda u: np.full_like(u, lr)))
            start += S
        if D > 0:
            f = lin(lr, final, D - 1) if cfg["wsd_decay_style"] == "linear" else cos(lr, final, D)
            pieces.append((start, f))
    if steps > L:
        pieces.append((L, lambda u: np.zeros_like(u)))
    if not pieces:  # pragma: no cover
        return out
    out = pieces[0][1](t)
    for b, f in pieces[1:]:
        out = np.where(t < b, out, f(t - b))
    return out


def _maxtext_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "MaxText has only lr_schedule_type cosine and wsd"
    W, r = warmup_of(s)
    peak = peak_of(s)
    why = zero_init_refusal(s, "MaxText warms up from 0 as linear_schedule(0, lr, W-1)")
    if why:
        return [], why
    Wm = 0 if W == 0 else W + 1  # MaxText reaches peak at step Wm-1 = W
    if Wm > T:
        return [], f"warmup_steps={W} (MaxText needs a step at peak within total_steps={T})"
    wf = frac_for(Wm, T, lambda f: int(T * f))
    base = {"learning_rate": peak, "steps": T, "learning_rate_schedule_steps": T,
            "warmup_steps_fraction": wf}
    cands: list[dict[str, Any]] = []
    reasons = []
    flat = (
        isinstance(s, Constant)
        or final_of(s) == peak
        or (isinstance(s, WSD) and wsd_decay_steps(s) == 0)
    )
    if flat:
        cands.append({**base, "lr_schedule_type": "wsd", "wsd_decay_steps_fraction": 0.0,
                      "wsd_decay_style": "linear", "learning_rate_final_fraction": 1.0})
    else:
        if isinstance(s, WSD) and s.decay_shape not in ("linear", "cosine"):
            reasons.append(f"decay_shape={s.decay_shape!r} (MaxText wsd_decay_style is linear "
                           "or cosine)")
        reasons.append(
            f"final_lr={final_of(s):g} < peak_lr (MaxText decays over len-1 steps and reaches the "
            "final LR at step T-1; cptdyn decays reach final_lr at step T)"
        )
    out = [
        Candidate(c, functools.partial(_maxtext_curve, c),
                   f"lr_schedule_type={c['lr_schedule_type']}")
        for c in cands
    ]
    return out, "; ".join(reasons)


def export_maxtext(schedule: Schedule) -> ExportResult:
    """MaxText config overrides (``base.yml`` keys)."""
    s, best, err = pick_or_raise("maxtext", schedule, _maxtext_candidates)
    T = s.total_steps
    cfg = best.config
    cli = " ".join(f"{k}={v if isinstance(v, str) else yaml_scalar(v)}" for k, v in cfg.items())
    text = comment(f"MaxText overrides for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
                    f"CLI form: {cli}") + yaml_text(cfg)
    note = note_native("maxtext", best.desc, err, T, "Update t uses the optax schedule(t).")
    return ExportResult("maxtext", True, note, cfg, {"maxtext_lr.yml": text}, err, T)
