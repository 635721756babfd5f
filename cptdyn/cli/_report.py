"""Reports on the command line: ``cptdyn report`` and what ``--report`` of ``fit``,
``evaluate``, ``simulate``, ``plan`` (and ``--plot`` of ``schedule``/``cpt``) share: output checks
(an output never names an input file), rendering before anything is written, and the run source
a params file records so that ``cptdyn report params.json`` finds the runs again.

Imported by the command modules (like :mod:`._common`); imports no other command module, and the
report layer only inside functions (``cptdyn --help`` imports no JAX).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cptdyn._errors import CLIError
from cptdyn._io import atomic_write, read_json

from ._common import load_spec, one_line

#: Suffixes a report output may have: a page, or a static picture of the main figure.
REPORT_SUFFIXES = (".html", ".htm", ".png", ".svg", ".pdf")

#: Run-reading options (``argparse`` dests) a params file records for ``cptdyn report``.
RUN_OPTIONS = ("format", "step_col", "loss_col", "lr_col", "run_col", "run_schedule",
               "warmup_steps", "total_steps", "transfer_step", "dataset", "replay_ratio",
               "model_size")


# --------------------------------------------------------------------------------- outputs
def _same(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def check_outputs(outputs: Mapping[str, str | None], inputs: Iterable[str | None]) -> None:
    """Refuse (CLIError, before any work) an output that names an input file or another output,
    a report with an unknown suffix, and an output in a missing folder."""
    ins = [str(p) for p in inputs if p]
    seen: dict[str, str] = {}
    for flag, path in outputs.items():
        if not path:
            continue
        for i in ins:
            if _same(path, i):
                raise CLIError(f"{flag} {path!r} is an input of this command; writing it would "
                               "destroy the input: choose another file name")
        for other_flag, other in seen.items():
            if _same(path, other):
                raise CLIError(f"{flag} {path!r}: {other_flag} writes the same file")
        if Path(path).is_dir():
            raise CLIError(f"{flag} {path!r} is a folder; give a file name")
        parent = Path(path).parent
        if str(parent) and not parent.is_dir():
            raise CLIError(f"{flag} {path!r}: folder {str(parent)!r} does not exist")
        if flag in ("--report", "--plot") or flag.startswith("report"):
            if Path(path).suffix.lower() not in REPORT_SUFFIXES:
                raise CLIError(f"{flag} {path!r}: use a .html page (or .png/.svg/.pdf for a "
                               "static picture of the main figure)")
        seen[flag] = path


def render(report: Any, path: str, flag: str = "--report") -> bytes | str:
    """The bytes/text of ``report`` for ``path`` (HTML page, or PNG/SVG/PDF of its main figure),
    computed before anything is written."""
    from cptdyn.report import ReportError

    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".html", ".htm"):
            return str(report.to_html())
        from cptdyn.report import image_format

        image_format(path)
        fig = next(iter(report.figures.values()))
        return _image_bytes(fig, suffix.lstrip("."))
    except ReportError as e:
        raise CLIError(f"{flag} {path!r}: {one_line(e)}") from None


def _image_bytes(fig: Any, fmt: str) -> bytes:
    from cptdyn.report import ReportError

    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise ReportError(f"{fmt.upper()} export needs kaleido: pip install 'cptdyn[images]'"
                          ) from None
    try:
        return bytes(fig.to_image(format=fmt, width=1100, height=int(fig.layout.height or 500),
                                  scale=2))
    except Exception as e:  # noqa: BLE001 - kaleido's own errors (no browser ...), one line
        raise ReportError(f"{fmt.upper()} export failed: {one_line(e)[:300]}") from None


def write_outputs(items: Sequence[tuple[str | None, str | bytes, str]]) -> None:
    """Write ``(path, data, flag)`` items atomically, once every one of them was computed."""
    for path, data, flag in items:
        if path:
            atomic_write(path, data, what=flag)


# ------------------------------------------------------------------------------- run source
def run_source(paths: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """What ``cptdyn report`` needs to read the runs of a fit again: absolute paths and the
    run-reading options as given (a ``--schedule-spec`` is stored as its spec)."""
    opts: dict[str, Any] = {}
    for k in RUN_OPTIONS:
        v = getattr(args, k, None)
        if v is None:
            continue
        if k == "run_schedule":
            v = load_spec(v, "--schedule-spec").to_spec()
        opts[k] = v
    return {"files": [str(Path(p).resolve()) for p in paths], "options": opts}


def load_runs_from(files: Sequence[str], options: Mapping[str, Any], what: str) -> list[Any]:
    """Runs read like ``cptdyn fit`` reads them, from recorded or given options."""
    from cptdyn.dynamics import load_runs
    from cptdyn.schedules import schedule_from_spec

    opts: dict[str, Any] = {}
    for k in ("step_col", "lr_col", "run_col", "warmup_steps", "total_steps", "transfer_step",
              "dataset", "replay_ratio", "model_size"):
        if options.get(k) is not None:
            opts[k] = options[k]
    cols = options.get("loss_col")
    if cols:
        cols = [cols] if isinstance(cols, str) else list(cols)
        if any("=" in c for c in cols):
            opts["loss_col"] = dict(c.split("=", 1) if "=" in c else (c, c) for c in cols)
        else:
            opts["loss_col"] = cols[0] if len(cols) == 1 else cols
    if options.get("run_schedule"):
        opts["schedule"] = schedule_from_spec(options["run_schedule"])
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise CLIError(f"{what}: run file {missing[0]!r} does not exist (give the runs on the "
                       "command line: cptdyn report PARAMS RUN...)")
    try:
        runs = load_runs(list(files), format=options.get("format"), **opts)
    except TypeError as e:
        raise CLIError(f"{what}: {one_line(e)}") from None
    if not runs:
        raise CLIError(f"{what}: no runs found in " + ", ".join(files))
    return list(runs)


# ------------------------------------------------------------------------- cptdyn report
def cmd_report(args: argparse.Namespace) -> int:
    from cptdyn import report as rp

    check_outputs({"--out": args.out}, [args.doc, *args.runs, args.schedule, args.params])
    if Path(args.out).suffix.lower() not in REPORT_SUFFIXES:
        raise CLIError(f"--out {args.out!r}: use a .html page (or .png/.svg/.pdf for a static "
                       "picture of the main figure)")
    doc = read_json(args.doc, "input")
    try:
        kind = rp.doc_kind(doc)
        if kind == "plan":
            if args.runs or args.schedule:
                raise CLIError(f"{args.doc!r} is a plan: it takes no RUN files nor --schedule")
            laws = None
            if args.params:
                laws = rp.laws_from_doc(read_json(args.params, "--params"))
            elif not doc.get("laws"):
                print("note: the plan records no laws (written by an older cptdyn?): baselines "
                      "are shown as numbers only; give --params to draw their curves")
            rep = rp.plan_report(doc, laws)
        else:
            if args.params:
                raise CLIError(f"{args.doc!r} is a params file already; --params applies to "
                               "plans")
            laws = rp.laws_from_doc(doc)
            if args.schedule:
                if args.runs:
                    raise CLIError("give RUN files (observed vs predicted) or --schedule "
                                   "(a prediction), not both")
                sched = load_spec(args.schedule, "--schedule")
                ctx = {k: getattr(args, k) for k in ("replay_ratio", "model_size")
                       if getattr(args, k, None) is not None}
                bands, level = rp.bands_from_doc(doc, laws, sched, ctx)
                rep = rp.simulate_report(laws, sched, context=ctx, bands=bands, level=level)
            else:
                src = doc.get("source") if isinstance(doc.get("source"), Mapping) else None
                if args.runs:
                    opts = {k: getattr(args, k, None) for k in RUN_OPTIONS}
                    if src and not any(v is not None for v in opts.values()):
                        opts = dict(src.get("options") or {})  # read as the fit read its runs
                    runs = load_runs_from(args.runs, opts, "RUN")
                    recorded = (src or {}).get("files") or []
                    fitted = sorted(map(str, recorded)) == sorted(
                        str(Path(p).resolve()) for p in args.runs)
                elif src:
                    runs = load_runs_from(list(src.get("files") or []),
                                          src.get("options") or {}, f"{args.doc!r} source")
                    fitted = True
                else:
                    raise CLIError(f"{args.doc!r} is a params file without its runs: give the "
                                   "runs (cptdyn report PARAMS RUN... --out r.html) or a "
                                   "schedule (--schedule SPEC)")
                rep = rp.fit_report(laws, runs, fit_docs=rp.fit_docs_of(doc) if fitted else None,
                                    what="fit" if fitted else "evaluate")
    except rp.ReportError as e:
        raise CLIError(f"{args.doc!r}: {one_line(e)}") from None
    if args.title:
        rep.title = args.title
    data = render(rep, args.out, "--out")
    write_outputs([(args.out, data, "--out")])
    print(f"wrote {args.out}: {len(rep.figures)} figures, {len(rep.tables)} tables "
          f"({', '.join(rep.figures)})")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``report`` on the ``cptdyn`` subparsers."""
    r = sub.add_parser(
        "report", help="an HTML report (or PNG/SVG) from a params file or a plan",
        description="One self-contained offline HTML page from what the commands write: a params "
        "file with its runs (observed vs predicted, residuals, metrics; the runs recorded by "
        "`fit --out` are found again), a params file with --schedule (predicted curve, bands, "
        "terms) or a plan (plan vs every baseline). A .png/.svg/.pdf --out writes the main "
        "figure (needs `pip install 'cptdyn[images]'`).")
    r.add_argument("doc", metavar="JSON", help="params file (`cptdyn fit --out`) or plan "
                   "(`cptdyn plan --out`)")
    r.add_argument("runs", nargs="*", metavar="RUN", help="run files to compare a params file "
                   "with (default: the runs the fit recorded)")
    r.add_argument("--out", required=True, help="report file: .html (or .png/.svg/.pdf)")
    r.add_argument("--schedule", help="with a params file: report the prediction of this "
                   "schedule spec")
    r.add_argument("--params", help="with a plan: the laws (default: those the plan records)")
    r.add_argument("--title", help="page title")
    r.add_argument("--replay-ratio", type=float, help="replay ratio (cpt-replay law)")
    r.add_argument("--model-size", type=float, help="model size in millions (size laws)")
    g = r.add_argument_group("reading RUN files (default: as the fit read them)")
    g.add_argument("--format", choices=["csv", "wandb-json", "wandb-csv", "tensorboard", "hf"])
    g.add_argument("--loss-col", action="append", help="NAME or NAME=DATASET; repeatable")
    g.add_argument("--transfer-step", type=int, help="PT length of CPT runs")
    g.add_argument("--warmup-steps", type=int, help="warmup length of the runs")
    g.add_argument("--dataset", help="validation set name of a single loss column")
    r.set_defaults(func=cmd_report)
