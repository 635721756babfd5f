"""A table of logged rows -> ``Run`` objects: the core every reader feeds, and its shared options.

A table is a list of rows with a step, one or more loss columns, optionally a logged LR column and
a run column (columns picked as in ``_columns``). Rows are grouped by run (first appearance
order); within a run steps must be strictly increasing (``merge_duplicate_steps`` first sorts and
merges rows of the same step, the last non-missing value winning), losses > 0 and LRs >= 0.

Step convention (``_run.py``): a loss logged at step ``s`` was measured after ``s`` updates;
``lr[t]`` is the LR of update ``t``. Loss observations at step 0 (before any update) are dropped
(``meta["dropped_steps"]``). Each run's per-step LR comes, in this order of preference, from the
MultiPowerLaw file name (``_mpl_files``), the ``schedule`` option, or the logged LR column
(``_columns.reconstruct_lr``); a loss observed after the last step the LR covers is an error.
Several loss columns give one Run each (``"<run>:<dataset>"``), sharing the LR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._columns import (
    LR_ALIASES,
    RUN_ALIASES,
    STEP_ALIASES,
    logged_lr,
    loss_columns,
    number_column,
    pick_column,
    schedule_lr,
    steps_column,
    where,
)
from ._mpl_files import logged_deviation, mpl_meta

__all__ = ["RunOptions", "Table", "MplSchedule", "check_options", "table_runs", "runs_from_frame"]

#: ``mpl_schedule``'s value: (per-step LR, warmup steps, info).
MplSchedule = tuple[np.ndarray, int, dict[str, Any]]

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


def check_options(options: Mapping[str, Any], fmt: str) -> None:
    """TypeError naming the first keyword option that format ``fmt`` does not take."""
    allowed = _COMMON_OPTIONS | _FORMAT_OPTIONS.get(fmt, set())
    bad = sorted(set(options) - allowed)
    if bad:
        raise TypeError(f"load_runs: option {bad[0]!r} does not apply to format {fmt!r}; "
                        f"options are {', '.join(sorted(allowed))}")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The options every format takes (see ``load_runs``); ``None`` = not given."""

    step_col: str | None = None
    loss_col: Any = None
    lr_col: str | None = None
    run_col: str | None = None
    schedule: Any = None
    total_steps: int | None = None
    warmup_steps: int | None = None
    lr_at: str = "next"
    transfer_step: Any = None
    dataset: str | None = None
    replay_ratio: Any = None
    model_size: Any = None

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> RunOptions:
        """The common options out of a reader's keyword options (others are ignored)."""
        kw: dict[str, Any] = {k: options.get(k) for k in _COMMON_OPTIONS}
        kw["lr_at"] = kw["lr_at"] or "next"
        return cls(**kw)

    def transfer_step_of(self, run: str) -> Any:
        """``transfer_step`` for run ``run`` (it may be one value or a ``{run: value}`` mapping)."""
        ts = self.transfer_step
        return ts.get(run) if isinstance(ts, Mapping) else ts

    def run(self, name: str, run: str, lr: np.ndarray, steps: np.ndarray, loss: np.ndarray, *,
            warmup_steps: int, dataset: str, meta: dict[str, Any]) -> Run:
        """Run ``name`` of the logged run ``run``, carrying these options' ``transfer_step`` (for
        ``run``), ``replay_ratio`` and ``model_size``."""
        return Run(name=name, lr=lr, steps=steps, loss=loss, warmup_steps=warmup_steps,
                   transfer_step=self.transfer_step_of(run), dataset=dataset,
                   replay_ratio=self.replay_ratio, model_size=self.model_size, meta=meta)


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows read from a file or frame: ``get(column)`` lists a column's cells, ``rows`` labels
    each row in error messages (a line number, an index label)."""

    src: str
    columns: Sequence[str]
    get: Callable[[str], list[Any]]
    rows: list[Any]


@dataclasses.dataclass
class _Picked:
    step: str
    losses: dict[str, str | None]  # column -> dataset or None
    lr: str | None
    run: str | None


@dataclasses.dataclass
class _RunRows:
    """One run's rows, parsed: steps, each loss column, the logged LR (or None), row labels."""

    name: str
    steps: np.ndarray
    losses: dict[str, np.ndarray]
    lr: np.ndarray | None
    rows: list[Any]


