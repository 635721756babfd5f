r"""What every exporter shares: the float64 reference table, the candidate search that decides
``native``, the per-step table route, and small text writers (YAML, TOML, comments).

The candidate search
--------------------
A trainer file proposes configs (:class:`Candidate`: the config, the LR curve the trainer would
produce from it -- the trainer's formula as written in its source -- and a description). With
``ref = lr_table(schedule)`` (``schedule.array()`` in float64), a candidate matches when its curve
``c`` satisfies, at *every* step ``t``,

    |c[t] - ref[t]| / max(|ref[t]|, ATOL_FRAC * max|ref|) <= RTOL      (RTOL = 1e-9)

:func:`search` is the exporter skeleton, written once: read the schedule (a Schedule or a spec
dict), build the reference table, ask the trainer for its candidates, take the first that matches
(:func:`choose`). :func:`pick_or_raise` is the same for config-only trainers, which raise
:class:`ExportError` with one line naming the closest config and where it differs.

The per-step table route
------------------------
``lrs[t]`` is the LR of update ``t`` (:data:`STEP_CONVENTION`). :func:`torch_bundle` writes the
table (``lr_table.json`` or ``lr_table.csv``) and ``cptdyn_lr_scheduler.py``, a standalone
``LambdaLR`` loader (``_torch_loader_template.py`` in this folder, torch and the standard library
only). PyTorch exports it as is; Hugging Face falls back to it.
"""

import csv
import dataclasses
import importlib.resources
import io
import json
import math
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cptdyn._errors import ExportError
from cptdyn._pytree import x64_context

from .._core import WSD, CPTSchedule, Schedule, schedule_from_spec

__all__ = [
    "RTOL",
    "STEP_CONVENTION",
    "TORCH_LOADER_NAME",
    "Candidate",
    "ExportResult",
    "as_float",
    "comment",
    "fail",
    "final_of",
    "fmt",
    "frac_for",
    "frac_reason",
    "kind_text",
    "lr_table",
    "note_native",
    "peak_of",
    "pick_or_raise",
    "r_text",
    "rel_dev",
    "resolved_cpt",
    "safe_ratio",
    "same",
    "search",
    "table_csv",
    "to_schedule",
    "toml_scalar",
    "torch_bundle",
    "warmup_of",
    "wsd_decay_steps",
    "yaml_scalar",
    "yaml_text",
]

TORCH_TABLE_NAME = "lr_table.json"
TORCH_LOADER_NAME = "cptdyn_lr_scheduler.py"
TORCH_LOADER_TEMPLATE = "_torch_loader_template.py"
STEP_CONVENTION = "lrs[t] is the LR of optimizer update t (0-based; the first update is t = 0)"

# A native mapping must reproduce the planned LRs to this relative error at every step
# (absolute floor: ATOL_FRAC * peak, for values that are 0 or nearly so).
RTOL = 1e-9
ATOL_FRAC = 1e-12


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an exporter returns.

    Attributes:
        target: one of :data:`EXPORT_TARGETS`.
        native: ``True`` when the target rebuilds the curve from its own config / schedule
            functions; ``False`` for the per-step route (a lookup table).
        note: one paragraph for humans: the route taken and, for the per-step route, why.
        payload: the Python object (optax callable, dict of config fields, list of flags ...).
        files: ``{file name: text}``, what :func:`write` puts on disk.
        max_rel_error: largest relative deviation of the target's LR from ``schedule.array()``
            over all steps (0.0 for exact tables).
        total_steps: length of the schedule.
    """

    target: str
    native: bool
    note: str
    payload: Any
    files: Mapping[str, str]
    max_rel_error: float
    total_steps: int

    def text(self) -> str:
        """What the CLI prints when no ``--out`` is given: the file, or every file with a header."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        parts = []
        for name, body in self.files.items():
            parts.append(f"# ---- {name} ----\n{body}" + ("" if body.endswith("\n") else "\n"))
        return "".join(parts)


# ------------------------------------------------------------------------------- numbers, schedule
def fail(target: str, msg: str) -> ExportError:
    return ExportError(f"{target}: {msg}")


def as_float(x: Any, what: str = "value") -> float:
    try:
        v = float(np.asarray(x))
    except Exception as e:  # tracers, non-scalars
        raise ExportError(f"{what} is not a concrete number ({type(x).__name__})") from e
    return v


def whole(x: float) -> int | None:
    r = round(x)
    return int(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else None


def fmt(x: float) -> str:
    return repr(float(x))


def to_schedule(schedule: Any) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, Mapping):
        try:
            return schedule_from_spec(schedule)
        except ValueError as e:
            raise ExportError(str(e)) from e
    raise ExportError(f"schedule must be a Schedule or a spec dict, got {type(schedule).__name__}")


def lr_table(schedule: Schedule) -> np.ndarray:
    """``schedule.array()`` computed in float64 (rebuilt from its spec under x64)."""
    try:
        spec = schedule.to_spec()
    except Exception as e:
        raise ExportError(f"{schedule.KIND}: cannot read the schedule's values ({e})") from e
    try:
        with x64_context():
            arr = np.asarray(schedule_from_spec(spec).array(), dtype=np.float64)
    except ValueError as e:
        raise ExportError(str(e)) from e
    if arr.shape != (schedule.total_steps,):
        raise ExportError(f"{schedule.KIND}: array has shape {arr.shape}")
    return arr


