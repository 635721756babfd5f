"""``cptdyn schedule | cpt | export``: schedules and their trainer exports."""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any

import numpy as np

from cptdyn._errors import CLIError

from ._common import (
    EXPORT_TARGETS,
    IMPORT_SOURCES,
    KIND_ALIASES,
    SCHEDULE_KINDS,
    add_schedule_options,
    load_spec,
    lr_array,
    make_schedule_from_flags,
    schedule_kwargs,
    write_json,
)
from ._output import data_stream, set_result
from ._report import check_outputs, render, write_outputs


def _write_schedule(sched: Any, out: str, plot: str | None) -> None:
    check_outputs({"--out": out, "--plot": plot}, [])
    # a re-warmup from the previous schedule has no LRs of its own until joined (`cptdyn cpt`)
    pending = bool(getattr(sched, "warmup_from_previous", False))
    lr = np.zeros(0) if pending and not out.endswith(".csv") and not plot else lr_array(sched)
    bad = np.flatnonzero(~np.isfinite(lr))
    if bad.size:  # the fields are validated; this guards the arithmetic (e.g. warmup overflow)
        raise CLIError(f"{sched.KIND} schedule: the LR at step {int(bad[0])} is not a finite "
                       "number; check peak_lr and the other LR fields")
    if out.endswith(".csv"):
        buf = io.StringIO()
        buf.write("step,lr\n")
        for i, v in enumerate(lr):
            buf.write(f"{i},{v:.17g}\n")
        payload = buf.getvalue()
    elif out.endswith(".json"):
        payload = json.dumps(sched.to_spec(), indent=2) + "\n"
    else:
        raise CLIError(f"--out {out!r}: use a .json (spec) or .csv (step,lr) file name")
    plot_data: str | bytes = ""
    if plot:
        from cptdyn.report import Report, schedule_figure

        transfer = getattr(sched, "transfer_step", None)
        rep = Report(f"{sched.KIND} schedule, {lr.size:,} steps")
        rep.add_figure("schedule", schedule_figure({sched.KIND: lr},
                                                   title="Learning-rate schedule",
                                                   transfer_step=transfer))
        plot_data = render(rep, plot, "--plot")
    write_outputs([(plot, plot_data, "--plot"), (out, payload, "--out")])
    set_result({"outputs": [out] + ([plot] if plot else []), "kind": sched.KIND,
                "total_steps": int(sched.total_steps),
                "peak_lr": float(np.max(lr)) if lr.size else None,
                "final_lr": float(lr[-1]) if lr.size else None})


def cmd_schedule(args: argparse.Namespace) -> int:
    kind = args.kind or args.kind_flag
    if not kind:
        raise CLIError("give a schedule KIND (or --lr-scheduler-type / --lr-decay-style)")
    if args.kind and args.kind_flag and args.kind != args.kind_flag:
        raise CLIError(f"KIND {args.kind!r} and --lr-scheduler-type/--lr-decay-style "
                       f"{args.kind_flag!r} disagree")
    sched = make_schedule_from_flags(kind, schedule_kwargs(args))
    _write_schedule(sched, args.out, args.plot)
    print(f"wrote {args.out}: {sched.KIND}, {sched.total_steps} steps")
    return 0