def _pick_columns(table: Table, opts: RunOptions) -> _Picked:
    src, columns = table.src, table.columns
    scol = pick_column(columns, opts.step_col, STEP_ALIASES, src, "step")
    losses = loss_columns(columns, opts.loss_col, src, opts.dataset)
    lcol = pick_column(columns, opts.lr_col, LR_ALIASES, src, "lr", required=False)
    if opts.lr_col is None and lcol is not None and lcol in losses:
        lcol = None
    rcol = opts.run_col
    if rcol is not None:
        pick_column(columns, rcol, (), src, "run")
    else:
        rcol = next((c for c in RUN_ALIASES if c in columns), None)
    assert scol is not None
    return _Picked(scol, losses, lcol, rcol)


def _split_runs(table: Table, cols: _Picked, base_name: str) -> list[_RunRows]:
    """Parse the picked columns and group the rows by run, in order of first appearance."""
    src, rows, get = table.src, table.rows, table.get
    steps = steps_column(number_column(get(cols.step), rows, src, cols.step), rows, src, cols.step)
    losses = {c: number_column(get(c), rows, src, c) for c in cols.losses}
    lr = number_column(get(cols.lr), rows, src, cols.lr) if cols.lr is not None else None
    names = [str(v) for v in get(cols.run)] if cols.run is not None else [base_name] * len(rows)
    order: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        order.setdefault(name, []).append(i)
    out = []
    for name, idx in order.items():
        ia = np.asarray(idx)
        out.append(_RunRows(name, steps[ia], {c: v[ia] for c, v in losses.items()},
                            None if lr is None else lr[ia], [rows[i] for i in idx]))
    return out


def _merge_by_step(r: _RunRows) -> _RunRows:
    """Sort by step and merge rows with the same step (last non-missing value wins)."""
    order = np.argsort(r.steps, kind="stable")
    uniq = np.unique(r.steps)
    pos = np.searchsorted(uniq, r.steps[order])

    def merge(v: np.ndarray) -> np.ndarray:
        out = np.full(uniq.size, np.nan)
        vv = v[order]
        m = ~np.isnan(vv)
        out[pos[m]] = vv[m]  # later rows overwrite earlier ones
        return out

    first_row: dict[int, Any] = {}
    for k, i in zip(pos, order, strict=True):
        first_row.setdefault(int(k), r.rows[int(i)])
    return _RunRows(r.name, uniq, {c: merge(v) for c, v in r.losses.items()},
                    None if r.lr is None else merge(r.lr), [first_row[k] for k in range(uniq.size)])


def _check_rows(r: _RunRows, src: str, cols: _Picked) -> None:
    """Steps strictly increasing, losses > 0, logged LRs >= 0 (missing cells allowed)."""
    st = r.steps
    for j in range(1, st.size):
        if st[j] <= st[j - 1]:
            raise RunError(
                f"{where(src, r.rows[j], cols.step)}: step {st[j]} does not follow step "
                f"{st[j - 1]} (steps must be strictly increasing within a run)"
            )
    for c, v in r.losses.items():
        bad = ~np.isnan(v) & (v <= 0)
        if bad.any():
            j = int(np.argmax(bad))
            raise RunError(f"{where(src, r.rows[j], c)}: loss {v[j]:g} must be > 0")
    if r.lr is not None:
        bad = ~np.isnan(r.lr) & (r.lr < 0)
        if bad.any():
            j = int(np.argmax(bad))
            raise RunError(f"{where(src, r.rows[j], cols.lr)}: lr {r.lr[j]:g} is negative")


def _observations(r: _RunRows, src: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], bool]:
    """``{loss column: (steps >= 1, losses)}`` of the logged cells, and whether a loss at step 0
    was dropped."""
    obs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    dropped = False
    for c, v in r.losses.items():
        m = ~np.isnan(v)
        s_obs, l_obs = r.steps[m], v[m]
        dropped |= bool((s_obs == 0).any())
        keep = s_obs >= 1
        obs[c] = (s_obs[keep], l_obs[keep])
    if all(o[0].size == 0 for o in obs.values()):
        raise RunError(f"{src}: run {r.name!r} has no loss values in "
                       f"{', '.join(repr(c) for c in r.losses)} at steps >= 1")
    return obs, dropped


