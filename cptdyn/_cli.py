"""The ``cptdyn`` command line.

Every user error ends with exit status 2 and one line on stderr (``cptdyn: error: ...``) naming the
bad field; nothing is half-written (outputs go through a temporary file and a rename). Set
``CPTDYN_DEBUG=1`` to get the Python traceback of an unexpected failure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._io import CLIError, read_json, write_atomic

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error contract."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{self.prog}: {message}")


# ----------------------------------------------------------------------------------- schedule
_SCHEDULE_OPTIONS: list[tuple[str, str, Any, str]] = [
    # flag, field, type, help
    ("--total-steps", "total_steps", int, "whole run incl. warmup (all kinds but array)"),
    ("--peak-lr", "peak_lr", float, "peak LR, absolute (e.g. 3e-4)"),
    ("--final-lr", "final_lr", float, "final LR (cosine, linear, wsd, constant-then-decay, "
     "cyclic-cosine); default 0"),
    ("--warmup-steps", "warmup_steps", int, "warmup length in steps (default 0)"),
    ("--warmup-fraction", "warmup_fraction", float, "warmup length as a fraction of total steps"),
    ("--warmup-init", "warmup_init", float, "warmup start as a fraction of peak: step 0 runs at "
     "init*peak, peak reached at step W (HF/optax style; 0 = linear from 0). Default: none, "
     "lr(t) = peak*(t+1)/W"),
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


def _float_list(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"{flag} {text!r}: expected comma-separated numbers") from None


def _schedule_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for _flag, field, _t, _h in _SCHEDULE_OPTIONS:
        v = getattr(args, field)
        if v is not None:
            kw[field] = v
    if args.warmup_from_previous:
        kw["warmup_from_previous"] = True
    if args.milestones is not None:
        vals = _float_list(args.milestones, "--milestones")
        if all(0 <= v <= 1 for v in vals) and any(v != int(v) for v in vals):
            kw["milestone_fractions"] = vals
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
        kw["values"] = _read_lr_values(args.values)
    return kw


def _read_lr_values(path: str) -> np.ndarray:
    """Per-step LR values from a .npy file, a one-column text file or a CSV with an 'lr' column."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"--values {path!r} does not exist")
    if p.suffix == ".npy":
        return np.load(p)
    import pandas as pd

    try:
        df = pd.read_csv(p)
    except Exception as e:  # noqa: BLE001 - any parse failure is a user error
        raise CLIError(f"--values {path!r} cannot be read as CSV: {e}") from None
    col = "lr" if "lr" in df.columns else df.columns[-1]
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy()
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        raise CLIError(f"--values {path!r} row {bad[0] + 2} column {col!r}: not a finite number")
    return vals


def _write_schedule(sched: Any, out: str, plot: str | None) -> None:
    from cptdyn._pytree import x64_context

    def lr_array() -> np.ndarray:
        with x64_context():
            return np.asarray(sched.array(), dtype=np.float64)

    if out.endswith(".csv"):
        lr = lr_array()
        buf = io.StringIO()
        buf.write("step,lr\n")
        for i, v in enumerate(lr):
            buf.write(f"{i},{v:.17g}\n")
        payload = buf.getvalue()
    elif out.endswith(".json"):
        payload = json.dumps(sched.to_spec(), indent=2) + "\n"
    else:
        raise CLIError(f"--out {out!r}: use a .json (spec) or .csv (step,lr) file name")
    if plot:
        from ._plots import schedule_figure, write_html

        fig = schedule_figure({sched.KIND: lr_array()}, title=f"{sched.KIND} schedule")
        write_html(fig, plot)
    write_atomic(out, payload)


def cmd_schedule(args: argparse.Namespace) -> int:
    from cptdyn.schedules import make_schedule

    sched = make_schedule(args.kind, **_schedule_kwargs(args))
    _write_schedule(sched, args.out, args.plot)
    print(f"wrote {args.out}: {sched.KIND}, {sched.total_steps} steps")
    return 0


def _load_spec(path: str, what: str) -> Any:
    from cptdyn.schedules import schedule_from_spec

    doc = read_json(path, what)
    try:
        return schedule_from_spec(doc)
    except ValueError as e:
        raise CLIError(f"{what} {path!r}: {e}") from None


def cmd_cpt(args: argparse.Namespace) -> int:
    from cptdyn.schedules import CPTSchedule

    pt = _load_spec(args.pt, "--pt")
    cpt = _load_spec(args.cpt, "--cpt")
    joined = CPTSchedule(pt, cpt)
    _write_schedule(joined, args.out, args.plot)
    print(
        f"wrote {args.out}: transfer at step {joined.transfer_step}, "
        f"{joined.total_steps} steps, loss potential {float(joined.loss_potential):.3g}"
    )
    return 0


