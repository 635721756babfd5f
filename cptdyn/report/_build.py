"""Reports of fits, evaluations, simulations and plans, built from laws, runs and schedules (or
from the JSON documents the commands write)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._figures import (
    Curve,
    bars_figure,
    pareto_figure,
    prediction_figure,
    runs_figure,
    schedule_figure,
    terms_figure,
)
from ._page import Report, ReportError, Table
from ._style import colour, set_label

#: Points per plotted curve of a simulation or plan (the page stays a few MB at most).
MAX_POINTS = 2000

METRIC_COLUMNS = [
    ("run", "run", ""), ("set", "validation set", ""), ("n_obs", "points", "d"),
    ("final_step", "last step", ",d"), ("final_obs", "final observed", ".4f"),
    ("final_pred", "final predicted", ".4f"), ("final_error", "final error", "+.4f"),
    ("r2", "R2", ".4f"), ("mae", "MAE", ".4f"), ("rmse", "RMSE", ".4f"),
    ("pred_e_pct", "PredE %", ".3f"), ("worst_e_pct", "WorstE %", ".3f"),
]


def _law_map(laws: Any) -> dict[str, Any]:
    from cptdyn.dynamics import Law

    if isinstance(laws, Law):
        return {"val": laws}
    if isinstance(laws, Mapping) and laws and all(isinstance(v, Law) for v in laws.values()):
        return {str(k): v for k, v in laws.items()}
    raise ReportError(f"laws: expected a Law or a non-empty {{validation set: Law}} mapping, got "
                      f"{type(laws).__name__}")


def _law_for(laws: Mapping[str, Any], dataset: str) -> Any:
    if dataset in laws:
        return laws[dataset]
    if len(laws) == 1:
        return next(iter(laws.values()))
    raise ReportError(f"no law for validation set {dataset!r} (the laws are for "
                      f"{', '.join(laws)})")


def _grid(n: int, keep: Sequence[int] = (), points: int = MAX_POINTS) -> np.ndarray:
    """Steps ``1..n`` thinned to about ``points`` (the first, the last and ``keep`` included)."""
    if n <= points:
        return np.arange(1, n + 1)
    g = np.unique(np.rint(np.linspace(1, n, points)).astype(np.int64))
    extra = [k for k in keep if 1 <= k <= n]
    return np.union1d(g, np.asarray(extra, np.int64))


def _common_transfer(values: Sequence[int | None]) -> int | None:
    vals = {int(v) for v in values if v is not None}
    return vals.pop() if len(vals) == 1 else None


def _params_table(laws: Mapping[str, Any], fit_docs: Mapping[str, Any] | None = None) -> Table:
    rows = []
    for ds, law in laws.items():
        row: dict[str, Any] = {"set": set_label(ds), "law": law.NAME,
                               "params": ", ".join(f"{k}={float(v):.5g}"
                                                   for k, v in law.params().items())}
        fd = (fit_docs or {}).get(ds) or {}
        if fd:
            row["objective"] = fd.get("objective")
            conv = fd.get("convergence") or {}
            row["status"] = conv.get("status")
        rows.append(row)
    cols = [("set", "validation set", ""), ("law", "law", ""), ("params", "parameters", "")]
    if fit_docs:
        cols += [("objective", "fit objective", ".4g"), ("status", "convergence", "")]
    return Table("Law parameters", rows, cols)


# ------------------------------------------------------------------------------------- fit
def fit_report(laws: Any, runs: Sequence[Any], *, title: str | None = None,
               fit_docs: Mapping[str, Any] | None = None, what: str = "fit",
               terms: bool = True) -> Report:
    """Observed vs predicted loss of every run (one colour per run: observed markers, prediction a
    line), the residuals, the runs' schedules, the law's terms and a metrics table.

    Args:
      laws: a ``Law`` or ``{validation set: Law}`` (each run uses the law of its ``dataset``).
      runs: the observed runs (``cptdyn.dynamics.load_runs``).
      fit_docs: ``{set: FitResult.to_dict()["fit"]}`` to show the fit objective and status.
      what: ``"fit"`` (the runs were fitted) or ``"evaluate"`` (held-out runs).
      terms: draw the law's terms (needs a law with ``terms``; skipped otherwise).
    """
    from cptdyn.dynamics import evaluate, run_context

    laws = _law_map(laws)
    runs = list(runs)
    if not runs:
        raise ReportError("runs: no runs to report on")
    sets = list(dict.fromkeys(r.dataset for r in runs))
    many = len(sets) > 1
    curves: list[Curve] = []
    rows: list[dict[str, Any]] = []
    lr_by_run: dict[str, np.ndarray] = {}
    run_colour: dict[str, str] = {}
    term_curves: dict[str, tuple[np.ndarray, Mapping[str, np.ndarray]]] = {}
    for r in runs:
        if r.loss is None:
            raise ReportError(f"run {r.name!r}: no observed loss to compare with")
        law = _law_for(laws, r.dataset)
        ev = evaluate(law, [r]).per_run[0]
        with np.errstate(all="ignore"):
            from cptdyn._pytree import x64_context

            with x64_context():
                pred = np.asarray(law.predict(r), np.float64)
        base = r.name[: -len(r.dataset) - 1] if r.name.endswith(":" + r.dataset) else r.name
        label = f"{base} · {r.dataset}" if many else r.name
        c = colour(len(curves))  # one colour per curve (per run and validation set)
        run_colour.setdefault(base, c)
        curves.append(Curve(label, np.asarray(r.steps), np.asarray(r.loss, float), pred=pred,
                            colour=c))
        lr_by_run.setdefault(base, np.asarray(r.lr, float))
        row = {"run": r.name, "set": set_label(r.dataset), **ev,
               "pred_e_pct": 100.0 * float(ev.get("pred_e", math.nan)),
               "worst_e_pct": 100.0 * float(ev.get("worst_e", math.nan))}
        rows.append(row)
        if terms:
            parts = _law_terms(law, r.lr, r.steps, **run_context(r))
            if parts is not None:
                term_curves[label] = (np.asarray(r.steps), parts)
    mean = {"run": "mean", "set": "", "_highlight": True}
    for k in ("final_error", "r2", "mae", "rmse", "pred_e_pct", "worst_e_pct"):
        v = [float(x[k]) for x in rows if isinstance(x.get(k), (int, float))]
        mean[k] = float(np.mean(v)) if v else None
    mean["abs_final_error"] = float(np.mean([abs(float(x["final_error"])) for x in rows]))
    transfer = _common_transfer([r.transfer_step for r in runs])
    n_runs = len({r.name for r in runs})
    what_text = "fitted on" if what == "fit" else "evaluated on"
    law_names = ", ".join(sorted({law.NAME for law in laws.values()}))
    rep = Report(title or f"cptdyn {what}: {law_names} law {what_text} {n_runs} run"
                 + ("s" if n_runs != 1 else ""),
                 subtitle=("validation sets: " + ", ".join(set_label(s) for s in sets)
                           + (f"; transfer step {transfer:,}" if transfer is not None else "")))
    rep.add_figure("observed vs predicted", runs_figure(
        curves, title="Observed (markers) and predicted (line) loss per run; residuals below",
        transfer_step=transfer))
    cols = [c for c in METRIC_COLUMNS if many or c[0] != "set"]
    rep.add_table(Table(
        "Metrics per run", rows + [mean], cols,
        note="final error = predicted − observed at the last observed step (nats); PredE = mean "
             "|pred − obs| / obs; WorstE = max |pred − obs| / obs; mean row: unweighted mean over "
             f"runs (mean |final error| {mean['abs_final_error']:.4f})."))
    rep.add_table(_params_table(laws, fit_docs))
    rep.add_figure("schedules", schedule_figure(
        lr_by_run, title="Learning-rate schedules of the runs", transfer_step=transfer,
        colours=run_colour))
    if term_curves:
        rep.add_figure("terms", terms_figure(
            term_curves, transfer_step=transfer,
            colours={c.name: c.colour for c in curves}))
    return rep


# -------------------------------------------------------------------------------- simulate
def _schedule_context(schedule: Any, context: Mapping[str, Any] | None) -> dict[str, Any]:
    from cptdyn.schedules import CPTSchedule

    ctx = dict(context or {})
    if isinstance(schedule, CPTSchedule):
        ctx["transfer_step"] = schedule.transfer_step
        ctx.setdefault("warmup_steps", getattr(schedule.pt, "warmup_steps", 0))
    else:
        ctx.setdefault("warmup_steps", getattr(schedule, "warmup_steps", 0))
    return ctx


def _transfer_of(schedule: Any) -> int | None:
    from cptdyn.schedules import CPTSchedule

    return int(schedule.transfer_step) if isinstance(schedule, CPTSchedule) else None


def _terms_of(laws: Mapping[str, Any], lr: np.ndarray, steps: np.ndarray,
              ctx: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, Mapping[str, np.ndarray]]]:
    out = {}
    for ds, law in laws.items():
        parts = _law_terms(law, lr, steps, dataset=ds, **ctx)
        if parts is not None:
            out[set_label(ds)] = (steps, parts)
    return out


def _law_terms(law: Any, lr: Any, steps: Any, **context: Any) -> Mapping[str, np.ndarray] | None:
    """``law.terms(...)``, or None for a law that cannot split its prediction (no panel)."""
    fn = getattr(law, "terms", None)
    if fn is None:
        return None
    try:
        return dict(fn(lr, steps, **context))
    except NotImplementedError:
        return None


def simulate_report(laws: Any, schedule: Any, *, context: Mapping[str, Any] | None = None,
                    bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                    level: float = 0.9, title: str | None = None, name: str | None = None
                    ) -> Report:
    """The predicted loss of one schedule per validation set (with shaded bands when given, and a
    zoom on the tail), the schedule, the law's terms and the numbers.

    Args:
      laws: a ``Law`` or ``{validation set: Law}``.
      schedule: a ``cptdyn.schedules`` schedule (a ``CPTSchedule`` marks the transfer step).
      context: law context (``replay_ratio``, ``model_size``, ``warmup_steps``).
      bands: ``{set: (lo, hi)}`` per-step arrays (e.g. from parameter samples).
    """
    from cptdyn.planner import evaluate_schedule

    laws = _law_map(laws)
    ctx = _schedule_context(schedule, context)
    curves = evaluate_schedule(laws, schedule, context)
    lr = np.asarray(schedule.array(), np.float64)
    n = lr.size
    transfer = _transfer_of(schedule)
    keep = [transfer, transfer + 1] if transfer is not None else []
    steps = _grid(n, keep)
    name = str(name or getattr(schedule, "KIND", "schedule"))
    pcs = []
    rows = []
    for i, (ds, v) in enumerate(curves.items()):
        v = np.asarray(v, float)
        lo_hi = (bands or {}).get(ds)
        pcs.append(Curve(set_label(ds), steps, v[steps - 1], colour=colour(i),
                         lo=None if lo_hi is None else np.asarray(lo_hi[0])[steps - 1],
                         hi=None if lo_hi is None else np.asarray(lo_hi[1])[steps - 1],
                         level=level))
        row: dict[str, Any] = {"set": set_label(ds), "final": float(v[-1]),
                               "min": float(np.nanmin(v[n // 20:])) if n > 20 else float(v[-1])}
        if lo_hi is not None:
            row["lo"], row["hi"] = float(lo_hi[0][-1]), float(lo_hi[1][-1])
        if transfer is not None and 1 <= transfer <= n:
            row["at_transfer"] = float(v[transfer - 1])
            row["rise"] = float(v[-1] - v[transfer - 1])
        rows.append(row)
    law_names = ", ".join(sorted({law.NAME for law in laws.values()}))
    rep = Report(title or f"cptdyn simulate: {name} schedule, {n:,} steps ({law_names} law)",
                 subtitle="validation sets: " + ", ".join(set_label(s) for s in curves)
                 + (f"; transfer step {transfer:,}" if transfer is not None else ""))
    band_text = f" with its {level:.0%} band" if bands else ""
    if len(pcs) == 1:
        rep.add_figure("predicted loss", prediction_figure(
            pcs, title="Predicted loss" + band_text, transfer_step=transfer))
    else:  # one figure per validation set: each tail zoom at its own loss level
        for ds, pc in zip(curves, pcs, strict=True):
            rep.add_figure(f"predicted loss {ds}", prediction_figure(
                [pc], title=f"Predicted loss on {pc.name}" + band_text, transfer_step=transfer))
    cols = [("set", "validation set", ""), ("final", "final loss", ".4f")]
    if bands:
        cols += [("lo", f"{level:.0%} band: low", ".4f"), ("hi", "high", ".4f")]
    cols += [("min", "lowest loss (after 5%)", ".4f")]
    if transfer is not None:
        cols += [("at_transfer", "loss at the transfer", ".4f"),
                 ("rise", "final − at transfer", "+.4f")]
    rep.add_table(Table("Predicted numbers", rows, cols,
                        note="band: pointwise quantiles of the parameter samples stored by "
                             "`fit --law auto` (or `fit --samples N`), widened by the law's "
                             "cross-validated error, the wider with the fit's Laplace band "
                             "where the params file has one, and the LR response where the "
                             "schedule's peak LR is not that of the training runs (one peak)"
                             if bands else ""))
    rep.add_table(_params_table(laws))
    rep.add_figure("schedule", schedule_figure({name: lr}, title="Learning-rate schedule",
                                               transfer_step=transfer))
    tc = _terms_of(laws, lr, steps, ctx)
    if tc:
        rep.add_figure("terms", terms_figure(tc, transfer_step=transfer))
    return rep


# ------------------------------------------------------------------------------------ plan
def plan_report(doc: Mapping[str, Any], laws: Any = None, *,
                context: Mapping[str, Any] | None = None,
                bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                level: float = 0.9, title: str | None = None) -> Report:
    """The plan against every baseline: predicted curves (plan thick, baselines thin, a zoom on the
    tail), the schedules, the objective per schedule with Δ = plan − baseline, the Pareto front of
    the final losses when there are two validation sets, the tuned knobs and the law's terms.

    Args:
      doc: the plan document (``PlanResult.to_dict()`` / ``plan.json``; baselines carry their
        schedule specs).
      laws: the laws the plan was made with (``doc["laws"]`` when omitted). Without laws the
        curves come from ``doc["curves"]`` and baselines are shown as numbers only.
      bands: ``{set: (lo, hi)}`` per-step bands of the plan's curves.
    """
    from cptdyn.schedules import schedule_from_spec

    if not isinstance(doc, Mapping) or "objective_value" not in doc:
        raise ReportError("plan document: missing field 'objective_value' (not a plan.json?)")
    if laws is None and isinstance(doc.get("laws"), Mapping):
        laws = laws_from_doc({"laws": doc["laws"]})
    laws = _law_map(laws) if laws is not None else None
    if context is None and isinstance(doc.get("context"), Mapping):
        context = dict(doc["context"])
    sched = schedule_from_spec(doc["schedule"]) if doc.get("schedule") else None
    entries: list[tuple[str, Any]] = [("plan", sched)]
    baselines = [b for b in doc.get("baselines") or [] if isinstance(b, Mapping)]
    for b in baselines:
        spec = b.get("schedule")
        entries.append((str(b.get("name")), schedule_from_spec(spec) if spec else None))
    transfer = _transfer_of(sched) if sched is not None else None
    colours = {name: colour(i) for i, (name, _) in enumerate(entries)}
    curves: dict[str, dict[str, np.ndarray]] = {}  # schedule -> set -> curve
    lrs: dict[str, np.ndarray] = {}
    if laws is not None:
        from cptdyn.planner import evaluate_schedule

        for name, s in entries:
            if s is None:
                continue
            curves[name] = {k: np.asarray(v, float)
                            for k, v in evaluate_schedule(laws, s, context).items()}
            lrs[name] = np.asarray(s.array(), np.float64)
    elif doc.get("curves"):
        cv = doc["curves"]
        st = np.asarray(cv["step"], np.int64)
        curves["plan"] = {k: np.asarray(v, float) for k, v in cv.items() if k != "step"}
        if doc.get("lr"):
            lrs["plan"] = np.asarray(doc["lr"], float)
    sets: list[str] = [str(k) for k in (next(iter(curves.values())) if curves
                                         else doc.get("predicted_final_loss") or {})]
    # ---- numbers
    value = float(doc["objective_value"])
    plan_final = dict(doc.get("predicted_final_loss") or {})
    rows: list[dict[str, Any]] = [{"name": "plan", "objective": value, "delta": 0.0,
                                   "_highlight": True,
                                   **{f"L_{k}": v for k, v in plan_final.items()}}]
    for b in baselines:
        row = {"name": b.get("name"), "objective": b.get("objective_value"),
               "delta": b.get("plan_minus_baseline"),
               **{f"L_{k}": v for k, v in (b.get("predicted_final_loss") or {}).items()}}
        if "feasible" in b:
            row["rise"] = b.get("general_rise")
            row["feasible"] = b.get("feasible")
        rows.append(row)
    if doc.get("constraint"):
        rows[0]["rise"] = doc["constraint"].get("rise")
        rows[0]["feasible"] = True
    obj = doc.get("objective") or {}
    desc = obj.get("description") or obj.get("kind") or "objective"
    cols = [("name", "schedule", ""), ("objective", "objective", ".5f"),
            ("delta", "Δ = plan − baseline", "+.5f")]
    cols += [(f"L_{k}", f"final loss: {set_label(k)}", ".5f") for k in sets]
    if any("feasible" in r for r in rows):
        cols += [("rise", "general-loss rise", "+.4f"), ("feasible", "within the constraint", "")]
    status = doc.get("status", "ok")
    tuned = doc.get("tuned") or {}
    knobs = ", ".join(f"{k} = {_fmt_knob(k, v)}" for k, v in tuned.items())
    rep = Report(title or "cptdyn plan: " + (f"{knobs}" if knobs else
                                             str(doc.get("family", "schedule"))),
                 subtitle=f"objective: {desc}; status: {status}"
                 + (f"; transfer step {transfer:,}" if transfer is not None else ""))
    for d in doc.get("diagnostics") or []:
        rep.notes.append(str(d))
    # ---- figures
    for ds in sets:
        pcs = []
        for name, _ in entries:
            if name not in curves or ds not in curves[name]:
                continue
            v = curves[name][ds]
            if name == "plan" and laws is None:
                st = np.asarray(doc["curves"]["step"], np.int64)
                y = v
            else:
                st = _grid(v.size, [transfer, transfer + 1] if transfer else [])
                y = v[st - 1]
            band = (bands or {}).get(ds) if name == "plan" else None
            pcs.append(Curve(name, st, y, colour=colours[name],
                             width=3.5 if name == "plan" else 1.6,
                             lo=None if band is None else np.asarray(band[0])[st - 1],
                             hi=None if band is None else np.asarray(band[1])[st - 1],
                             level=level))
        if pcs:
            where = f" on {set_label(ds)}" if len(sets) > 1 or ds != "val" else ""
            rep.add_figure(f"predicted loss {ds}", prediction_figure(
                pcs, title=f"Predicted loss{where}: the plan (thick) and every baseline",
                transfer_step=transfer))
    rep.add_table(Table("The plan and every baseline", rows, cols,
                        note="Δ < 0: the plan is better than the baseline by |Δ| nats (same "
                             "objective, same law). Baselines run at the template's peak LR and "
                             "length."))
    if len(rows) > 1:
        bar_colours = dict(colours)
        bars = []
        for r in rows:
            if not isinstance(r.get("objective"), (int, float)):
                continue
            label = str(r["name"]) + (" (violates the constraint)" if r.get("feasible") is False
                                      else "")
            bar_colours[label] = colours.get(str(r["name"]), "#888")
            bars.append((label, float(r["objective"])))
        rep.add_figure("objective", bars_figure(
            bars,
            x_label=f"{desc} (nats, lower is better)", highlight="plan", colours=bar_colours))
    if len(sets) == 2:
        sa, sb = sets
        pts = [(str(r["name"]), float(r[f"L_{sa}"]), float(r[f"L_{sb}"])) for r in rows
               if isinstance(r.get(f"L_{sa}"), (int, float))
               and isinstance(r.get(f"L_{sb}"), (int, float))]
        if len(pts) >= 2:
            rep.add_figure("pareto", pareto_figure(
                pts, f"final loss: {set_label(sa)}", f"final loss: {set_label(sb)}",
                highlight="plan", colours=colours))
    if tuned:
        prof = doc.get("flatness") or {}
        trows = [{"knob": k, "value": _fmt_knob(k, v),
                  "lo": _fmt_knob(k, (prof.get(k) or {}).get("lo")),
                  "hi": _fmt_knob(k, (prof.get(k) or {}).get("hi"))} for k, v in tuned.items()]
        rep.add_table(Table("Tuned knobs", trows,
                            [("knob", "knob", ""), ("value", "value", ""),
                             ("lo", "within +0.001 nats: from", ""), ("hi", "to", "")],
                            note="the range of each knob (others held) whose objective is within "
                                 "0.001 nats of the plan's: how flat the optimum is."))
    if lrs:
        rep.add_figure("schedules", schedule_figure(
            lrs, title="Learning-rate schedules: the plan and every baseline",
            transfer_step=transfer, colours=colours,
            widths={"plan": 3.5}))
    if laws is not None and sched is not None:
        lr = np.asarray(sched.array(), np.float64)
        tc = _terms_of(laws, lr, _grid(lr.size, [transfer, transfer + 1] if transfer else []),
                       _schedule_context(sched, context))
        if tc:
            rep.add_figure("terms", terms_figure(
                tc, title="The plan's predicted loss split into the law's terms",
                transfer_step=transfer))
    if laws is not None:
        rep.add_table(_params_table(laws))
    return rep


def _fmt_knob(name: str, v: Any) -> str:
    if v is None or not isinstance(v, (int, float)):
        return "–"
    v = float(v)
    if name.endswith("lr"):
        return f"{v:.3g}".replace("e-0", "e-")
    if "steps" in name:
        return f"{v:,.0f}"
    if "fraction" in name or "ratio" in name or name == "loss_potential":
        return f"{v:.1%}"
    return f"{v:.4g}"


# -------------------------------------------------------------------------------- documents
def laws_from_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``{validation set: Law}`` from a params document (one law, or ``{"laws": {...}}``)."""
    from cptdyn.dynamics._law import laws_from_document

    try:
        return dict(laws_from_document(doc))
    except (TypeError, ValueError) as e:
        raise ReportError(" ".join(str(e).split())) from None


