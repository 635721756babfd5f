"""Generalisation benchmark (issue 12): predictions on runs the fit never saw.

Protocols on the shipped data (scored on the predicted runs only; nothing here is used to fit):

* ``X`` cross-peak-LR, 124M sweep (``data/lr-scheduling``): ``X-cos``: fit every cosine run
  (cos-to-0 and cos-to-10%, all horizons) at peak ``p``, predict the constant and linear-WSD runs at
  peak ``q``; ``X-wsd``: fit the constant run and the linear WSD runs with a 20% cooldown at ``p``,
  predict the cosine runs at ``q``. Pairs ``(p, q)``: (2e-3, 1e-3), (1e-3, 5e-4) (``--quick``: the
  first only).
* ``X2`` cross-peak-LR with two peaks in the fit (an LR sweep; run only when asked for):
  ``X2-cos`` fit every cosine run at two peaks, predict the constant and linear-WSD runs at the
  third; ``X2-wsd`` the same with the constant + 20%-WSD runs, predicting the cosine runs. Fit
  peaks -> predicted peak: (5e-4, 2e-3) -> 1e-3 (between) and (5e-4, 1e-3) -> 2e-3 (beyond).
* ``O`` fit on one run, per peak LR: ``O-cos`` the shortest cosine-to-0 run, ``O-const`` the
  constant 50k run truncated at 25k (a constant run is all a user may have), ``O-wsd`` the shortest
  linear WSD run with a 20% cooldown; predict every other run of that peak (longer horizons and
  other schedule types).
* ``H`` fit-short-predict-long, per peak LR: fit every run of the shortest horizon (15k; 25k for
  peak 1e-4 which has no 15k run), predict the runs of the longer horizons (2-3x).
* ``MPL`` the MPL protocol (25M / 100M / 400M; train cosine-24k + constant-24k + wsdcon-9, predict
  the six others, including the 72k runs).
* ``LAB`` the CPT lab's pre-training runs (``benchmarks/cptlab/results/cptlab-v1``: one 0.45M
  byte-level model, 900 updates, warmup 60, the last 180 updates at the peak 2e-3 (``pt-lp100``),
  decayed to 0.3x (``pt-lp30``) or to 0 (``pt-lp0``); PT validation loss): ``LAB const->decay``
  fit the constant run, predict the two decays; ``LAB ends->mid`` fit the constant run and the
  decay to 0, predict the decay to 0.3x.

Peaks: 5e-4, 1e-3, 2e-3 (``--quick``: 1e-3). Every run is used as loaded, warmup included: what
to do with the warmup is the fitting procedure's business (the stated rule lives in ``fit``).
Metrics per predicted run: |final error| (pred - obs at the last observed step, nats), PredE =
mean |pred - obs| / obs over the post-warmup observations (steps > 2 x warmup; the MPL files
start after their warmup and are scored whole, as the paper does), and whether the final loss
lies in the law's 90% band (``cptdyn.dynamics.prediction_band`` when available), with the
law's cross-validated relative model error on the training runs added to each side
(``cv_model_error``; for ``auto`` the chosen law's row of the selection), as the command line's
bands do, and without it (the fit alone), with the band's half-width; with ``--cli-band``
also the band ``cptdyn simulate`` draws from a params file (that band joined, on each side,
with the band of ``interval_samples``' refits widened the same way). Also, for ``O``
and ``H``: whether the predicted best linear-cooldown fraction per horizon is within one grid
step of the real best.

``--prior lodo`` (leave one dataset out): the same protocols, but the priors of ``momentum`` and
``mpl`` are learned (``learn_prior``, empirical Bayes) on the *other* shipped dataset instead of
taken from the papers: for the 124M-sweep protocols (X, O, H) from the MPL dataset's three
sizes (each size's three training curves one group); for the MPL protocol from the 124M sweep
(one group per peak LR 5e-4 / 1e-3 / 2e-3: its shortest cosine-to-0 run, its constant run cut
at 25k and its shortest 20%-WSD run). Rows are labelled ``momentum+lodo`` / ``mpl+lodo``.

Laws: ``momentum``, ``momentum-lr`` (the annealing law with an LR-response exponent),
``mpl`` (converged fit, LR coarsened as the CLI does), ``mpl-ref``
(``fit_mpl_reference``, repository warmup convention as the CLI default) and ``auto``
(``select_law``). Run: ``python benchmarks/bench_generalisation.py [--quick] [--json OUT]
[--laws momentum mpl ...] [--protocols X O H MPL LAB] [--prior published|lodo]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cptdyn import dynamics as dyn  # noqa: E402
from cptdyn.dynamics import (  # noqa: E402
    FitError,
    MomentumLaw,
    MPLLaw,
    fit,
    fit_mpl_reference,
    learn_prior,
    load_cooldown_sweep,
    load_runs,
    select_law,
)

DATA = ROOT / "data"
MPL_DIR = DATA / "MultiPowerLaw" / "loss_curve_repo"
SWEEP_DIR = DATA / "lr-scheduling"
LAB_DIR = ROOT / "benchmarks" / "cptlab" / "results" / "cptlab-v1" / "runs"
MPL_TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
MPL_TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000",
            "wsdcon_3", "wsdcon_18"]
FRACS = [0.1, 0.2, 0.4, 0.6, 0.8, 0.9]
LAWS = ["momentum", "momentum-lr", "mpl", "mpl-ref", "auto"]
LEVEL = 0.9
#: protocol groups, in table order (``X2`` is run only when asked for: ``--protocols X2``)
GROUPS = ["X", "X2", "O", "H", "MPL", "LAB"]


# ----------------------------------------------------------------------------- data
def _kind(r: Any) -> str:
    p = str(r.meta.get("prefix", ""))
    if p.startswith("cos"):
        return "cos"
    if p.startswith("stable"):
        return "const"
    if p.startswith("ann124") and r.meta["config"].get("decay_type") == "linear":
        return "wsd"
    return "other"


def _peak(r: Any) -> float:
    return float(r.meta["config"]["lr"])


def _frac(r: Any) -> float | None:
    return float(r.meta["config"]["wsd_fract_decay"]) if _kind(r) == "wsd" else None


def sweep_runs() -> list[Any]:
    return [r for r in load_cooldown_sweep(SWEEP_DIR) if _peak(r) < 4e-3]  # 5e-3 diverged


def lab_cases() -> list[tuple[str, list[Any], list[Any]]]:
    """The ``LAB`` protocol (module docstring): the CPT lab's three pre-training runs."""
    pt = {n: load_runs(LAB_DIR / f"pt-{n}.csv.gz", loss_col="loss_pt", warmup_steps=60)[0]
          for n in ("lp100", "lp30", "lp0")}
    return [("LAB const->decay", [pt["lp100"]], [pt["lp30"], pt["lp0"]]),
            ("LAB ends->mid", [pt["lp100"], pt["lp0"]], [pt["lp30"]])]


