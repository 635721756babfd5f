"""Load observed loss curves as ``Run`` objects (with the full per-step LR) from common log formats.

One entry point, ``load_runs(source, format=None, **options)``; formats:

* ``"csv"`` -- a table with a step, a loss and (optionally) an LR column; several runs in one file
  are keyed by a run column (``.csv``, ``.tsv``, ``.csv.gz``). The MultiPowerLaw repository files
  (``constant_T``, ``cosine_T``, ``wsd_A_T``, ``wsdld_A_T``, ``wsdcon_X``) are recognised by name
  and their per-step LR is rebuilt exactly as the repository's data loader does.
* ``"wandb-json"`` -- W&B run histories exported as JSON (``{"config", "summary", "history":
  {"val": {...}, "train": {...}}}``, as in the 124M cooldown sweep), or a JSON list of history rows.
* ``"wandb-csv"`` -- a W&B panel export (``Step``, ``<run> - <metric>``; ``__MIN``/``__MAX``
  ignored).
* ``"tensorboard"`` -- event files (a file or a log directory; sub-directories are runs), read with
  ``tbparse`` or ``tensorboard`` (optional dependency: ``pip install 'cptdyn[tensorboard]'``).
* ``"hf"`` -- a Hugging Face ``trainer_state.json`` (``log_history``).
* a pandas ``DataFrame`` (long: one row per step, run column optional).

Column options (every format): ``step_col``, ``loss_col``, ``lr_col``, ``run_col``. Left ``None``,
the usual names are tried (``STEP_ALIASES``, ``LOSS_ALIASES``, ``LR_ALIASES``; a column named
``run``/``run_id``/``run_name`` keys runs). ``loss_col`` may be a list or a ``{column: dataset}``
mapping: each loss column becomes one Run sharing the LR (CPT: ``loss_pt``, ``loss_cpt`` ->
datasets ``"pt"`` and ``"cpt"``; columns named ``loss_<name>`` are picked up automatically when no
plain loss column exists), with ``transfer_step`` the number of PT updates.

Step convention (``_run.py``): a loss logged at step ``s`` was measured after ``s`` updates;
``lr[t]`` is the LR of update ``t``. A logged LR at step ``s`` is read as ``lr[s]``
(``lr_at="next"``: trainers that log after ``scheduler.step()``, e.g. the Hägele et al. code
behind the 124M sweep and the Hugging Face Trainer) or as ``lr[s - 1]`` (``lr_at="last"``: the
LR of the update that produced the logged loss, e.g. the MultiPowerLaw CSVs).

LR reconstruction rule when only a logged LR column exists (``reconstruct_lr``): the per-step LR is
the linear interpolation between the logged points; before the first logged point it is a linear
warmup from 0 (``lr[t] = v0 * min(1, (t + 1) / min(W, u0 + 1))``, ``v0`` the first logged LR at
update ``u0``) when a warmup length ``W > 0`` is known, else held at ``v0``; after the last logged
point it is held. The rule used is written to ``run.meta["lr_source"]`` and
``run.meta["lr_reconstruction"]``. Pass ``schedule=`` (an array, a callable of the update index,
a ``cptdyn.schedules`` schedule, or a ``{run: schedule}`` mapping) to give the exact per-step LR.

Loss observations at step 0 (before any update) are dropped (``meta["dropped_steps"]``).

Bad input raises ``RunError`` with one line naming the file, the row and the column, e.g.
``runs.csv row 17 column 'loss': 'nan' is not a finite number``; in text files "row" is the line
number (the header is row 1).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._run import Run, RunError

__all__ = [
    "RUN_FORMATS",
    "STEP_ALIASES",
    "LOSS_ALIASES",
    "LR_ALIASES",
    "load_runs",
    "runs_from_frame",
    "load_csv",
    "load_wandb_json",
    "load_wandb_csv",
    "load_tensorboard",
    "load_hf_trainer_state",
    "load_cooldown_sweep",
    "mpl_schedule",
    "reconstruct_lr",
    "sniff_format",
]

RUN_FORMATS = ("csv", "wandb-json", "wandb-csv", "tensorboard", "hf")

STEP_ALIASES = ("step", "steps", "_step", "iter", "iteration", "global_step", "Step",
                "train/global_step", "trainer/global_step")
LOSS_ALIASES = ("loss", "val_loss", "eval_loss", "val/loss", "eval/loss", "validation_loss",
                "valid_loss", "validation/loss", "loss/val",
                "lm-loss-validation/valid/lm loss validation", "lm loss validation",
                "train_loss", "train/loss", "lm loss", "lm_loss",
                "loss_metrics/global_avg_loss", "train/CE loss", "learning/loss")
LR_ALIASES = ("lr", "learning_rate", "train_lr", "train/learning_rate", "train/lr", "learning-rate",
              "lr/AdamW", "optim/LR (group 0)", "optim/learning_rate",
              "learning/current_learning_rate", "lr-AdamW")
_RUN_ALIASES = ("run", "run_id", "run_name")

_MPL_PEAK, _MPL_END, _MPL_WARMUP = 3e-4, 3e-5, 2160

# ============================================================================ small helpers


def _where(src: str, row: Any = None, col: str | None = None) -> str:
    out = src
    if row is not None:
        out += f" row {row}"
    if col is not None:
        out += f" column {col!r}"
    return out


def _num(text: Any, src: str, row: Any, col: str) -> float:
    """Parse one cell; ``nan`` for a missing (empty) cell; RunError for text or non-finite."""
    if text is None:
        return math.nan
    if isinstance(text, str):
        t = text.strip()
        if t == "":
            return math.nan
        try:
            v = float(t)
        except ValueError:
            raise RunError(f"{_where(src, row, col)}: {text!r} is not a number") from None
        if not math.isfinite(v):
            raise RunError(f"{_where(src, row, col)}: {text!r} is not a finite number")
        return v
    if isinstance(text, (bool, np.bool_)):
        raise RunError(f"{_where(src, row, col)}: {text!r} is not a number")
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise RunError(f"{_where(src, row, col)}: {text!r} is not a number") from None
    if math.isnan(v):
        return math.nan  # missing value in a frame
    if not math.isfinite(v):
        raise RunError(f"{_where(src, row, col)}: {text!r} is not a finite number")
    return v


def _column(values: Sequence[Any], rows: Sequence[Any], src: str, col: str) -> np.ndarray:
    return np.array([_num(v, src, r, col) for v, r in zip(values, rows, strict=True)], np.float64)


def _pick(columns: Sequence[str], wanted: str | None, aliases: Sequence[str], src: str,
          what: str, required: bool = True) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise RunError(
                f"{_where(src, col=wanted)}: not found ({what}); columns are: "
                f"{', '.join(map(str, columns))}"
            )
        return wanted
    lower = {str(c).lower(): c for c in columns}
    for a in aliases:
        if a in columns:
            return a
        if a.lower() in lower:
            return lower[a.lower()]
    if required:
        raise RunError(
            f"{src}: no {what} column (tried {', '.join(aliases[:6])}, ...); columns are: "
            f"{', '.join(map(str, columns))}; name it with the {what}_col option"
        )
    return None


def _loss_columns(columns: Sequence[str], loss_col: Any, src: str,
                  dataset: str | None) -> dict[str, str | None]:
    """``{column: dataset or None}``."""
    if isinstance(loss_col, Mapping):
        for c in loss_col:
            _pick(columns, str(c), (), src, "loss")
        return {str(c): str(d) for c, d in loss_col.items()}
    if isinstance(loss_col, (list, tuple)):
        cols = [str(c) for c in loss_col]
        for c in cols:
            _pick(columns, c, (), src, "loss")
        if len(cols) == 1:
            return {cols[0]: dataset}
        return {c: _dataset_name(c) for c in cols}
    if loss_col is not None:
        _pick(columns, str(loss_col), (), src, "loss")
        return {str(loss_col): dataset}
    col = _pick(columns, None, LOSS_ALIASES, src, "loss", required=False)
    if col is not None:
        return {col: dataset}
    multi = [c for c in columns if re.match(r"^(val_|eval_)?loss[_/:-].+", str(c))]
    if multi:
        return {c: _dataset_name(c) for c in multi}
    _pick(columns, None, LOSS_ALIASES, src, "loss")  # raises
    return {}  # pragma: no cover


def _dataset_name(col: str) -> str:
    m = re.match(r"^(?:val_|eval_)?loss[_/:-](.+)$", str(col))
    return m.group(1) if m else str(col)


def _steps_column(values: np.ndarray, rows: Sequence[Any], src: str, col: str) -> np.ndarray:
    for v, r in zip(values, rows, strict=True):
        if math.isnan(v):
            raise RunError(f"{_where(src, r, col)}: missing step")
        if v < 0 or v != round(v):
            raise RunError(f"{_where(src, r, col)}: {v:g} is not a whole number of steps >= 0")
    return values.astype(np.int64)


# ============================================================================ LR reconstruction


def reconstruct_lr(lr_steps: Any, lr_values: Any, total_steps: int, *, warmup_steps: int = 0,
                   lr_at: str = "next") -> np.ndarray:
    """Per-step LR (length ``total_steps``) from LR values logged at some steps.

    Args:
      lr_steps: logged steps (increasing).
      lr_values: logged LRs (>= 0).
      total_steps: length of the result (updates ``0 .. total_steps - 1``).
      warmup_steps: known warmup length ``W``; before the first logged point the LR ramps linearly
        from 0 (``lr[t] = v0 * min(1, (t + 1) / min(W, u0 + 1))``) when ``W > 0``, else it is held.
      lr_at: ``"next"`` (the LR logged at step ``s`` is ``lr[s]``) or ``"last"`` (``lr[s - 1]``).

    Returns:
      float64 array: linear interpolation between the logged points, held after the last one.
    """
    if lr_at not in ("next", "last"):
        raise ValueError(f"reconstruct_lr: lr_at={lr_at!r} must be 'next' or 'last'")
    s = np.asarray(lr_steps, dtype=np.float64)
    v = np.asarray(lr_values, dtype=np.float64)
    u = s - (1 if lr_at == "last" else 0)
    keep = (u >= 0) & (u < total_steps)
    u, v = u[keep], v[keep]
    if u.size == 0:
        raise ValueError("reconstruct_lr: no logged LR inside the run")
    t = np.arange(total_steps, dtype=np.float64)
    out = np.interp(t, u, v)
    u0, v0 = u[0], v[0]
    if warmup_steps > 0 and u0 > 0:
        ramp_len = min(float(warmup_steps), u0 + 1.0)
        before = t < u0
        out[before] = v0 * np.minimum(1.0, (t[before] + 1.0) / ramp_len)
    return out


def _describe_reconstruction(n: int, first: int, warmup: int, lr_at: str) -> str:
    at = "lr[s]" if lr_at == "next" else "lr[s-1]"
    pre = (f"linear warmup from 0 over {warmup} updates" if warmup > 0
           else "held at the first value")
    return (f"linear interpolation between {n} logged LR points (LR logged at step s = {at}); "
            f"before the first point (update {first}): {pre}; after the last point: held")


def _schedule_array(schedule: Any, total: int | None, name: str,
                    src: str) -> tuple[np.ndarray, int | None]:
    """(per-step LR, warmup steps or None) from a schedule argument."""
    if isinstance(schedule, Mapping):
        if name not in schedule:
            raise RunError(f"{src}: schedule mapping has no entry for run {name!r}")
        return _schedule_array(schedule[name], total, name, src)
    warm = None
    if hasattr(schedule, "array") and callable(schedule.array):
        arr = np.asarray(schedule.array(), dtype=np.float64)
        w = getattr(schedule, "warmup_steps", None)
        warm = int(w) if isinstance(w, (int, np.integer)) else None
    elif callable(schedule):
        if total is None:
            raise RunError(f"{src}: a callable schedule needs total_steps")
        arr = np.asarray(schedule(np.arange(total)), dtype=np.float64).reshape(-1)
        if arr.size == 1:
            arr = np.full(total, float(arr[0]))
    else:
        arr = np.asarray(schedule, dtype=np.float64).reshape(-1)
    if total is not None:
        if arr.size < total:
            raise RunError(
                f"{src}: schedule for run {name!r} has {arr.size} steps but the run needs {total}"
            )
        arr = arr[:total]
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise RunError(
            f"{src}: schedule for run {name!r}: lr[{i}] = {arr[i]} is not a finite LR >= 0"
        )
    return arr, warm


# ============================================================================ MPL file families


def _mpl_repo_lr(kind: str, total: int, i: np.ndarray, a: int = 0, b: float = 0.0) -> np.ndarray:
    """The MPL repository's schedule value at its array index ``i`` (index 0 is the dummy 0)."""
    W, peak, end = _MPL_WARMUP, _MPL_PEAK, _MPL_END
    i = i.astype(np.float64)
    warm = peak * i / (W - 1)  # np.linspace(0, peak, W)
    if kind == "constant":
        post = np.full_like(i, peak)
    elif kind == "cosine":
        post = end + 0.5 * (peak - end) * (1 + np.cos(np.pi * (i - W) / (total - W)))
    elif kind == "wsdcon":
        post = np.where(i < a, peak, b)
    elif kind == "wsd":
        post = np.where(i < a, peak,
                        peak ** ((total - i) / (total - a)) * end ** ((i - a) / (total - a)))
    elif kind == "wsdld":
        post = np.where(i < a, peak,
                        peak * (1 - (i - a) / (total - a)) + end * (i - a) / (total - a))
    else:  # pragma: no cover - guarded by the caller
        raise ValueError(kind)
    return np.where(i < W, warm, post)