def _run_lr(r: _RunRows, last_step: int, opts: RunOptions, mpl: MplSchedule | None, src: str,
            lr_col: str | None) -> tuple[np.ndarray, int | None, dict[str, Any]]:
    """(per-step LR, warmup steps or None, meta entries) of one run: from the MPL file name, the
    ``schedule`` option, or the logged LR (whose last step or ``last_step``, the last observed
    loss, sets the length unless ``total_steps`` is given)."""
    if mpl is not None and opts.schedule is None:
        lr, w_mpl, info = mpl
        meta = mpl_meta(info, w_mpl)
        if r.lr is not None:
            dev = logged_deviation(lr, r.steps, r.lr)
            if dev is not None:
                meta["lr_max_rel_dev_vs_logged"] = dev
        return lr, w_mpl if opts.warmup_steps is None else opts.warmup_steps, meta
    if opts.schedule is not None:
        lr, w_sched, meta = schedule_lr(opts.schedule, opts.total_steps, r.name, src)
        return lr, w_sched if opts.warmup_steps is None else opts.warmup_steps, meta
    if r.lr is None:
        raise RunError(
            f"{src}: run {r.name!r} has no LR column (tried {', '.join(LR_ALIASES[:4])}, "
            "...); give lr_col=... or schedule=..."
        )
    m = ~np.isnan(r.lr)
    if not m.any():
        raise RunError(f"{where(src, col=lr_col)}: no LR values for run {r.name!r}")
    ls, lv = r.steps[m], r.lr[m]
    # a step logged at s means s updates happened; an LR logged at the last step with
    # lr_at="next" belongs to no update of the run and is dropped
    total = opts.total_steps if opts.total_steps is not None else max(last_step, int(ls[-1]))
    lr, meta = logged_lr(ls, lv, int(total), warmup_steps=int(opts.warmup_steps or 0),
                         lr_at=opts.lr_at, src=src, run=r.name)
    return lr, opts.warmup_steps, meta


def table_runs(table: Table, opts: RunOptions, *, base_name: str,
               merge_duplicate_steps: bool = False, meta: Mapping[str, Any] | None = None,
               mpl: MplSchedule | None = None) -> list[Run]:
    """The Runs of a table: one per run and loss column (see the module docstring).

    Args:
      table: the rows.
      opts: the common options.
      base_name: the run's name when the table has no run column.
      merge_duplicate_steps: merge rows logged at the same step instead of rejecting them.
      meta: entries added to every Run's meta (after ``source``).
      mpl: the MultiPowerLaw LR of the file, used unless ``opts.schedule`` is given.
    """
    if opts.lr_at not in ("next", "last"):
        raise ValueError(f"load_runs: lr_at={opts.lr_at!r} must be 'next' or 'last'")
    src = table.src
    if not table.rows:
        raise RunError(f"{src}: no data rows")
    cols = _pick_columns(table, opts)
    out: list[Run] = []
    for r in _split_runs(table, cols, base_name):
        if merge_duplicate_steps:
            r = _merge_by_step(r)
        _check_rows(r, src, cols)
        obs, dropped = _observations(r, src)
        last_step = max(int(o[0][-1]) for o in obs.values() if o[0].size)
        lr, warm, lr_meta = _run_lr(r, last_step, opts, mpl, src, cols.lr)
        if mpl is not None and opts.schedule is None:  # the repository drops steps >= T
            obs = {c: (s[s < lr.size], v[s < lr.size]) for c, (s, v) in obs.items()}
        run_meta: dict[str, Any] = {"source": src, **(meta or {}), **lr_meta}
        if dropped:
            run_meta["dropped_steps"] = [0]
        for c, (s_obs, _) in obs.items():
            if s_obs.size and s_obs[-1] > lr.size:
                raise RunError(
                    f"{where(src, col=c)}: run {r.name!r} has a loss at step {int(s_obs[-1])} "
                    f"but the LR covers only {lr.size} steps (set total_steps or a longer schedule)"
                )
        multi = len(obs) > 1
        for c, (s_obs, l_obs) in obs.items():
            if s_obs.size == 0:
                continue
            ds = cols.losses[c] or opts.dataset or "val"
            out.append(opts.run(f"{r.name}:{ds}" if multi else r.name, r.name, lr, s_obs, l_obs,
                                warmup_steps=int(warm or 0), dataset=ds,
                                meta={**run_meta, "run": r.name, "loss_column": c}))
    return out


def runs_from_frame(df: pd.DataFrame, *, name: str = "run", source: str = "DataFrame",
                    **options: Any) -> list[Run]:
    """Runs from a long pandas DataFrame (one row per logged step; NaN = not logged).

    Options as ``load_runs``. Rows are named by their index label in error messages.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"runs_from_frame: expected a pandas DataFrame, got {type(df).__name__}")
    check_options(options, "frame")
    cols = [str(c) for c in df.columns]
    frame = df.copy()
    frame.columns = pd.Index(cols)
    table = Table(source, cols, lambda c: frame[c].tolist(), list(frame.index))
    return table_runs(table, RunOptions.of(options), base_name=name,
                      merge_duplicate_steps=bool(options.get("merge_duplicate_steps", False)))