def cases(runs: list[Any], protocols: Sequence[str], peaks: Sequence[float],
          pairs: Sequence[tuple[float, float]]) -> list[tuple[str, list[Any], list[Any]]]:
    """(name, train runs, predicted runs) for every protocol instance."""
    out: list[tuple[str, list[Any], list[Any]]] = []
    at = {p: [r for r in runs if math.isclose(_peak(r), p)] for p in {*peaks, *sum(pairs, ())}}
    if "X" in protocols:
        for p, q in pairs:
            cos_p = [r for r in at[p] if _kind(r) == "cos"]
            out.append((f"X-cos {p:g}->{q:g}", cos_p,
                        [r for r in at[q] if _kind(r) in ("const", "wsd")]))
            wsd_p = [r for r in at[p] if _kind(r) == "const"
                     or (_kind(r) == "wsd" and _frac(r) == 0.2)]
            out.append((f"X-wsd {p:g}->{q:g}", wsd_p, [r for r in at[q] if _kind(r) == "cos"]))
    if "X2" in protocols:
        at3 = {p: [r for r in runs if math.isclose(_peak(r), p)] for p in (5e-4, 1e-3, 2e-3)}
        for fit_peaks, q in (((5e-4, 2e-3), 1e-3), ((5e-4, 1e-3), 2e-3)):
            tag = "+".join(f"{p:g}" for p in fit_peaks)
            cos_f = [r for p in fit_peaks for r in at3[p] if _kind(r) == "cos"]
            out.append((f"X2-cos {tag}->{q:g}", cos_f,
                        [r for r in at3[q] if _kind(r) in ("const", "wsd")]))
            wsd_f = [r for p in fit_peaks for r in at3[p] if _kind(r) == "const"
                     or (_kind(r) == "wsd" and _frac(r) == 0.2)]
            out.append((f"X2-wsd {tag}->{q:g}", wsd_f, [r for r in at3[q] if _kind(r) == "cos"]))
    for p in peaks:
        rs = at[p]
        if "O" in protocols:
            cz = [r for r in rs if str(r.meta["prefix"]).startswith("cos-zero")]
            if cz:
                one = min(cz, key=lambda r: r.total_steps)
                out.append((f"O-cos {p:g}", [one], [r for r in rs if r is not one]))
            const = [r for r in rs if _kind(r) == "const"]
            if const:
                c = const[0]
                out.append((f"O-const {p:g}", [c.truncated(25000)],
                            [r for r in rs if r is not c]))
            w2 = [r for r in rs if _kind(r) == "wsd" and _frac(r) == 0.2]
            if w2:
                one = min(w2, key=lambda r: r.total_steps)
                out.append((f"O-wsd {p:g}", [one], [r for r in rs if r is not one]))
        if "H" in protocols:
            hs = sorted({r.total_steps for r in rs if _kind(r) in ("cos", "wsd")})
            if len(hs) >= 2:
                short = [r for r in rs if _kind(r) in ("cos", "wsd") and r.total_steps == hs[0]]
                long_ = [r for r in rs if _kind(r) in ("cos", "wsd") and r.total_steps > hs[0]]
                out.append((f"H {p:g} {hs[0] // 1000}k->", short, long_))
    return out