def mpl_schedule(name: str) -> tuple[np.ndarray, int, dict[str, Any]] | None:
    """Per-step LR of a MultiPowerLaw curve from its file name, or ``None`` if not recognised.

    Families (peak 3e-4, end 3e-5, linear warmup of 2160 steps from 0): ``constant_T``,
    ``cosine_T`` (cosine to 3e-5 at T), ``wsd_A_T`` (geometric decay from step A),
    ``wsdld_A_T`` (linear decay from step A), ``wsdcon_X`` (3e-4 until step 8000, then X * 1e-5,
    T = 16000). The repository builds an array ``r`` of length T with ``r[0] = 0`` and takes the
    loss at step ``s`` as having seen ``r[0..s]``; our per-step array is ``lr[t] = r[t + 1]`` (the
    same formulas, evaluated one step further at ``t = T - 1``), which gives the same LR sums.

    Returns:
      ``(lr, warmup_steps, info)`` with ``lr`` of length T and ``warmup_steps = 2160``.
    """
    stem = Path(str(name)).name
    for suffix in (".gz", ".csv", ".tsv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    m = re.fullmatch(r"(constant|cosine)_(\d+)", stem)
    a, b = 0, 0.0
    if m:
        kind, total = m.group(1), int(m.group(2))
    elif m := re.fullmatch(r"(wsdld|wsd)_(\d+)_(\d+)", stem):
        kind, a, total = m.group(1), int(m.group(2)), int(m.group(3))
        if not _MPL_WARMUP < a < total:
            return None
    elif m := re.fullmatch(r"wsdcon_(\d+)", stem):
        kind, total, a, b = "wsdcon", 16000, 8000, int(m.group(1)) * 1e-5
    else:
        return None
    if total <= _MPL_WARMUP:
        return None
    lr = _mpl_repo_lr(kind, total, np.arange(1, total + 1), a, b)
    info = {"family": kind, "total_steps": total, "peak_lr": _MPL_PEAK, "final_lr": _MPL_END,
            "warmup_steps": _MPL_WARMUP}
    if kind in ("wsd", "wsdld"):
        info["decay_start"] = a
    if kind == "wsdcon":
        info.update(stage_a_steps=a, lr_b=b)
    return lr, _MPL_WARMUP, info


# ============================================================================ generic table -> Runs


def _table_runs(
    *,
    src: str,
    columns: Sequence[str],
    get: Callable[[str], list[Any]],
    rows: list[Any],
    base_name: str,
    step_col: str | None,
    loss_col: Any,
    lr_col: str | None,
    run_col: str | None,
    schedule: Any,
    total_steps: int | None,
    warmup_steps: int | None,
    lr_at: str,
    transfer_step: Any,
    dataset: str | None,
    replay_ratio: Any,
    model_size: Any,
    merge_duplicate_steps: bool = False,
    meta: Mapping[str, Any] | None = None,
    mpl: tuple[np.ndarray, int, dict[str, Any]] | None = None,
) -> list[Run]:
    if lr_at not in ("next", "last"):
        raise ValueError(f"load_runs: lr_at={lr_at!r} must be 'next' or 'last'")
    if not rows:
        raise RunError(f"{src}: no data rows")
    scol = _pick(columns, step_col, STEP_ALIASES, src, "step")
    losses = _loss_columns(columns, loss_col, src, dataset)
    lcol = _pick(columns, lr_col, LR_ALIASES, src, "lr", required=False)
    if lr_col is None and lcol is not None and lcol in losses:
        lcol = None
    rcol = run_col
    if rcol is not None:
        _pick(columns, rcol, (), src, "run")
    else:
        rcol = next((c for c in _RUN_ALIASES if c in columns), None)
    assert scol is not None
    steps_all = _steps_column(_column(get(scol), rows, src, scol), rows, src, scol)
    loss_all = {c: _column(get(c), rows, src, c) for c in losses}
    lr_all = _column(get(lcol), rows, src, lcol) if lcol is not None else None
    run_vals = [str(v) for v in get(rcol)] if rcol is not None else [base_name] * len(rows)

    order: dict[str, list[int]] = {}
    for i, rv in enumerate(run_vals):
        order.setdefault(rv, []).append(i)

    out: list[Run] = []
    for rname, idx in order.items():
        idx_a = np.asarray(idx)
        st = steps_all[idx_a]
        r_rows = [rows[i] for i in idx]
        lo = {c: v[idx_a] for c, v in loss_all.items()}
        lrv = lr_all[idx_a] if lr_all is not None else None
        if merge_duplicate_steps:
            st, lo, lrv, r_rows = _merge_by_step(st, lo, lrv, r_rows)
        for j in range(1, st.size):
            if st[j] <= st[j - 1]:
                raise RunError(
                    f"{_where(src, r_rows[j], scol)}: step {st[j]} does not follow step "
                    f"{st[j - 1]} (steps must be strictly increasing within a run)"
                )
        for c, v in lo.items():
            bad = ~np.isnan(v) & (v <= 0)
            if bad.any():
                j = int(np.argmax(bad))
                raise RunError(f"{_where(src, r_rows[j], c)}: loss {v[j]:g} must be > 0")
        if lrv is not None:
            bad = ~np.isnan(lrv) & (lrv < 0)
            if bad.any():
                j = int(np.argmax(bad))
                raise RunError(f"{_where(src, r_rows[j], lcol)}: lr {lrv[j]:g} is negative")
        # observed steps per loss column
        obs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        dropped: list[int] = []
        for c, v in lo.items():
            m = ~np.isnan(v)
            s_obs, l_obs = st[m], v[m]
            if (s_obs == 0).any():
                dropped.append(0)
            keep = s_obs >= 1
            obs[c] = (s_obs[keep], l_obs[keep])
        if all(o[0].size == 0 for o in obs.values()):
            raise RunError(f"{src}: run {rname!r} has no loss values in "
                           f"{', '.join(repr(c) for c in lo)} at steps >= 1")
        s_max = max(int(o[0][-1]) for o in obs.values() if o[0].size)
        run_meta: dict[str, Any] = {"source": src, **(meta or {})}
        warm = warmup_steps
        if mpl is not None and schedule is None:
            lr_arr, w_mpl, info = mpl
            warm = w_mpl if warmup_steps is None else warmup_steps
            run_meta.update(lr_source="mpl-repository", mpl_schedule=info,
                            lr_reconstruction=(
                                f"rebuilt from the file name as the MultiPowerLaw repository's "
                                f"data loader does ({info['family']}, warmup {w_mpl} from 0, "
                                f"peak 3e-4, end 3e-5); observations at steps >= "
                                f"{info['total_steps']} dropped"))
            if lrv is not None:
                m = ~np.isnan(lrv) & (st >= 1) & (st <= lr_arr.size)
                if m.any():
                    dev = np.max(np.abs(lr_arr[st[m] - 1] - lrv[m]) / np.maximum(lrv[m], 1e-12))
                    run_meta["lr_max_rel_dev_vs_logged"] = float(dev)
            for c in list(obs):  # the repository drops steps >= T
                s_obs, l_obs = obs[c]
                keep = s_obs < lr_arr.size
                obs[c] = (s_obs[keep], l_obs[keep])
            total = lr_arr.size
        elif schedule is not None:
            lr_arr, w_sched = _schedule_array(schedule, total_steps, rname, src)
            total = lr_arr.size
            if warm is None:
                warm = w_sched
            run_meta.update(lr_source="schedule", lr_reconstruction="given per-step schedule")
        else:
            if lrv is None:
                raise RunError(
                    f"{src}: run {rname!r} has no LR column (tried {', '.join(LR_ALIASES[:4])}, "
                    "...); give lr_col=... or schedule=..."
                )
            m = ~np.isnan(lrv)
            if not m.any():
                raise RunError(f"{_where(src, col=lcol)}: no LR values for run {rname!r}")
            ls, lv = st[m], lrv[m]
            # a step logged at s means s updates happened; an LR logged at the last step with
            # lr_at="next" belongs to no update of the run and is dropped
            total = total_steps if total_steps is not None else max(s_max, int(ls[-1]))
            w = int(warm or 0)
            try:
                lr_arr = reconstruct_lr(ls, lv, int(total), warmup_steps=w, lr_at=lr_at)
            except ValueError as e:
                raise RunError(f"{src}: run {rname!r}: {e}") from None
            first = int(ls[0]) - (1 if lr_at == "last" else 0)
            run_meta.update(lr_source="logged",
                            lr_reconstruction=_describe_reconstruction(int(m.sum()), max(first, 0),
                                                                       w, lr_at))
        if dropped:
            run_meta["dropped_steps"] = sorted(set(dropped))
        for c, (s_obs, _) in obs.items():
            if s_obs.size and s_obs[-1] > total:
                raise RunError(
                    f"{_where(src, col=c)}: run {rname!r} has a loss at step {int(s_obs[-1])} but "
                    f"the LR covers only {total} steps (set total_steps or a longer schedule)"
                )
        ts = transfer_step.get(rname) if isinstance(transfer_step, Mapping) else transfer_step
        multi = len(obs) > 1
        for c, (s_obs, l_obs) in obs.items():
            if s_obs.size == 0:
                continue
            ds = losses[c] or dataset or "val"
            nm = f"{rname}:{ds}" if multi else rname
            out.append(Run(
                name=nm, lr=lr_arr, steps=s_obs, loss=l_obs, warmup_steps=int(warm or 0),
                transfer_step=ts, dataset=ds, replay_ratio=replay_ratio, model_size=model_size,
                meta={**run_meta, "run": rname, "loss_column": c},
            ))
    return out


def _merge_by_step(st: np.ndarray, lo: dict[str, np.ndarray], lrv: np.ndarray | None,
                   rows: list[Any]) -> tuple[np.ndarray, dict[str, np.ndarray],
                                             np.ndarray | None, list[Any]]:
    """Sort by step and merge rows with the same step (last non-missing value wins)."""
    order = np.argsort(st, kind="stable")
    uniq = np.unique(st)
    pos = np.searchsorted(uniq, st[order])

    def merge(v: np.ndarray) -> np.ndarray:
        out = np.full(uniq.size, np.nan)
        vv = v[order]
        m = ~np.isnan(vv)
        out[pos[m]] = vv[m]  # later rows overwrite earlier ones
        return out

    first_row: dict[int, Any] = {}
    for k, i in zip(pos, order, strict=True):
        first_row.setdefault(int(k), rows[int(i)])
    return (uniq, {c: merge(v) for c, v in lo.items()},
            None if lrv is None else merge(lrv), [first_row[k] for k in range(uniq.size)])


def _common(kw: Mapping[str, Any]) -> dict[str, Any]:
    return dict(
        step_col=kw.get("step_col"), loss_col=kw.get("loss_col"), lr_col=kw.get("lr_col"),
        run_col=kw.get("run_col"), schedule=kw.get("schedule"),
        total_steps=kw.get("total_steps"), warmup_steps=kw.get("warmup_steps"),
        lr_at=kw.get("lr_at") or "next", transfer_step=kw.get("transfer_step"),
        dataset=kw.get("dataset"), replay_ratio=kw.get("replay_ratio"),
        model_size=kw.get("model_size"),
    )


# ============================================================================ DataFrame


def runs_from_frame(df: pd.DataFrame, *, name: str = "run", source: str = "DataFrame",
                    **options: Any) -> list[Run]:
    """Runs from a long pandas DataFrame (one row per logged step; NaN = not logged).

    Options as ``load_runs``. Rows are named by their index label in error messages.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"runs_from_frame: expected a pandas DataFrame, got {type(df).__name__}")
    _check_options(options, "frame")
    cols = [str(c) for c in df.columns]
    frame = df.copy()
    frame.columns = cols
    rows = list(frame.index)
    return _table_runs(src=source, columns=cols, get=lambda c: frame[c].tolist(), rows=rows,
                       base_name=name, **_common(options),
                       merge_duplicate_steps=bool(options.get("merge_duplicate_steps", False)))


# ============================================================================ CSV


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def _read_csv_rows(path: Path, src: str) -> tuple[list[str], list[list[str]], list[int]]:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    delim = "\t" if name.endswith(".tsv") else None
    try:
        with _open_text(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise RunError(f"{src}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{src}: cannot read ({e})") from None
    if not text.strip():
        raise RunError(f"{src}: empty file")
    if delim is None:
        head = text.splitlines()[0]
        delim = max((",", "\t", ";"), key=head.count)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header: list[str] | None = None
    data: list[list[str]] = []
    lines: list[int] = []
    for rec in reader:
        if not rec or all(not x.strip() for x in rec):
            continue
        if header is None:
            header = [h.strip() for h in rec]
            if len(set(header)) != len(header):
                dup = next(h for h in header if header.count(h) > 1)
                raise RunError(f"{_where(src, reader.line_num, dup)}: duplicate column name")
            continue
        if len(rec) != len(header):
            raise RunError(
                f"{_where(src, reader.line_num)}: {len(rec)} fields but the header has "
                f"{len(header)}"
            )
        data.append(rec)
        lines.append(reader.line_num)
    assert header is not None
    return header, data, lines


def load_csv(path: str | os.PathLike[str], *, name: str | None = None, mpl_families: bool = True,
             **options: Any) -> list[Run]:
    """Runs from a CSV/TSV file (``.gz`` allowed): step, loss and LR columns, optional run column.

    Files named like the MultiPowerLaw curves (``cosine_24000.csv`` ...) get their exact per-step
    LR from ``mpl_schedule`` when ``mpl_families`` is true, no ``schedule`` is given and the
    logged ``lr`` column (if any) agrees with it (read as ``lr[s - 1]``; relative deviation
    < 1e-6); otherwise the generic reconstruction applies. Other options as ``load_runs``.
    """
    _check_options(options, "csv")
    p = Path(path)
    if p.is_dir():  # every CSV/TSV file of the folder, sorted by name
        files = sorted(f for f in p.iterdir()
                       if re.search(r"\.(csv|tsv)(\.gz)?$", f.name) and f.is_file())
        if not files:
            raise RunError(f"{path}: no .csv/.tsv files in this directory")
        return [r for f in files for r in load_csv(f, mpl_families=mpl_families, **options)]
    src = str(path)
    header, data, lines = _read_csv_rows(p, src)
    stem = p.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    mpl = mpl_schedule(stem) if mpl_families and options.get("schedule") is None else None
    cols = {h: i for i, h in enumerate(header)}

    def get(c: str) -> list[Any]:
        j = cols[c]
        return [rec[j] for rec in data]

    if mpl is not None:
        lcol = _pick(header, options.get("lr_col"), LR_ALIASES, src, "lr", required=False)
        scol = _pick(header, options.get("step_col"), STEP_ALIASES, src, "step")
        if lcol is not None and scol is not None:
            st = _column(get(scol), lines, src, scol)
            lv = _column(get(lcol), lines, src, lcol)
            m = ~np.isnan(lv) & (st >= 1) & (st <= mpl[0].size)
            if m.any():
                ref = mpl[0][st[m].astype(np.int64) - 1]
                if np.max(np.abs(ref - lv[m]) / np.maximum(np.abs(lv[m]), 1e-12)) > 1e-6:
                    mpl = None
    return _table_runs(src=src, columns=header, get=get, rows=lines, base_name=name or stem,
                       mpl=mpl, meta={"format": "csv"}, **_common(options))


# ============================================================================ W&B panel CSV


def load_wandb_csv(path: str | os.PathLike[str], **options: Any) -> list[Run]:
    """Runs from a W&B panel CSV export: ``Step`` and ``<run> - <metric>`` columns.

    ``__MIN``/``__MAX`` columns are ignored. ``loss_col`` names the metric (default: the one metric
    present, or a loss alias); ``lr_col`` an LR metric if exported for the same runs, else give
    ``schedule`` (a ``{run: schedule}`` mapping for several runs).
    """
    _check_options(options, "wandb-csv")
    p = Path(path)
    src = str(path)
    header, data, lines = _read_csv_rows(p, src)
    scol = _pick(header, options.get("step_col"), ("Step",) + STEP_ALIASES, src, "step")
    series: dict[str, dict[str, int]] = {}
    for j, h in enumerate(header):
        if h == scol or h.endswith("__MIN") or h.endswith("__MAX"):
            continue
        m = re.fullmatch(r"(.+?) - (.+)", h)
        if not m:
            continue
        series.setdefault(m.group(1), {})[m.group(2)] = j
    if not series:
        raise RunError(f"{src}: no '<run> - <metric>' columns (is this a W&B panel export?)")
    metrics = sorted({k for v in series.values() for k in v})
    loss_metric = options.get("loss_col")
    if loss_metric is None:
        cands = [m for m in metrics if m in LOSS_ALIASES] or metrics
        if len(cands) != 1:
            raise RunError(
                f"{src}: several metrics ({', '.join(metrics)}); choose one with loss_col"
            )
        loss_metric = cands[0]
    elif loss_metric not in metrics:
        raise RunError(f"{_where(src, col=loss_metric)}: metric not found; metrics are "
                       f"{', '.join(metrics)}")
    lr_metric = options.get("lr_col")
    if lr_metric is None:
        lr_metric = next((m for m in LR_ALIASES if m in metrics), None)
    elif lr_metric not in metrics:
        raise RunError(f"{_where(src, col=lr_metric)}: metric not found; metrics are "
                       f"{', '.join(metrics)}")
    out: list[Run] = []
    opts = _common(options)
    opts.update(step_col="step", loss_col="loss", lr_col="lr" if lr_metric else None,
                run_col=None)
    for run, cols in series.items():
        if loss_metric not in cols:
            continue
        jl = cols[loss_metric]
        jr = cols.get(lr_metric) if lr_metric else None
        js = header.index(str(scol))
        keep = [i for i, rec in enumerate(data)
                if rec[jl].strip() or (jr is not None and rec[jr].strip())]
        columns = ["step", "loss"] + (["lr"] if jr is not None else [])
        tab = {"step": [data[i][js] for i in keep], "loss": [data[i][jl] for i in keep]}
        if jr is not None:
            tab["lr"] = [data[i][jr] for i in keep]
        rows = [lines[i] for i in keep]
        src_run = f"{src} ({run} - {loss_metric})"
        out += _table_runs(src=src_run, columns=columns, get=tab.__getitem__, rows=rows,
                           base_name=run, meta={"format": "wandb-csv", "metric": loss_metric},
                           **opts)
    if not out:
        raise RunError(f"{src}: no run has the metric {loss_metric!r}")
    return out


# ============================================================================ W&B history JSON


def _wb_lr_formula(cfg: Mapping[str, Any], t: np.ndarray) -> np.ndarray | None:
    """LR of update ``t`` from a Hägele et al. (schedules-and-scaling) run config, or None."""
    try:
        peak = float(cfg["lr"])
        total = int(cfg["iterations"])
        warm = int(cfg.get("warmup_steps", 0))
        sched = str(cfg.get("scheduler"))
    except (KeyError, TypeError, ValueError):
        return None
    t = t.astype(np.float64)
    if sched == "wsd":
        n_anneal = int(float(cfg.get("wsd_fract_decay", 0.0)) * total)
        n_hold = total - n_anneal
        fin = float(cfg.get("wsd_final_lr_scale", 0.0))
        kind = str(cfg.get("decay_type", "linear"))
        tau = np.clip((t - n_hold) / max(n_anneal, 1), 0.0, 1.0)
        shapes = {
            "linear": fin + (1 - fin) * (1 - tau),
            "sqrt": fin + (1 - fin) * (1 - np.sqrt(tau)),
            "cosine": fin + (1 - fin) * 0.5 * (1 + np.cos(np.pi * tau)),
            "square": fin + (1 - fin) * (1 - tau**2),
            "exp": fin**tau if fin > 0 else np.where(tau > 0, 0.0, 1.0),
        }
        if kind not in shapes:
            return None
        dec = np.where(t < n_hold, 1.0, shapes[kind])
        dec = np.where(t >= total, fin, dec)
        w = max(warm, 1)
        f = np.where(t < warm, t / w + (1 - t / w) / 100.0, dec)
        return peak * f
    if sched == "cos":  # torch OneCycleLR, div_factor 100, final_div_factor 0.1 or cos_final_lr
        init = peak / 100.0
        cfl = float(cfg.get("cos_final_lr", -1) or -1)
        fin = cfl if cfl > 0 else init / 0.1
        e1 = float(warm) - 1.0
        e2 = float(total) - 1.0
        if e1 <= 0 or e2 <= e1:
            return None
        p1 = np.clip(t / e1, 0, 1)
        p2 = np.clip((t - e1) / (e2 - e1), 0, 1)
        up = peak + (init - peak) / 2 * (1 + np.cos(np.pi * p1))
        down = fin + (peak - fin) / 2 * (1 + np.cos(np.pi * p2))
        return np.where(t <= e1, up, down)
    return None


class _WBRecord:
    def __init__(self, name: str, src: str, config: Mapping[str, Any],
                 val: tuple[np.ndarray, np.ndarray], train: tuple[np.ndarray, np.ndarray],
                 final: float | None, resume_iter: int | None, trunk: str | None) -> None:
        self.name, self.src, self.config = name, src, dict(config)
        self.val, self.train, self.final = val, train, final
        self.resume_iter, self.trunk = resume_iter, trunk


def _series(group: Mapping[str, Any], key: str, src: str,
            gname: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, de-duplicated (last occurrence in file order wins) ``(iter, value)``."""
    it, val = group.get("iter"), group.get(key)
    if it is None:
        raise RunError(f"{_where(src, col=f'history.{gname}.iter')}: not found")
    if val is None:
        raise RunError(f"{_where(src, col=f'history.{gname}.{key}')}: not found; keys are "
                       f"{', '.join(sorted(group))}")
    if len(it) != len(val):
        raise RunError(f"{_where(src, col=f'history.{gname}.{key}')}: {len(val)} entries but "
                       f"history.{gname}.iter has {len(it)}")
    last: dict[int, float] = {}
    for i, (a, b) in enumerate(zip(it, val, strict=True)):
        s = _num(a, f"{src} history.{gname}", i, "iter")
        if math.isnan(s) or s < 0 or s != round(s):
            raise RunError(f"{_where(f'{src} history.{gname}', i, 'iter')}: {a!r} is not a step")
        v = _num(b, f"{src} history.{gname}", i, key)
        if math.isnan(v):
            continue  # not logged at this row
        last[int(s)] = v
    keys = np.array(sorted(last), dtype=np.int64)
    return keys, np.array([last[k] for k in keys], dtype=np.float64)


def _wb_record(doc: Mapping[str, Any], src: str, loss_key: str, lr_key: str) -> _WBRecord:
    hist = doc.get("history")
    if not isinstance(hist, Mapping):
        raise RunError(f"{src}: no 'history' object (not a W&B history export)")
    cfg = doc.get("config") or {}
    name = str(doc.get("name") or Path(src).stem)
    group = next((g for g in ("val", "train", "eval") if isinstance(hist.get(g), Mapping)
                  and loss_key in hist[g]), None)
    if group is None:
        raise RunError(f"{_where(src, col=loss_key)}: not found in history.val / history.train")
    val = _series(hist[group], loss_key, src, group)
    bad = val[1] <= 0
    if bad.any():
        raise RunError(f"{_where(f'{src} history.{group}', None, loss_key)}: loss "
                       f"{val[1][np.argmax(bad)]:g} at iter {val[0][np.argmax(bad)]} must be > 0")
    tr = hist.get("train")
    if isinstance(tr, Mapping) and lr_key in tr:
        train = _series(tr, lr_key, src, "train")
        if (train[1] < 0).any():
            j = int(np.argmax(train[1] < 0))
            raise RunError(f"{_where(f'{src} history.train', None, lr_key)}: lr {train[1][j]:g} "
                           f"at iter {train[0][j]} is negative")
    else:
        train = (np.zeros(0, np.int64), np.zeros(0))
    fv = hist.get("final-val")
    final = None
    if isinstance(fv, Mapping) and fv.get("final_val_loss"):
        final = float(fv["final_val_loss"][-1])
    rf = cfg.get("resume_from")
    resume_iter = trunk = None
    if rf:
        m = re.search(r"([^/]+)/ckpts/(\d+)/?$", str(rf))
        if m:
            trunk, resume_iter = m.group(1), int(m.group(2))
    return _WBRecord(name, src, cfg, val, train, final, resume_iter, trunk)


def _wb_runs(records: list[_WBRecord], *, lr_source: str, lr_at: str,
             warmup_steps: int | None, total_steps: int | None, schedule: Any,
             transfer_step: Any, dataset: str | None, replay_ratio: Any, model_size: Any,
             extra_meta: Callable[[_WBRecord], Mapping[str, Any]] | None = None) -> list[Run]:
    if lr_source not in ("auto", "logged", "config"):
        raise ValueError(f"load_wandb_json: lr_source={lr_source!r} must be auto, logged or config")
    by_name = {r.name: r for r in records}
    out = []
    for rec in records:
        vit, vloss = rec.val
        tit, tlr = rec.train
        meta: dict[str, Any] = {"source": rec.src, "format": "wandb-json", "config": rec.config}
        if rec.final is not None:
            meta["final_val_loss"] = rec.final
        if rec.resume_iter:  # a branch resumed from a trunk checkpoint: stitch
            trunk = by_name.get(rec.trunk or "")
            if trunk is None:
                raise RunError(
                    f"{rec.src}: cooldown branch resumed from {rec.trunk!r} at iter "
                    f"{rec.resume_iter} and holds only the part after it; add the trunk run "
                    f"({rec.trunk}) to the inputs to stitch the full curve"
                )
            b = rec.resume_iter
            k1, k2 = trunk.val[0] < b, vit >= b
            vit = np.concatenate([trunk.val[0][k1], vit[k2]])
            vloss = np.concatenate([trunk.val[1][k1], vloss[k2]])
            k1, k2 = trunk.train[0] <= b, tit > b
            tit = np.concatenate([trunk.train[0][k1], tit[k2]])
            tlr = np.concatenate([trunk.train[1][k1], tlr[k2]])
            meta.update(stitched_from=trunk.name, branch_step=b)
        cfg_total = rec.config.get("iterations")
        total = int(total_steps or cfg_total or max(vit.max(initial=0), tit.max(initial=0)))
        warm = (warmup_steps if warmup_steps is not None
                else int(rec.config.get("warmup_steps") or 0))
        keep = tit < total  # the LR logged at iter T belongs to no update
        tit, tlr = tit[keep], tlr[keep]
        lr_arr = None
        if schedule is not None:
            lr_arr, _ = _schedule_array(schedule, total, rec.name, rec.src)
            meta.update(lr_source="schedule", lr_reconstruction="given per-step schedule")
        else:
            formula = None
            if lr_source in ("auto", "config"):
                formula = _wb_lr_formula(rec.config, np.arange(total))
                if formula is not None and tit.size:
                    u = tit - (1 if lr_at == "last" else 0)
                    ok = (u >= 0) & (u < total)
                    peak = max(float(np.max(tlr)), 1e-30)
                    dev = (float(np.max(np.abs(formula[u[ok]] - tlr[ok]))) / peak
                           if ok.any() else 0.0)
                    meta["lr_config_max_dev"] = dev
                    if dev > 1e-6 and lr_source == "auto":
                        formula = None
                if formula is None and lr_source == "config":
                    raise RunError(f"{rec.src}: cannot build the LR from the config "
                                   f"(scheduler={rec.config.get('scheduler')!r})")
            if formula is not None:
                lr_arr = formula
                meta.update(lr_source="config",
                            lr_reconstruction=f"config formula ({rec.config.get('scheduler')}, "
                            f"{rec.config.get('decay_type')}), checked against the logged LR")
            else:
                if not tit.size:
                    raise RunError(f"{rec.src}: no logged LR (history.train.train_lr) and no "
                                   "usable config; give schedule=...")
                lr_arr = reconstruct_lr(tit, tlr, total, warmup_steps=warm, lr_at=lr_at)
                meta.update(lr_source="logged", lr_reconstruction=_describe_reconstruction(
                    int(tit.size), int(tit[0]) - (1 if lr_at == "last" else 0), warm, lr_at))
        if (vit == 0).any():
            meta["dropped_steps"] = [0]
        k = (vit >= 1) & (vit <= total)
        ts = transfer_step.get(rec.name) if isinstance(transfer_step, Mapping) else transfer_step
        if extra_meta is not None:
            meta.update(extra_meta(rec))
        out.append(Run(name=rec.name, lr=lr_arr, steps=vit[k], loss=vloss[k], warmup_steps=warm,
                       transfer_step=ts, dataset=dataset or "val", replay_ratio=replay_ratio,
                       model_size=model_size, meta=meta))
    return out


def _json_files(source: Any) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir():
            files = sorted(p.glob("*.json"))
            if not files:
                raise RunError(f"{source}: no .json files in this directory")
            return files
        return [p]
    return [f for s in source for f in _json_files(s)]


def load_wandb_json(source: Any, *, loss_col: str | None = None, lr_col: str | None = None,
                    lr_source: str = "auto", **options: Any) -> list[Run]:
    """Runs from W&B history JSON files (a file, a directory of ``*.json``, or a list of files).

    The 124M-sweep layout: ``history.val`` (``iter``, ``val_loss``) and ``history.train``
    (``iter``, ``train_lr``); lists are sorted by ``iter`` and de-duplicated (the last occurrence
    in file order wins, which matches the upstream ``runs_index``). A cooldown branch whose config
    has ``resume_from = .../<trunk>/ckpts/<b>`` with ``b > 0`` holds only the part after ``b``; it
    is stitched onto the trunk run (trunk losses before ``b``, trunk LR up to ``b``) when the trunk
    is among the inputs, else ``RunError``. ``history["final-val"]`` (a larger eval set) is kept in
    ``meta["final_val_loss"]``, not as an observation.

    The per-step LR (``lr_source``): ``"config"`` = the schedule formula of the run's config
    (``wsd`` with ``linear/sqrt/cosine/square/exp`` decay, ``cos`` = torch ``OneCycleLR``);
    ``"logged"`` = ``reconstruct_lr`` on ``train_lr`` (logged at iter ``i`` = LR of update ``i``,
    ``lr_at="next"``; verified against the formula); ``"auto"`` = the formula when it matches every
    logged LR to 1e-6 of the peak, else the logged LR. The LR logged at iter ``T`` is ignored.

    A JSON file holding a list of history rows (``run.scan_history()``) is read as a table.
    """
    _check_options(options, "wandb-json")
    lr_at = options.get("lr_at") or "next"
    files = _json_files(source)
    records: list[_WBRecord] = []
    table_runs: list[Run] = []
    for f in files:
        src = str(f)
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{src}: no such file") from None
        except (OSError, ValueError) as e:
            raise RunError(f"{src}: not valid JSON ({e})") from None
        if isinstance(doc, list):
            if not doc:
                raise RunError(f"{src}: empty history list")
            df = pd.DataFrame(doc)
            table_runs += runs_from_frame(df, name=f.stem, source=src, loss_col=loss_col,
                                          lr_col=lr_col, **options)
            continue
        if not isinstance(doc, Mapping):
            raise RunError(f"{src}: expected a JSON object or list")
        records.append(_wb_record(doc, src, loss_col or "val_loss", lr_col or "train_lr"))
    runs = _wb_runs(records, lr_source=lr_source, lr_at=lr_at,
                    warmup_steps=options.get("warmup_steps"),
                    total_steps=options.get("total_steps"), schedule=options.get("schedule"),
                    transfer_step=options.get("transfer_step"), dataset=options.get("dataset"),
                    replay_ratio=options.get("replay_ratio"),
                    model_size=options.get("model_size"))
    return runs + table_runs


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
        cfg = {k: (None if isinstance(row[k], float) and math.isnan(row[k]) else row[k])
               for k in ("lr", "scheduler", "decay_type", "wsd_fract_decay", "wsd_final_lr_scale",
                         "cos_final_lr", "iterations", "warmup_steps")}
        cfg["iterations"] = int(row["iterations"])
        cfg["warmup_steps"] = int(row["warmup_steps"])
        v = g[g["val_loss"].notna()]
        t = g[g["train_lr"].notna()]
        ri = row.get("resume_iter")
        ri = None if ri is None or (isinstance(ri, float) and math.isnan(ri)) else int(ri)
        trunk = row.get("trunk")
        trunk = None if not isinstance(trunk, str) else trunk
        records.append(_WBRecord(
            rid, f"{cur_path} (run {rid})", cfg,
            (v["iter"].to_numpy(np.int64), v["val_loss"].to_numpy(np.float64)),
            (t["iter"].to_numpy(np.int64), t["train_lr"].to_numpy(np.float64)),
            None if pd.isna(row["final_val_loss"]) else float(row["final_val_loss"]), ri, trunk))
        info[rid] = {"file": row["file"], "prefix": row["prefix"],
                     "tokens_per_step": int(row["tokens_per_step"]),
                     "last_val_loss": float(row["last_val_loss"])}
    runs = _wb_runs(records, lr_source=lr_source, lr_at="next", warmup_steps=None,
                    total_steps=None, schedule=None, transfer_step=None, dataset=None,
                    replay_ratio=None, model_size=None, extra_meta=lambda r: info[r.name])
    by = {r.name: r for r in runs}
    return [by[w] for w in wanted]


# ============================================================================ TensorBoard


def _tb_scalars(path: Path, backend: str) -> pd.DataFrame:
    """Long frame ``run, step, tag, value`` from event files under ``path``."""
    if backend not in ("auto", "tbparse", "tensorboard"):
        raise ValueError(
            f"load_tensorboard: backend={backend!r} must be auto, tbparse or tensorboard"
        )
    errors = []
    if backend in ("auto", "tbparse"):
        try:
            from tbparse import SummaryReader
        except ImportError as e:
            errors.append(f"tbparse: {e}")
        else:
            df = SummaryReader(str(path), pivot=False, extra_columns={"dir_name"}).scalars
            if df is None or len(df) == 0:
                return pd.DataFrame(columns=["run", "step", "tag", "value"])
            df = df.rename(columns={"dir_name": "run"})
            if "run" not in df:
                df["run"] = ""
            return df[["run", "step", "tag", "value"]]
    if backend in ("auto", "tensorboard"):
        try:
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        except ImportError as e:
            errors.append(f"tensorboard: {e}")
        else:
            files = [path] if path.is_file() else sorted(path.rglob("events.out.tfevents*"))
            recs = []
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
            return pd.DataFrame(recs, columns=["run", "step", "tag", "value"])
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
    _check_options(options, "tensorboard")
    p = Path(path)
    if not p.exists():
        raise RunError(f"{path}: no such file or directory")
    df = _tb_scalars(p, backend)
    if len(df) == 0:
        raise RunError(f"{path}: no scalar events found")
    out: list[Run] = []
    for run, g in df.groupby("run", sort=True):
        g = g.drop_duplicates(["tag", "step"], keep="last")
        wide = g.pivot(index="step", columns="tag", values="value").sort_index()
        wide = wide.reset_index()
        wide.columns = [str(c) for c in wide.columns]
        rname = str(run) if run else (p.parent.name if p.is_file() else p.name)
        out += runs_from_frame(wide, name=rname, source=f"{path} ({rname})" if run else str(path),
                               **{**options, "run_col": None,
                                  "step_col": options.get("step_col") or "step"})
    return out


# ============================================================================ HF trainer_state.json


def load_hf_trainer_state(path: str | os.PathLike[str], **options: Any) -> list[Run]:
    """A Hugging Face ``trainer_state.json``: ``log_history`` rows merged by ``step``.

    Loss defaults to ``eval_loss`` when present, else the training ``loss`` (an average over the
    last ``logging_steps`` updates). ``learning_rate`` logged at step ``s`` is the LR of update
    ``s`` (the Trainer logs after ``lr_scheduler.step()``, ``lr_at="next"``). ``total_steps``
    defaults to ``max_steps``.
    """
    _check_options(options, "hf")
    if Path(path).is_dir():
        path = Path(path) / "trainer_state.json"
    src = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{src}: no such file") from None
    except (OSError, ValueError) as e:
        raise RunError(f"{src}: not valid JSON ({e})") from None
    hist = doc.get("log_history") if isinstance(doc, Mapping) else None
    if not isinstance(hist, list) or not hist:
        raise RunError(f"{src}: no 'log_history' rows (not a trainer_state.json?)")
    df = pd.DataFrame(hist)
    df.index = [f"log_history[{i}]" for i in range(len(df))]
    opts = dict(options)
    if opts.get("loss_col") is None:
        opts["loss_col"] = "eval_loss" if "eval_loss" in df else "loss"
    if opts.get("lr_col") is None and "learning_rate" in df and opts.get("schedule") is None:
        opts["lr_col"] = "learning_rate"
    if opts.get("total_steps") is None and int(doc.get("max_steps") or 0) > 0:
        opts["total_steps"] = int(doc["max_steps"])
    opts.setdefault("merge_duplicate_steps", True)
    name = Path(path).parent.name or "trainer_state"
    return runs_from_frame(df, name=name, source=src, **opts)


# ============================================================================ entry point

_COMMON_OPTIONS = {"step_col", "loss_col", "lr_col", "run_col", "schedule", "total_steps",
                   "warmup_steps", "lr_at", "transfer_step", "dataset", "replay_ratio",
                   "model_size"}
_FORMAT_OPTIONS = {
    "csv": {"name", "mpl_families"},
    "wandb-json": {"lr_source"},
    "wandb-csv": set(),
    "tensorboard": {"backend"},
    "hf": {"merge_duplicate_steps"},
    "frame": {"name", "source", "merge_duplicate_steps"},
}


def _check_options(options: Mapping[str, Any], fmt: str) -> None:
    allowed = _COMMON_OPTIONS | _FORMAT_OPTIONS.get(fmt, set())
    bad = sorted(set(options) - allowed)
    if bad:
        raise TypeError(f"load_runs: option {bad[0]!r} does not apply to format {fmt!r}; "
                        f"options are {', '.join(sorted(allowed))}")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of a file or directory (one of ``RUN_FORMATS``)."""
    p = Path(path)
    if p.is_dir():
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
            with _open_text(p) as fh:
                head = fh.readline()
        except FileNotFoundError:
            raise RunError(f"{path}: no such file") from None
        cols = [c.strip() for c in re.split(r"[,\t;]", head)]
        if "Step" in cols and any(" - " in c for c in cols):
            return "wandb-csv"
        return "csv"
    raise RunError(f"{path}: cannot tell the format from the name; pass format= one of "
                   f"{', '.join(RUN_FORMATS)}")


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
      lr_at: ``"next"`` (default; logged LR at step ``s`` = ``lr[s]``) or ``"last"`` (``lr[s-1]``).
      transfer_step: PT length for CPT runs (an int, or ``{run: int}``).
      dataset: validation-set name when there is one loss column (default ``"val"``).
      replay_ratio, model_size: stored in the Runs.
      Format-specific: ``name``, ``mpl_families`` (csv), ``lr_source`` (wandb-json),
      ``backend`` (tensorboard), ``merge_duplicate_steps`` (hf, DataFrame).

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
    if format == "csv":
        return load_csv(source, **options)
    if format == "wandb-json":
        return load_wandb_json(source, **options)
    if format == "wandb-csv":
        return load_wandb_csv(source, **options)
    if format == "tensorboard":
        return load_tensorboard(source, **options)
    if format == "hf":
        return load_hf_trainer_state(source, **options)
    raise ValueError(f"load_runs: format={format!r} must be one of {', '.join(RUN_FORMATS)}")
