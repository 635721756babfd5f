"""A table of logged rows -> ``Run`` objects: the core every reader feeds, and its shared options.

A table is a list of rows with a step, one or more loss columns, optionally a logged LR column and
a run column (columns picked as in ``_columns``). Rows are grouped by run (first appearance
order); within a run steps must be increasing, losses > 0 and LRs >= 0. Rows logged at the same step
(Hugging Face logs its train and eval rows at the same global step; Lightning's CSVLogger writes
one row per metric group) are merged when their cells do not conflict (``merge_duplicate_steps=
"auto"``, the default); ``True`` sorts and merges every duplicate (the last non-missing value
wins, e.g. a resumed run), ``False`` refuses duplicates.

Columns ``transfer_step``, ``replay_ratio`` and ``seed`` (as the CPT lab writes them) set each
run's values (constant within a run; without a run column, rows that differ in them are separate
runs); an explicit ``transfer_step`` / ``replay_ratio`` option must agree with them.

Step convention (``_run.py``): a loss logged at step ``s`` was measured after ``s`` updates;
``lr[t]`` is the LR of update ``t``. Loss observations at step 0 (before any update) are dropped
(``meta["dropped_steps"]``). Each run's per-step LR comes, in this order of preference, from the
MultiPowerLaw file name (``_mpl_files``), the ``schedule`` option, or the logged LR column
(``_columns.reconstruct_lr``); a loss observed after the last step the LR covers is an error.
Several loss columns give one Run each (``"<run>:<dataset>"``), sharing the LR. A ``run_config``
(Hugging Face ``TrainingArguments``, ``_hf_config``) gives the exact per-step LR after the
``schedule`` option and before the logged LR, which it must then match.

What was picked without being named is listed in ``meta["guesses"]`` (``_guess``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
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
    pick_guessed,
    schedule_lr,
    steps_column,
    where,
)
from ._files import read_json_file
from ._guess import Guesses
from ._hf_config import hf_config, hf_lr_at, hf_schedule
from ._mpl_files import logged_deviation, mpl_meta

__all__ = ["RunOptions", "Table", "MplSchedule", "check_options", "table_runs", "runs_from_frame"]

#: ``mpl_schedule``'s value: (per-step LR, warmup steps, info).
MplSchedule = tuple[np.ndarray, int, dict[str, Any]]

_COMMON_OPTIONS = {"step_col", "loss_col", "lr_col", "run_col", "schedule", "total_steps",
                   "warmup_steps", "lr_at", "transfer_step", "dataset", "replay_ratio",
                   "model_size", "run_config"}
_FORMAT_OPTIONS = {
    "csv": {"name", "mpl_families", "merge_duplicate_steps"},
    "wandb-json": {"lr_source", "merge_duplicate_steps"},
    "wandb-csv": {"merge_duplicate_steps"},
    "csv-frame": {"merge_duplicate_steps"},
    "tensorboard": {"backend", "merge_duplicate_steps"},
    "hf": {"merge_duplicate_steps"},
    "frame": {"name", "source", "merge_duplicate_steps"},
}


def read_run_config(config: Any) -> dict[str, Any]:
    """A run config (``run_config=``): a mapping, or a path to a JSON file (or YAML, e.g. the
    ``config.yaml`` W&B stores with a run, when PyYAML is installed); W&B's ``{key: {"value":
    ...}}`` shape is unwrapped (``_hf_config.hf_config``)."""
    if isinstance(config, Mapping):
        return hf_config(config, "run_config")
    if not isinstance(config, (str, os.PathLike)):
        raise TypeError(f"load_runs: run_config must be a mapping or a path, got "
                        f"{type(config).__name__}")
    p = Path(config)
    src = str(config)
    if p.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise RunError(f"{src}: reading a YAML run config needs PyYAML (pip install pyyaml); "
                           "or give it as JSON") from None
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{src}: no such file") from None
        except (OSError, yaml.YAMLError) as e:
            raise RunError(f"{src}: not valid YAML ({' '.join(str(e).split())})") from None
    else:
        doc = read_json_file(p, src)
    return hf_config(doc, src)


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
    lr_at: str | None = None  # None: the reader's default (see ``table_runs``)
    transfer_step: Any = None
    dataset: str | None = None
    replay_ratio: Any = None
    model_size: Any = None
    run_config: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> RunOptions:
        """The common options out of a reader's keyword options (others are ignored)."""
        kw: dict[str, Any] = {k: options.get(k) for k in _COMMON_OPTIONS}
        if kw["lr_at"] not in (None, "next", "last"):
            raise ValueError(f"load_runs: lr_at={kw['lr_at']!r} must be 'next' or 'last'")
        if kw["run_config"] is not None:
            kw["run_config"] = read_run_config(kw["run_config"])
        return cls(**kw)

    def transfer_step_of(self, run: str) -> Any:
        """``transfer_step`` for run ``run`` (it may be one value or a ``{run: value}`` mapping)."""
        ts = self.transfer_step
        return ts.get(run) if isinstance(ts, Mapping) else ts

    def run(self, name: str, run: str, lr: np.ndarray, steps: np.ndarray, loss: np.ndarray, *,
            warmup_steps: int, dataset: str, meta: dict[str, Any],
            transfer_step: Any = None, replay_ratio: Any = None) -> Run:
        """Run ``name`` of the logged run ``run``, carrying these options' ``transfer_step`` (for
        ``run``), ``replay_ratio`` and ``model_size`` (``transfer_step`` / ``replay_ratio``: the
        values read from the file's columns, used when the options do not give them)."""
        ts = self.transfer_step_of(run)
        rr = self.replay_ratio
        return Run(name=name, lr=lr, steps=steps, loss=loss, warmup_steps=warmup_steps,
                   transfer_step=transfer_step if ts is None else ts, dataset=dataset,
                   replay_ratio=replay_ratio if rr is None else rr, model_size=self.model_size,
                   meta=meta)


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows read from a file or frame: ``get(column)`` lists a column's cells, ``rows`` labels
    each row in error messages (a line number, an index label)."""

    src: str
    columns: Sequence[str]
    get: Callable[[str], list[Any]]
    rows: list[Any]


#: Per-run columns the CPT lab writes (``step, lr, loss_pt, loss_cpt, transfer_step,
#: replay_ratio, seed``): constant within a run.
RUN_VALUE_COLUMNS = ("transfer_step", "replay_ratio", "seed")


@dataclasses.dataclass
class _Picked:
    step: str
    losses: dict[str, str | None]  # column -> dataset or None
    lr: str | None
    run: str | None
    values: dict[str, str]  # RUN_VALUE_COLUMNS present -> column


@dataclasses.dataclass
class _RunRows:
    """One run's rows, parsed: steps, each loss column, the logged LR (or None), the per-run value
    columns, row labels."""

    name: str
    steps: np.ndarray
    losses: dict[str, np.ndarray]
    lr: np.ndarray | None
    rows: list[Any]
    values: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def _pick_columns(table: Table, opts: RunOptions, guesses: Guesses) -> _Picked:
    src, columns = table.src, table.columns
    scol = pick_guessed(columns, opts.step_col, STEP_ALIASES, src, "step", guesses)
    losses = loss_columns(columns, opts.loss_col, src, opts.dataset, guesses)
    cands = [c for c in LR_ALIASES if c not in losses]
    lcol = pick_guessed(columns, opts.lr_col, cands, src, "lr", guesses, required=False)
    rcol = opts.run_col
    if rcol is not None:
        pick_column(columns, rcol, (), src, "run")
    else:
        rcol = next((c for c in RUN_ALIASES if c in columns), None)
    values = {c: c for c in RUN_VALUE_COLUMNS if c in columns}
    assert scol is not None
    return _Picked(scol, losses, lcol, rcol, values)


def _split_runs(table: Table, cols: _Picked, base_name: str) -> list[_RunRows]:
    """Parse the picked columns and group the rows by run, in order of first appearance (without
    a run column, by the per-run value columns when they vary)."""
    src, rows, get = table.src, table.rows, table.get
    steps = steps_column(number_column(get(cols.step), rows, src, cols.step), rows, src, cols.step)
    losses = {c: number_column(get(c), rows, src, c) for c in cols.losses}
    lr = number_column(get(cols.lr), rows, src, cols.lr) if cols.lr is not None else None
    values = {k: number_column(get(c), rows, src, c) for k, c in cols.values.items()}
    if cols.run is not None:
        names = [str(v) for v in get(cols.run)]
    else:
        varying = [k for k, v in values.items()
                   if np.unique(np.where(np.isnan(v), -np.inf, v)).size > 1]
        names = [base_name] * len(rows)
        if varying:
            names = [f"{base_name}[" + ",".join(
                f"{k}={'' if np.isnan(values[k][i]) else format(values[k][i], 'g')}"
                for k in varying) + "]" for i in range(len(rows))]
    order: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        order.setdefault(name, []).append(i)
    out = []
    for name, idx in order.items():
        ia = np.asarray(idx)
        out.append(_RunRows(name, steps[ia], {c: v[ia] for c, v in losses.items()},
                            None if lr is None else lr[ia], [rows[i] for i in idx],
                            {k: v[ia] for k, v in values.items()}))
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
                    None if r.lr is None else merge(r.lr), [first_row[k] for k in range(uniq.size)],
                    {k: merge(v) for k, v in r.values.items()})


def _merge_same_step(r: _RunRows, src: str, cols: _Picked) -> _RunRows:
    """Merge runs of rows logged at the same step whose cells do not conflict (steps must not
    decrease); a conflict is a RunError naming the step, the column and both values."""
    st = r.steps
    if st.size < 2 or not (np.diff(st) == 0).any():
        return r
    for j in range(1, st.size):
        if st[j] < st[j - 1]:
            raise RunError(
                f"{where(src, r.rows[j], cols.step)}: step {st[j]} does not follow step "
                f"{st[j - 1]} (steps must increase within a run)"
            )
    named = [(c, v) for c, v in r.losses.items()] + ([(str(cols.lr), r.lr)] if r.lr is not None
                                                     else []) + list(r.values.items())
    for c, v in named:
        for j in range(1, st.size):
            k = j - 1
            while k >= 0 and st[k] == st[j]:
                if not np.isnan(v[k]) and not np.isnan(v[j]) and v[k] != v[j]:
                    raise RunError(
                        f"{where(src, r.rows[j], c)}: step {st[j]} is logged twice with different "
                        f"values ({v[k]:g} at row {r.rows[k]}, {v[j]:g} here; a resumed run?); "
                        "pass merge_duplicate_steps=True to keep the last one"
                    )
                k -= 1
    return _merge_by_step(r)


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


def _run_values(r: _RunRows, src: str, opts: RunOptions) -> dict[str, Any]:
    """``{transfer_step, replay_ratio, seed}`` read from the run's value columns (constant within
    the run; missing cells = not set); an explicit option that disagrees is a RunError."""
    out: dict[str, Any] = {}
    for k, v in r.values.items():
        m = ~np.isnan(v)
        if not m.any():
            continue
        vals = np.unique(v[m])
        if vals.size > 1:
            j = int(np.argmax(m & (v != v[m][0])))
            raise RunError(f"{where(src, r.rows[j], k)}: run {r.name!r} has {k} {v[m][0]:g} and "
                           f"{v[j]:g} (must be one value per run)")
        val = float(vals[0])
        out[k] = int(val) if k in ("transfer_step", "seed") and val == int(val) else val
    given = {"transfer_step": opts.transfer_step_of(r.name), "replay_ratio": opts.replay_ratio}
    for k, g in given.items():
        if g is not None and k in out and float(g) != float(out[k]):
            raise RunError(f"{where(src, col=k)}: run {r.name!r} has {k} {out[k]:g} in the file "
                           f"but {g:g} was given (--{k.replace('_', '-')}); drop one")
    return out


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


def _config_vs_logged(lr: np.ndarray, r: _RunRows, lr_at: str, src: str, lr_col: str | None,
                      meta: dict[str, Any]) -> None:
    """The run config's LR must match the logged LR (read with ``lr_at``) to 1e-4 of the peak;
    the largest deviation goes to ``meta["lr_config_max_dev"]``."""
    if r.lr is None:
        return
    m = ~np.isnan(r.lr)
    ls, lv = r.steps[m], r.lr[m]
    peak = max(float(np.max(lr)), 1e-30)

    def dev(at: str) -> tuple[float, int]:
        u = ls - (1 if at == "last" else 0)
        ok = (u >= 0) & (u < lr.size)
        if not ok.any():
            return 0.0, -1
        d = np.abs(lr[u[ok]] - lv[ok]) / peak
        return float(d.max()), int(np.flatnonzero(ok)[int(np.argmax(d))])

    d, j = dev(lr_at)
    meta["lr_config_max_dev"] = d
    if d > 1e-4:
        other = "next" if lr_at == "last" else "last"
        hint = (f"; it matches with lr_at={other!r} (--lr-at {other})" if dev(other)[0] <= 1e-4
                else "; check the run config")
        raise RunError(
            f"{where(src, col=lr_col)}: logged LR {lv[j]:g} at step {int(ls[j])} disagrees with "
            f"the run config's schedule ({d:.2g} of the peak, lr_at={lr_at!r}){hint}"
        )


def _run_lr(r: _RunRows, last_step: int, opts: RunOptions, mpl: MplSchedule | None, src: str,
            lr_col: str | None, lr_at: tuple[str, str],
            guesses: Guesses) -> tuple[np.ndarray, int | None, dict[str, Any]]:
    """(per-step LR, warmup steps or None, meta entries) of one run: from the MPL file name, the
    ``schedule`` option, the run config, or the logged LR (whose last step or ``last_step``, the
    last observed loss, sets the length unless ``total_steps`` is given)."""
    if mpl is not None and opts.schedule is None and opts.run_config is None:
        lr, w_mpl, info = mpl
        meta = mpl_meta(info, w_mpl)
        if r.lr is not None:
            dev = logged_deviation(lr, r.steps, r.lr)
            if dev is not None:
                meta["lr_max_rel_dev_vs_logged"] = dev
        else:
            guesses.add(f"no LR column: the per-step LR is rebuilt from the file name "
                        f"({info['family']}, {info['total_steps']} steps, the MultiPowerLaw "
                        "naming convention); give schedule= / --schedule-spec if that is wrong",
                        doubtful=True)
        return lr, w_mpl if opts.warmup_steps is None else opts.warmup_steps, meta
    if opts.schedule is not None:
        lr, w_sched, meta = schedule_lr(opts.schedule, opts.total_steps, r.name, src)
        return lr, w_sched if opts.warmup_steps is None else opts.warmup_steps, meta
    if opts.run_config is not None:
        lr, w_cfg, meta = hf_schedule(opts.run_config, opts.total_steps, f"{src} run config")
        _config_vs_logged(lr, r, lr_at[0], src, lr_col, meta)
        if r.lr is not None:
            guesses.add(f"logged LR compared with lr_at={lr_at[0]!r}: {lr_at[1]}")
        return lr, w_cfg if opts.warmup_steps is None else opts.warmup_steps, meta
    if r.lr is None:
        raise RunError(
            f"{src}: run {r.name!r} has no LR column (tried {', '.join(LR_ALIASES[:4])}, "
            "...); give lr_col=..., schedule=... (--schedule-spec) or run_config=... "
            "(--run-config)"
        )
    m = ~np.isnan(r.lr)
    if not m.any():
        raise RunError(f"{where(src, col=lr_col)}: no LR values for run {r.name!r}")
    ls, lv = r.steps[m], r.lr[m]
    guesses.add(f"LR logged at step s read as {'lr[s]' if lr_at[0] == 'next' else 'lr[s-1]'} "
                f"(lr_at={lr_at[0]!r}): {lr_at[1]}", doubtful="assumed" in lr_at[1])
    # a step logged at s means s updates happened; an LR logged at the last step with
    # lr_at="next" belongs to no update of the run and is dropped
    total = opts.total_steps if opts.total_steps is not None else max(last_step, int(ls[-1]))
    lr, meta = logged_lr(ls, lv, int(total), warmup_steps=int(opts.warmup_steps or 0),
                         lr_at=lr_at[0], src=src, run=r.name)
    warm = opts.warmup_steps
    if warm is None:
        warm = ramp_length(lr)
        if warm:
            guesses.add(f"warmup_steps={warm}: the logged LR rises from {float(lr[0]):.3g} to "
                        f"its peak {float(np.max(lr)):.3g} over the first {warm} updates "
                        "(give warmup_steps= / --warmup-steps if the warmup is another length)")
    return lr, warm, meta


def ramp_length(lr: np.ndarray) -> int:
    """Length of an LR warmup ramp: the updates until the LR first reaches 99.9% of its peak,
    when it starts below half the peak and never falls on the way (else 0). Trainers log the
    LR, not the warmup length; the laws' warmup conventions and the fit window need it."""
    lr = np.asarray(lr, np.float64)
    if lr.size < 3 or not np.all(np.isfinite(lr)):
        return 0
    peak = float(np.max(lr))
    if not peak > 0 or lr[0] >= 0.5 * peak:
        return 0
    k = int(np.argmax(lr >= 0.999 * peak))
    if k < 1 or np.any(np.diff(lr[: k + 1]) < -1e-12 * peak):
        return 0
    return k + 1


