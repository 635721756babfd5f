"""``cptdyn demo``: the main job on the shipped example data, end to end.

1. load the public MultiPowerLaw 400M runs (``data/MultiPowerLaw``, MIT): 9 real loss curves under
   constant, cosine, WSD and two-stage schedules;
2. fit the LR-annealing law on the paper's training curves (constant-24k, cosine-24k, wsdcon-9)
   and evaluate it on the six held-out curves (longer runs and unseen schedules);
3. plan a 24k-step WSD schedule under the fitted law (decay fraction, for a linear and a 1-sqrt
   decay) against cosine and common WSD baselines;
4. export the plan to Hugging Face and PyTorch, and write an HTML report.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from cptdyn._errors import CLIError

from ._common import METRIC_COLS, metric_row, text_table, write_json

TRAIN = ("cosine_24000", "constant_24000", "wsdcon_9")


def _data_dir(data: str | None) -> Path:
    if data:
        p = Path(data)
    else:
        p = Path(__file__).resolve().parents[2] / "data"
    p = p / "MultiPowerLaw" / "loss_curve_repo" / "csv_400"
    if not p.is_dir():
        raise CLIError(f"demo data not found at {str(p)!r}: run from a clone of the repository "
                       "or pass --data DATA_DIR")
    return p


def run_demo(out: str, data: str | None = None) -> int:
    from cptdyn.dynamics import MomentumLaw, evaluate, fit, load_runs
    from cptdyn.planner import Problem, plan
    from cptdyn.report import fit_report, plan_report
    from cptdyn.schedules import WSD, export, write

    t0 = time.perf_counter()
    src = _data_dir(data)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(sorted(str(p) for p in src.glob("*.csv")))
    train = [r for r in runs if r.name in TRAIN]
    test = [r for r in runs if r.name not in TRAIN]
    print(f"1. loaded {len(runs)} runs of the MultiPowerLaw 400M model from {src}")

    res = fit(MomentumLaw(), train)
    ps = ", ".join(f"{k}={v:.4g}" for k, v in res.params.items())
    print(f"2. fitted the LR-annealing law on {', '.join(TRAIN)} ({res.time_s:.1f} s): {ps}")
    ev = evaluate(res.law, test)
    print("   held-out curves (longer runs, unseen schedules):")
    rows = [metric_row(r["name"], r) for r in ev.per_run]
    print("   " + text_table(rows, METRIC_COLS).replace("\n", "\n   ").rstrip())
    write_json(outdir / "params.json", res.to_dict())

    best = None
    for shape in ("linear", "1-sqrt"):
        tmpl = WSD(24_000, 3e-4, 0.0, 0.2, shape, warmup_steps=2160, warmup_init=0.0)
        p = plan(Problem.make(res.law, tmpl, ["decay_fraction"]))
        if best is None or p.value < best.value:
            best = p
    assert best is not None and best.schedule is not None
    f = best.tuned["decay_fraction"]
    prof = best.profiles["decay_fraction"]
    print(f"3. planned a 24k-step WSD schedule (peak 3e-4, warmup 2160): "
          f"{getattr(best.schedule, 'decay_shape', '')} decay over the last {f:.1%} of the run "
          f"(anything in {prof['lo']:.1%}..{prof['hi']:.1%} is within 0.001 nats); "
          f"predicted final loss {best.value:.4f}")
    for b in best.baselines:
        if b["name"] != "template":
            print(f"   vs {b['name']:<22} {b['objective_value']:.4f}  "
                  f"({b['plan_minus_baseline']:+.4f})")
    write_json(outdir / "plan.json", best.to_dict(every=100))
    write_json(outdir / "plan_schedule.json", best.schedule.to_spec())

    hf = export(best.schedule, "hf")
    write(hf, str(outdir / ("hf_training_args.json" if hf.native else "hf")))
    write(export(best.schedule, "torch"), str(outdir / "torch"))
    how = ("native " + hf.payload["training_args"]["lr_scheduler_type"]) if hf.native else \
        "LambdaLR table"
    print(f"4. exported the plan: Hugging Face ({how}) and PyTorch (LambdaLR bundle) under "
          f"{outdir}/")

    fit_report(res.law, test, what="evaluate",
               title="cptdyn demo: LR-annealing law fitted on 3 curves, predicting 6 others "
               "(MultiPowerLaw 400M)").write_html(outdir / "fit_report.html")
    plan_doc = best.to_dict(every=100)
    plan_report(plan_doc, {"val": res.law},
                title=f"cptdyn demo: planned 24k-step WSD ({f:.1%} "
                f"{getattr(best.schedule, 'decay_shape', '')} decay) vs every baseline"
                ).write_html(outdir / "plan_report.html")
    print(f"   reports: {outdir}/fit_report.html, {outdir}/plan_report.html "
          f"({time.perf_counter() - t0:.0f} s in all)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.out, data=args.data)


def add_commands(sub: Any) -> None:
    """Register ``demo`` on the ``cptdyn`` subparsers."""
    d = sub.add_parser("demo", help="the main job on the shipped example data")
    d.add_argument("--out", default="demo", help="output folder (default: demo)")
    d.add_argument("--data", help="data folder (default: the repository's data/)")
    d.set_defaults(func=cmd_demo)
