r"""Hugging Face Trainer: ``TrainingArguments`` fields when an ``lr_scheduler_type`` reproduces
every step, else the PyTorch per-step route passed to the Trainer as its scheduler.

Step indexing: a ``LambdaLR`` stepped after every optimizer step (``trainer.py``:
``self.optimizer.step()`` then ``self.lr_scheduler.step()``): update ``t`` uses
``learning_rate * lambda(t)``; its linear warmups start at 0 (``warmup_stable_decay`` at
``min_lr_ratio * lr``), so the first update of a warmed-up run uses LR 0.

Source checked (read, not copied; :func:`_hf_curve` re-states the lambdas): transformers 5.24.0
(installed): ``transformers/optimization.py``, ``trainer.py`` (``create_scheduler``),
``training_args.py`` (``get_warmup_steps``). The tests build the scheduler with transformers'
own ``get_scheduler`` (``tests/schedules/export/test_hf.py``).
"""

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from cptdyn._errors import ExportError

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
    TORCH_LOADER_NAME,
    Candidate,
    ExportResult,
    as_float,
    fail,
    final_of,
    frac_reason,
    kind_text,
    note_native,
    peak_of,
    r_text,
    same,
    search,
    torch_bundle,
    warmup_of,
    wsd_decay_steps,
)

__all__ = ["export_hf"]


def _hf_curve(name: str, kw: Mapping[str, Any], W: int, T: int, lr: float) -> np.ndarray:
    """transformers 5.24.0 optimization.py lambdas, vectorised; returns lr * lambda(t)."""
    t = np.arange(T, dtype=np.float64)
    warm = t / max(1, W)
    if name == "constant":
        lam = np.ones(T)
    elif name == "constant_with_warmup":
        lam = np.where(t < W, t / max(1.0, W), 1.0)
    elif name == "linear":
        lam = np.where(t < W, warm, np.maximum(0.0, (T - t) / max(1, T - W)))
    elif name in ("cosine", "cosine_with_min_lr"):
        nc = float(kw.get("num_cycles", 0.5))
        rate = float(kw.get("min_lr_rate", 0.0)) if name == "cosine_with_min_lr" else 0.0
        if name == "cosine_with_min_lr" and kw.get("min_lr") is not None:
            rate = float(kw["min_lr"]) / lr
        p = (t - W) / max(1, T - W)
        f = 0.5 * (1.0 + np.cos(math.pi * nc * 2.0 * p))
        lam = np.where(t < W, warm, np.maximum(0.0, f * (1 - rate) + rate))
    elif name == "polynomial":
        end, power = float(kw.get("lr_end", 1e-7)), float(kw.get("power", 1.0))
        rem = np.clip(1 - (t - W) / max(T - W, 1), 0.0, None)
        dec = ((lr - end) * rem**power + end) / lr
        lam = np.where(t < W, warm, np.where(t > T, end / lr, dec))
    elif name == "inverse_sqrt":
        ts = kw.get("timescale")
        ts = (W or 10_000) if ts is None else ts
        shift = ts - W
        with np.errstate(divide="ignore"):
            lam = np.where(t < W, warm, 1.0 / np.sqrt(np.maximum(t + shift, 0.0) / ts))
    elif name == "warmup_stable_decay":
        D = int(kw["num_decay_steps"])
        S = int(kw["num_stable_steps"]) if kw.get("num_stable_steps") is not None else T - W - D
        m = float(kw.get("min_lr_ratio", 0.0))
        nc = float(kw.get("num_cycles", 0.5))
        if kw.get("warmup_type", "linear") != "linear":
            raise ExportError("hf: only warmup_type='linear' is modelled")
        wf = np.maximum(0.0, warm * (1.0 - m) + m)
        p = (t - W - S) / max(1, D)
        dt = kw.get("decay_type", "cosine")
        if dt == "linear":
            f = 1.0 - p
        elif dt == "cosine":
            f = 0.5 * (1.0 + np.cos(math.pi * nc * 2.0 * p))
        else:  # 1-sqrt
            f = 1.0 - np.sqrt(np.clip(p, 0.0, None))
        df = np.maximum(0.0, f * (1.0 - m) + m)
        lam = np.where(t < W, wf, np.where(t < W + S, 1.0, np.where(t < W + S + D, df, m)))
    else:  # pragma: no cover
        raise ExportError(f"hf: no model of lr_scheduler_type={name!r}")
    return lr * lam


