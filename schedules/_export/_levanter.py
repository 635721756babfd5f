r"""levanter: a YAML fragment (``optimizer``, ``trainer.num_train_steps``), native only.

Step indexing: ``optax.inject_hyperparams(...)(learning_rate=schedule)``: update ``t`` uses
``schedule(t)``; its warmup ``linear_schedule(0, lr, W)`` starts at 0. levanter reads warmup and
decay values ``<= 1.0`` as fractions of the run and ``> 1`` as step counts.

Source checked (read, not copied; :func:`_levanter_curve` re-states it): marin-community/levanter
``src/levanter/optim/config.py::OptimizerConfig.lr_scheduler`` @
928e69f0ffa81afb474852f756f7528a702cada6 (stanford-crfm/levanter @ 2a7847e3 is the older layout).
Re-implemented again with real optax in ``tests/schedules/export/test_levanter.py``.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cptdyn._errors import ExportError

from .._core import WSD, Constant, Cosine, Linear, Schedule
from ._common import (
    Candidate,
    ExportResult,
    comment,
    final_of,
    frac_for,
    frac_reason,
    note_native,
    peak_of,
    pick_or_raise,
    warmup_of,
    wsd_decay_steps,
    yaml_text,
    zero_init_refusal,
)

__all__ = ["export_levanter"]


def _lev_conv(v: float | int, n: int) -> int:
    """levanter _convert_frac_or_steps."""
    if v < 0.0 or (v > 1.0 and v % 1 != 0):
        raise ExportError(f"levanter: invalid fraction {v}")
    if v <= 1.0:
        return int(v * n)
    return int(v)


def _levanter_curve(o: Mapping[str, Any], T: int) -> np.ndarray:
    """OptimizerConfig.lr_scheduler for one cycle (marin-community/levanter 928e69f)."""
    lr = float(o["learning_rate"])
    ratio = float(o["min_lr_ratio"])
    min_lr = lr * ratio
    W = _lev_conv(o["warmup"], T)
    D = _lev_conv(o["decay"], T) if o.get("decay") is not None else T - W
    S = T - W - D
    t = np.arange(T, dtype=np.float64)
    pieces: list[tuple[int, Callable[[np.ndarray], np.ndarray]]] = []

    def lin(a: float, b: float, n: int) -> Callable[[np.ndarray], np.ndarray]:
        if n <= 0:
            return lambda u: np.full_like(u, a)
        return lambda u: (a - b) * (1 - np.clip(u, 0, n) / n) + b

    if W:
        pieces.append((0, lin(0.0, lr, W)))
    if S:
        pieces.append((W if pieces else 0, lambda u: np.full_like(u, lr)))
    kind = o["lr_schedule"]
    if kind == "constant":
        dec = lambda u: np.full_like(u, lr)
    elif kind == "cosine":
        if D <= 0:
            raise ExportError("levanter: cosine needs decay steps > 0")
        def dec(u: np.ndarray) -> np.ndarray:
            x = 0.5 * (1 + np.cos(np.pi * np.minimum(u, D) / D))
            return lr * ((1 - ratio) * x + ratio)
    else:
        dec = lin(lr, min_lr, D)
    pieces.append((W + S, dec))
    out = pieces[0][1](t)
    for b, f in pieces[1:]:
        out = np.where(t < b, out, f(t - b))
    return out


def _lev_value(k: int, T: int) -> int | float:
    if k == 0:
        return 0
    if k >= 2:
        return int(k)
    return frac_for(k, T, lambda f: _lev_conv(f, T))


def _levanter_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "levanter's lr_schedule is constant, cosine, linear (or inv_sqrt/inv/power)"
    W, r = warmup_of(s)
    why = zero_init_refusal(s, "levanter warms up as linear_schedule(0, lr, warmup)")
    if why:
        return [], why
    peak = peak_of(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (must be > 0)"
    o: dict[str, Any] = {"type": "adam", "learning_rate": peak, "warmup": _lev_value(W, T)}
    if isinstance(s, Constant):
        o.update(lr_schedule="constant", min_lr_ratio=1.0)
    elif isinstance(s, (Cosine, Linear)):
        o.update(lr_schedule="cosine" if isinstance(s, Cosine) else "linear",
                 min_lr_ratio=final_of(s) / peak, decay=None)
    else:
        D = wsd_decay_steps(s)
        if D is None:
            return [], frac_reason(s)
        if D == 0:
            o.update(lr_schedule="constant", min_lr_ratio=1.0)
        elif s.decay_shape not in ("linear", "cosine"):
            return [], (f"decay_shape={s.decay_shape!r} (levanter decays are linear or "
                        "cosine)")
        else:
            o.update(lr_schedule=s.decay_shape, min_lr_ratio=final_of(s) / peak,
                     decay=_lev_value(D, T))
    desc = f"lr_schedule={o['lr_schedule']!r}"
    return [Candidate(o, lambda: _levanter_curve(o, T), desc)], ""


def export_levanter(schedule: Schedule) -> ExportResult:
    """levanter YAML fragment: ``optimizer`` (+ ``trainer.num_train_steps``)."""
    s, best, err = pick_or_raise("levanter", schedule, _levanter_candidates)
    T = s.total_steps
    o = {k: v for k, v in best.config.items() if v is not None}
    doc = {"optimizer": o, "trainer": {"num_train_steps": T}}
    text = comment(
        f"levanter optimizer config for a cptdyn {s.KIND!r} schedule ({T} steps).\n"
        "levanter reads warmup/decay <= 1.0 as fractions of the run and > 1 as step counts."
    ) + yaml_text(doc)
    note = note_native("levanter", best.desc, err, T, "Update t uses the optax schedule(t).")
    return ExportResult("levanter", True, note, doc, {"levanter_optimizer.yaml": text}, err, T)
