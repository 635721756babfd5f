"""Weights & Biases exports: run-history JSON (``wandb-json``) and panel CSV (``wandb-csv``).

History JSON (the 124M cooldown sweep's layout): ``{"config", "summary", "history": {"val":
{"iter", "val_loss"}, "train": {"iter", "train_lr"}, "final-val": {...}}}``. A cooldown branch
(config ``resume_from = .../<trunk>/ckpts/<b>``, ``b > 0``) holds only its part after update
``b`` and is stitched onto its trunk. Its per-step LR is the schedule formula of the run's config
(Hägele et al., schedules-and-scaling: ``wsd`` with a linear/sqrt/cosine/square/exp decay of the
last ``wsd_fract_decay * T`` updates after a warmup ``t / W + (1 - t / W) / 100``; ``cos`` =
torch ``OneCycleLR`` with ``div_factor`` 100), checked against the logged ``train_lr`` (logged at
iter ``i`` = LR of update ``i``), or ``reconstruct_lr`` on the logged LR.

History rows (``run.scan_history()`` / ``run.history()`` as a JSON list, or ``{"config": {...},
"history": [rows]}``, the shape ``load_wandb`` reads from the API): a table whose step is the
trainer's own counter (``train/global_step`` for the Hugging Face Trainer, ``trainer/global_step``
for Lightning, ``global_step``, ``step``) in preference to W&B's ``_step`` (one per ``wandb.log``
call); rows of the same step (HF logs train and eval rows separately) are merged. A config shaped
like Hugging Face ``TrainingArguments`` gives the LR-logging convention (``transformers_version``)
and, when no LR is logged, the per-step LR. A NaN or infinite value in a used column is refused
(a missing key is "not logged").

Panel CSV: a ``Step`` column and ``<run> - <metric>`` columns (``__MIN``/``__MAX`` ignored); the
step is the panel's x axis (``train/global_step`` for HF runs, which set it as their step metric).
An eval-only panel needs ``schedule`` or ``run_config`` for the LR.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cptdyn._errors import RunError

from .._run import Run
from ._columns import (
    LOSS_ALIASES,
    LR_ALIASES,
    STEP_ALIASES,
    logged_lr,
    parse_number,
    pick_column,
    schedule_lr,
    where,
)
from ._csv import read_csv_rows
from ._files import read_json_file
from ._guess import Guesses
from ._hf import mark_non_finite
from ._hf_config import hf_config, hf_lr_at
from ._table import (
    RunOptions,
    Table,
    _lr_at,
    check_options,
    runs_from_frame,
    table_runs,
)

__all__ = ["WandbRecord", "wandb_runs", "load_wandb_json", "load_wandb_csv", "history_runs"]

# ============================================================================ W&B panel CSV


def _metric(src: str, wanted: str, metrics: Sequence[str]) -> str:
    if wanted not in metrics:
        raise RunError(f"{where(src, col=wanted)}: metric not found; metrics are "
                       f"{', '.join(metrics)}")
    return wanted


def load_wandb_csv(path: str | os.PathLike[str], **options: Any) -> list[Run]:
    """Runs from a W&B panel CSV export: ``Step`` and ``<run> - <metric>`` columns.

    ``__MIN``/``__MAX`` columns are ignored. ``loss_col`` names the metric (default: the one metric
    present, or a loss alias); ``lr_col`` an LR metric if exported for the same runs, else give
    ``schedule`` (a ``{run: schedule}`` mapping for several runs).
    """
    check_options(options, "wandb-csv")
    src = str(path)
    header, data, lines = read_csv_rows(Path(path), src)
    scol = pick_column(header, options.get("step_col"), ("Step",) + STEP_ALIASES, src, "step")
    series: dict[str, dict[str, int]] = {}  # run -> metric -> column index
    for j, h in enumerate(header):
        if h == scol or h.endswith("__MIN") or h.endswith("__MAX"):
            continue
        m = re.fullmatch(r"(.+?) - (.+)", h)
        if m:
            series.setdefault(m.group(1), {})[m.group(2)] = j
    if not series:
        raise RunError(f"{src}: no '<run> - <metric>' columns (is this a W&B panel export?)")
    metrics = sorted({k for v in series.values() for k in v})
    loss_metric = options.get("loss_col")
    g0 = Guesses(src)
    if loss_metric is None:
        known = [a for a in LOSS_ALIASES if a in metrics]
        if known:
            loss_metric = known[0]
            g0.column("loss", loss_metric, known)
        elif len(metrics) == 1:
            loss_metric = metrics[0]
            g0.add(f"loss metric {loss_metric!r} (the only metric)")
        else:
            raise RunError(
                f"{src}: several metrics ({', '.join(metrics)}); choose one with loss_col"
            )
    else:
        _metric(src, loss_metric, metrics)
    lr_metric = options.get("lr_col")
    if lr_metric is None:
        lr_metric = next((m for m in LR_ALIASES if m in metrics), None)
    else:
        _metric(src, lr_metric, metrics)
    base = RunOptions.of(options)
    at = _lr_at([lr_metric] if lr_metric else [], base, None)
    opts = dataclasses.replace(base, step_col="step", loss_col="loss",
                               lr_col="lr" if lr_metric else None, run_col=None)
    js = header.index(str(scol))
    out: list[Run] = []
    for run, cols in series.items():
        if loss_metric not in cols:
            continue
        jl = cols[loss_metric]
        jr = cols.get(lr_metric) if lr_metric else None
        keep = [i for i, rec in enumerate(data)
                if rec[jl].strip() or (jr is not None and rec[jr].strip())]
        tab = {"step": [data[i][js] for i in keep], "loss": [data[i][jl] for i in keep]}
        if jr is not None:
            tab["lr"] = [data[i][jr] for i in keep]
        table = Table(f"{src} ({run} - {loss_metric})", list(tab), tab.__getitem__,
                      [lines[i] for i in keep])
        g = Guesses(table.src)
        for note in g0.notes:
            g.add(note, doubtful=note in g0.doubtful)
        out += table_runs(table, opts, base_name=run, guesses=g, default_lr_at=at,
                          merge_duplicate_steps=options.get("merge_duplicate_steps", "auto"),
                          meta={"format": "wandb-csv", "metric": loss_metric})
    if not out:
        raise RunError(f"{src}: no run has the metric {loss_metric!r}")
    return out


# ============================================================================ W&B history JSON


def _config_lr(cfg: Mapping[str, Any], t: np.ndarray) -> np.ndarray | None:
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


@dataclasses.dataclass
class WandbRecord:
    """One W&B run as read: ``val`` = (iters, losses), ``train`` = (iters, logged LRs), both
    sorted; ``final`` the ``final-val`` loss; a cooldown branch names its ``trunk`` run and the
    iter ``resume_iter`` it resumed from."""

    name: str
    src: str
    config: dict[str, Any]
    val: tuple[np.ndarray, np.ndarray]
    train: tuple[np.ndarray, np.ndarray]
    final: float | None
    resume_iter: int | None
    trunk: str | None


def _series(group: Mapping[str, Any], key: str, src: str,
            gname: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, de-duplicated (last occurrence in file order wins) ``(iter, value)``."""
    it, val = group.get("iter"), group.get(key)
    if it is None:
        raise RunError(f"{where(src, col=f'history.{gname}.iter')}: not found")
    if val is None:
        raise RunError(f"{where(src, col=f'history.{gname}.{key}')}: not found; keys are "
                       f"{', '.join(sorted(group))}")
    if len(it) != len(val):
        raise RunError(f"{where(src, col=f'history.{gname}.{key}')}: {len(val)} entries but "
                       f"history.{gname}.iter has {len(it)}")
    last: dict[int, float] = {}
    for i, (a, b) in enumerate(zip(it, val, strict=True)):
        s = parse_number(a, f"{src} history.{gname}", i, "iter")
        if math.isnan(s) or s < 0 or s != round(s):
            raise RunError(f"{where(f'{src} history.{gname}', i, 'iter')}: {a!r} is not a step")
        if b is None:
            continue  # not logged at this row
        if isinstance(b, float) and not math.isfinite(b):
            raise RunError(f"{where(f'{src} history.{gname}', i, key)}: {b!r} at iter {int(s)} "
                           "is not a finite number")
        v = parse_number(b, f"{src} history.{gname}", i, key)
        if math.isnan(v):
            continue
        last[int(s)] = v
    keys = np.array(sorted(last), dtype=np.int64)
    return keys, np.array([last[k] for k in keys], dtype=np.float64)


