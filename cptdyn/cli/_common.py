"""What the command modules share: the parser with the one-line error contract, the schedule
options, readers for schedule specs and LR values, the metric table, and the error handling of
``main``.

This module sits below every command module and imports none of them (nor, at import time, any
layer: ``cptdyn --help`` must not import JAX).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from cptdyn._errors import CLIError
from cptdyn._io import atomic_write, read_json

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse with the one-line error contract."""

    def error(self, message: str) -> NoReturn:
        cmd = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        raise CLIError(f"{cmd}: {message}" if cmd else message)


def one_line(e: BaseException | str) -> str:
    """An error message on one line, each part said once (see ``_output.one_line``)."""
    from ._output import one_line as _one

    return _one(e)


# ----------------------------------------------------------------------------------- schedules
#: ``cptdyn.schedules.schedule_kinds()`` without ``cpt``, written out so that building the parser
#: does not import the schedules layer (and JAX); tests/cli/test_wiring.py compares the two.
SCHEDULE_KINDS = ("constant", "cosine", "linear", "inverse-sqrt", "multistep", "two-stage",
                  "cyclic-cosine", "wsd", "constant-then-decay", "polyline", "array")

#: ``cptdyn.schedules.EXPORT_TARGETS``, written out for the same reason (and tested the same way).
EXPORT_TARGETS = ("optax", "torch", "hf", "megatron", "torchtitan", "nanotron", "olmo-core",
                  "maxtext", "levanter", "csv", "json")

#: ``cptdyn.schedules._core.KIND_ALIASES`` (HF / Megatron-LM / optax names), written out for the
#: same reason (tests/cli/test_schedule.py compares the two).
KIND_ALIASES = ("constant_with_warmup", "cosine_with_min_lr", "inverse_sqrt",
                "warmup_stable_decay", "inverse-square-root", "WSD", "constant_schedule",
                "warmup_constant_schedule", "cosine_decay_schedule",
                "warmup_cosine_decay_schedule", "linear_schedule", "two_stage", "cyclic_cosine",
                "constant_then_decay")

#: ``cptdyn.schedules._import.IMPORT_SOURCES``, written out for the same reason.
IMPORT_SOURCES = ("hf", "megatron", "torchtitan", "torch", "csv")

SCHEDULE_OPTIONS: list[tuple[str, str, Any, str]] = [
    # flag, field, type, help
    ("--total-steps", "total_steps", int, "whole run incl. warmup (all kinds but array)"),
    ("--peak-lr", "peak_lr", float, "peak LR, absolute (e.g. 3e-4)"),
    ("--final-lr", "final_lr", float, "final LR (cosine, linear, wsd, constant-then-decay, "
     "cyclic-cosine); default 0"),
    ("--warmup-steps", "warmup_steps", int, "warmup length in steps (default 0)"),
    ("--warmup-fraction", "warmup_fraction", float, "warmup length as a fraction of total steps"),
    ("--warmup-init", "warmup_init", float, "warmup start as a fraction of peak: step 0 runs at "
     "init*peak, peak first reached at step W (default 0: linear from 0, as HF/optax/Megatron)"),
    ("--warmup-style", "warmup_style", str, "linear (default) or torchtitan: lr(t) = "
     "peak*(t+1)/W, torchtitan's warmup"),
    ("--lr-warmup-init", "lr_warmup_init", float, "Megatron: absolute LR of the first warmup "
     "step (instead of --warmup-init)"),
    ("--min-lr-ratio", "min_lr_ratio", float, "HF: final LR as a fraction of peak (instead of "
     "--final-lr)"),
    ("--decay-fraction", "decay_fraction", float, "wsd/constant-then-decay: decay length as a "
     "fraction of total steps (default 0.2)"),
    ("--decay-steps", "decay_steps", int, "wsd/constant-then-decay: decay length in steps"),
    ("--decay-shape", "decay_shape", str, "wsd/constant-then-decay: linear, cosine, 1-sqrt, "
     "exponential, square, mirror-cosine, power"),
    ("--decay-power", "decay_power", float, "wsd power shape: exponent p of (1-tau)^p"),
    ("--second-lr", "second_lr", float, "two-stage: LR after the switch"),
    ("--switch-step", "switch_step", int, "two-stage: first step at the second LR"),
    ("--switch-fraction", "switch_fraction", float, "two-stage: switch as a fraction of the run"),
    ("--timescale", "timescale", float, "inverse-sqrt: timescale (default warmup steps)"),
    ("--cycle-steps", "cycle_steps", int, "cyclic-cosine: cycle length"),
    ("--rewarmup-steps", "rewarmup_steps", int, "cyclic-cosine: re-warmup length per cycle"),
]