def _hf_candidates(s: Schedule) -> tuple[list[Candidate], str]:
    T = s.total_steps
    if isinstance(s, (CPTSchedule, ArraySchedule, Polyline, MultiStep, TwoStage, CyclicCosine)):
        return [], "Hugging Face has no lr_scheduler_type of this form"
    W, r = warmup_of(s)
    peak = peak_of(s)
    if peak <= 0:
        return [], f"peak_lr={peak:g} (HF schedules are multipliers of learning_rate > 0)"
    from0 = W == 0 or same(r, 0.0)
    out: list[Candidate] = []
    reasons: list[str] = []

    def add(name: str, kw: dict[str, Any], desc: str | None = None) -> None:
        cfg = {
            "learning_rate": peak,
            "lr_scheduler_type": name,
            "lr_scheduler_kwargs": kw,
            "warmup_steps": W,
            "max_steps": T,
        }
        out.append(Candidate(cfg, lambda: _hf_curve(name, kw, W, T, peak),
                              desc or f"lr_scheduler_type={name!r}"))

    final = None if isinstance(s, (Constant, InverseSqrt)) else final_of(s)
    ratio = None if final is None else final / peak
    if not from0 and not same(r, ratio or 0.0):
        wsd = "" if ratio is None else f", warmup_stable_decay's at min_lr_ratio={ratio:g}"
        reasons.append(
            f"warmup_init={r_text(r)} (HF warmups start at 0{wsd}; cptdyn warmup_init=0.0)"
        )

    def wsd_add(D: int, decay_type: str) -> None:
        if W == 0 or same(r, ratio or 0.0):
            kw = {"num_decay_steps": D, "decay_type": decay_type, "min_lr_ratio": ratio}
            add("warmup_stable_decay", kw)

    if isinstance(s, Constant):
        if W == 0:
            add("constant", {})
        elif from0:
            add("constant_with_warmup", {})
    elif isinstance(s, Cosine):
        if from0:
            if final == 0:
                add("cosine", {})
            add("cosine_with_min_lr", {"min_lr_rate": ratio})
        wsd_add(T - W, "cosine")
    elif isinstance(s, Linear):
        if from0:
            if final == 0:
                add("linear", {})
            elif final is not None and final < peak:
                add("polynomial", {"lr_end": final, "power": 1.0})
        wsd_add(T - W, "linear")
    elif isinstance(s, InverseSqrt):
        ts = as_float(s.effective_timescale, "timescale")
        if from0:
            add("inverse_sqrt", {"timescale": int(ts) if ts.is_integer() else ts})
    elif isinstance(s, WSD):
        D = wsd_decay_steps(s)
        shape = s.decay_shape
        if D is None:
            reasons.append(frac_reason(s))
        elif shape in ("linear", "cosine", "1-sqrt"):
            wsd_add(D, shape)
        elif shape == "power" and from0 and T - D == W and final is not None and final < peak:
            add("polynomial", {"lr_end": final, "power": as_float(s.decay_power, "decay_power")})
        else:
            reasons.append(
                f"decay_shape={shape!r} (HF decay_type is linear, cosine or 1-sqrt"
                + ("; 'power' maps to 'polynomial' only without a stable phase and from 0)"
                   if shape == "power" else ")")
            )
    return out, "; ".join(reasons)


def export_hf(schedule: Schedule, *, require_native: bool = False, base_lr: float | None = None,
              past_end: str = "hold", table_format: str = "json") -> ExportResult:
    """Hugging Face ``TrainingArguments`` fields, or the LambdaLR route.

    Native: ``payload["training_args"]`` holds ``learning_rate``, ``lr_scheduler_type``,
    ``lr_scheduler_kwargs``, ``warmup_steps``, ``max_steps`` (use them as they are; the Trainer
    calls ``get_scheduler(type, optimizer, num_warmup_steps=warmup_steps,
    num_training_steps=max_steps, scheduler_specific_kwargs=lr_scheduler_kwargs)``). Otherwise the
    PyTorch table and loader are added; pass the scheduler as
    ``Trainer(..., optimizers=(optimizer, build_scheduler(optimizer)))``.
    """
    found = search("hf", schedule, _hf_candidates)
    s, ref, best, err = found.schedule, found.table, found.best, found.error
    T = s.total_steps
    if best is not None:
        cfg = best.config
        body = json.dumps(cfg, indent=2) + "\n"
        note = note_native(
            "hf", best.desc, err, T,
            "Use these TrainingArguments fields as they are (max_steps fixes the horizon; "
            "warmup_steps is a step count). Update t uses learning_rate*lambda(t).",
        )
        return ExportResult("hf", True, note, {"training_args": cfg, "lambda_lr": None},
                            {"hf_training_args.json": body}, err, T)
    reason = found.reason or f"no HF scheduler reproduces {kind_text(s)}"
    if require_native:
        raise fail("hf", f"cannot express {kind_text(s)} as an lr_scheduler_type: {reason}")
    files, table = torch_bundle(s, ref, base_lr, past_end, table_format)
    args = {"learning_rate": table["base_lr"], "max_steps": T}
    readme = (
        "# Hugging Face Trainer with a cptdyn per-step LR table\n"
        "# lr_scheduler_type is ignored when a scheduler is passed in.\n"
        "from transformers import Trainer, TrainingArguments\n"
        "import torch\n"
        "from cptdyn_lr_scheduler import build_scheduler\n\n"
        f"args = TrainingArguments(output_dir='out', learning_rate={table['base_lr']!r}, "
        f"max_steps={T})\n"
        "optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)\n"
        "trainer = Trainer(model=model, args=args, train_dataset=train_dataset,\n"
        "                  optimizers=(optimizer, build_scheduler(optimizer)))\n"
    )
    files = {"hf_training_args.json": json.dumps(args, indent=2) + "\n", **files,
             "hf_trainer_example.py": readme}
    table_name = next(n for n in files if n.startswith("lr_table"))
    note = (
        f"hf: per-step route (LambdaLR over {table_name} via {TORCH_LOADER_NAME}) "
        f"because {reason}. Pass the scheduler to the Trainer: Trainer(..., optimizers=(optimizer, "
        "build_scheduler(optimizer))); it is stepped once per optimizer update, update t runs at "
        "lrs[t], exact at every step."
    )
    return ExportResult("hf", False, note, {"training_args": args, "lambda_lr": table}, files,
                        0.0, T)
