"""Measure the CPT law and the planner on the CPT lab's real curves.

    python benchmarks/cptlab/bench_cpt_law.py --runs OUT_OF_RUN_STUDY [--json]

1. Fit the CPT law (Eq. 4, ``cpt``: on the training runs without replay) and its replay variant
   (Eq. 8, ``cpt-replay``: on every training run and the no-switch controls), one parameter set per
   validation set; predict the held-out runs. PredE = mean |pred - obs| / obs over the CPT phase
   (steps after the transfer); final error = pred - obs at the last step. Compared with the
   seed-noise floor (std of the final loss over the seed repeats of the center run). Observations
   before ``--min-step`` (default 250: the first PT transient) are left out of fits and metrics.
2. The paper's qualitative findings on the measured curves (holds / does not hold, with numbers).
3. The planner against reality: for each knob the study varies one at a time around the center
   (CPT peak LR, replay ratio, PT checkpoint), the planner's choice under the fitted laws for two
   goals (``weighted:W_PT,W_CPT`` and ``constrained:X``) vs the best measured configuration.
4. Where the law misses: signed errors by regime (early / late CPT, schedule, loss potential).

Uses only public cptdyn names (``cptdyn.dynamics``, ``cptdyn.planner``, ``cptdyn.schedules``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cptlab.run_study import cpt_schedule  # noqa: E402
from cptdyn.dynamics import (  # noqa: E402
    CPTLaw,
    CPTReplayCurveLaw,
    CPTReplayLaw,
    FitError,
    Run,
    fit,
    load_runs,
)
from cptdyn.planner import PlanError, Problem, plan  # noqa: E402

DATASETS = ("pt", "cpt")


# ----------------------------------------------------------------------------------- loading
def load(runs_dir: Path, min_step: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    idx = runs_dir / "runs_index.csv"
    if not idx.is_file():
        raise SystemExit(f"bench_cpt_law: error: {idx} does not exist (run run_study first)")
    st = json.loads((runs_dir / "study_resolved.json").read_text())
    rows = []
    with open(idx) as f:
        for r in csv.DictReader(f):
            if r["role"] == "pt":
                continue
            rr = float(r["replay_ratio"])
            runs = load_runs(str(runs_dir / r["file"]), transfer_step=int(r["transfer_step"]),
                             replay_ratio=rr, warmup_steps=int(r["warmup_steps"]))
            r["runs"] = {x.dataset: trim(x, min_step) for x in runs}
            r["replay"] = rr
            rows.append(r)
    return rows, st


def trim(run: Run, min_step: int) -> Run:
    """The run without observations before ``min_step`` (the first PT transient)."""
    keep = run.steps >= min_step
    if keep.all() or not keep.any() or run.loss is None:
        return run
    return dataclasses.replace(run, steps=run.steps[keep], loss=run.loss[keep])


def final(run: Run) -> float:
    return float(run.loss[-1])


def at_transfer(run: Run) -> float:
    ts = run.transfer_step
    i = int(np.searchsorted(run.steps, ts))
    return float(run.loss[min(i, run.steps.size - 1)])


def cpt_part(run: Run) -> np.ndarray:
    return run.steps > (run.transfer_step or 0)


# ----------------------------------------------------------------------------------- fitting
LAWS = {"cpt": CPTLaw, "cpt-replay": CPTReplayLaw, "cpt-replay-curve": CPTReplayCurveLaw}


def fit_laws(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Fit law ``name`` per validation set: ``cpt`` (no replay term) on the training runs without
    replay, the replay laws on every training run and the no-switch controls."""
    replay = name != "cpt"
    if replay:
        use = [r for r in rows if r["role"] in ("train", "control")]
    else:
        use = [r for r in rows if r["role"] == "train" and r["replay"] == 0.0]
    laws = {}
    for d in DATASETS:
        law = LAWS[name](role=d) if replay else LAWS[name]()
        try:
            laws[d] = fit(law, [r["runs"][d] for r in use]).law
        except FitError as e:
            laws[d] = None
            print(f"fit {name} on {d}: {e}", file=sys.stderr)
    return {"laws": laws, "n_train": len(use)}