def resolved_cpt(s: CPTSchedule) -> Schedule:
    """``s.resolved_cpt()`` with a ``warmup_from_previous`` start computed in float64."""
    with x64_context():
        c = schedule_from_spec(s.to_spec()).resolved_cpt()  # type: ignore[attr-defined]
        r = getattr(c, "warmup_init", None)
        r = None if r is None else float(np.asarray(r))
    if r is None:
        return c
    return dataclasses.replace(c, warmup_init=r)  # type: ignore[type-var]


def rel_dev(implied: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    implied = np.broadcast_to(np.asarray(implied, dtype=np.float64), ref.shape)
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    den = np.maximum(np.abs(ref), ATOL_FRAC * scale)
    err = np.abs(implied - ref) / den
    if not np.all(np.isfinite(err)):
        i = int(np.argmax(~np.isfinite(err)))
        return math.inf, i
    i = int(np.argmax(err))
    return float(err[i]), i


def warmup_of(s: Schedule) -> tuple[int, float | None]:
    w = int(getattr(s, "warmup_steps", 0))
    r = getattr(s, "warmup_init", None)
    return w, (None if r is None else as_float(r, "warmup_init"))


def peak_of(s: Schedule) -> float:
    return as_float(s.peak_lr, "peak_lr")  # type: ignore[attr-defined]


def final_of(s: Schedule) -> float:
    return as_float(s.final_lr, "final_lr")  # type: ignore[attr-defined]


def wsd_decay_steps(s: WSD) -> int | None:
    return whole(as_float(s.decay_fraction, "decay_fraction") * s.total_steps)


def frac_reason(s: WSD) -> str:
    d = as_float(s.decay_fraction, "decay_fraction") * s.total_steps
    return f"decay_fraction={as_float(s.decay_fraction):g} ({d:g} decay steps, not a whole number)"


def safe_ratio(num: float, den: float) -> float:
    return num / den if den != 0 else 0.0


def same(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-12 * max(1.0, abs(b))


def frac_for(k: int, T: int, conv: Callable[[float], int]) -> float:
    """A fraction f with conv(f) == k (clean k/T when it round-trips, else (k+0.5)/T)."""
    for f in (k / T, (k + 0.5) / T):
        if conv(f) == k:
            return f
    raise ExportError(f"cannot express {k} of {T} steps as a fraction")  # pragma: no cover


# ------------------------------------------------------------------------------- candidate search
@dataclasses.dataclass
class Candidate:
    """A config proposed for a target, with the LR curve the trainer would produce from it."""

    config: Any
    curve: Callable[[], np.ndarray]
    desc: str


def choose(
    target: str, ref: np.ndarray, cands: list[Candidate]
) -> tuple[Candidate | None, float, str]:
    """First candidate whose implied curve matches ``ref``; else (None, best error, why)."""
    best = (math.inf, 0, "")
    for c in cands:
        err, step = rel_dev(c.curve(), ref)
        if err <= RTOL:
            return c, err, ""
        if err < best[0]:
            best = (err, step, c.desc)
    if not cands:
        return None, math.inf, ""
    err, step, desc = best
    return None, err, (
        f"the closest {target} config ({desc}) differs by a relative {err:.2g} at step {step}"
    )


@dataclasses.dataclass(frozen=True)
class Search:
    """Outcome of :func:`search`: the schedule read, its float64 table, the matching candidate (or
    ``None``), its error (or the closest one's) and, when none matched, why (one line)."""

    schedule: Schedule
    table: np.ndarray
    best: Candidate | None
    error: float
    reason: str


def search(
    target: str,
    schedule: Schedule | Mapping[str, Any],
    candidates: Callable[[Schedule], tuple[list[Candidate], str]],
) -> Search:
    """The exporter skeleton: read ``schedule``, tabulate it in float64, ask the trainer's
    ``candidates`` (configs and the reason some forms are impossible) and pick the first match."""
    s = to_schedule(schedule)
    ref = lr_table(s)
    cands, why = candidates(s)
    best, err, why2 = choose(target, ref, cands)
    return Search(s, ref, best, err, "; ".join(x for x in (why, why2) if x))


def pick_or_raise(
    target: str,
    schedule: Schedule | Mapping[str, Any],
    candidates: Callable[[Schedule], tuple[list[Candidate], str]],
) -> tuple[Schedule, Candidate, float]:
    """:func:`search` for a config-only trainer: (schedule, matching candidate, its error), or
    :class:`ExportError` ``"<target>: cannot express kind=...: <reason>"``."""
    found = search(target, schedule, candidates)
    s = found.schedule
    if found.best is None:
        reason = found.reason or "no matching configuration"
        if isinstance(s, CPTSchedule):
            reason += " (a 'cpt' schedule is two runs: export part='pt' and part='cpt')"
        raise fail(target, f"cannot express {kind_text(s)}: {reason}")
    return s, found.best, found.error


# ------------------------------------------------------------------------- text formats (no deps)
def r_text(r: float | None) -> str:
    return "None" if r is None else f"{r:g}"


def zero_init_refusal(s: Schedule, how: str) -> str:
    """``""`` when ``s`` has no warmup or warms up from 0 (as trainers that ramp from zero do),
    else the reason to refuse: its ``warmup_init`` and ``how`` the trainer warms up."""
    W, r = warmup_of(s)
    if W and not same(r, 0.0):
        return f"warmup_init={r_text(r)} ({how}, i.e. cptdyn warmup_init=0.0)"
    return ""


def note_native(target: str, desc: str, err: float, T: int, extra: str = "") -> str:
    return (
        f"{target}: native ({desc}); reproduces all {T} steps of the plan "
        f"(max relative error {err:.1e}).{(' ' + extra) if extra else ''}"
    )


def kind_text(s: Schedule) -> str:
    return f"kind={s.KIND!r}"


def yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        r = repr(float(v))
        if "e" in r:  # PyYAML (YAML 1.1) reads 1e-05 as a string: write 1.0e-05
            mant, ex = r.split("e")
            if "." not in mant:
                mant += ".0"
            r = f"{mant}e{ex}"
        return r
    return json.dumps(str(v))


def yaml_text(d: Mapping[str, Any], indent: int = 0) -> str:
    lines = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, Mapping):
            lines.append(f"{pad}{k}:")
            lines.append(yaml_text(v, indent + 1).rstrip("\n"))
        else:
            lines.append(f"{pad}{k}: {yaml_scalar(v)}")
    return "\n".join(lines) + "\n"


def toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return json.dumps(str(v))


def comment(text: str, prefix: str = "# ") -> str:
    lines = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, 98 - len(prefix), break_on_hyphens=False) or [""]
    return "".join(f"{prefix}{line}\n" for line in lines)