# ----------------------------------------------------------------------------- fitting
def _template(name: str) -> Any:
    """The law template ``cptdyn fit --law NAME`` uses (its default warmup convention)."""
    try:
        from cptdyn.dynamics._fitting._priors import default_options
    except ImportError:  # before issue 12
        return MomentumLaw() if name == "momentum" else MPLLaw()
    return dyn.law_class(name)(**default_options(name))


def _fit_kw(name: str, law: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"seed": 0}
    if name == "mpl":
        kw["coarsen_lr"] = True
        if getattr(law, "warmup", None) == "repo":
            kw["coarsen_warmup"] = 50
    return kw


def fitter(name: str, prior: Any = None) -> Callable[[list[Any]], tuple[Any, float]]:
    """The law as a user gets it from the command line (same defaults as ``cptdyn fit``),
    and its cross-validated relative model error on the training runs (``cv_model_error``;
    for ``auto`` the chosen law's row of the selection, as ``cptdyn fit --law auto`` stores it;
    0 for ``mpl-ref`` and before issue 12); ``prior``: a ``LearnedPrior`` instead of the
    published one (``--prior lodo``)."""
    cv = getattr(dyn, "cv_model_error", None)
    if name in ("momentum", "momentum-lr", "mpl"):
        law = _template(name)
        kw = _fit_kw(name, law)

        def one(runs: list[Any]) -> tuple[Any, float]:
            res = fit(law, runs, **kw) if prior is None else \
                fit(law, runs, prior=prior(law, runs), **kw)
            return res.law, (cv(law, runs, prior=prior) if cv is not None else 0.0)
        return one
    if name == "mpl-ref":
        return lambda runs: (fit_mpl_reference(runs, warmup="repo").law, 0.0)
    if name == "auto":
        def auto(runs: list[Any]) -> tuple[Any, float]:
            res, table = select_law(runs, seed=0)
            rel = getattr(dyn, "cv_relative_error", None)
            row = next(r for r in table if r.get("chosen"))
            return res.law, (rel(row, runs) if rel is not None else 0.0)
        return auto
    raise SystemExit(f"unknown law {name!r}")