def cmd_cpt(args: argparse.Namespace) -> int:
    from cptdyn.schedules import CPTSchedule

    check_outputs({"--out": args.out, "--plot": args.plot}, [args.pt, args.cpt])
    pt = load_spec(args.pt, "--pt")
    cpt = load_spec(args.cpt, "--cpt")
    joined = CPTSchedule(pt, cpt)
    _write_schedule(joined, args.out, args.plot)
    set_result({"transfer_step": int(joined.transfer_step),
                "loss_potential": float(joined.loss_potential)})
    print(
        f"wrote {args.out}: transfer at step {joined.transfer_step}, "
        f"{joined.total_steps} steps, loss potential {float(joined.loss_potential):.3g}"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from cptdyn.schedules._import import import_schedule

    res = import_schedule(args.file, args.source, total_steps=args.total_steps)
    if not args.out.endswith(".json"):
        raise CLIError(f"--out {args.out!r}: use a .json spec file name")
    write_json(args.out, res.schedule.to_spec())
    print(f"wrote {args.out}: {res.schedule.KIND}, {res.schedule.total_steps} steps")
    print(res.note)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cptdyn.schedules import export, write

    sched = load_spec(args.spec, "spec")
    opts: dict[str, Any] = {}
    if args.part:
        opts["part"] = args.part
    if args.require_native:
        opts["require_native"] = True
    result = export(sched, args.to, **opts)
    info = {"target": args.to, "native": bool(result.native), "note": result.note or None}
    if args.out:
        paths = write(result, args.out)
        route = "native" if result.native else "per-step table"
        print(f"wrote {', '.join(str(p) for p in paths)} ({args.to}, {route})")
        if result.note:
            print(result.note)
        set_result({"outputs": [str(p) for p in paths], **info})
    else:
        text = result.text()
        set_result({**info, "text": text})
        if not getattr(args, "json", False):
            data_stream().write(text if text.endswith("\n") else text + "\n")
        if result.note:
            print(result.note, file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- parser
def add_commands(sub: Any) -> None:
    """Register ``schedule``, ``cpt`` and ``export`` on the ``cptdyn`` subparsers."""
    kinds = list(SCHEDULE_KINDS)
    aliases = list(KIND_ALIASES)
    s = sub.add_parser(
        "schedule", help="make an LR schedule (JSON spec or step,lr CSV)",
        description="Make an LR schedule. KIND: " + ", ".join(kinds) + ". Options apply to the "
        "kinds named in their help; multistep takes --milestones and --factors, polyline "
        "--knots, array --values. Hugging Face / Megatron-LM / optax names are accepted where "
        "they mean the same schedule: " + ", ".join(aliases) + "; so are their option names "
        "(--lr, --min-lr, --warmup-ratio, --lr-warmup-iters, --max-steps, --train-iters ...).",
    )
    s.add_argument("kind", metavar="KIND", nargs="?", choices=kinds + aliases,
                   help=" | ".join(kinds))
    s.add_argument("--lr-scheduler-type", "--lr-decay-style", dest="kind_flag",
                   choices=kinds + aliases, metavar="NAME",
                   help="the kind under its Hugging Face / Megatron-LM name (instead of KIND)")
    add_schedule_options(s)
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

    i = sub.add_parser(
        "import", help="read a trainer's LR settings into a schedule spec",
        description="Read a trainer's LR settings (what `cptdyn export` writes for it, or the "
        "same settings as you keep them) into a cptdyn spec. hf: TrainingArguments JSON/YAML "
        "(lr_scheduler_type, lr_scheduler_kwargs, warmup_steps/warmup_ratio, max_steps); "
        "megatron: --lr ... flags or a launch script; torchtitan: job TOML with [lr_scheduler]; "
        "torch: lr_table.json; csv: step,lr per step. The trainer's LR is recomputed at every "
        "step and the spec reproduces it exactly (a named family when one does, else the "
        "per-step array).",
    )
    i.add_argument("file", metavar="FILE")
    i.add_argument("--from", dest="source", required=True, choices=list(IMPORT_SOURCES),
                   metavar="SOURCE", help=" | ".join(IMPORT_SOURCES))
    i.add_argument("--out", required=True, help="SPEC.json to write")
    i.add_argument("--total-steps", "--max-steps", "--train-iters", dest="total_steps", type=int,
                   help="run length when the file does not give it (HF max_steps=-1)")
    i.set_defaults(func=cmd_import)

    targets = list(EXPORT_TARGETS)
    e = sub.add_parser("export", help="export a schedule spec (or a plan file) to a trainer")
    e.add_argument("spec", metavar="SPEC.json", help="schedule spec, or plan JSON of `cptdyn plan`")
    e.add_argument("--to", required=True, choices=targets, metavar="TARGET",
                   help=" | ".join(targets))
    e.add_argument("--out", help="output file (torch: a folder); default: print to stdout")
    e.add_argument("--part", choices=["pt", "cpt"],
                   help="for a PT->CPT spec: export one phase as its own run")
    e.add_argument("--require-native", action="store_true",
                   help="fail instead of falling back to a per-step table (optax, hf)")
    e.set_defaults(func=cmd_export)