#: Hugging Face / Megatron-LM spellings accepted for the same options (same meaning and units).
OPTION_ALIASES: dict[str, tuple[str, ...]] = {
    "--total-steps": ("--max-steps", "--train-iters"),
    "--peak-lr": ("--lr", "--learning-rate"),
    "--final-lr": ("--min-lr",),
    "--warmup-steps": ("--lr-warmup-iters",),
    "--warmup-fraction": ("--warmup-ratio",),
    "--decay-steps": ("--lr-wsd-decay-iters", "--num-decay-steps"),
    "--decay-shape": ("--lr-wsd-decay-style", "--decay-type"),
}


def add_schedule_options(p: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """The ``SCHEDULE_OPTIONS`` flags on ``p`` (all default to None), each with its HF /
    Megatron-LM aliases (``OPTION_ALIASES``); flags in ``skip`` are left out."""
    for flag, field, typ, hlp in SCHEDULE_OPTIONS:
        if flag in skip:
            continue
        p.add_argument(flag, *OPTION_ALIASES.get(flag, ()), dest=field, type=typ, default=None,
                       help=hlp)


def _float_list(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"{flag} {text!r}: expected comma-separated numbers") from None


def schedule_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``make_schedule`` from the parsed schedule options."""
    kw: dict[str, Any] = {}
    for _flag, field, _t, _h in SCHEDULE_OPTIONS:
        v = getattr(args, field)
        if v is not None:
            kw[field] = v
    if args.warmup_from_previous:
        kw["warmup_from_previous"] = True
    if args.milestones is not None:
        vals = _float_list(args.milestones, "--milestones")
        bad = [v for v in vals if not math.isfinite(v) or v < 0]
        if bad:
            raise CLIError(f"--milestones {args.milestones!r}: {bad[0]:g} is not a step or a "
                           "fraction >= 0")
        fractional = [v for v in vals if not float(v).is_integer()]
        if fractional and all(0 <= v <= 1 for v in vals):
            kw["milestone_fractions"] = vals
        elif fractional:
            raise CLIError(f"--milestones {args.milestones!r}: mixes fractions ({fractional[0]:g})"
                           " and steps; give all as steps or all as fractions in [0, 1]")
        else:
            kw["milestones"] = tuple(int(v) for v in vals)
    if args.factors is not None:
        kw["factors"] = tuple(_float_list(args.factors, "--factors"))
    if args.knots is not None:
        steps, lrs = [], []
        for item in args.knots.split(","):
            if ":" not in item:
                raise CLIError(f"--knots item {item!r}: expected STEP:LR")
            s, v = item.split(":", 1)
            try:
                steps.append(int(s))
                lrs.append(float(v))
            except ValueError:
                raise CLIError(f"--knots item {item!r}: expected STEP:LR") from None
        kw["knot_steps"] = tuple(steps)
        kw["knot_lrs"] = tuple(lrs)
    if args.values is not None:
        kw["values"] = read_lr_values(args.values)
    return kw


def make_schedule_from_flags(kind: str, kw: Mapping[str, Any]) -> Any:
    """``make_schedule(kind, **kw)`` with errors about a field named by its flag."""
    import re

    from cptdyn.schedules import make_schedule

    try:
        return make_schedule(kind, **kw)
    except ValueError as e:
        m = re.search(r"unknown field '(\w+)'", str(e))
        flags = {field: flag for flag, field, _t, _h in SCHEDULE_OPTIONS}
        flags.update(milestone_fractions="--milestones", milestones="--milestones",
                     factors="--factors", knot_steps="--knots", knot_lrs="--knots",
                     values="--values", warmup_from_previous="--warmup-from-previous")
        if m and m.group(1) in flags:
            raise CLIError(f"{flags[m.group(1)]} does not apply to schedule kind {kind!r}"
                           ) from None
        raise


def read_lr_values(path: str) -> np.ndarray:
    """Per-step LR values from a .npy file, a one-column text file or a CSV with an 'lr' column."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"--values {path!r} does not exist")
    if p.is_dir():
        raise CLIError(f"--values {path!r} is a folder, not a file")
    if p.suffix == ".npy":
        try:
            vals = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CLIError(f"--values {path!r} cannot be read as .npy: {one_line(e)}") from None
        if vals.ndim != 1 or vals.dtype.kind not in "fiu":
            raise CLIError(f"--values {path!r}: expected a 1-D array of numbers, got shape "
                           f"{vals.shape} dtype {vals.dtype}")
        vals = vals.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            raise CLIError(f"--values {path!r} index {bad[0]}: not a finite number")
        return vals
    import pandas as pd

    try:
        df = pd.read_csv(p, encoding="utf-8-sig")
    except Exception as e:  # noqa: BLE001 - any parse failure is a user error
        raise CLIError(f"--values {path!r} cannot be read as CSV: {one_line(e)}") from None
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise CLIError(f"--values {path!r} has no values")
    col = "lr" if "lr" in df.columns else df.columns[-1]
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        raise CLIError(f"--values {path!r} row {bad[0] + 2} column {col!r}: not a finite number")
    return vals


def load_spec(path: str, what: str) -> Any:
    """The schedule of a spec file; an unreadable or invalid spec is a one-line error naming the
    option ``what``."""
    from cptdyn.schedules import schedule_from_spec

    doc = read_json(path, what)
    try:
        return schedule_from_spec(doc)
    except ValueError as e:
        raise CLIError(f"{what} {path!r}: {e}") from None


def lr_array(sched: Any) -> np.ndarray:
    """The schedule's per-step LRs in float64."""
    from cptdyn._pytree import x64_context

    with x64_context():
        return np.asarray(sched.array(), dtype=np.float64)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    """``doc`` as indented JSON, written atomically."""
    atomic_write(path, json.dumps(doc, indent=2) + "\n")


# --------------------------------------------------------------------------------------- tables
def text_table(rows: Sequence[Mapping[str, Any]], cols: Sequence[tuple[str, str, str]],
               rule_before: int | None = None) -> str:
    """Plain text table: cols = (header, key, format); a rule under the header and, with
    ``rule_before=i``, before row ``i`` (e.g. a mean row). Non-finite numbers print as ``-``."""
    cells = [[h for h, _, _ in cols]]
    for r in rows:
        line = []
        for _, k, f in cols:
            v = r.get(k)
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            line.append("-" if v is None else (format(v, f) if isinstance(v, (int, float))
                                               else str(v)))
        cells.append(line)
    w = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    out = io.StringIO()
    for j, c in enumerate(cells):
        out.write("  ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i])
                            for i, x in enumerate(c)).rstrip() + "\n")
        if j == 0 or (rule_before is not None and j == rule_before):
            out.write("  ".join("-" * x for x in w) + "\n")
    return out.getvalue()


