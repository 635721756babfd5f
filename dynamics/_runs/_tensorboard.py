"""TensorBoard event files: one file, or a log directory whose sub-directories with events are runs.

Scalars (and single-value tensors) are read with ``tbparse`` or, failing that, ``tensorboard``'s
``EventAccumulator`` (optional dependency: ``pip install 'cptdyn[tensorboard]'``); each run's tags
become the columns of a table indexed by the event step (rows are named ``step N`` in errors).

Tag names as the trainers write them (picked by the usual aliases, ``_columns``): Hugging Face
``TensorBoardCallback`` -- ``train/loss``, ``train/learning_rate``, ``eval/loss`` at the global
step; torchtitan -- ``loss_metrics/global_avg_loss``, ``lr`` (logged after the scheduler step:
``lr[s]``), ``validation_metrics/loss`` at its 1-based step; Megatron-LM -- ``lm loss``,
``learning-rate``, ``lm loss validation`` at the iteration (the ``... vs samples`` tags, whose x
axis is samples, are not read as steps of the picked tags). A NaN or infinite value of a used tag
is a ``RunError`` naming the tag and the step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._table import check_options, runs_from_frame

__all__ = ["load_tensorboard"]

_COLUMNS = ["run", "step", "tag", "value"]


def _scalars_tbparse(path: Path, errors: list[str]) -> pd.DataFrame | None:
    """The scalars read with tbparse; ``None`` (and a line in ``errors``) if it is missing."""
    try:
        from tbparse import SummaryReader
    except ImportError as e:
        errors.append(f"tbparse: {e}")
        return None
    df = SummaryReader(str(path), pivot=False, extra_columns={"dir_name"}).scalars
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=_COLUMNS)
    df = df.rename(columns={"dir_name": "run"})
    if "run" not in df:
        df["run"] = ""
    return df[_COLUMNS]


def _scalars_tensorboard(path: Path, errors: list[str]) -> pd.DataFrame | None:
    """The scalars read with tensorboard; ``None`` (and a line in ``errors``) if it is missing."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as e:
        errors.append(f"tensorboard: {e}")
        return None
    files = [path] if path.is_file() else sorted(path.rglob("events.out.tfevents*"))
    recs: list[tuple[str, int, str, float]] = []
    for f in files:
        rel = "." if path.is_file() else str(f.parent.relative_to(path))
        run = "" if rel == "." else rel
        ea = EventAccumulator(str(f), size_guidance={"scalars": 0, "tensors": 0})
        ea.Reload()
        for tag in ea.Tags().get("scalars", []):
            recs += [(run, ev.step, tag, ev.value) for ev in ea.Scalars(tag)]
        for tag in ea.Tags().get("tensors", []):
            for ev in ea.Tensors(tag):
                try:
                    from tensorboard.util import tensor_util

                    arr = np.asarray(tensor_util.make_ndarray(ev.tensor_proto))
                    v = float(arr.reshape(-1)[0])
                except Exception:  # noqa: BLE001 - non-scalar tensors are skipped
                    continue
                recs.append((run, ev.step, tag, v))
    return pd.DataFrame(recs, columns=_COLUMNS)


def _tb_scalars(path: Path, backend: str) -> pd.DataFrame:
    """Long frame ``run, step, tag, value`` from event files under ``path``."""
    if backend not in ("auto", "tbparse", "tensorboard"):
        raise ValueError(
            f"load_tensorboard: backend={backend!r} must be auto, tbparse or tensorboard"
        )
    errors: list[str] = []
    for name, read in (("tbparse", _scalars_tbparse), ("tensorboard", _scalars_tensorboard)):
        if backend in ("auto", name):
            df = read(path, errors)
            if df is not None:
                return df
    raise RunError(
        f"{path}: reading TensorBoard logs needs the optional dependency tbparse or tensorboard "
        f"(pip install 'cptdyn[tensorboard]'); {'; '.join(errors)}"
    )


def load_tensorboard(path: str | os.PathLike[str], *, backend: str = "auto",
                     **options: Any) -> list[Run]:
    """Runs from TensorBoard event files: one file, or a log dir (each sub-dir with events = a run).

    ``loss_col`` / ``lr_col`` are tag names (defaults: the first ``LOSS_ALIASES`` / ``LR_ALIASES``
    tag present). Repeated (step, tag) events (restarts) keep the last one.
    """
    check_options(options, "tensorboard")
    p = Path(path)
    if not p.exists():
        raise RunError(f"{path}: no such file or directory")
    df = _tb_scalars(p, backend)
    if len(df) == 0:
        raise RunError(f"{path}: no scalar events found")
    out: list[Run] = []
    for run, g in df.groupby("run", sort=True):
        g = g.drop_duplicates(["tag", "step"], keep="last").copy()
        vals = g["value"].astype(float).to_numpy()
        if not np.isfinite(vals).all():  # kept as text, refused where the tag is used
            g["value"] = [v if np.isfinite(v) else repr(float(v)) for v in vals]
        wide = g.pivot(index="step", columns="tag", values="value").sort_index()
        wide = wide.reset_index()
        wide.columns = pd.Index([str(c) for c in wide.columns])
        wide.index = pd.Index([f"step {int(s)}" for s in wide["step"]])
        rname = str(run) if run else (p.parent.name if p.is_file() else p.name)
        out += runs_from_frame(wide, name=rname, source=f"{path} ({rname})" if run else str(path),
                               **{**options, "run_col": None,
                                  "step_col": options.get("step_col") or "step"})
    return out