def errors(law: Any, run: Run) -> dict[str, float]:
    pred = np.asarray(law.predict(run), dtype=np.float64)
    m = cpt_part(run)
    obs = run.loss[m]
    return {"prede": float(np.mean(np.abs(pred[m] - obs) / obs)),
            "final_err": float(pred[-1] - run.loss[-1]), "pred_final": float(pred[-1]),
            "early_err": float(np.mean((pred[m] - obs)[: max(1, m.sum() // 3)])),
            "late_err": float(np.mean((pred[m] - obs)[-max(1, m.sum() // 3):]))}


# ----------------------------------------------------------------------------------- findings
def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["run_id"]: r for r in rows}


def findings(rows: list[dict[str, Any]], noise: float) -> list[dict[str, Any]]:
    R = by_id(rows)
    out: list[dict[str, Any]] = []
    noise = 0.0 if not math.isfinite(noise) else noise  # no seed repeats: no floor

    def rise(r: dict[str, Any]) -> tuple[float, float, float]:
        run = r["runs"]["pt"]
        m = cpt_part(run)
        t0 = at_transfer(run)
        peak = float(run.loss[m].max())
        return t0, peak - t0, peak - final(run)

    zero = [r for r in rows if r["replay"] == 0.0 and r["role"] in ("train", "heldout", "seed")]
    if zero:
        rs = [rise(r) for r in zero]
        rec = sum(1 for _, up, back in rs if up > 2 * noise and back > 2 * noise)
        c = R.get("center", zero[0])
        t0, up, back = rise(c)
        out.append({"finding": "D_pt rises then (partly) recovers",
                    "holds": rec >= len(rs) / 2,
                    "numbers": f"{c['run_id']}: D_pt {t0:.3f} at transfer, +{up:.3f} at its max, "
                               f"-{back:.3f} back by the end; rise and recovery > 2 x noise in "
                               f"{rec}/{len(rs)} runs without replay"})

    def trio(ids: list[str], key: str) -> list[float] | None:
        if all(i in R for i in ids):
            return [final(R[i]["runs"][key]) for i in ids]
        return None

    v = trio(["lp100", "center", "lp0"], "cpt")
    if v:
        out.append({"finding": "higher loss potential gives lower final D_cpt",
                    "holds": v[0] < v[1] < v[2],
                    "numbers": f"final D_cpt at LP 1 / 0.3 / 0: {v[0]:.4f} / {v[1]:.4f} / "
                               f"{v[2]:.4f}"})
    vc = trio(["lr4e-4", "center", "lr2e-3"], "cpt")
    vp = trio(["lr4e-4", "center", "lr2e-3"], "pt")
    if vc and vp:
        out.append({"finding": "higher CPT peak LR lowers D_cpt and raises D_pt",
                    "holds": vc[0] > vc[1] > vc[2] and vp[0] < vp[1] < vp[2],
                    "numbers": f"peak 4e-4 / 1e-3 / 2e-3: final D_cpt {vc[0]:.4f} / {vc[1]:.4f} / "
                               f"{vc[2]:.4f}; final D_pt {vp[0]:.4f} / {vp[1]:.4f} / {vp[2]:.4f}"})
    if all(i in R for i in ("center", "r25", "r50")):
        ups = [rise(R[i])[1] for i in ("center", "r25", "r50")]
        fp = [final(R[i]["runs"]["pt"]) for i in ("center", "r25", "r50")]
        out.append({"finding": "replay reduces the D_pt rise",
                    "holds": ups[0] > ups[1] > ups[2],
                    "numbers": f"replay 0 / 25 / 50 %: D_pt max rise {ups[0]:.3f} / {ups[1]:.3f} / "
                               f"{ups[2]:.3f}; final D_pt {fp[0]:.4f} / {fp[1]:.4f} / {fp[2]:.4f}"})
    for f in out:
        f["noise_floor"] = noise
    return out


# ----------------------------------------------------------------------------------- planner
AXES = {
    "peak_lr": ("lr4e-4", "center", "lr2e-3"),
    "replay_ratio": ("center", "r25", "r50"),
    "loss_potential": ("lp100", "center", "lp0"),
}


def goal_value(goal: str, pt_end: float, cpt_end: float, pt_t: float) -> float:
    kind, _, arg = goal.partition(":")
    if kind == "weighted":
        w = [float(x) for x in arg.split(",")]
        return w[0] * pt_end + w[1] * cpt_end
    return cpt_end if pt_end - pt_t <= float(arg) else math.inf


def planner_vs_reality(rows: list[dict[str, Any]], st: dict[str, Any], laws: dict[str, Any],
                       goals: list[str]) -> list[dict[str, Any]]:
    R = by_id(rows)
    center = R.get("center")
    if center is None or any(v is None for v in laws.values()):
        return []
    run_c = next(r for r in st["runs"] if r["id"] == "center")
    out = []
    for knob, all_ids in AXES.items():
        ids = tuple(i for i in all_ids if i in R)
        if len(ids) < 2:
            continue
        vals = {"peak_lr": [float(R[i]["cpt_peak_lr"]) for i in ids],
                "replay_ratio": [R[i]["replay"] for i in ids],
                "loss_potential": [float(R[i]["loss_potential"]) for i in ids]}[knob]
        # the template: the center schedule; for loss potential the decaying (WSD) PT template
        tmpl_run = dict(run_c)
        if knob == "loss_potential":
            tmpl_run["pt"] = next(k for k, v in st["checkpoints"].items() if 0 < v < 1)
        template = cpt_schedule(st, tmpl_run)
        for goal in goals:
            meas = {i: goal_value(goal, final(R[i]["runs"]["pt"]), final(R[i]["runs"]["cpt"]),
                                  at_transfer(R[i]["runs"]["pt"])) for i in ids}
            pred = {}
            for i in ids:
                pp = {d: float(np.asarray(laws[d].predict(R[i]["runs"][d]))[-1]) for d in DATASETS}
                pt_t = float(np.asarray(laws["pt"].predict(R[i]["runs"]["pt"]))[
                    int(np.searchsorted(R[i]["runs"]["pt"].steps, R[i]["runs"]["pt"].transfer_step))])
                pred[i] = goal_value(goal, pp["pt"], pp["cpt"], pt_t)
            best_meas = min(ids, key=lambda i: meas[i])
            best_pred = min(ids, key=lambda i: pred[i])
            lo, hi = min(vals), max(vals)
            try:
                prob = Problem.make(laws, template, [knob], goal, bounds={knob: (lo, hi)},
                                    context={"replay_ratio": 0.0})
                pl = plan(prob, baselines=False)
                rec = f"{pl.tuned[knob]:.3g} ({pl.status})"
            except PlanError as e:
                rec = f"none: {str(e).splitlines()[0][:70]}"
            out.append({
                "knob": knob, "goal": goal, "values": vals, "planner": rec,
                "predicted_best": best_pred, "measured_best": best_meas,
                "agree": best_pred == best_meas,
                "regret": (meas[best_pred] - meas[best_meas]) if math.isfinite(
                    meas[best_pred]) else math.inf,
                "measured": {i: meas[i] for i in ids}, "predicted": {i: pred[i] for i in ids},
            })
    return out


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, help="run_study --out folder")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    ap.add_argument("--json-out", default=None, help="also write the JSON object to this file")
    ap.add_argument("--weights", default="0.5,0.5", help="W_PT,W_CPT of the weighted goal")
    ap.add_argument("--min-step", type=int, default=250,
                    help="ignore observations before this update (the early PT transient, which "
                         "no law here models; default 250)")
    ap.add_argument("--max-rise", type=float, default=0.5,
                    help="X of the constrained goal (D_pt rise allowed at the end, nats)")
    a = ap.parse_args(argv)
    rows, st = load(Path(a.runs), a.min_step)
    seeds = [r for r in rows if r["role"] == "seed" or r["run_id"] == "center"]
    noise = {d: float(np.std([final(r["runs"][d]) for r in seeds], ddof=1))
             if len(seeds) >= 2 else math.nan for d in DATASETS}
    noise_max = max(noise.values())
    res: dict[str, Any] = {"runs": len(rows), "seed_noise_final_std": noise_max,
                           "seed_noise_final_std_by_set": noise, "by_law": {}}
    per_run: list[dict[str, Any]] = []
    fitted = {}
    for name in LAWS:
        replay = name != "cpt"
        f = fit_laws(rows, name)
        fitted[name] = f["laws"]
        held = [r for r in rows if r["role"] == "heldout" and (replay or r["replay"] == 0.0)]
        agg: dict[str, Any] = {"n_train": f["n_train"], "n_heldout": len(held)}
        for d in DATASETS:
            law = f["laws"][d]
            if law is None:
                continue
            errs = []
            for r in rows:
                if not replay and r["replay"] != 0.0:
                    continue
                e = errors(law, r["runs"][d])
                per_run.append({"law": name, "set": d, "run": r["run_id"], "role": r["role"],
                                "schedule": r["schedule"], "lp": r["loss_potential"],
                                "peak": r["cpt_peak_lr"], "replay": r["replay"], **e})
                if r["role"] == "heldout":
                    errs.append(e)
            agg[f"heldout_prede_{d}"] = float(np.mean([e["prede"] for e in errs])) if errs else None
            agg[f"heldout_max_final_err_{d}"] = max((abs(e["final_err"]) for e in errs),
                                                    default=None)
            agg[f"params_{d}"] = {k: float(v) for k, v in law.params().items()} if hasattr(
                law, "params") else None
        fes = [agg.get(f"heldout_max_final_err_{d}") for d in DATASETS]
        agg["heldout_max_final_err"] = max((x for x in fes if x is not None), default=None)
        res["by_law"][name] = agg
    head = res["by_law"]["cpt-replay"]
    for k in ("heldout_prede_pt", "heldout_prede_cpt", "heldout_max_final_err"):
        res[k] = head.get(k)
    res["findings"] = findings(rows, noise_max)
    goals = [f"weighted:{a.weights}", f"constrained:{a.max_rise:g}"]
    res["planner"] = planner_vs_reality(rows, st, fitted["cpt-replay"], goals)
    res["planner_curve"] = planner_vs_reality(rows, st, fitted["cpt-replay-curve"], goals)
    res["per_run"] = per_run
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(res, indent=1, default=float) + "\n")
    if a.json:
        print(json.dumps(res, indent=1, default=float))
        return 0
    print(f"{len(rows)} CPT runs; seed-noise floor (std of the final loss over "
          f"{len(seeds)} seeds): D_pt {noise['pt']:.4f}, D_cpt {noise['cpt']:.4f}\n")
    print("law         set  train  heldout  PredE(CPT phase)  max |final err|  vs noise")
    for name, agg in res["by_law"].items():
        for d in DATASETS:
            pe, fe = agg.get(f"heldout_prede_{d}"), agg.get(f"heldout_max_final_err_{d}")
            if pe is None or fe is None:
                continue
            print(f"{name:11s} {d:4s} {agg['n_train']:5d} {agg['n_heldout']:8d} {pe:17.4%} "
                  f"{fe:16.4f} {fe / max(noise[d], 1e-12):8.1f}x")
    print("\nper held-out run: signed final error pred - obs")
    for p in per_run:
        if p["law"] != "cpt" and p["role"] == "heldout":
            print(f"  {p['law']:17s} {p['run']:26s} {p['set']:4s} final err {p['final_err']:+.4f}"
                  f"  PredE {p['prede']:.4%}  early {p['early_err']:+.4f} late "
                  f"{p['late_err']:+.4f}")
    print("\nfindings on the measured curves")
    for f in res["findings"]:
        print(f"  {'HOLDS' if f['holds'] else 'DOES NOT HOLD':13s} {f['finding']}: {f['numbers']}")
    for key, lname in (("planner", "cpt-replay"), ("planner_curve", "cpt-replay-curve")):
        print(f"\nplanner (fitted {lname} laws) vs the best measured configuration")
        for p in res[key]:
            print(f"  {p['knob']:14s} {p['goal']:18s} planner {p['planner']:26s} predicted best "
                  f"{p['predicted_best']:8s} measured best {p['measured_best']:8s} regret "
                  f"{p['regret']:.4f}")
    for lname in ("cpt-replay", "cpt-replay-curve"):
        misses(per_run, lname)
    return 0


def misses(per_run: list[dict[str, Any]], lname: str) -> None:
    print(f"\nwhere the law misses ({lname}, training + held-out, mean signed error by regime)")
    for key in ("schedule", "lp", "peak", "replay"):
        groups: dict[str, list[dict[str, Any]]] = {}
        for p in per_run:
            if p["law"] == lname:
                groups.setdefault(f"{p['set']} {key}={p[key]}", []).append(p)
        for g, ps in sorted(groups.items()):
            print(f"  {g:28s} early {np.mean([p['early_err'] for p in ps]):+.4f} late "
                  f"{np.mean([p['late_err'] for p in ps]):+.4f} final "
                  f"{np.mean([p['final_err'] for p in ps]):+.4f} (n={len(ps)})")


if __name__ == "__main__":
    raise SystemExit(main())