METRIC_COLS = [("run", "run", ""), ("R2", "R2", ".5f"), ("MAE", "MAE", ".5f"),
               ("RMSE", "RMSE", ".5f"), ("PredE", "PredE", ".5f"), ("WorstE", "WorstE", ".5f"),
               ("final_error", "final_error", "+.5f")]


def metric_row(name: str, m: Mapping[str, Any], dataset: str | None = None) -> dict[str, Any]:
    """One ``METRIC_COLS`` row from a per-run metrics mapping of ``fit`` / ``evaluate``.

    An undefined R2 (one observation, constant loss) is ``None``; a non-finite error metric
    means the law predicts a non-finite loss: that is refused (exit 2), never printed."""
    row = {"run": name, "R2": m.get("r2"), "MAE": m.get("mae"), "RMSE": m.get("rmse"),
           "PredE": m.get("pred_e"), "WorstE": m.get("worst_e"),
           "final_error": m.get("final_error")}
    if dataset is not None:
        row["dataset"] = dataset
    row = {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v)
           for k, v in row.items()}
    for k in ("MAE", "RMSE", "PredE", "WorstE", "final_error"):
        v = row[k]
        if isinstance(v, float) and not math.isfinite(v):
            raise CLIError(f"run {name!r}: the law predicts a non-finite loss ({k} = {v}); "
                           "check the parameters and the run's LR/steps")
    r2 = row["R2"]
    if isinstance(r2, float) and not math.isfinite(r2):
        row["R2"] = None
    return row


# --------------------------------------------------------------------------------------- errors
def run_guarded(call: Callable[[], int]) -> int:
    """Run ``call`` under the exit-status contract: user errors (``CLIError``, ``ValueError``,
    ``OSError``) end with status 2 and one line ``cptdyn: error: ...`` on stderr, anything else
    with status 1 and one line (``CPTDYN_DEBUG=1`` re-raises both); ``--help``/``--version``
    return their ``SystemExit`` code and Ctrl-C returns 130."""
    try:
        return call()
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except (CLIError, ValueError, OSError) as e:
        if os.environ.get("CPTDYN_DEBUG"):
            raise
        print(f"cptdyn: error: {one_line(e) or type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cptdyn: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - never a traceback for users
        if os.environ.get("CPTDYN_DEBUG"):
            raise
        print(f"cptdyn: internal error: {type(e).__name__}: {one_line(e)} "
              "(set CPTDYN_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
