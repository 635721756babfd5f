"""Columns of a run table: the usual names, picking them, parsing cells, and the per-step LR.

Column names left ``None`` are looked up among the usual names (``STEP_ALIASES``, ``LOSS_ALIASES``,
``LR_ALIASES``; a column named ``run``/``run_id``/``run_name`` keys runs), exactly first, then
ignoring case. ``loss_col`` may be a list or a ``{column: dataset}`` mapping; columns named
``loss_<name>`` are picked up (dataset ``<name>``) when no plain loss column exists.

A cell is a finite number or missing (empty text, ``None``, NaN in a frame); anything else is a
``RunError`` naming the file, the row and the column.

LR reconstruction rule when only a logged LR column exists (``reconstruct_lr``): the per-step LR is
the linear interpolation between the logged points; before the first logged point it is a linear
warmup from 0 at update 0 (``lr[t] = v0 * min(1, t / min(W, u0))``, ``v0`` the first logged LR at
update ``u0``; the warmup convention of cptdyn's schedules, HF, optax and Megatron) when a
warmup length ``W > 0`` is known, else held at ``v0``; after the last logged point it is held.
The rule used is written to ``run.meta["lr_source"]`` and
``run.meta["lr_reconstruction"]``. Pass ``schedule=`` (an array, a callable of the update index,
a ``cptdyn.schedules`` schedule, or a ``{run: schedule}`` mapping) to give the exact per-step LR.

A logged LR at step ``s`` is read as ``lr[s]`` (``lr_at="next"``) or ``lr[s - 1]``
(``lr_at="last"``); see the package docstring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cptdyn._errors import RunError

from ._guess import Guesses

__all__ = [
    "STEP_ALIASES",
    "LOSS_ALIASES",
    "LR_ALIASES",
    "RUN_ALIASES",
    "where",
    "alias_matches",
    "pick_guessed",
    "parse_number",
    "number_column",
    "pick_column",
    "loss_columns",
    "steps_column",
    "reconstruct_lr",
    "logged_lr",
    "schedule_lr",
]

#: The trainer's own step counters first; W&B's ``_step`` (one per ``wandb.log`` call, not per
#: update) only when nothing else is there.
STEP_ALIASES = ("train/global_step", "trainer/global_step", "global_step", "step", "steps", "iter",
                "iteration", "Step", "_step")
LOSS_ALIASES = ("loss", "val_loss", "eval_loss", "val/loss", "eval/loss", "validation_loss",
                "valid_loss", "validation/loss", "loss/val", "validation_metrics/loss",
                "lm-loss-validation/valid/lm loss validation", "lm loss validation",
                "train_loss", "train/loss", "lm loss", "lm_loss",
                "loss_metrics/global_avg_loss", "train/CE loss", "learning/loss")
LR_ALIASES = ("lr", "learning_rate", "train_lr", "train/learning_rate", "train/lr", "learning-rate",
              "lr/AdamW", "optim/LR (group 0)", "optim/learning_rate",
              "learning/current_learning_rate", "lr-AdamW")
RUN_ALIASES = ("run", "run_id", "run_name")

# ============================================================================ cells


def where(src: str, row: Any = None, col: str | None = None) -> str:
    """``"<src> row <row> column '<col>'"``, the prefix of every error message."""
    out = src
    if row is not None:
        out += f" row {row}"
    if col is not None:
        out += f" column {col!r}"
    return out


def parse_number(text: Any, src: str, row: Any, col: str) -> float:
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
            raise RunError(f"{where(src, row, col)}: {text!r} is not a number") from None
        if not math.isfinite(v):
            raise RunError(f"{where(src, row, col)}: {text!r} is not a finite number")
        return v
    if isinstance(text, (bool, np.bool_)):
        raise RunError(f"{where(src, row, col)}: {text!r} is not a number")
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise RunError(f"{where(src, row, col)}: {text!r} is not a number") from None
    if math.isnan(v):
        return math.nan  # missing value in a frame
    if not math.isfinite(v):
        raise RunError(f"{where(src, row, col)}: {text!r} is not a finite number")
    return v


def number_column(values: Sequence[Any], rows: Sequence[Any], src: str, col: str) -> np.ndarray:
    """float64 array of the cells ``values`` (row labels ``rows``); ``nan`` where missing."""
    return np.array([parse_number(v, src, r, col) for v, r in zip(values, rows, strict=True)],
                    np.float64)


def steps_column(values: np.ndarray, rows: Sequence[Any], src: str, col: str) -> np.ndarray:
    """int64 steps from a parsed column: every cell present, whole and >= 0."""
    for v, r in zip(values, rows, strict=True):
        if math.isnan(v):
            raise RunError(f"{where(src, r, col)}: missing step")
        if v < 0 or v != round(v):
            raise RunError(f"{where(src, r, col)}: {v:g} is not a whole number of steps >= 0")
    return values.astype(np.int64)


# ============================================================================ picking columns


def pick_column(columns: Sequence[str], wanted: str | None, aliases: Sequence[str], src: str,
                what: str, required: bool = True) -> str | None:
    """The column named ``wanted`` (which must exist), else the first alias present; ``None``
    when nothing matches and ``required`` is false."""
    if wanted is not None:
        if wanted not in columns:
            raise RunError(
                f"{where(src, col=wanted)}: not found ({what}); columns are: "
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


def alias_matches(columns: Sequence[str], aliases: Sequence[str]) -> list[str]:
    """The columns matching ``aliases`` (exactly, then ignoring case), in alias order."""
    lower = {str(c).lower(): c for c in columns}
    out: list[str] = []
    for a in aliases:
        c = a if a in columns else lower.get(a.lower())
        if c is not None and c not in out:
            out.append(str(c))
    return out


def pick_guessed(columns: Sequence[str], wanted: str | None, aliases: Sequence[str], src: str,
                 what: str, guesses: Guesses | None, required: bool = True) -> str | None:
    """``pick_column``, recording in ``guesses`` which alias was taken (and the other
    candidates) when ``wanted`` is not given."""
    col = pick_column(columns, wanted, aliases, src, what, required=required)
    if wanted is None and col is not None and guesses is not None:
        guesses.column(what, col, alias_matches(columns, aliases))
    return col


def loss_columns(columns: Sequence[str], loss_col: Any, src: str,
                 dataset: str | None, guesses: Guesses | None = None) -> dict[str, str | None]:
    """``{column: dataset or None}`` from the ``loss_col`` option (a name, list or mapping)."""
    if isinstance(loss_col, Mapping):
        for c in loss_col:
            pick_column(columns, str(c), (), src, "loss")
        return {str(c): str(d) for c, d in loss_col.items()}
    if isinstance(loss_col, (list, tuple)):
        cols = [str(c) for c in loss_col]
        for c in cols:
            pick_column(columns, c, (), src, "loss")
        if len(cols) == 1:
            return {cols[0]: dataset}
        return {c: _dataset_name(c) for c in cols}
    if loss_col is not None:
        pick_column(columns, str(loss_col), (), src, "loss")
        return {str(loss_col): dataset}
    col = pick_guessed(columns, None, LOSS_ALIASES, src, "loss", guesses, required=False)
    if col is not None:
        return {col: dataset}
    multi = [c for c in columns if re.match(r"^(val_|eval_)?loss[_/:-].+", str(c))]
    if multi:
        if guesses is not None:
            guesses.add(f"loss columns {', '.join(map(repr, multi))} (one validation set each)")
        return {c: _dataset_name(c) for c in multi}
    pick_column(columns, None, LOSS_ALIASES, src, "loss")  # raises
    return {}  # pragma: no cover


def _dataset_name(col: str) -> str:
    m = re.match(r"^(?:val_|eval_)?loss[_/:-](.+)$", str(col))
    return m.group(1) if m else str(col)


# ============================================================================ per-step LR


def reconstruct_lr(lr_steps: Any, lr_values: Any, total_steps: int, *, warmup_steps: int = 0,
                   lr_at: str = "next") -> np.ndarray:
    """Per-step LR (length ``total_steps``) from LR values logged at some steps.

    Args:
      lr_steps: logged steps (increasing).
      lr_values: logged LRs (>= 0).
      total_steps: length of the result (updates ``0 .. total_steps - 1``).
      warmup_steps: known warmup length ``W``; before the first logged point the LR ramps linearly
        from 0 at update 0 (``lr[t] = v0 * min(1, t / min(W, u0))``) when ``W > 0``, else it is
        held.
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
        ramp_len = min(float(warmup_steps), u0)
        before = t < u0
        out[before] = v0 * np.minimum(1.0, t[before] / ramp_len)
    return out