def lodo_priors(name: str, sweep: list[Any]) -> dict[str, Any]:
    """``{"sweep": prior learned on the MPL dataset, "mpl": prior learned on the sweep}``."""
    law = _template(name)
    kw = _fit_kw(name, law)

    def fit_fn(lw: Any, rs: Any) -> Any:
        return fit(lw, rs, **kw)

    mpl_groups = [[load_runs(MPL_DIR / f"csv_{s}" / f"{n}.csv")[0] for n in MPL_TRAIN]
                  for s in (25, 100, 400)]
    sweep_groups = []
    for p in (5e-4, 1e-3, 2e-3):
        rs = [r for r in sweep if math.isclose(_peak(r), p)]
        cz = [r for r in rs if str(r.meta["prefix"]).startswith("cos-zero")]
        const = [r for r in rs if _kind(r) == "const"]
        w2 = [r for r in rs if _kind(r) == "wsd" and _frac(r) == 0.2]
        g = []
        if cz:
            g.append(min(cz, key=lambda r: r.total_steps))
        if const:
            g.append(const[0].truncated(25000))
        if w2:
            g.append(min(w2, key=lambda r: r.total_steps))
        sweep_groups.append(g)
    out = {"sweep": learn_prior(law, mpl_groups, fit_fn),
           "mpl": learn_prior(law, sweep_groups, fit_fn)}
    for k, lp in out.items():
        learned_on = "MPL dataset (25M/100M/400M)" if k == "sweep" else "124M sweep (3 peaks)"
        print(f"  {name} prior learned on the {learned_on}: " + ", ".join(
            f"{p}~{c:.4g} (sd {lp.sds[p]:.3g}; groups {', '.join(f'{v:.3g}' for v in lp.values[p])})"
            for p, c in lp.centres.items()), flush=True)
    return out


def _predict(law: Any, run: Any) -> np.ndarray:
    return np.asarray(law.predict(run), dtype=np.float64).reshape(-1)


def band_fn() -> Callable[..., Any] | None:
    return getattr(dyn, "prediction_band", None)


def score(law: Any, train: list[Any], test: list[Any], whole: bool,
          prior: Any = None, model_error: float = 0.0, cli_band: bool = False) -> dict[str, Any]:
    """Per predicted run: final error, PredE, and whether the final loss lies in the 90% band
    (``covered``: with the cross-validated model error ``model_error`` added to each side, as
    the command line's bands do; ``covered_fit``: the band of the fit alone; with ``cli_band``,
    ``covered_cli``: the band ``simulate`` draws from a ``fit --law ...`` params file, the wider
    on each side of that and the band of ``interval_samples``' 8 refits widened the same way)."""
    rows = []
    band = band_fn()
    fit_prior = "default" if prior is None else prior(law, train)  # the fit's
    smp = None
    if cli_band and band is not None:
        try:
            smp = dyn.interval_samples(law, train, 8, seed=0, prior=fit_prior)
        except (FitError, ValueError, FloatingPointError):
            smp = None
    for r in test:
        try:
            p = _predict(law, r)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            rows.append({"run": r.name, "error": str(e).splitlines()[0][:120]})
            continue
        keep = np.ones(r.steps.size, bool) if whole else r.steps > 2 * r.warmup_steps
        y = np.asarray(r.loss)
        if not np.all(np.isfinite(p)):
            i = int(np.argmax(~np.isfinite(p)))
            rows.append({"run": r.name, "error": f"predicts {p[i]} at step {int(r.steps[i])}"})
            continue
        row = {"run": r.name, "T": r.total_steps, "frac": _frac(r) if r.meta.get("prefix")
               else None, "fe": float(p[-1] - y[-1]), "obs": float(y[-1]), "pred": float(p[-1]),
               "prede": float(np.mean(np.abs(p[keep] - y[keep]) / y[keep]))}
        if band is not None:
            try:
                lo, hi = band(law, train, r, level=LEVEL, prior=fit_prior)
                row["covered_fit"] = bool(lo[-1] <= y[-1] <= hi[-1])
                row["halfwidth_fit"] = float(0.5 * (hi[-1] - lo[-1]))
                pad = model_error * float(p[-1])  # as prediction_band(..., model_error=) adds it
                lo_, hi_ = lo[-1] - pad, hi[-1] + pad
                row["covered"] = bool(lo_ <= y[-1] <= hi_)
                row["halfwidth"] = float(0.5 * (hi_ - lo_))
                if smp:
                    iv = dyn.predict_interval(smp, r, LEVEL, rel_error=model_error)
                    lo_c, hi_c = min(lo_, float(iv["lo"][-1])), max(hi_, float(iv["hi"][-1]))
                    row["covered_cli"] = bool(lo_c <= y[-1] <= hi_c)
                    row["halfwidth_cli"] = float(0.5 * (hi_c - lo_c))
            except Exception as e:  # noqa: BLE001
                row["band_error"] = str(e).splitlines()[0][:120]
        rows.append(row)
    return {"rows": rows}