def _record(doc: Mapping[str, Any], src: str, loss_key: str, lr_key: str) -> WandbRecord:
    hist = doc.get("history")
    if not isinstance(hist, Mapping):
        raise RunError(f"{src}: no 'history' object (not a W&B history export)")
    cfg = doc.get("config") or {}
    name = str(doc.get("name") or Path(src).stem)
    group = next((g for g in ("val", "train", "eval") if isinstance(hist.get(g), Mapping)
                  and loss_key in hist[g]), None)
    if group is None:
        raise RunError(f"{where(src, col=loss_key)}: not found in history.val / history.train")
    val = _series(hist[group], loss_key, src, group)
    bad = val[1] <= 0
    if bad.any():
        raise RunError(f"{where(f'{src} history.{group}', None, loss_key)}: loss "
                       f"{val[1][np.argmax(bad)]:g} at iter {val[0][np.argmax(bad)]} must be > 0")
    tr = hist.get("train")
    if isinstance(tr, Mapping) and lr_key in tr:
        train = _series(tr, lr_key, src, "train")
        if (train[1] < 0).any():
            j = int(np.argmax(train[1] < 0))
            raise RunError(f"{where(f'{src} history.train', None, lr_key)}: lr {train[1][j]:g} "
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
    return WandbRecord(name, src, dict(cfg), val, train, final, resume_iter, trunk)


def _stitch(rec: WandbRecord, by_name: Mapping[str, WandbRecord],
            meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(loss iters, losses, LR iters, LRs) of a record; a cooldown branch gets its trunk's losses
    before ``b`` and logged LRs up to ``b`` put in front (``meta`` notes it)."""
    (vit, vloss), (tit, tlr) = rec.val, rec.train
    if not rec.resume_iter:
        return vit, vloss, tit, tlr
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
    return vit, vloss, tit, tlr


def _record_lr(rec: WandbRecord, tit: np.ndarray, tlr: np.ndarray, total: int, warm: int,
               opts: RunOptions, lr_source: str,
               meta: dict[str, Any]) -> np.ndarray:
    """The per-step LR of one record (``schedule`` option, config formula or logged LR); the
    meta entries that say which go into ``meta``."""
    if opts.schedule is not None:
        lr, _, how = schedule_lr(opts.schedule, total, rec.name, rec.src)
        meta.update(how)
        return lr
    formula = None
    if lr_source in ("auto", "config"):
        formula = _config_lr(rec.config, np.arange(total))
        if formula is not None and tit.size:
            u = tit - (1 if opts.lr_at == "last" else 0)
            ok = (u >= 0) & (u < total)
            peak = max(float(np.max(tlr)), 1e-30)
            dev = float(np.max(np.abs(formula[u[ok]] - tlr[ok]))) / peak if ok.any() else 0.0
            meta["lr_config_max_dev"] = dev
            if dev > 1e-6 and lr_source == "auto":
                formula = None
        if formula is None and lr_source == "config":
            raise RunError(f"{rec.src}: cannot build the LR from the config "
                           f"(scheduler={rec.config.get('scheduler')!r})")
    if formula is not None:
        meta.update(lr_source="config",
                    lr_reconstruction=f"config formula ({rec.config.get('scheduler')}, "
                    f"{rec.config.get('decay_type')}), checked against the logged LR")
        return formula
    if not tit.size:
        raise RunError(f"{rec.src}: no logged LR (history.train.train_lr) and no "
                       "usable config; give schedule=...")
    lr, how = logged_lr(tit, tlr, total, warmup_steps=warm, lr_at=opts.lr_at or "next", src=rec.src,
                        run=rec.name)
    meta.update(how)
    return lr


def wandb_runs(records: list[WandbRecord], opts: RunOptions, *, lr_source: str = "auto",
               extra_meta: Callable[[WandbRecord], Mapping[str, Any]] | None = None) -> list[Run]:
    """One Run per record, cooldown branches stitched onto their trunks (which must be among
    ``records``); ``lr_source`` as ``load_wandb_json``; ``extra_meta(record)`` is added to meta."""
    if lr_source not in ("auto", "logged", "config"):
        raise ValueError(f"load_wandb_json: lr_source={lr_source!r} must be auto, logged or config")
    by_name = {r.name: r for r in records}
    opts = dataclasses.replace(opts, lr_at=opts.lr_at or "next")
    out = []
    for rec in records:
        meta: dict[str, Any] = {"source": rec.src, "format": "wandb-json", "config": rec.config}
        if rec.final is not None:
            meta["final_val_loss"] = rec.final
        vit, vloss, tit, tlr = _stitch(rec, by_name, meta)
        cfg_total = rec.config.get("iterations")
        total = int(opts.total_steps or cfg_total or max(vit.max(initial=0), tit.max(initial=0)))
        warm = (opts.warmup_steps if opts.warmup_steps is not None
                else int(rec.config.get("warmup_steps") or 0))
        keep = tit < total  # the LR logged at iter T belongs to no update
        lr = _record_lr(rec, tit[keep], tlr[keep], total, warm, opts, lr_source, meta)
        if (vit == 0).any():
            meta["dropped_steps"] = [0]
        k = (vit >= 1) & (vit <= total)
        if extra_meta is not None:
            meta.update(extra_meta(rec))
        out.append(opts.run(rec.name, rec.name, lr, vit[k], vloss[k], warmup_steps=warm,
                            dataset=opts.dataset or "val", meta=meta))
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


def _has_lr(rows: Sequence[Mapping[str, Any]], lr_col: str | None) -> bool:
    keys: set[str] = set()
    for r in rows:
        keys.update(map(str, r))
    return (lr_col in keys) if lr_col is not None else any(a in keys for a in LR_ALIASES)


def history_runs(rows: Any, config: Any, *, name: str, src: str, **options: Any) -> list[Run]:
    """Runs from W&B history rows (a list of ``{key: value}`` dicts, one per ``wandb.log`` call)
    and the run's config (or None); see the module docstring."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, Mapping) for r in rows):
        raise RunError(f"{src}: empty or malformed history (expected a list of row objects)")
    opts = {k: v for k, v in options.items() if v is not None}
    guesses = Guesses(src)
    lr_at = None
    cfg = hf_config(config, f"{src} config") if isinstance(config, Mapping) and config else None
    if cfg is not None and opts.get("run_config") is None and "learning_rate" in cfg \
            and "lr_scheduler_type" in cfg:
        at = hf_lr_at(cfg)
        if at is not None:
            lr_at = (at[0], f"{at[1]} (run config)")
        if opts.get("schedule") is None and not _has_lr(rows, opts.get("lr_col")):
            opts["run_config"] = cfg
            guesses.add("no LR logged: the per-step LR is rebuilt from the run's config "
                        "(Hugging Face TrainingArguments)")
    df = pd.DataFrame([mark_non_finite(r) for r in rows])
    step = next((c for c in ("train/global_step", "trainer/global_step", "_step")
                 if c in df), None)
    df.index = pd.Index([f"history[{i}]" + (f" ({step} {r.get(step)})" if step else "")
                         for i, r in enumerate(rows)])
    return runs_from_frame(df, name=name, source=src, guesses=guesses, default_lr_at=lr_at,
                           meta={"format": "wandb-history"}, **opts)


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
    check_options(options, "wandb-json")
    records: list[WandbRecord] = []
    frame_runs: list[Run] = []
    for f in _json_files(source):
        src = str(f)
        doc = read_json_file(f, src)
        if isinstance(doc, list) or (isinstance(doc, Mapping)
                                     and isinstance(doc.get("history"), list)):
            rows = doc if isinstance(doc, list) else doc["history"]
            cfg = doc.get("config") if isinstance(doc, Mapping) else None
            name = str(doc.get("name") or f.stem) if isinstance(doc, Mapping) else f.stem
            frame_runs += history_runs(rows, cfg, name=name, src=src, loss_col=loss_col,
                                       lr_col=lr_col, **options)
            continue
        if not isinstance(doc, Mapping):
            raise RunError(f"{src}: expected a JSON object or list")
        records.append(_record(doc, src, loss_col or "val_loss", lr_col or "train_lr"))
    return wandb_runs(records, RunOptions.of(options), lr_source=lr_source) + frame_runs