# ---------------------------------------------------------------------------- per-step table route
def loader_source() -> str:
    try:
        return (
            importlib.resources.files(__package__ or "cptdyn.schedules._export")
            .joinpath(TORCH_LOADER_TEMPLATE)
            .read_text(encoding="utf-8")
        )
    except (FileNotFoundError, ModuleNotFoundError, TypeError):
        return (Path(__file__).with_name(TORCH_LOADER_TEMPLATE)).read_text(encoding="utf-8")


def table_json(s: Schedule, lrs: np.ndarray, base_lr: float) -> str:
    meta = {
        "format": "cptdyn-lr-table",
        "version": 1,
        "step_convention": STEP_CONVENTION,
        "past_end": "build_scheduler(past_end='hold') keeps the last LR; 'zero' returns 0",
        "num_steps": int(lrs.shape[0]),
        "base_lr": float(base_lr),
        "schedule": s.to_spec(),
    }
    head = json.dumps(meta, indent=1)[:-2]  # drop the closing "\n}"
    values = json.dumps([float(x) for x in lrs])
    return f'{head},\n "lrs": {values}\n}}\n'


def table_csv(lrs: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "lr"])
    for t, x in enumerate(lrs):
        w.writerow([t, repr(float(x))])
    return buf.getvalue()


def torch_bundle(s: Schedule, lrs: np.ndarray, base_lr: float | None, past_end: str,
                  table_format: str) -> tuple[dict[str, str], dict[str, Any]]:
    if past_end not in ("hold", "zero"):
        raise ExportError(f"torch: past_end={past_end!r} must be 'hold' or 'zero'")
    peak = float(np.max(lrs))
    nominal = getattr(s, "peak_lr", None)
    try:
        nominal = None if nominal is None else float(np.asarray(nominal))
    except TypeError:  # pragma: no cover - traced
        nominal = None
    if nominal is not None and nominal > 0 and peak <= nominal * (1 + 1e-12):
        peak = nominal  # a round base LR (the table may sit a few ulps below peak_lr)
    base = float(base_lr) if base_lr is not None else (peak if peak > 0 else 1.0)
    if not (base > 0 and math.isfinite(base)):
        raise ExportError(f"torch: base_lr={base_lr!r} must be a positive number")
    if table_format == "json":
        table_name, table = TORCH_TABLE_NAME, table_json(s, lrs, base)
    elif table_format == "csv":
        table_name, table = "lr_table.csv", table_csv(lrs)
    else:
        raise ExportError(f"torch: table_format={table_format!r} must be 'json' or 'csv'")
    loader = loader_source()
    for old, new in (
        ("DEFAULT_BASE_LR = None\n", f"DEFAULT_BASE_LR = {base!r}\n"),
        ('DEFAULT_PAST_END = "hold"\n', f"DEFAULT_PAST_END = {past_end!r}\n"),
    ):
        if old not in loader:  # pragma: no cover - template and exporter out of sync
            raise RuntimeError(f"torch loader template lacks {old.strip()!r}")
        loader = loader.replace(old, new, 1)
    files = {table_name: table, TORCH_LOADER_NAME: loader}
    payload = {"lrs": [float(x) for x in lrs], "base_lr": base, "past_end": past_end}
    return files, payload
