"""Per-step learning-rate table for PyTorch, exported by cptdyn (``cptdyn export --to torch``).

This file is standalone: it needs only the Python standard library and ``torch`` (no cptdyn, no
JAX). Keep it next to ``lr_table.json`` (or pass the table path).

Step convention: ``lrs[t]`` is the LR used by optimizer update ``t`` (0-based). The scheduler is a
``torch.optim.lr_scheduler.LambdaLR`` whose multiplier is ``lrs[step] / base_lr``, so call
``scheduler.step()`` *after* ``optimizer.step()``, once per optimizer update (not per micro-batch)::

    import torch
    from cptdyn_lr_scheduler import build_scheduler

    optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)  # lr is replaced by the table's
    scheduler = build_scheduler(optimizer)                      # reads ./lr_table.json
    for batch in loader:
        loss = model(batch).loss
        loss.backward()
        optimizer.step()        # update t runs at lrs[t]
        scheduler.step()
        optimizer.zero_grad()

Past the end of the table (update ``t >= len(lrs)``), ``past_end="hold"`` (default) keeps the last
LR and ``past_end="zero"`` returns 0 (no-op updates); either way a ``UserWarning`` is issued once
when an update past the end has been run.

Checkpoints: the multiplier is a callable *object* (:class:`TableLR`), so
``scheduler.state_dict()`` stores the whole table with ``last_epoch`` and
``scheduler.load_state_dict()`` restores both: a resumed run continues at the LR of the next
update, whatever order the optimizer and scheduler states are loaded in (the scheduler re-applies
its LR to the optimizer after loading). To switch to a different table on resume (continual
pre-training), build a new scheduler from the new table and do not load the old scheduler state.

Hugging Face ``Trainer``: pass the scheduler explicitly,
``Trainer(model, args, optimizers=(optimizer, build_scheduler(optimizer)))``; the Trainer then
steps it once per optimizer update and ignores ``lr_scheduler_type``.
"""

import csv
import json
import math
import os
import warnings

try:  # torch is needed to build the scheduler, not to read the table
    import torch
    from torch.optim.lr_scheduler import LambdaLR
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None  # type: ignore[assignment]
    LambdaLR = object  # type: ignore[misc,assignment]

__all__ = ["TABLE_FORMAT", "TableLR", "TableLambdaLR", "build_scheduler", "load_table"]

TABLE_FORMAT = "cptdyn-lr-table"
PAST_END_MODES = ("hold", "zero")
# Defaults written by the exporter (cptdyn export --to torch): None = the table's base_lr.
DEFAULT_BASE_LR = None
DEFAULT_PAST_END = "hold"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _default_table_path():
    for name in ("lr_table.json", "lr_table.csv"):
        path = os.path.join(_HERE, name)
        if os.path.exists(path):
            return path
    return os.path.join(_HERE, "lr_table.json")


def _check_lrs(lrs, where):
    out = []
    for i, x in enumerate(lrs):
        v = float(x)
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"{where}: lrs[{i}]={x!r} is not a finite LR >= 0")
        out.append(v)
    if not out:
        raise ValueError(f"{where}: the LR table is empty")
    return out


def load_table(table=None):
    """Read an LR table: a cptdyn ``lr_table.json``, a ``step,lr`` CSV, or a dict/list in memory.

    Returns a dict with ``lrs`` (list of floats, ``lrs[t]`` = LR of update ``t``) and ``base_lr``
    (the LambdaLR base; the table's peak unless the file says otherwise).
    """
    if table is None:
        table = _default_table_path()
    if isinstance(table, dict):
        doc = dict(table)
        where = "table"
    elif isinstance(table, (list, tuple)):
        doc = {"lrs": list(table)}
        where = "table"
    else:
        path = os.fspath(table)
        where = path
        if path.endswith(".csv"):
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
            if not rows or "step" not in rows[0] or "lr" not in rows[0]:
                raise ValueError(f"{path}: expected a CSV with columns step,lr")
            steps = [int(r["step"]) for r in rows]
            if steps != list(range(len(steps))):
                raise ValueError(f"{path}: steps must be 0, 1, 2, ... without gaps")
            doc = {"lrs": [float(r["lr"]) for r in rows]}
        else:
            with open(path) as fh:
                doc = json.load(fh)
            if isinstance(doc, list):
                doc = {"lrs": doc}
            fmt = doc.get("format", TABLE_FORMAT)
            if fmt != TABLE_FORMAT:
                raise ValueError(f"{path}: format={fmt!r} is not {TABLE_FORMAT!r}")
    if "lrs" not in doc:
        raise ValueError(f"{where}: no 'lrs' list in the table")
    lrs = _check_lrs(doc["lrs"], where)
    base = doc.get("base_lr")
    if base is None:
        base = max(lrs) if max(lrs) > 0 else 1.0
    base = float(base)
    if not (base > 0 and math.isfinite(base)):
        raise ValueError(f"{where}: base_lr={base!r} must be a positive number")
    doc["lrs"] = lrs
    doc["base_lr"] = base
    return doc


