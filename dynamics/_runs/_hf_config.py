"""A run's Hugging Face ``TrainingArguments`` (as W&B stores them in ``run.config``, or as a JSON
file): its per-step LR and its LR-logging convention.

Per-step LR: ``lr[t] = learning_rate * f(t)`` with ``f`` the ``LambdaLR`` factor of
``transformers.get_scheduler(lr_scheduler_type, ...)`` after ``t`` scheduler steps (the scheduler
is stepped once per optimizer update, so update ``t`` runs at ``f(t)``), written out here in numpy
for ``linear``, ``cosine``, ``cosine_with_restarts``, ``polynomial``, ``constant``,
``constant_with_warmup``, ``inverse_sqrt``, ``cosine_with_min_lr`` and ``warmup_stable_decay``
(``lr_scheduler_kwargs`` honoured). ``reduce_lr_on_plateau`` depends on the metrics and is
refused. Warmup: ``warmup_steps`` when > 0 (a value below 1 is a ratio, as transformers 5 reads
it), else ``ceil(warmup_ratio * max_steps)``. The formulas are checked against
``transformers.get_scheduler`` in the tests.

Logging convention (``hf_lr_at``): until transformers 4.50 the Trainer stepped the scheduler
before logging, so ``learning_rate`` logged at global step ``s`` was the LR of the *next* update
(``lr[s]``, ``lr_at="next"``); from 4.51.0 (huggingface/transformers PR #36973, merged 2025-03-25)
it logs the LR read before ``lr_scheduler.step()``, the LR of the update just done (``lr[s - 1]``,
``lr_at="last"``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from cptdyn._errors import RunError

__all__ = ["HF_SCHEDULERS", "hf_config", "hf_lr_at", "hf_schedule", "hf_version"]

HF_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                 "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr",
                 "warmup_stable_decay")

#: First transformers release whose Trainer logs the LR of the update just done.
HF_LAST_LR_VERSION = (4, 51)


def hf_config(doc: Any, src: str) -> dict[str, Any]:
    """A plain ``{key: value}`` dict from a run config: W&B's ``config.yaml`` / API shape
    (``{key: {"value": v, "desc": ...}}``) is unwrapped; ``lr_scheduler_kwargs`` given as a JSON
    string is parsed."""
    if not isinstance(doc, Mapping):
        raise RunError(f"{src}: a run config must be a JSON object, got {type(doc).__name__}")
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, Mapping) and "value" in v and set(v) <= {"value", "desc"}:
            v = v["value"]
        out[str(k)] = v
    kw = out.get("lr_scheduler_kwargs")
    if isinstance(kw, str):
        try:
            out["lr_scheduler_kwargs"] = json.loads(kw) if kw.strip() else {}
        except ValueError:
            raise RunError(f"{src} field 'lr_scheduler_kwargs': {kw!r} is not JSON") from None
    return out


def hf_version(cfg: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(major, minor)`` of the config's ``transformers_version``, or None."""
    m = re.match(r"\s*(\d+)\.(\d+)", str(cfg.get("transformers_version") or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


def hf_lr_at(cfg: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(lr_at, reason)`` from the config's ``transformers_version``; None when absent."""
    v = hf_version(cfg)
    if v is None:
        return None
    text = f"transformers {cfg.get('transformers_version')}"
    if v >= HF_LAST_LR_VERSION:
        return "last", f"{text} >= 4.51 logs the LR of the update just done (lr[s-1])"
    return "next", f"{text} < 4.51 logs the LR of the next update (lr[s])"


def _num(cfg: Mapping[str, Any], key: str, src: str, default: Any = None) -> Any:
    v = cfg.get(key, default)
    if v is None:
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise RunError(f"{src} field {key!r}: {v!r} is not a number") from None
    if not math.isfinite(f):
        raise RunError(f"{src} field {key!r}: {v!r} is not a finite number")
    return f


def _factor(kind: str, t: np.ndarray, T: int, W: int, kw: Mapping[str, Any], lr0: float,
            src: str) -> np.ndarray:
    """The LambdaLR factor of ``transformers.get_scheduler(kind)`` after ``t`` steps."""
    warm = t / max(1, W)
    prog = (t - W) / max(1, T - W)
    if kind == "constant":
        return np.ones_like(t)
    if kind == "constant_with_warmup":
        return np.where(t < W, warm, 1.0)
    if kind == "linear":
        return np.where(t < W, warm, np.maximum(0.0, (T - t) / max(1, T - W)))
    if kind == "cosine":
        nc = float(kw.get("num_cycles", 0.5))
        return np.where(t < W, warm, np.maximum(0.0, 0.5 * (1 + np.cos(np.pi * nc * 2 * prog))))
    if kind == "cosine_with_restarts":
        nc = float(kw.get("num_cycles", 1))
        f = np.maximum(0.0, 0.5 * (1 + np.cos(np.pi * ((nc * prog) % 1.0))))
        return np.where(t < W, warm, np.where(prog >= 1.0, 0.0, f))
    if kind == "polynomial":
        end, power = float(kw.get("lr_end", 1e-7)), float(kw.get("power", 1.0))
        if not lr0 > end:
            raise RunError(f"{src}: polynomial schedule needs learning_rate > lr_end ({end:g})")
        dec = (lr0 - end) * (1 - (t - W) / max(1, T - W)) ** power + end
        return np.where(t < W, warm, np.where(t > T, end / lr0, dec / lr0))
    if kind == "inverse_sqrt":
        ts = kw.get("timescale")
        ts = float(ts) if ts is not None else float(W or 10_000)
        shift = ts - W
        return np.where(t < W, warm, 1.0 / np.sqrt(np.maximum(t + shift, 1e-300) / ts))
    if kind == "cosine_with_min_lr":
        nc = float(kw.get("num_cycles", 0.5))
        if kw.get("min_lr") is not None:
            rate = float(kw["min_lr"]) / lr0
        elif kw.get("min_lr_rate") is not None:
            rate = float(kw["min_lr_rate"])
        else:
            raise RunError(f"{src}: cosine_with_min_lr needs lr_scheduler_kwargs min_lr or "
                           "min_lr_rate")
        f = 0.5 * (1 + np.cos(np.pi * nc * 2 * prog)) * (1 - rate) + rate
        return np.where(t < W, warm, np.maximum(0.0, f))
    if kind == "warmup_stable_decay":
        decay = kw.get("num_decay_steps")
        if decay is None:
            raise RunError(f"{src}: warmup_stable_decay needs lr_scheduler_kwargs num_decay_steps")
        D = int(decay)
        S = kw.get("num_stable_steps")
        S = int(S) if S is not None else T - W - D
        mr = float(kw.get("min_lr_ratio", 0.0))
        nc = float(kw.get("num_cycles", 0.5))
        wtype = str(kw.get("warmup_type", "linear"))
        dtype = str(kw.get("decay_type", "cosine"))
        wp = t / max(1, W)
        if wtype == "linear":
            wf = wp
        elif wtype == "cosine":
            wf = 0.5 * (1.0 - np.cos(np.pi * wp))
        elif wtype == "1-sqrt":
            wf = 1.0 - np.sqrt(1.0 - wp)
        else:
            raise RunError(f"{src}: warmup_type {wtype!r} is not linear, cosine or 1-sqrt")
        wf = wf * (1.0 - mr) + mr
        dp = np.clip((t - W - S) / max(1, D), 0.0, 1.0)
        if dtype == "linear":
            df = 1.0 - dp
        elif dtype == "cosine":
            df = 0.5 * (1.0 + np.cos(np.pi * nc * 2.0 * dp))
        elif dtype == "1-sqrt":
            df = 1.0 - np.sqrt(dp)
        else:
            raise RunError(f"{src}: decay_type {dtype!r} is not linear, cosine or 1-sqrt")
        df = df * (1.0 - mr) + mr
        return np.where(t < W, wf, np.where(t < W + S, 1.0, np.where(t < W + S + D, df, mr)))
    raise RunError(f"{src} field 'lr_scheduler_type': {kind!r} cannot be rebuilt "
                   f"(supported: {', '.join(HF_SCHEDULERS)})")


def hf_schedule(cfg: Mapping[str, Any], total_steps: int | None,
                src: str) -> tuple[np.ndarray, int, dict[str, Any]]:
    """(per-step LR, warmup steps, meta entries) of a ``TrainingArguments``-shaped config.

    ``total_steps`` (the run's number of updates) is used when the config's ``max_steps`` is
    missing or ``-1`` (an epoch-based run); the two must agree when both are known.
    """
    lr0 = _num(cfg, "learning_rate", src)
    if lr0 is None:
        raise RunError(f"{src}: run config has no 'learning_rate'")
    if lr0 <= 0:
        raise RunError(f"{src} field 'learning_rate': {lr0:g} must be > 0")
    kind = str(cfg.get("lr_scheduler_type") or "linear")
    kind = kind.split(".")[-1].lower() if kind.startswith("SchedulerType.") else kind
    if kind == "reduce_lr_on_plateau":
        raise RunError(f"{src} field 'lr_scheduler_type': reduce_lr_on_plateau depends on the "
                       "eval metrics and cannot be rebuilt; give a schedule spec or the logged LR")
    ms = _num(cfg, "max_steps", src, -1)
    T = int(ms) if ms and ms > 0 else None
    if T is None:
        T = total_steps
    elif total_steps is not None and total_steps != T:
        raise RunError(f"{src} field 'max_steps': {T} but total_steps={total_steps}")
    if T is None:
        raise RunError(f"{src}: run config has max_steps={cfg.get('max_steps')!r} (an epoch-based "
                       "run); give total_steps (--total-steps)")
    ws = _num(cfg, "warmup_steps", src, 0.0)
    if 0 < ws < 1:
        W = math.ceil(T * ws)
    elif ws >= 1:
        W = int(ws)
    else:
        W = math.ceil(T * _num(cfg, "warmup_ratio", src, 0.0))
    kw = cfg.get("lr_scheduler_kwargs") or {}
    if not isinstance(kw, Mapping):
        raise RunError(f"{src} field 'lr_scheduler_kwargs': expected an object, got {kw!r}")
    t = np.arange(T, dtype=np.float64)
    lr = lr0 * _factor(kind, t, T, W, kw, lr0, src)
    how = (f"run config: transformers get_scheduler({kind!r}, warmup {W}, {T} steps"
           f"{', ' + json.dumps(dict(kw), sort_keys=True) if kw else ''}) x learning_rate "
           f"{lr0:g}")
    return lr, W, {"lr_source": "run-config", "lr_reconstruction": how}
