r"""Schedules in: read a trainer's LR configuration back into a cptdyn schedule.

``import_schedule(path, source)`` reads what :func:`cptdyn.schedules.export` writes for a trainer,
and the same settings as users keep them:

* ``hf``: ``TrainingArguments`` fields as JSON or YAML (``learning_rate``, ``lr_scheduler_type``,
  ``lr_scheduler_kwargs`` (a mapping or a JSON string), ``warmup_steps`` (a ratio when < 1, as
  transformers 5 reads it) or ``warmup_ratio``, ``max_steps``), e.g. ``hf_training_args.json`` or
  ``TrainingArguments.to_json_string()``;
* ``megatron``: ``--lr ... --lr-decay-style ...`` flags (a flags file, a launch script; ``#``
  comments and ``\`` continuations allowed) or a YAML / JSON mapping of the same names;
* ``torchtitan``: a job TOML with ``[lr_scheduler]`` (``warmup_steps``, ``decay_ratio``,
  ``decay_type``, ``min_lr_factor`` / the older ``lr_min``), ``[optimizer] lr`` and
  ``[training] steps``;
* ``torch``: the ``lr_table.json`` of the per-step route;
* ``csv``: a per-step ``step,lr`` table (steps 0, 1, 2, ... without gaps).

Every import is checked step by step: the trainer's own LR curve is computed from the settings
(with the same formula the exporter is proven against) and the cptdyn family built from them must
reproduce every step (relative error <= 1e-9); when no family does, the schedule is that exact
per-step curve (kind ``array``) and the note says why. Hence ``export`` followed by ``import`` gives
the same LR at every step.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cptdyn._errors import CptdynError

from ._core import (
    WSD,
    ArraySchedule,
    Constant,
    Cosine,
    InverseSqrt,
    Linear,
    Schedule,
    schedule_from_spec,
)
from ._export._common import RTOL, lr_table, rel_dev
from ._export._hf import _hf_curve
from ._export._megatron import _megatron_curve
from ._export._torchtitan import _torchtitan_curve

__all__ = ["IMPORT_SOURCES", "ScheduleImportError", "ImportResult", "import_schedule"]

IMPORT_SOURCES = ("hf", "megatron", "torchtitan", "torch", "csv")


class ScheduleImportError(CptdynError):
    """A trainer configuration that cannot be read as a schedule (one line naming the field)."""


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """``schedule`` (a cptdyn schedule), ``exact_family`` (a named family reproduces the trainer's
    curve; else the schedule is the per-step array) and a one-line ``note``."""

    schedule: Schedule
    exact_family: bool
    note: str


_Err = ScheduleImportError

# ------------------------------------------------------------------------------------ reading
def _read_text(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise _Err(f"{str(p)!r} does not exist")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _Err(f"{str(p)!r} cannot be read: {e}") from None


def _read_mapping(path: str | Path, prefer: str = "json") -> dict[str, Any]:
    """A JSON, YAML or TOML mapping (by suffix; else ``prefer``, then JSON, then YAML)."""
    text = _read_text(path)
    suffix = Path(path).suffix.lower()
    if suffix not in (".json", ".yaml", ".yml", ".toml") and prefer == "toml":
        suffix = ".toml"
    doc: Any
    try:
        if suffix == ".toml":
            doc = _toml_loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError:
                import yaml

                doc = yaml.safe_load(text)
    except _Err:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure is a user error
        raise _Err(f"{str(path)!r} cannot be parsed: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, Mapping):
        raise _Err(f"{str(path)!r} must hold a mapping of settings, got "
                           f"{type(doc).__name__}")
    return dict(doc)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _Err(f"TOML: {e}") from None


def _num(where: str, key: str, v: Any, *, integer: bool = False) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise _Err(f"{where}: {key}={v!r} is not a number") from None
    if not math.isfinite(x):
        raise _Err(f"{where}: {key}={v!r} is not a finite number")
    if integer and not x.is_integer():
        raise _Err(f"{where}: {key}={v!r} must be a whole number of steps")
    return x


def _steps(where: str, doc: Mapping[str, Any], key: str, total_steps: int | None) -> int:
    v = doc.get(key)
    if v is not None and _num(where, key, v) > 0:
        return int(_num(where, key, v, integer=True))
    if total_steps is None:
        raise _Err(f"{where}: {key} is {v!r}; give the run length (--total-steps)")
    return int(total_steps)


# -------------------------------------------------------------------------------- exactness
def _pick(source: str, curve: np.ndarray, cands: list[Callable[[], Schedule]],
          detail: str) -> ImportResult:
    """The first candidate reproducing ``curve`` at every step, else the exact array."""
    T = curve.shape[0]
    if not np.all(np.isfinite(curve)) or (curve < 0).any():
        raise _Err(f"{source}: the settings give a non-finite or negative LR ({detail})")
    best = (math.inf, 0)
    for make in cands:
        try:
            s = make()
        except ValueError:
            continue
        if s.total_steps != T:
            continue
        err, step = rel_dev(lr_table(s), curve)
        if err <= RTOL:
            return ImportResult(s, True, f"{source}: {detail} -> cptdyn kind {s.KIND!r}; "
                                f"reproduces all {T} steps (max relative error {err:.1e})")
        best = min(best, (err, step))
    why = ("no cptdyn family of this form" if not math.isfinite(best[0]) else
           f"the closest cptdyn family differs by a relative {best[0]:.2g} at step {best[1]}")
    return ImportResult(ArraySchedule(curve), False,
                        f"{source}: {detail} -> cptdyn kind 'array' (the trainer's LR at each of "
                        f"{T} steps) because {why}")


# --------------------------------------------------------------------------------------- hf
_HF_TYPES = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr",
             "polynomial", "inverse_sqrt", "warmup_stable_decay")


def _import_hf(path: str | Path, total_steps: int | None) -> ImportResult:
    where = f"hf {str(path)!r}"
    doc = _read_mapping(path)
    if "training_args" in doc and isinstance(doc["training_args"], Mapping):
        doc = dict(doc["training_args"])
    name = str(doc.get("lr_scheduler_type", "linear"))  # the TrainingArguments default
    if name.startswith("SchedulerType."):
        name = name.split(".", 1)[1].lower()
    if name not in _HF_TYPES:
        raise _Err(f"{where}: lr_scheduler_type={name!r} has no cptdyn form; "
                           f"supported: {', '.join(_HF_TYPES)}")
    lr = _num(where, "learning_rate", doc.get("learning_rate", 5e-5))
    if lr <= 0:
        raise _Err(f"{where}: learning_rate={lr:g} must be > 0")
    T = _steps(where, doc, "max_steps", total_steps)
    kw = doc.get("lr_scheduler_kwargs") or {}
    if isinstance(kw, str):
        try:
            kw = json.loads(kw) if kw.strip() else {}
        except json.JSONDecodeError:
            raise _Err(f"{where}: lr_scheduler_kwargs={kw!r} is not JSON") from None
    if not isinstance(kw, Mapping):
        raise _Err(f"{where}: lr_scheduler_kwargs must be a mapping")
    kw = dict(kw)
    ws = doc.get("warmup_steps", 0) or 0
    ws = _num(where, "warmup_steps", ws)
    ratio = _num(where, "warmup_ratio", doc.get("warmup_ratio", 0.0) or 0.0)
    if 0 < ws < 1:  # transformers >= 5: a float below 1 is a ratio of the run
        ratio, ws = ws, 0
    W = int(ws) if ws >= 1 else (math.ceil(T * ratio) if ratio > 0 else 0)
    if ws >= 1 and not float(ws).is_integer():
        raise _Err(f"{where}: warmup_steps={ws!r} must be a whole number of steps")
    if name == "constant":
        W = 0  # HF's 'constant' ignores warmup_steps
    if float(kw.get("num_cycles", 0.5)) != 0.5 and name in ("cosine", "cosine_with_min_lr",
                                                            "warmup_stable_decay"):
        raise _Err(f"{where}: num_cycles={kw['num_cycles']!r} (cptdyn's cosine is a "
                           "half cycle, num_cycles=0.5)")
    if name == "warmup_stable_decay" and kw.get("warmup_type", "linear") != "linear":
        raise _Err(f"{where}: warmup_type={kw['warmup_type']!r} (only 'linear' has a "
                           "cptdyn form)")
    if name == "warmup_stable_decay" and "num_decay_steps" not in kw:
        raise _Err(f"{where}: warmup_stable_decay needs lr_scheduler_kwargs."
                           "num_decay_steps")
    curve = _hf_curve(name, kw, W, T, lr)
    cands: list[Callable[[], Schedule]] = []
    if name in ("constant", "constant_with_warmup"):
        cands.append(lambda: Constant(T, lr, warmup_steps=W))
    elif name == "linear":
        cands.append(lambda: Linear(T, lr, 0.0, warmup_steps=W))
    elif name in ("cosine", "cosine_with_min_lr"):
        rate = 0.0
        if name == "cosine_with_min_lr":
            rate = (float(kw["min_lr"]) / lr if kw.get("min_lr") is not None
                    else float(kw.get("min_lr_rate", 0.0)))
        cands.append(lambda: Cosine(T, lr, rate * lr, warmup_steps=W))
    elif name == "polynomial":
        end, power = float(kw.get("lr_end", 1e-7)), float(kw.get("power", 1.0))
        if power == 1.0:
            cands.append(lambda: Linear(T, lr, end, warmup_steps=W))
        cands.append(lambda: WSD(T, lr, end, (T - W) / T, "power", power, warmup_steps=W))
    elif name == "inverse_sqrt":
        ts = kw.get("timescale")
        ts = float(W or 10_000) if ts is None else float(ts)
        cands.append(lambda: InverseSqrt(T, lr, ts, warmup_steps=W))
    else:  # warmup_stable_decay
        D = int(_num(where, "num_decay_steps", kw["num_decay_steps"], integer=True))
        m = float(kw.get("min_lr_ratio", 0.0) or 0.0)
        dt = str(kw.get("decay_type", "cosine"))
        if D == T - W and dt == "cosine":
            cands.append(lambda: Cosine(T, lr, m * lr, warmup_steps=W, warmup_init=m))
        if D == T - W and dt == "linear":
            cands.append(lambda: Linear(T, lr, m * lr, warmup_steps=W, warmup_init=m))
        if dt in ("linear", "cosine", "1-sqrt"):
            cands.append(lambda: WSD(T, lr, m * lr, D / T, dt, warmup_steps=W, warmup_init=m))
    return _pick("hf", curve, cands, f"lr_scheduler_type={name!r}, {T} steps, warmup {W}")


# --------------------------------------------------------------------------------- megatron
_MEGATRON_KEYS = ("lr", "min_lr", "lr_decay_style", "lr_warmup_iters", "lr_warmup_init",
                  "lr_warmup_fraction", "lr_decay_iters", "lr_wsd_decay_style",
                  "lr_wsd_decay_iters", "train_iters")
_MEGATRON_SHAPES = {"linear": "linear", "cosine": "cosine", "minus_sqrt": "1-sqrt"}


def _megatron_flags(text: str) -> dict[str, Any]:
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            line = line[:-1]
        lines.append(line)
    try:
        toks = shlex.split(" ".join(lines))
    except ValueError as e:
        raise _Err(f"megatron flags: {e}") from None
    out: dict[str, Any] = {}
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.startswith("--"):
            key, _, val = tok[2:].partition("=")
            key = key.replace("-", "_")
            if not val and i + 1 < len(toks) and not toks[i + 1].startswith("--"):
                val = toks[i + 1]
                i += 1
            if key in _MEGATRON_KEYS:
                out[key] = val
        i += 1
    return out


def _import_megatron(path: str | Path, total_steps: int | None) -> ImportResult:
    where = f"megatron {str(path)!r}"
    text = _read_text(path)
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml", ".json"):
        doc = {k.replace("-", "_"): v for k, v in _read_mapping(path).items()}
    else:
        doc = _megatron_flags(text)
    if "lr" not in doc:
        raise _Err(f"{where}: no --lr found")
    lr = _num(where, "lr", doc["lr"])
    mn = _num(where, "min_lr", doc.get("min_lr", 0.0))
    T = _steps(where, doc, "train_iters", total_steps)
    Dd = int(_num(where, "lr_decay_iters", doc.get("lr_decay_iters", T), integer=True))
    if "lr_warmup_fraction" in doc and doc.get("lr_warmup_iters") not in (None, "0", 0):
        raise _Err(f"{where}: give --lr-warmup-iters or --lr-warmup-fraction, not both")
    if "lr_warmup_fraction" in doc:
        W = int(_num(where, "lr_warmup_fraction", doc["lr_warmup_fraction"]) * Dd)
    else:
        W = int(_num(where, "lr_warmup_iters", doc.get("lr_warmup_iters", 0), integer=True))
    init = _num(where, "lr_warmup_init", doc.get("lr_warmup_init", 0.0))
    style = str(doc.get("lr_decay_style", "linear"))  # Megatron's default
    if style not in ("constant", "linear", "cosine", "inverse-square-root", "WSD"):
        raise _Err(f"{where}: --lr-decay-style {style!r} has no cptdyn form")
    cfg: dict[str, Any] = {"lr": lr, "min_lr": mn, "lr_warmup_iters": W, "lr_warmup_init": init,
                           "lr_decay_iters": Dd, "lr_decay_style": style}
    wshape = None
    if style == "WSD":
        ws = str(doc.get("lr_wsd_decay_style", "exponential"))  # Megatron's default
        if ws not in _MEGATRON_SHAPES and ws != "exponential":
            raise _Err(f"{where}: --lr-wsd-decay-style {ws!r} is unknown")
        if "lr_wsd_decay_iters" not in doc:
            raise _Err(f"{where}: --lr-decay-style WSD needs --lr-wsd-decay-iters")
        cfg["lr_wsd_decay_style"] = ws
        cfg["lr_wsd_decay_iters"] = int(_num(where, "lr_wsd_decay_iters",
                                             doc["lr_wsd_decay_iters"], integer=True))
        wshape = _MEGATRON_SHAPES.get(ws)
    curve = _megatron_curve(cfg, T)
    r = init / lr if lr > 0 else 0.0
    # (t+1)/W warmups are exported as W-1 iterations from peak/W: try both readings
    warms: list[tuple[int, float | None]] = [(W, r)]
    if init > 0 and math.isclose(init, lr / (W + 1), rel_tol=1e-12):
        warms.append((W + 1, None))
    def cand(w: int, ri: float | None) -> Callable[[], Schedule]:
        def make() -> Schedule:
            if style == "constant":
                return Constant(T, lr, warmup_steps=w, warmup_init=ri)
            if style == "cosine":
                return Cosine(T, lr, mn, warmup_steps=w, warmup_init=ri)
            if style == "linear":
                return Linear(T, lr, mn, warmup_steps=w, warmup_init=ri)
            if style == "inverse-square-root":
                return InverseSqrt(T, lr, warmup_steps=w, warmup_init=ri)
            if wshape is None:
                raise ValueError("Megatron's 'exponential' WSD decay is 2*0.5^x-1, not geometric")
            return WSD(T, lr, mn, cfg["lr_wsd_decay_iters"] / T, wshape, warmup_steps=w,
                       warmup_init=ri)

        return make

    cands = [cand(w, ri) for w, ri in warms]
    return _pick("megatron", curve, cands,
                 f"--lr-decay-style {style}, {T} iterations, warmup {W}")


# ------------------------------------------------------------------------------- torchtitan
_TT_SHAPES = {"linear": "linear", "cosine": "cosine", "sqrt": "1-sqrt"}


def _import_torchtitan(path: str | Path, total_steps: int | None) -> ImportResult:
    where = f"torchtitan {str(path)!r}"
    doc = _read_mapping(path, prefer="toml")
    ls = doc.get("lr_scheduler")
    if not isinstance(ls, Mapping):
        raise _Err(f"{where}: no [lr_scheduler] table")
    opt = doc.get("optimizer") or {}
    if "lr" not in opt:
        raise _Err(f"{where}: no [optimizer] lr")
    lr = _num(where, "optimizer.lr", opt["lr"])
    T = _steps(where, doc.get("training") or {}, "steps", total_steps)
    W = int(_num(where, "warmup_steps", ls.get("warmup_steps", 200), integer=True))
    ratio = ls.get("decay_ratio")
    dt = str(ls.get("decay_type", "linear"))
    if dt not in _TT_SHAPES:
        raise _Err(f"{where}: decay_type={dt!r} is unknown (linear, sqrt, cosine)")
    m = _num(where, "min_lr_factor", ls.get("min_lr_factor", ls.get("lr_min", 0.0)))
    cfg = {"lr": lr, "warmup_steps": W, "decay_ratio": None if ratio is None else float(ratio),
           "decay_type": dt, "min_lr_factor": m}
    curve = _torchtitan_curve(cfg, T)
    Wc = min(W, T)
    D = T - Wc if ratio is None else min(round(T * float(ratio)), T - Wc)
    shape = _TT_SHAPES[dt]
    cands: list[Callable[[], Schedule]] = []
    if D == 0:
        cands.append(lambda: Constant(T, lr, warmup_steps=Wc, warmup_init=None))
    if D == T - Wc and shape in ("linear", "cosine"):
        cls = Linear if shape == "linear" else Cosine
        cands.append(lambda: cls(T, lr, m * lr, warmup_steps=Wc, warmup_init=None))
    cands.append(lambda: WSD(T, lr, m * lr, D / T, shape, warmup_steps=Wc, warmup_init=None))
    return _pick("torchtitan", curve, cands,
                 f"decay_type={dt!r}, decay_ratio={ratio}, {T} steps, warmup {W}")


# ------------------------------------------------------------------------------ torch / csv
def _import_torch(path: str | Path, total_steps: int | None) -> ImportResult:
    where = f"torch {str(path)!r}"
    doc = _read_mapping(path)
    lrs = doc.get("lrs")
    if not isinstance(lrs, list) or not lrs:
        raise _Err(f"{where}: no 'lrs' list (expected a cptdyn lr_table.json)")
    curve = np.asarray([_num(where, f"lrs[{i}]", x) for i, x in enumerate(lrs)])
    cands: list[Callable[[], Schedule]] = []
    if isinstance(doc.get("schedule"), Mapping):
        spec = doc["schedule"]
        cands.append(lambda: schedule_from_spec(spec))
    return _pick("torch", curve, cands, f"lr_table with {curve.size} steps")


def _import_csv(path: str | Path, total_steps: int | None) -> ImportResult:
    where = f"csv {str(path)!r}"
    rows = list(csv.reader(io.StringIO(_read_text(path))))
    rows = [r for r in rows if r and not r[0].lstrip().startswith("#")]
    if not rows:
        raise _Err(f"{where}: empty")
    head = [h.strip() for h in rows[0]]
    step_col = next((i for i, h in enumerate(head) if h.lower() in ("step", "steps", "iteration",
                                                                     "train/global_step")), None)
    lr_col = next((i for i, h in enumerate(head) if h.lower() in (
        "lr", "learning_rate", "train/learning_rate", "lr-adamw", "learning-rate")), None)
    if lr_col is None:
        raise _Err(f"{where}: no 'lr' column (header: {', '.join(head)})")
    vals, steps = [], []
    for n, r in enumerate(rows[1:], start=2):
        if lr_col >= len(r):
            raise _Err(f"{where} row {n}: no value in column {head[lr_col]!r}")
        vals.append(_num(f"{where} row {n}", head[lr_col], r[lr_col]))
        if step_col is not None:
            steps.append(_num(f"{where} row {n}", head[step_col], r[step_col], integer=True))
    if step_col is not None and steps != list(range(len(steps))):
        bad = next(i for i, s in enumerate(steps) if s != i)
        raise _Err(f"{where} row {bad + 2}: step {steps[bad]:g} where {bad} was expected "
                           "(a per-step table counts 0, 1, 2, ... without gaps)")
    curve = np.asarray(vals, dtype=np.float64)
    if total_steps is not None and total_steps != curve.size:
        raise _Err(f"{where}: {curve.size} rows but --total-steps {total_steps}")
    return _pick("csv", curve, [], f"{curve.size} per-step LRs")


_READERS: dict[str, Callable[[str | Path, int | None], ImportResult]] = {
    "hf": _import_hf, "megatron": _import_megatron, "torchtitan": _import_torchtitan,
    "torch": _import_torch, "csv": _import_csv,
}


def import_schedule(path: str | Path, source: str, *, total_steps: int | None = None
                    ) -> ImportResult:
    """Read a trainer's LR settings from ``path`` (``source`` in :data:`IMPORT_SOURCES`) into a
    cptdyn schedule, checked step by step against the trainer's own curve.

    ``total_steps`` gives the run length when the file does not (HF ``max_steps=-1``, a Megatron
    flags file without ``--train-iters``). Raises :class:`ScheduleImportError` (a ``ValueError``)
    with one line naming the file and the field.
    """
    if source not in _READERS:
        raise _Err(f"source={source!r} is unknown; choose one of "
                           f"{', '.join(IMPORT_SOURCES)}")
    if total_steps is not None and total_steps < 1:
        raise _Err(f"total_steps={total_steps} must be >= 1")
    return _READERS[source](path, total_steps)
