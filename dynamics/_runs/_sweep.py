"""The 124M cooldown sweep (Hägele et al.) from this project's compact copy of its W&B histories.

``runs.csv`` has one row per run (config, trunk and resume iter of cooldown branches, final
losses); ``curves.csv.gz`` the rows ``run, iter, val_loss, train_lr``, already sorted and
de-duplicated. The runs are the same as ``load_wandb_json`` gives from the raw JSON files:
branches stitched onto their trunks, the per-step LR rebuilt from the config.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._table import RunOptions
from ._wandb import WandbRecord, wandb_runs

__all__ = ["load_cooldown_sweep"]

_CONFIG_KEYS = ("lr", "scheduler", "decay_type", "wsd_fract_decay", "wsd_final_lr_scale",
                "cos_final_lr", "iterations", "warmup_steps")


def _missing(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _record(row: pd.Series, g: pd.DataFrame, src: str) -> WandbRecord:
    """The W&B record of one ``runs.csv`` row and its ``curves.csv.gz`` rows ``g``."""
    cfg = {k: (None if _missing(row[k]) else row[k]) for k in _CONFIG_KEYS}
    cfg["iterations"] = int(row["iterations"])
    cfg["warmup_steps"] = int(row["warmup_steps"])
    v = g[g["val_loss"].notna()]
    t = g[g["train_lr"].notna()]
    ri = row.get("resume_iter")
    trunk = row.get("trunk")
    return WandbRecord(
        str(row["run"]), src, cfg,
        (v["iter"].to_numpy(np.int64), v["val_loss"].to_numpy(np.float64)),
        (t["iter"].to_numpy(np.int64), t["train_lr"].to_numpy(np.float64)),
        None if pd.isna(row["final_val_loss"]) else float(row["final_val_loss"]),
        None if ri is None or _missing(ri) else int(ri),
        trunk if isinstance(trunk, str) else None,
    )


def load_cooldown_sweep(data_dir: str | os.PathLike[str], *, select: Iterable[str] | None = None,
                        lr_source: str = "auto") -> list[Run]:
    """The 124M cooldown sweep from this project's compact copy (``data/lr-scheduling``).

    Reads ``runs.csv`` (one row per run: config and final losses) and ``curves.csv.gz``
    (``run, iter, val_loss, train_lr``, sorted and de-duplicated), stitches the cooldown branches
    onto their trunks and rebuilds the per-step LR as ``load_wandb_json`` does.

    Args:
      data_dir: the folder holding ``runs.csv`` and ``curves.csv.gz``.
      select: run ids to return (trunks needed for stitching are read anyway); default all.
      lr_source: as ``load_wandb_json``.
    """
    d = Path(data_dir)
    idx_path, cur_path = d / "runs.csv", d / "curves.csv.gz"
    for p in (idx_path, cur_path):
        if not p.exists():
            raise RunError(f"{p}: no such file")
    idx = pd.read_csv(idx_path)
    cur = pd.read_csv(cur_path)
    wanted = list(select) if select is not None else list(idx["run"])
    unknown = sorted(set(wanted) - set(idx["run"]))
    if unknown:
        raise RunError(f"{idx_path}: unknown run ids {', '.join(unknown[:5])}")
    need = set(wanted) | {str(t) for t in idx.loc[idx["run"].isin(wanted), "trunk"].dropna()}
    groups = {k: g for k, g in cur.groupby("run", sort=False)}
    records = []
    info: dict[str, dict[str, Any]] = {}
    for _, row in idx[idx["run"].isin(need)].iterrows():
        rid = str(row["run"])
        g = groups.get(rid)
        if g is None:
            raise RunError(f"{cur_path}: no rows for run {rid!r}")
        records.append(_record(row, g, f"{cur_path} (run {rid})"))
        info[rid] = {"file": row["file"], "prefix": row["prefix"],
                     "tokens_per_step": int(row["tokens_per_step"]),
                     "last_val_loss": float(row["last_val_loss"])}
    runs = wandb_runs(records, RunOptions(), lr_source=lr_source,
                      extra_meta=lambda r: info[r.name])
    by = {r.name: r for r in runs}
    return [by[w] for w in wanted]