def fit_docs_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``{set: fit summary}`` of a params document written by ``cptdyn fit``."""
    if "laws" in doc and isinstance(doc["laws"], Mapping):
        return {str(k): v.get("fit") for k, v in doc["laws"].items()
                if isinstance(v, Mapping) and isinstance(v.get("fit"), Mapping)}
    if isinstance(doc.get("fit"), Mapping):
        return {str(doc.get("dataset", "val")): doc["fit"]}
    return {}


def bands_from_doc(doc: Mapping[str, Any], laws: Mapping[str, Any], schedule: Any,
                   context: Mapping[str, Any] | None = None
                   ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    """``({set: (lo, hi)}, level)``: the pointwise band of the parameter samples stored in a
    params document by ``fit --law auto``, widened on each side by ``interval.model_error`` x the
    median curve; empty when the document has no samples."""
    from cptdyn.dynamics import samples_from_doc
    from cptdyn.planner import evaluate_schedule

    docs = dict(doc["laws"]) if "laws" in doc and isinstance(doc["laws"], Mapping) else \
        {str(doc.get("dataset", "val")): doc}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    level = 0.9
    for ds, d in docs.items():
        if ds not in laws or not isinstance(d, Mapping) or not d.get("samples"):
            continue
        try:
            sample_laws = samples_from_doc(d)
            info = d.get("interval") or {}
            level = float(info.get("level", 0.9))
            rel = float(info.get("model_error", 0.0))
        except (TypeError, ValueError, KeyError) as e:
            raise ReportError(f"params document: samples: {' '.join(str(e).split())}") from None
        if not (0.0 < level < 1.0) or not (math.isfinite(rel) and rel >= 0.0):
            raise ReportError(f"params document: interval: level={level} must be in (0, 1) and "
                              f"model_error={rel} >= 0")
        cs = np.stack([evaluate_schedule({ds: law}, schedule, context)[ds]
                       for law in sample_laws])
        q = (1.0 - level) / 2.0
        with np.errstate(invalid="ignore"):
            pad = rel * np.median(cs, axis=0)
            out[ds] = (np.quantile(cs, q, axis=0) - pad, np.quantile(cs, 1.0 - q, axis=0) + pad)
    return out, level


def doc_kind(doc: Any) -> str:
    """``"plan"`` or ``"params"`` for a document the commands write; ReportError otherwise."""
    if isinstance(doc, Mapping) and "objective_value" in doc and (
            "baselines" in doc or "schedule" in doc or "curves" in doc):
        return "plan"
    if isinstance(doc, Mapping) and ("law" in doc or "laws" in doc):
        return "params"
    raise ReportError("not a document cptdyn writes: expected a params file (`cptdyn fit "
                      "--out`, field 'law' or 'laws') or a plan (`cptdyn plan --out`, field "
                      "'objective_value')")
