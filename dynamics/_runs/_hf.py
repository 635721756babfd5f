"""Hugging Face ``trainer_state.json``: the Trainer's ``log_history``, one row per log event.

Training rows (``loss``, ``learning_rate``, ``grad_norm``) and evaluation rows (``eval_loss``) of
the same ``step`` are merged. The Trainer logs after ``lr_scheduler.step()``, so ``learning_rate``
logged at step ``s`` is the LR of update ``s`` (``lr_at="next"``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._files import read_json_file
from ._table import check_options, runs_from_frame

__all__ = ["load_hf_trainer_state"]


def load_hf_trainer_state(path: str | os.PathLike[str], **options: Any) -> list[Run]:
    """A Hugging Face ``trainer_state.json``: ``log_history`` rows merged by ``step``.

    Loss defaults to ``eval_loss`` when present, else the training ``loss`` (an average over the
    last ``logging_steps`` updates). ``learning_rate`` logged at step ``s`` is the LR of update
    ``s`` (the Trainer logs after ``lr_scheduler.step()``, ``lr_at="next"``). ``total_steps``
    defaults to ``max_steps``.
    """
    check_options(options, "hf")
    if Path(path).is_dir():
        path = Path(path) / "trainer_state.json"
    src, p = str(path), Path(path)
    doc = read_json_file(p, src)
    hist = doc.get("log_history") if isinstance(doc, Mapping) else None
    if not isinstance(hist, list) or not hist:
        raise RunError(f"{src}: no 'log_history' rows (not a trainer_state.json?)")
    df = pd.DataFrame(hist)
    df.index = pd.Index([f"log_history[{i}]" for i in range(len(df))])
    opts = dict(options)
    if opts.get("loss_col") is None:
        opts["loss_col"] = "eval_loss" if "eval_loss" in df else "loss"
    if opts.get("lr_col") is None and "learning_rate" in df and opts.get("schedule") is None:
        opts["lr_col"] = "learning_rate"
    if opts.get("total_steps") is None and int(doc.get("max_steps") or 0) > 0:
        opts["total_steps"] = int(doc["max_steps"])
    opts.setdefault("merge_duplicate_steps", True)
    return runs_from_frame(df, name=p.parent.name or "trainer_state", source=src, **opts)
