r"""nanotron: a YAML fragment (``optimizer.learning_rate_scheduler``), native only.

Step indexing: ``LambdaLR``; linear warmup ``lr * step / lr_warmup_steps`` for
``step <= lr_warmup_steps``: the first update uses 0.

Sources checked (read, not copied; :func:`_nanotron_curve` re-states it): huggingface/nanotron
``src/nanotron/helpers.py::lr_scheduler_builder`` @ 31aa4c4468e3ed6820010bc4a5c2933a314e1d19
(linear / cosine; the ``1-sqrt`` branch is in the later version, nanotron ``2411b02`` per the team
notes) and ``src/nanotron/config/config.py`` (``LRSchedulerArgs``). Re-implemented again,
independently, in ``tests/schedules/export/test_nanotron.py``.
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
    warmup_of,
    wsd_decay_steps,
    yaml_text,
    zero_init_refusal,
)

__all__ = ["export_nanotron"]


def _nanotron_curve(a: Mapping[str, Any], T: int) -> np.ndarray:
    """helpers.py lr_scheduler_builder (absolute LR, before the /learning_rate normalisation)."""
    lr = float(a["learning_rate"])
    W = int(a["lr_warmup_steps"])
    dsteps = a.get("lr_decay_steps")
    start = a.get("lr_decay_starting_step")
    if dsteps is None:
        dsteps = T - W - (start or 0)
    if start is None:
        start = W
    mn = float(a["min_decay_lr"]) if a.get("min_decay_lr") is not None else lr
    out = np.empty(T)
    for t in range(T):
        if W == 0 and dsteps == 0:
            v = lr
        elif a["lr_warmup_style"] is not None and t <= W:
            v = lr * t / max(W, 1) if a["lr_warmup_style"] == "linear" else lr
        elif t < start:
            v = lr
        elif a["lr_decay_style"] is not None and t < start + dsteps:
            x = (t - start) / dsteps
            st = a["lr_decay_style"]
            if st == "cosine":
                v = mn + (lr - mn) * (1 + math.cos(math.pi * x)) / 2
            elif st == "linear":
                v = mn + (lr - mn) * (dsteps - (t - start)) / dsteps
            else:  # 1-sqrt
                v = mn + (lr - mn) * (1 - math.sqrt(x))
        else:
            v = mn
        out[t] = v
    return out


def _nanotron_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if not isinstance(s, (Constant, Cosine, Linear, WSD)):
        return [], "nanotron has only warmup + linear/cosine/1-sqrt decay"
    W, r = warmup_of(s)
    why = zero_init_refusal(s, "nanotron warms up as lr*step/lr_warmup_steps from 0")
    if why:
        return [], why
    peak = peak_of(s)
    a: dict[str, Any] = {"learning_rate": peak, "lr_warmup_steps": W,
                         "lr_warmup_style": "linear" if W else "constant"}
    if isinstance(s, Constant):
        a.update(lr_decay_style="linear", lr_decay_starting_step=W, lr_decay_steps=T - W,
                 min_decay_lr=peak)
    elif isinstance(s, (Cosine, Linear)):
        a.update(lr_decay_style="cosine" if isinstance(s, Cosine) else "linear",
                 lr_decay_starting_step=W, lr_decay_steps=T - W, min_decay_lr=final_of(s))
    else:
        D = wsd_decay_steps(s)
        if D is None:
            return [], frac_reason(s)
        if s.decay_shape not in ("linear", "cosine", "1-sqrt"):
            return [], (f"decay_shape={s.decay_shape!r} (nanotron lr_decay_style is linear, "
                        "cosine or 1-sqrt)")
        a.update(lr_decay_style=s.decay_shape, lr_decay_starting_step=T - D, lr_decay_steps=D,
                 min_decay_lr=final_of(s))
    desc = f"lr_decay_style={a['lr_decay_style']!r}"
    return [Candidate(a, lambda: _nanotron_curve(a, T), desc)], ""


def export_nanotron(schedule: Schedule) -> ExportResult:
    """nanotron YAML fragment: ``optimizer.learning_rate_scheduler`` and ``tokens.train_steps``."""
    s, best, err = pick_or_raise("nanotron", schedule, _nanotron_candidates)
    T = s.total_steps
    a = best.config
    doc = {"optimizer": {"learning_rate_scheduler": a}, "tokens": {"train_steps": T}}
    extra = (" (nanotron 1-sqrt needs a version with the 1-sqrt branch, 2025+)"
             if a["lr_decay_style"] == "1-sqrt" else "")
    text = comment(f"nanotron LR schedule for a cptdyn {s.KIND!r} schedule ({T} steps){extra}.") \
        + yaml_text(doc)
    note = note_native("nanotron", best.desc, err, T,
                        "Update t uses LambdaLR lambda(t); linear warmup starts at 0." + extra)
    return ExportResult("nanotron", True, note, doc, {"nanotron_lr_scheduler.yaml": text}, err, T)