def best_cooldown(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Predicted vs real best linear-cooldown fraction per horizon (within one grid step?)."""
    out: dict[str, Any] = {}
    by: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("frac") is not None and "fe" in r:
            by.setdefault(int(r["T"]), []).append(r)
    for t, rs in sorted(by.items()):
        if len(rs) < 3:
            continue
        real = min(rs, key=lambda r: r["obs"])["frac"]
        pred = min(rs, key=lambda r: r["pred"])["frac"]
        ok = abs(FRACS.index(real) - FRACS.index(pred)) <= 1
        out[str(t)] = {"real": real, "pred": pred, "ok": ok}
    return out


def _median(xs: list[float]) -> float:
    return float(np.median(xs)) if xs else math.nan


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in rows if "fe" in r]
    fe = [abs(r["fe"]) for r in good]
    cov = [r["covered"] for r in good if "covered" in r]
    cov_fit = [r["covered_fit"] for r in good if "covered_fit" in r]
    cov_cli = [r["covered_cli"] for r in good if "covered_cli" in r]
    return {
        "n": len(rows), "failed": len(rows) - len(good),
        "median_abs_fe": float(np.median(fe)) if fe else math.nan,
        "max_abs_fe": float(np.max(fe)) if fe else math.nan,
        "median_prede": float(np.median([r["prede"] for r in good])) if good else math.nan,
        "mean_prede": float(np.mean([r["prede"] for r in good])) if good else math.nan,
        "coverage": float(np.mean(cov)) if cov else math.nan,
        "coverage_fit": float(np.mean(cov_fit)) if cov_fit else math.nan,
        "coverage_cli": float(np.mean(cov_cli)) if cov_cli else math.nan,
        "median_halfwidth_cli": _median([r["halfwidth_cli"] for r in good
                                         if "halfwidth_cli" in r]),
        "median_halfwidth": _median([r["halfwidth"] for r in good if "halfwidth" in r]),
        "median_halfwidth_fit": _median([r["halfwidth_fit"] for r in good
                                         if "halfwidth_fit" in r]),
    }


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one peak LR, one pair, 100M MPL only")
    ap.add_argument("--laws", nargs="+", default=LAWS, choices=LAWS)
    ap.add_argument("--protocols", nargs="+", default=["X", "O", "H", "MPL", "LAB"],
                    choices=GROUPS)
    ap.add_argument("--json", help="write every row and summary to this file")
    ap.add_argument("--prior", choices=["published", "lodo"], default="published",
                    help="lodo: priors learned on the other shipped dataset (docstring)")
    ap.add_argument("--cli-band", action="store_true",
                    help="also score the command line's band: the Laplace band joined with "
                         "interval_samples' (8 refits per case; slower)")
    args = ap.parse_args(argv)
    if args.prior == "lodo" and not set(args.laws) <= {"momentum", "momentum-lr", "mpl"}:
        raise SystemExit("--prior lodo: only the laws momentum, momentum-lr and mpl have "
                         "learnable priors")
    peaks = [1e-3] if args.quick else [5e-4, 1e-3, 2e-3]
    pairs = [(2e-3, 1e-3)] if args.quick else [(2e-3, 1e-3), (1e-3, 5e-4)]
    sizes = [100] if args.quick else [25, 100, 400]
    print(f"uptime: {os.popen('uptime').read().strip()}")
    t_all = time.perf_counter()
    sweep = sweep_runs()
    todo = cases(sweep, args.protocols, peaks, pairs)
    if "MPL" in args.protocols:
        for s in sizes:
            d = MPL_DIR / f"csv_{s}"
            todo.append((f"MPL {s}M", [load_runs(d / f"{n}.csv")[0] for n in MPL_TRAIN],
                         [load_runs(d / f"{n}.csv")[0] for n in MPL_TEST]))
    if "LAB" in args.protocols:
        todo += lab_cases()
    doc: dict[str, Any] = {"cases": {}, "summary": {}}
    for base in args.laws:
        priors: dict[str, Any] = {}
        law_name = base
        if args.prior == "lodo":
            priors = lodo_priors(base, sweep)
            law_name = f"{base}+lodo"
        for cname, train, test in todo:
            # LAB: another model again; the prior learned on the MPL dataset (the sweep's)
            lp = priors.get("mpl" if cname.startswith("MPL") else "sweep")
            fn = fitter(base, lp)
            t0 = time.perf_counter()
            me = 0.0
            try:
                law, me = fn(train)
                res = score(law, train, test, whole=cname.startswith("MPL"), prior=lp,
                            model_error=me, cli_band=args.cli_band and base != "mpl-ref")
                res["model_error"] = me
                res["law"] = str(getattr(law, "NAME", base))  # what auto chose
            except (FitError, ValueError, FloatingPointError) as e:
                res = {"rows": [{"run": r.name, "error": "fit: " + str(e).splitlines()[0][:100]}
                                for r in test]}
            res["time_s"] = time.perf_counter() - t0
            res["summary"] = summarise(res["rows"])
            if cname[0] in "OH":
                res["cooldown"] = best_cooldown(res["rows"])
            doc["cases"].setdefault(law_name, {})[cname] = res
            s = res["summary"]
            cd = res.get("cooldown", {})
            cds = "".join("y" if v["ok"] else "n" for v in cd.values())
            cli = "" if math.isnan(s["coverage_cli"]) else \
                f"; command line's band {s['coverage_cli']:.2f}, w {s['median_halfwidth_cli']:.3f}"
            print(f"{law_name:<9} {cname:<22} med|fe| {s['median_abs_fe']:.4f} max "
                  f"{s['max_abs_fe']:.4f} PredE med/mean {100 * s['median_prede']:.3f}/"
                  f"{100 * s['mean_prede']:.3f}% cov "
                  f"{s['coverage']:.2f} (fit alone {s['coverage_fit']:.2f}, cv error "
                  f"{100 * me:.2f}%{cli}) fail {s['failed']}/{s['n']} cooldown {cds or '-'} "
                  f"({res['time_s']:.0f} s{', chose ' + res['law'] if base == 'auto' and 'law' in res else ''})",
                  flush=True)
    print("\nSummary per protocol (median over cases of the per-case median |final error|; "
          "max over cases of max |fe|; median PredE; c: 90% band coverage over all predicted "
          "finals, with the cross-validated model error / the fit alone [/ the command line's "
          "band, --cli-band]; w: median band "
          "half-width in nats, the same two; f: failed runs)")
    groups = GROUPS
    print(f"{'law':<9} " + " ".join(f"{g:>44}" for g in groups if g in args.protocols))
    for law_name, cs in doc["cases"].items():
        cells = []
        for g in groups:
            if g not in args.protocols:
                continue
            sel = [c for n, c in cs.items() if n.split()[0].split("-")[0] == g]
            if not sel:
                cells.append(f"{'-':>44}")
                continue
            rows = [r for c in sel for r in c["rows"]]
            s = summarise(rows)
            med = float(np.median([c["summary"]["median_abs_fe"] for c in sel]))
            doc["summary"].setdefault(law_name, {})[g] = {**s, "median_case_fe": med}
            cc = "" if math.isnan(s["coverage_cli"]) else f"/{s['coverage_cli']:.2f}"
            cells.append(f"{med:.4f}/{s['max_abs_fe']:.3f} {100 * s['median_prede']:.2f}% "
                         f"c{s['coverage']:.2f}/{s['coverage_fit']:.2f}{cc} "
                         f"w{s['median_halfwidth']:.3f}/{s['median_halfwidth_fit']:.3f} "
                         f"f{s['failed']}".rjust(44))
        print(f"{law_name:<9} " + " ".join(cells))
    print(f"total {time.perf_counter() - t_all:.0f} s; uptime: {os.popen('uptime').read().strip()}")
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