def _lr_at(columns: Sequence[str], opts: RunOptions,
           default: tuple[str, str] | None) -> tuple[str, str]:
    """``(lr_at, reason)``: the option, else the run config's transformers version, else the
    reader's default, else for Hugging Face-shaped columns the current convention (assumed)."""
    if opts.lr_at is not None:
        return opts.lr_at, "given"
    hf = hf_lr_at(opts.run_config) if opts.run_config is not None else None
    if hf is not None:
        return hf
    if default is not None:
        return default
    if "train/learning_rate" in map(str, columns):  # HF's name once rewritten for W&B / TB
        return "last", ("assumed Hugging Face Trainer >= 4.51 (the LR of the update just done; "
                        "older versions log the next one: pass lr_at='next' / --lr-at next, or "
                        "a run config with transformers_version)")
    return "next", "the default (the LR in effect after the logged step)"


def table_runs(table: Table, opts: RunOptions, *, base_name: str,
               merge_duplicate_steps: bool | str = "auto", meta: Mapping[str, Any] | None = None,
               mpl: MplSchedule | None = None, guesses: Guesses | None = None,
               default_lr_at: tuple[str, str] | None = None, warn: bool = True,
               loss_step_shift: Mapping[str, int] | None = None) -> list[Run]:
    """The Runs of a table: one per run and loss column (see the module docstring).

    Args:
      table: the rows.
      opts: the common options.
      base_name: the run's name when the table has no run column.
      merge_duplicate_steps: ``"auto"`` merges rows of the same step whose cells do not conflict,
        ``True`` sorts and merges all (last value wins), ``False`` refuses duplicate steps.
      meta: entries added to every Run's meta (after ``source``).
      mpl: the MultiPowerLaw LR of the file, used unless ``opts.schedule`` is given.
      guesses: the reader's notes so far (a new list when None); listed in ``meta["guesses"]``.
      default_lr_at: the reader's ``(lr_at, reason)`` when the option is not given.
      warn: emit the ``RunReadWarning`` for doubtful guesses.
      loss_step_shift: ``{loss column: k}``: that column's steps are ``k`` more updates than
        logged (Lightning's validation rows carry the step before the last update's increment).
    """
    if merge_duplicate_steps not in (True, False, "auto"):
        raise ValueError(f"load_runs: merge_duplicate_steps={merge_duplicate_steps!r} must be "
                         "True, False or 'auto'")
    src = table.src
    guesses = guesses if guesses is not None else Guesses(src)
    if not table.rows:
        raise RunError(f"{src}: no data rows")
    cols = _pick_columns(table, opts, guesses)
    at = _lr_at(table.columns, opts, default_lr_at)
    out: list[Run] = []
    for r in _split_runs(table, cols, base_name):
        if merge_duplicate_steps is True:
            r = _merge_by_step(r)
        elif merge_duplicate_steps == "auto":
            r = _merge_same_step(r, src, cols)
        _check_rows(r, src, cols)
        values = _run_values(r, src, opts)
        obs, dropped = _observations(r, src)
        for c, k in (loss_step_shift or {}).items():
            if c in obs and k:
                obs[c] = (obs[c][0] + k, obs[c][1])
        last_step = max(int(o[0][-1]) for o in obs.values() if o[0].size)
        lr, warm, lr_meta = _run_lr(r, last_step, opts, mpl, src, cols.lr, at, guesses)
        run_meta: dict[str, Any] = {"source": src, **(meta or {}), **lr_meta}
        drop = {0} if dropped else set()
        if lr_meta.get("lr_source") == "mpl-repository":
            T = lr.size
            for c, (s, _v) in obs.items():
                if s.size and s[-1] > T:
                    raise RunError(
                        f"{where(src, col=c)}: run {r.name!r} has a loss at step {int(s[-1])} "
                        f"but the file name says {T} steps (the MultiPowerLaw naming convention);"
                        " give the LR (an lr column, schedule= or --schedule-spec)"
                    )
            # the MultiPowerLaw repository's loader drops the observation at step T
            at_end = any(bool((s == T).any()) for s, _v in obs.values())
            if at_end:
                drop.add(T)
                guesses.add(f"the loss at step {T} is dropped, as the MultiPowerLaw repository's "
                            "loader does", doubtful=True)
            obs = {c: (s[s < T], v[s < T]) for c, (s, v) in obs.items()}
        if drop:
            run_meta["dropped_steps"] = sorted(drop)
        if "seed" in values:
            run_meta["seed"] = values["seed"]
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
                                meta={**run_meta, "run": r.name, "loss_column": c,
                                      "guesses": guesses.notes},
                                transfer_step=values.get("transfer_step"),
                                replay_ratio=values.get("replay_ratio")))
    if warn:
        guesses.warn()
    return out


def runs_from_frame(df: pd.DataFrame, *, name: str = "run", source: str = "DataFrame",
                    guesses: Guesses | None = None, default_lr_at: tuple[str, str] | None = None,
                    meta: Mapping[str, Any] | None = None, **options: Any) -> list[Run]:
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
                      merge_duplicate_steps=options.get("merge_duplicate_steps", "auto"),
                      guesses=guesses, default_lr_at=default_lr_at, meta=meta)