class TableLR:
    """LambdaLR multiplier ``lrs[step] / base_lr``.

    A callable object rather than a function, so that ``LambdaLR.state_dict()`` saves its
    ``__dict__`` (the table, ``base_lr`` and ``past_end``) and ``load_state_dict()`` restores it.
    """

    def __init__(self, lrs, base_lr, past_end="hold"):
        if past_end not in PAST_END_MODES:
            raise ValueError(f"past_end={past_end!r} must be one of {PAST_END_MODES}")
        base_lr = float(base_lr)
        if not (base_lr > 0 and math.isfinite(base_lr)):
            raise ValueError(f"base_lr={base_lr!r} must be a positive number")
        self.lrs = _check_lrs(lrs, "TableLR")
        self.base_lr = base_lr
        self.past_end = past_end
        self.warned_past_end = False

    def __call__(self, step):
        n = len(self.lrs)
        step = int(step)
        if step < n:
            return self.lrs[max(step, 0)] / self.base_lr
        # lambda(n) is evaluated right after the last table update and is used only if training
        # goes on; lambda(n + 1) means update n (past the end) has been run.
        if step > n and not self.warned_past_end:
            self.warned_past_end = True
            warnings.warn(
                f"LR table has {n} steps; updates from step {n} on use "
                + ("the last LR" if self.past_end == "hold" else "LR 0"),
                UserWarning,
                stacklevel=2,
            )
        if self.past_end == "zero":
            return 0.0
        return self.lrs[-1] / self.base_lr


class TableLambdaLR(LambdaLR):
    """``LambdaLR`` that re-applies its LR to the optimizer after ``load_state_dict``.

    Its state dict is a plain ``LambdaLR`` state dict; the only difference is that loading it also
    sets every param group's ``lr`` to the value for the restored ``last_epoch``, so the resumed
    run is right even when the optimizer state was loaded before the scheduler was built.
    """

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group, base, fn in zip(  # noqa: B905 (no strict=: the loader supports Python 3.8+)
            self.optimizer.param_groups, self.base_lrs, self.lr_lambdas
        ):
            value = base * fn(self.last_epoch)
            if torch is not None and isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(value)
            else:
                group["lr"] = value
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def build_scheduler(optimizer, table=None, *, base_lr=None, past_end=None, absolute=True,
                    last_epoch=-1):
    """A ``LambdaLR`` following the table: update ``t`` runs at ``lrs[t]``.

    Args:
        optimizer: a ``torch.optim.Optimizer``.
        table: path to ``lr_table.json`` / a ``step,lr`` CSV, or the table as a dict or list;
            default: the ``lr_table.json`` next to this file.
        base_lr: LambdaLR base LR; default ``DEFAULT_BASE_LR`` or the table's ``base_lr`` (peak).
        past_end: ``"hold"`` (keep the last LR) or ``"zero"`` for updates past the table's end;
            default ``DEFAULT_PAST_END``.
        absolute: ``True`` (default) sets every param group's base LR to ``base_lr`` so that every
            group runs exactly at ``lrs[t]``; ``False`` keeps each group's own LR as its base and
            scales it by ``lrs[t] / base_lr`` (per-group LR multipliers, muP-style).
        last_epoch: as in ``LambdaLR`` (leave at -1 and use ``load_state_dict`` to resume).
    """
    if torch is None:  # pragma: no cover
        raise ImportError("build_scheduler needs torch (pip install torch)")
    doc = load_table(table)
    if base_lr is None:
        base_lr = DEFAULT_BASE_LR
    base = doc["base_lr"] if base_lr is None else float(base_lr)
    fn = TableLR(doc["lrs"], base, past_end=DEFAULT_PAST_END if past_end is None else past_end)
    if absolute:
        for group in optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(base)
            else:
                group["lr"] = base
            group["initial_lr"] = base
    return TableLambdaLR(optimizer, fn, last_epoch=last_epoch)