def logged_lr(steps: np.ndarray, values: np.ndarray, total: int, *, warmup_steps: int,
              lr_at: str, src: str, run: str) -> tuple[np.ndarray, dict[str, Any]]:
    """``reconstruct_lr`` for one run, with the meta entries that say so (``lr_source``,
    ``lr_reconstruction``); RunError naming the run when no logged point lies inside it."""
    from cptdyn._validate import MAX_STEPS

    if total > MAX_STEPS:  # resource limit, before allocating the per-step LR
        raise RunError(f"{src}: run {run!r}: last step {total} exceeds the limit of {MAX_STEPS} "
                       "steps (resource limit; a typo?)")
    try:
        lr = reconstruct_lr(steps, values, total, warmup_steps=warmup_steps, lr_at=lr_at)
    except ValueError as e:
        raise RunError(f"{src}: run {run!r}: {e}") from None
    first = max(int(steps[0]) - (1 if lr_at == "last" else 0), 0)
    at = "lr[s]" if lr_at == "next" else "lr[s-1]"
    pre = (f"linear warmup from 0 at update 0 over {warmup_steps} updates" if warmup_steps > 0
           else "held at the first value")
    how = (f"linear interpolation between {int(steps.size)} logged LR points (LR logged at step "
           f"s = {at}); before the first point (update {first}): {pre}; after the last point: held")
    return lr, {"lr_source": "logged", "lr_reconstruction": how}


def schedule_lr(schedule: Any, total: int | None, name: str,
                src: str) -> tuple[np.ndarray, int | None, dict[str, Any]]:
    """(per-step LR, warmup steps or None, meta entries) from a ``schedule=`` argument: an array,
    a callable of the update index, a ``cptdyn.schedules`` schedule or a ``{run: schedule}``
    mapping. Cut to ``total`` steps when given; every value must be a finite LR >= 0."""
    if isinstance(schedule, Mapping):
        if name not in schedule:
            raise RunError(f"{src}: schedule mapping has no entry for run {name!r}")
        return schedule_lr(schedule[name], total, name, src)
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
    return arr, warm, {"lr_source": "schedule", "lr_reconstruction": "given per-step schedule"}
