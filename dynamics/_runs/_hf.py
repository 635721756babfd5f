"""Hugging Face ``trainer_state.json``: the Trainer's ``log_history``, one row per log event.

Training rows (``loss``, ``learning_rate``, ``grad_norm``) and evaluation rows (``eval_loss``) of
the same ``step`` are merged. ``learning_rate`` logged at global step ``s`` is the LR of update
``s - 1`` from transformers 4.51 on and of update ``s`` before (``_hf_config``); the version is
read from the ``config.json`` the Trainer saves beside ``trainer_state.json`` in a checkpoint
folder, or from ``run_config``; when neither says, 4.51 or later is assumed (a
``RunReadWarning``). A NaN or infinite loss or LR (``NaN`` / ``Infinity`` in the JSON) is a
``RunError`` naming the file, the field and the step.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._files import read_json_file
from ._guess import Guesses
from ._hf_config import hf_lr_at
from ._table import check_options, runs_from_frame

__all__ = ["load_hf_trainer_state", "mark_non_finite"]


def mark_non_finite(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with NaN / infinite numbers replaced by their text (``"nan"``, ``"inf"``), which
    the table readers refuse where the column is used; missing keys stay missing."""
    return {k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()}


def _run_name(folder: Path) -> str:
    """The run's name: the Trainer's output folder when ``trainer_state.json`` lies in one of
    its ``checkpoint-N`` folders (every run's last checkpoint has such a name), else the
    folder's own name."""
    name = folder.name
    if re.fullmatch(r"checkpoint-\d+", name) and folder.resolve().parent.name:
        return folder.resolve().parent.name
    return name or "trainer_state"


def _checkpoint_lr_at(folder: Path) -> tuple[str, str] | None:
    """``hf_lr_at`` of the ``config.json`` the Trainer saved in the checkpoint folder."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        return None
    try:
        doc = read_json_file(cfg, str(cfg))
    except RunError:
        return None
    at = hf_lr_at(doc) if isinstance(doc, Mapping) else None
    return None if at is None else (at[0], f"{at[1]} (from {cfg.name})")


def load_hf_trainer_state(path: str | os.PathLike[str], **options: Any) -> list[Run]:
    """A Hugging Face ``trainer_state.json`` (or its checkpoint folder): ``log_history`` rows
    merged by ``step``.

    Loss defaults to ``eval_loss`` when present, else the training ``loss`` (an average over the
    last ``logging_steps`` updates). ``total_steps`` defaults to ``max_steps``. The logging
    convention of ``learning_rate`` follows the transformers version (module docstring); pass
    ``lr_at`` to set it.
    """
    check_options(options, "hf")
    if Path(path).is_dir():
        path = Path(path) / "trainer_state.json"
    src, p = str(path), Path(path)
    doc = read_json_file(p, src)
    hist = doc.get("log_history") if isinstance(doc, Mapping) else None
    if not isinstance(hist, list) or not hist or not all(isinstance(h, Mapping) for h in hist):
        raise RunError(f"{src}: no 'log_history' rows (not a trainer_state.json?)")
    df = pd.DataFrame([mark_non_finite(h) for h in hist])
    df.index = pd.Index([f"log_history[{i}] (step {h.get('step', '?')})"
                         for i, h in enumerate(hist)])
    opts = dict(options)
    guesses = Guesses(src)
    if opts.get("step_col") is None:
        opts["step_col"] = "step"
    if opts.get("loss_col") is None:
        opts["loss_col"] = "eval_loss" if "eval_loss" in df else "loss"
        guesses.add(f"loss column {opts['loss_col']!r} (eval_loss when logged, else the "
                    "training loss)")
    if opts.get("lr_col") is None and "learning_rate" in df and opts.get("schedule") is None:
        opts["lr_col"] = "learning_rate"
    if opts.get("total_steps") is None and int(doc.get("max_steps") or 0) > 0:
        opts["total_steps"] = int(doc["max_steps"])
    opts.setdefault("merge_duplicate_steps", "auto")
    at = _checkpoint_lr_at(p.parent) or (
        "last", "assumed Hugging Face Trainer >= 4.51 (the LR of the update just done; older "
        "versions log the next one: pass lr_at='next' / --lr-at next, or keep the checkpoint's "
        "config.json beside trainer_state.json)")
    return runs_from_frame(df, name=_run_name(p.parent), source=src, guesses=guesses,
                           default_lr_at=at, meta={"format": "hf"}, **opts)
