"""``load_runs``: one entry point for every run format, and the format sniffing behind it.

A directory is TensorBoard when it holds event files (at any depth), ``hf`` when it holds a
``trainer_state.json``, else W&B JSON or CSV by its files. A file is told by its name
(``events.out.tfevents*``, ``trainer_state.json``, ``.json``, ``.csv``/``.tsv``/``.txt`` with an
optional ``.gz``) and, for JSON and CSV, its first bytes (a ``"log_history"`` key; a ``Step``
column beside ``<run> - <metric>`` columns).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._columns import STEP_ALIASES
from ._csv import load_csv
from ._files import open_text
from ._hf import load_hf_trainer_state
from ._table import runs_from_frame
from ._tensorboard import load_tensorboard
from ._wandb import load_wandb_csv, load_wandb_json

__all__ = ["RUN_FORMATS", "sniff_format", "load_runs"]

RUN_FORMATS = ("csv", "wandb-json", "wandb-csv", "tensorboard", "hf")


def _sniff_dir(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    if any(p.rglob("events.out.tfevents*")):
        return "tensorboard"
    if (p / "trainer_state.json").exists():
        return "hf"
    if any(p.glob("*.json")):
        return "wandb-json"
    if any(p.glob("*.csv")) or any(p.glob("*.csv.gz")) or any(p.glob("*.tsv")):
        return "csv"
    raise RunError(f"{path}: cannot tell the format of this directory (no event files, "
                   "trainer_state.json, .json or .csv files); pass format=...")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of a file or directory (one of ``RUN_FORMATS``)."""
    p = Path(path)
    if p.is_dir():
        return _sniff_dir(path)
    name = p.name
    if name.startswith("events.out.tfevents"):
        return "tensorboard"
    if name.endswith(".json"):
        if name == "trainer_state.json":
            return "hf"
        try:
            with open(p, encoding="utf-8") as fh:
                head = fh.read(1 << 16)
        except FileNotFoundError:
            raise RunError(f"{path}: no such file") from None
        return "hf" if '"log_history"' in head else "wandb-json"
    if re.search(r"\.(csv|tsv|txt)(\.gz)?$", name):
        try:
            with open_text(p) as fh:
                head = fh.readline()
        except FileNotFoundError:
            raise RunError(f"{path}: no such file") from None
        cols = [c.strip().strip('"').strip() for c in re.split(r"[,\t;]", head)]
        if cols and (cols[0] == "Step" or cols[0] in STEP_ALIASES) \
                and any(" - " in c for c in cols[1:]):
            return "wandb-csv"
        return "csv"
    raise RunError(f"{path}: cannot tell the format from the name; pass format= one of "
                   f"{', '.join(RUN_FORMATS)}")


_READERS: dict[str, Callable[..., list[Run]]] = {
    "csv": load_csv,
    "wandb-json": load_wandb_json,
    "wandb-csv": load_wandb_csv,
    "tensorboard": load_tensorboard,
    "hf": load_hf_trainer_state,
}


def load_runs(source: Any, format: str | None = None, **options: Any) -> list[Run]:
    """Load observed loss curves as a list of ``Run`` (each with its full per-step LR).

    Args:
      source: a path (file or directory), a list of paths, or a pandas DataFrame. A directory is
        a TensorBoard log dir, a checkpoint dir with ``trainer_state.json``, or a folder of W&B
        JSON or CSV files; W&B JSON files given together are stitched (cooldown branches).
      format: ``None`` (sniffed from the name / content), ``"csv"``, ``"wandb-json"``,
        ``"wandb-csv"``, ``"tensorboard"`` or ``"hf"``.
      step_col, loss_col, lr_col, run_col: column (or tag / metric / history key) names; ``None``
        tries the usual aliases. ``loss_col`` may be a list or ``{column: dataset}`` mapping (one
        Run per loss column, e.g. CPT ``loss_pt``/``loss_cpt``).
      schedule: exact per-step LR (array, callable of the update index, a ``cptdyn.schedules``
        schedule, or ``{run: schedule}``); overrides the logged LR.
      total_steps: number of updates of the run(s) (default: from the config, the schedule, or the
        last logged step).
      warmup_steps: warmup length (used by the LR reconstruction and stored in the Run).
      lr_at: ``"next"`` (logged LR at step ``s`` = ``lr[s]``) or ``"last"`` (``lr[s-1]``);
        default: by the transformers version for Hugging Face logs, else ``"next"``.
      run_config: a Hugging Face ``TrainingArguments``-shaped dict or JSON/YAML file: the exact
        per-step LR (checked against a logged LR) and the logging convention.
      transfer_step: PT length for CPT runs (an int, or ``{run: int}``).
      dataset: validation-set name when there is one loss column (default ``"val"``).
      replay_ratio, model_size: stored in the Runs.
      merge_duplicate_steps: ``"auto"`` (default: rows of the same step merged when they do not
        conflict), ``True`` (last value wins) or ``False`` (duplicates refused).
      Format-specific: ``name``, ``mpl_families`` (csv), ``lr_source`` (wandb-json),
      ``backend`` (tensorboard).

    Raises:
      RunError: malformed input, with a one-line message naming file, row and column.
    """
    if isinstance(source, pd.DataFrame):
        if format not in (None, "frame", "dataframe"):
            raise ValueError(f"load_runs: a DataFrame is read as a table, not format={format!r}")
        return runs_from_frame(source, **options)
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("load_runs: empty list of sources")
        fmts = [format or sniff_format(s) for s in source]
        wb = [s for s, f in zip(source, fmts, strict=True) if f == "wandb-json"]
        out: list[Run] = []
        for s, f in zip(source, fmts, strict=True):
            if f != "wandb-json":
                out += load_runs(s, format=f, **options)
            elif s is wb[0]:  # all W&B JSON files at once (branches are stitched to trunks)
                out += load_wandb_json(wb, **options)
        return out
    if format is None:
        format = sniff_format(source)
    if not isinstance(format, str) or format not in _READERS:
        raise ValueError(f"load_runs: format={format!r} must be one of {', '.join(RUN_FORMATS)}")
    return _READERS[format](source, **options)