# ------------------------------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    from cptdyn.schedules import _export

    sched = _load_spec(args.spec, "spec")
    opts: dict[str, Any] = {}
    if args.part:
        opts["part"] = args.part
    if args.require_native:
        opts["require_native"] = True
    result = _export.export(sched, args.to, **opts)
    if args.out:
        paths = _export.write(result, args.out)
        route = "native" if result.native else "per-step table"
        print(f"wrote {', '.join(str(p) for p in paths)} ({args.to}, {route})")
        if result.note:
            print(result.note)
    else:
        text = result.text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if result.note:
            print(result.note, file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from cptdyn.schedules import schedule_kinds

    p = _Parser(prog="cptdyn", description="Predict and plan LLM loss curves under LR schedules.")
    p.add_argument("--version", action="version", version=f"cptdyn {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    kinds = [k for k in schedule_kinds() if k != "cpt"]
    s = sub.add_parser(
        "schedule", help="make an LR schedule (JSON spec or step,lr CSV)",
        description="Make an LR schedule. KIND: " + ", ".join(kinds) + ". Options apply to the "
        "kinds named in their help; multistep takes --milestones and --factors, polyline "
        "--knots, array --values.",
    )
    s.add_argument("kind", metavar="KIND", choices=kinds, help=" | ".join(kinds))
    for flag, field, typ, hlp in _SCHEDULE_OPTIONS:
        s.add_argument(flag, dest=field, type=typ, default=None, help=hlp)
    s.add_argument("--warmup-from-previous", action="store_true",
                   help="CPT re-warmup starting from the previous schedule's last LR "
                   "(resolved by `cptdyn cpt`)")
    s.add_argument("--milestones", help="multistep: comma-separated steps (or fractions < 1)")
    s.add_argument("--factors", help="multistep: comma-separated multipliers of peak per milestone")
    s.add_argument("--knots", help="polyline: STEP:LR,STEP:LR,...")
    s.add_argument("--values", help="array: per-step LRs (.npy, or CSV with an 'lr' column)")
    s.add_argument("--out", required=True, help="FILE.json (spec) or FILE.csv (step,lr)")
    s.add_argument("--plot", help="also write an HTML plot of the schedule")
    s.set_defaults(func=cmd_schedule)

    c = sub.add_parser("cpt", help="join a pre-training schedule to a CPT schedule")
    c.add_argument("--pt", required=True, help="pre-training schedule spec (JSON)")
    c.add_argument("--cpt", required=True, help="continual pre-training schedule spec (JSON)")
    c.add_argument("--out", required=True, help="FILE.json (spec) or FILE.csv (step,lr)")
    c.add_argument("--plot", help="also write an HTML plot")
    c.set_defaults(func=cmd_cpt)

    targets = ["optax", "torch", "hf", "megatron", "torchtitan", "nanotron", "olmo-core",
               "maxtext", "levanter", "csv", "json"]
    e = sub.add_parser("export", help="export a schedule spec to a trainer")
    e.add_argument("spec", metavar="SPEC.json")
    e.add_argument("--to", required=True, choices=targets, metavar="TARGET",
                   help=" | ".join(targets))
    e.add_argument("--out", help="output file (torch: a folder); default: print to stdout")
    e.add_argument("--part", choices=["pt", "cpt"],
                   help="for a PT->CPT spec: export one phase as its own run")
    e.add_argument("--require-native", action="store_true",
                   help="fail instead of falling back to a per-step table (optax, hf)")
    e.set_defaults(func=cmd_export)

    _add_dynamics_commands(sub)
    return p


def _add_dynamics_commands(sub: Any) -> None:
    try:
        from . import _cli_dynamics
    except ImportError:  # pragma: no cover - during development only
        return
    _cli_dynamics.add_commands(sub)
    from . import _cli_mixture

    _cli_mixture.add_commands(sub)


def _version() -> str:
    from cptdyn import __version__

    return __version__


def _enable_compilation_cache() -> None:
    """Keep compiled XLA programs between command-line runs (JAX's persistent cache), so that a
    second `cptdyn fit/plan/simulate` skips most compilation. Folder: ``$CPTDYN_CACHE_DIR`` or
    ``~/.cache/cptdyn/jax``; ``CPTDYN_NO_CACHE=1`` turns it off. Failures are ignored."""
    if os.environ.get("CPTDYN_NO_CACHE"):
        return
    try:
        import jax

        path = os.environ.get("CPTDYN_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "cptdyn", "jax")
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never an error
        pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _enable_compilation_cache()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    except (CLIError, ValueError, OSError) as e:
        if os.environ.get("CPTDYN_DEBUG"):
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"cptdyn: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cptdyn: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback for users
        if os.environ.get("CPTDYN_DEBUG"):
            raise
        msg = " ".join(str(e).split())
        print(f"cptdyn: internal error: {type(e).__name__}: {msg} "
              "(set CPTDYN_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
