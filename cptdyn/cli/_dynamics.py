"""``cptdyn fit | evaluate | simulate | plan``: the commands on top of laws and planner."""

from __future__ import annotations

import argparse
import gzip
import io
import math
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cptdyn._errors import CLIError
from cptdyn._io import read_json

from ._common import (
    EXIT_USAGE,
    METRIC_COLS,
    add_schedule_options,
    load_spec,
    lr_array,
    make_schedule_from_flags,
    metric_row,
    one_line,
    schedule_kwargs,
    text_table,
    write_json,
)
from ._output import set_result
from ._report import check_outputs, render, run_source, write_outputs

#: ``cptdyn.dynamics.law_names()``, written out so that building the parser does not import the
#: dynamics layer (and JAX); tests/cli/test_wiring.py compares the two.
FIT_LAWS = ("momentum", "momentum-lam", "momentum-lr", "momentum-size", "cpt", "cpt-replay",
            "cpt-replay-curve", "cpt-size", "cpt-open", "mpl", "fsl")


# ------------------------------------------------------------------------------------ helpers
def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading runs")
    g.add_argument("--format", choices=["csv", "wandb-json", "wandb-csv", "tensorboard", "hf"],
                   help="input format (default: sniffed from the file)")
    g.add_argument("--step-col", help="step column / tag (default: usual aliases)")
    g.add_argument("--loss-col", action="append",
                   help="loss column; repeat for several validation sets (NAME or NAME=DATASET, "
                   "e.g. --loss-col loss_pt=pt --loss-col loss_cpt=cpt)")
    g.add_argument("--lr-col", help="logged LR column (default: usual aliases)")
    g.add_argument("--run-col", help="column naming the run when a file holds several")
    g.add_argument("--schedule-spec", dest="run_schedule",
                   help="exact per-step LR for the runs from a schedule spec (JSON)")
    g.add_argument("--run-config", help="the runs' Hugging Face TrainingArguments (JSON, or the "
                   "W&B config.yaml): exact per-step LR and the LR-logging convention")
    g.add_argument("--lr-at", choices=["next", "last"], help="a logged LR at step s is the LR of "
                   "update s (next) or s-1 (last); default: by the transformers version for "
                   "Hugging Face logs, else next")
    g.add_argument("--wandb", action="append", metavar="ENTITY/PROJECT/RUN",
                   help="read a run from the W&B API (repeatable; pip install 'cptdyn[wandb]')")
    g.add_argument("--warmup-steps", type=int, help="warmup length of the runs")
    g.add_argument("--total-steps", type=int, help="number of updates of the runs")
    g.add_argument("--transfer-step", type=int, help="PT length of CPT runs")
    g.add_argument("--dataset", help="validation set name of a single loss column")
    g.add_argument("--replay-ratio", type=float, help="replay ratio of the runs (CPT)")
    g.add_argument("--model-size", type=float, help="non-embedding parameters, millions")


def _load(paths: Sequence[str], args: argparse.Namespace) -> list[Any]:
    from cptdyn.dynamics import load_runs

    opts: dict[str, Any] = {}
    for k in ("step_col", "lr_col", "run_col", "warmup_steps", "total_steps", "transfer_step",
              "dataset", "replay_ratio", "model_size", "run_config", "lr_at"):
        v = getattr(args, k, None)
        if v is not None:
            opts[k] = v
    if getattr(args, "loss_col", None):
        cols = args.loss_col
        if any("=" in c for c in cols):
            opts["loss_col"] = dict(c.split("=", 1) if "=" in c else (c, c) for c in cols)
        else:
            opts["loss_col"] = cols[0] if len(cols) == 1 else list(cols)
    if getattr(args, "run_schedule", None):
        opts["schedule"] = load_spec(args.run_schedule, "--schedule-spec")
    if "run_config" in opts and not Path(opts["run_config"]).exists():
        raise CLIError(f"--run-config {opts['run_config']!r} does not exist")
    wandb = list(getattr(args, "wandb", None) or [])
    if not paths and not wandb:
        raise CLIError("no runs: give run files or folders, or --wandb ENTITY/PROJECT/RUN")
    for p in paths:
        if not Path(p).exists():
            raise CLIError(f"run file {p!r} does not exist")
    import warnings

    from cptdyn.dynamics import RunReadWarning

    what = ", ".join(list(paths) + wandb)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RunReadWarning)
            runs = load_runs(list(paths), format=args.format, **opts) if paths else []
            if wandb:
                from cptdyn.dynamics import load_wandb

                runs += load_wandb(wandb, **opts)
    except TypeError as e:
        raise CLIError(one_line(e)) from None
    except UnicodeDecodeError as e:
        raise CLIError(f"run file {what!r} is not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise CLIError(f"run file {what!r} is nested too deeply") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise CLIError(f"run file {what!r} cannot be decompressed: {one_line(e)}") from None
    except OSError as e:
        raise CLIError(f"run file {what!r} cannot be read: {e.strerror or one_line(e)}") from None
    except ValueError as e:
        msg = one_line(e)
        if not any(p in msg or Path(p).name in msg for p in paths) and "W&B" not in msg:
            # the reader's message names no input: say which one (a W&B run is not a file)
            msg = f"{'run file' if paths else 'W&B run'} {what!r}: {msg}"
        raise CLIError(msg) from None
    for w in caught:  # guesses: one line each on stderr; other warnings as Python shows them
        if issubclass(w.category, RunReadWarning):
            sys.stderr.write(f"cptdyn: warning: {one_line(str(w.message))}\n")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if not runs:
        raise CLIError("no runs found in " + ", ".join(list(paths) + wandb))
    return runs


def load_params(path: str) -> dict[str, Any]:
    """``{dataset: Law}`` from a params file (one law, or ``{"laws": {dataset: law doc}}``)."""
    from cptdyn.dynamics._law import laws_from_document

    doc = read_json(path, "--params")
    try:
        return dict(laws_from_document(doc))
    except (ValueError, TypeError) as e:
        raise CLIError(f"--params {path!r}: {one_line(e)}") from None


def _by_dataset(runs: Sequence[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in runs:
        out.setdefault(r.dataset, []).append(r)
    return out


def _add_context_options(p: argparse.ArgumentParser) -> None:
    """Law context that is not in a schedule: replay ratio and model size."""
    p.add_argument("--replay-ratio", type=float, help="replay ratio (cpt-replay law)")
    p.add_argument("--model-size", type=float, help="model size in millions (size laws)")


def _law_context(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in ("replay_ratio", "model_size")
            if getattr(args, k, None) is not None}


# ------------------------------------------------------------------------------------------ fit
def _law_template(name: str, args: argparse.Namespace) -> Any:
    from cptdyn.dynamics import law_class

    cls = law_class(name)
    opts: dict[str, Any] = {}
    if getattr(args, "lam", None) is not None:
        opts["lam"] = args.lam
    if getattr(args, "warmup_convention", None):
        opts["warmup"] = args.warmup_convention
    else:  # the LR path from 0 (LR-noise floor term), see dynamics/_fitting/_priors.py
        from cptdyn.dynamics._fitting._priors import default_options

        opts.update(default_options(name))
    try:
        return cls(**opts)
    except TypeError:
        raise CLIError(
            f"--law {name}: options {', '.join(opts)} do not apply to this law") from None


_RULE_TEXT = {
    "one-se": "fewest parameters among the laws within one standard error of the best score",
    "min": "lowest score",
}


def _cv_relative_error(scores: Sequence[Mapping[str, Any]], runs: Sequence[Any]) -> float:
    """The chosen law's cross-validated mean |final error|, relative to the mean final loss of
    the training runs: the misspecification term added to the parameter band (0 if unknown)."""
    from cptdyn.dynamics import cv_relative_error

    row = next((r for r in scores if r.get("chosen")), None)
    return 0.0 if row is None else cv_relative_error(row, runs)


def _readable_samples(doc: Mapping[str, Any], samples: list[dict[str, float]],
                      ds: str) -> list[dict[str, float]]:
    """The samples a params file can hold: a refit that went to a degenerate corner (a parameter
    outside what ``law_from_dict`` reads back, e.g. above 1e6) is left out, with a note, rather
    than writing a file that ``simulate`` and ``plan`` refuse."""
    from cptdyn.dynamics import law_from_dict

    kept = []
    for p in samples:
        try:
            law_from_dict({"law": doc["law"], "options": doc.get("options", {}), "params": p})
        except (ValueError, TypeError, KeyError):
            continue
        kept.append(p)
    if len(kept) < len(samples):
        sys.stdout.write(f"note: [{ds}] {len(samples) - len(kept)} of {len(samples)} refits "
                         "for the interval went to implausible parameters and are left out\n")
    return kept


def _posterior_doc(law: Any, runs: Sequence[Any], prior: Any) -> dict[str, Any] | None:
    """The Laplace posterior of ``law`` fitted on ``runs`` (``laplace_posterior``) as stored in
    a params file, with the fit's ``prior`` (``"default"``, None = none, or a mapping); None
    where it cannot be formed (the band is then the samples' alone)."""
    from cptdyn.dynamics import laplace_posterior

    try:
        return laplace_posterior(law, runs, prior).to_doc()
    except (ValueError, TypeError, FloatingPointError, np.linalg.LinAlgError):
        return None


def _prior_file_groups(args: argparse.Namespace) -> list[list[str]]:
    """``--prior-from``: one list of run files per earlier model (its argument split at commas)."""
    out = []
    for arg in getattr(args, "prior_from", None) or []:
        files = [f for f in arg.split(",") if f]
        if not files:
            raise CLIError(f"--prior-from {arg!r}: no run files (one argument per earlier "
                           "model, its files joined by commas)")
        out.append(files)
    return out


def _learn_prior(law: Any, groups: list[list[Any]], kw: dict[str, Any]) -> Any:
    """``learn_prior`` of ``law`` from the ``--prior-from`` groups, printed."""
    from cptdyn.dynamics import FitError, fit, learn_prior

    try:
        lp = learn_prior(law, groups, lambda lw, rs: fit(lw, rs, **kw))
    except (FitError, ValueError) as e:
        raise CLIError(f"--prior-from: {str(e).splitlines()[0]}") from None
    parts = [f"{k} centre {c:.4g} (sd {lp.sds[k]:.3g}; per model "
             + (", ".join(f"{v:.3g}" for v in lp.values[k]) or "none: published") + ")"
             for k, c in lp.centres.items()]
    sys.stdout.write(f"{law.NAME} prior learned from {len(groups)} earlier models (--prior-from): "
                     + ", ".join(parts) + " [B, and the annealing law's C: anneal gain in nats]\n")
    return lp


def _learn_auto_priors(groups: list[list[Any]], seed: int) -> dict[str, Any]:
    """``--law auto --prior-from``: a learned prior for every candidate law that has one."""
    from cptdyn.dynamics import DEFAULT_CANDIDATES, default_prior, law_fit_options, law_template

    out = {}
    for name in DEFAULT_CANDIDATES:
        law = law_template(name)
        if default_prior(law, groups[0]):
            kw = {k: v for k, v in law_fit_options(law).items() if k != "n_keep"}
            out[name] = _learn_prior(law, groups, {**kw, "seed": seed})
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    from cptdyn.dynamics import fit

    prior_files = _prior_file_groups(args)
    check_outputs({"--out": args.out, "--report": args.report},
                  [*args.runs, getattr(args, "run_schedule", None),
                   *(f for g in prior_files for f in g)])
    procedure = getattr(args, "procedure", "converged")
    if procedure == "mpl-reference" and args.law != "mpl":
        raise CLIError(f"--procedure mpl-reference: applies to --law mpl only, not {args.law}")
    learned: Any = None  # --prior-from: a LearnedPrior (one law) or {law name: LearnedPrior}
    if prior_files:
        if args.law not in ("momentum", "momentum-lam", "momentum-lr", "mpl", "auto") \
                or procedure != "converged" or getattr(args, "prior", "default") == "none":
            raise CLIError("--prior-from: applies to --law momentum|momentum-lam|momentum-lr|mpl|"
                           "auto with the default procedure and prior")
    runs = _load(args.runs, args)
    prior_groups = [_load(files, args) for files in prior_files]  # earlier models (--prior-from)
    groups = _by_dataset(runs)
    results: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    model_error: dict[str, float] = {}
    train_peaks: dict[str, list[float]] = {}
    posteriors: dict[str, Any] = {}
    selection: dict[str, list[Any]] = {}
    if args.law == "auto":
        from cptdyn.dynamics import FitError, interval_samples, select_law
        from cptdyn.dynamics import format_selection_table as format_table
        from cptdyn.dynamics._fitting._priors import distinct_peaks

        for ds, rs in groups.items():
            label = "" if len(groups) == 1 else f" [{ds}]"
            sys.stdout.write(f"--law auto{label}: cross-validated choice (leave-one-run-out with "
                             ">= 3 runs + fit-short/predict-long at 60%; score = mean held-out "
                             "(PredE + |final error|/final) / 2; rule "
                             f"{args.rule}: {_RULE_TEXT[args.rule]})\n")
            if prior_groups and learned is None:
                learned = _learn_auto_priors(prior_groups, args.seed)
            try:
                results[ds], sel_table = select_law(rs, seed=args.seed, rule=args.rule,
                                                    priors=learned)
                model_error[ds] = _cv_relative_error(sel_table, rs)
                train_peaks[ds] = distinct_peaks(rs)
                selection[ds] = list(sel_table)
                n_s = 8 if getattr(args, "samples", None) is None else int(args.samples)
                if n_s < 0:
                    raise CLIError(f"--samples {n_s}: must be >= 0")
                if n_s:
                    lp = learned.get(results[ds].law.NAME) if learned else None
                    fit_prior = "default" if lp is None else lp(results[ds].law, rs)
                    samples[ds] = interval_samples(results[ds], rs, n_s, seed=args.seed,
                                                   prior=fit_prior)
                    posteriors[ds] = _posterior_doc(results[ds].law, rs, fit_prior)
            except FitError as e:
                raise CLIError(str(e).splitlines()[0]) from None
            sys.stdout.write(format_table(sel_table))
    n_single = getattr(args, "samples", None)
    if args.law != "auto" and n_single is not None:
        if int(n_single) < 0:
            raise CLIError(f"--samples {n_single}: must be >= 0")
        if procedure == "mpl-reference" and int(n_single) > 0:
            raise CLIError(f"--samples {n_single}: intervals need the converged fit, not "
                           "--procedure mpl-reference")
    for ds, rs in groups.items():
        if args.law == "auto":
            break
        if procedure == "mpl-reference":
            from cptdyn.dynamics import FitError, fit_mpl_reference

            try:
                results[ds] = fit_mpl_reference(rs, warmup=args.warmup_convention or "repo")
            except FitError as e:
                raise CLIError(str(e).splitlines()[0]) from None
            continue
        law = _law_template(args.law, args)
        kw: dict[str, Any] = {"seed": args.seed}
        if args.n_random is not None:
            kw["n_random"] = args.n_random
        coarsen = args.coarsen if args.coarsen is not None else args.law == "mpl"
        if coarsen:
            kw["coarsen_lr"] = True
            if getattr(law, "warmup", None) == "repo":
                kw["coarsen_warmup"] = 50  # every warmup step is an LR change there
        if getattr(args, "prior", "default") == "none":  # the plain minimum, every observation
            kw["prior"] = None
            kw["skip_warmup"] = False
        elif prior_groups:
            if learned is None:
                learned = _learn_prior(law, prior_groups, kw)
            kw["prior"] = learned(law, rs)
        results[ds] = fit(law, rs, **kw)
        if n_single:  # --samples N with one law: the interval --law auto stores, for this law
            from cptdyn.dynamics import FitError, cv_model_error, interval_samples
            from cptdyn.dynamics._fitting._priors import distinct_peaks

            fit_prior = kw.get("prior", "default")  # the fit's: none, learned or the default
            try:
                samples[ds] = interval_samples(results[ds], rs, int(n_single), seed=args.seed,
                                               prior=fit_prior,
                                               skip_warmup=kw.get("skip_warmup", True))
                opts: dict[str, Any] = {k: kw[k] for k in
                                        ("n_random", "coarsen_lr", "coarsen_warmup") if k in kw}
                if kw.get("prior") is None and "prior" in kw:
                    opts["prior"] = None
                model_error[ds] = cv_model_error(
                    law, rs, seed=args.seed, fit_options=opts,
                    prior=learned if prior_groups and "prior" in kw else None)
            except FitError as e:
                raise CLIError(f"--samples {n_single}: {str(e).splitlines()[0]}") from None
            train_peaks[ds] = distinct_peaks(rs)
            posteriors[ds] = _posterior_doc(results[ds].law, rs, fit_prior)
    rows = []
    for ds, res in results.items():
        for r in res.per_run:
            rows.append(metric_row(r["name"], r, ds))
    out = sys.stdout
    for ds, res in results.items():
        ps = ", ".join(f"{k}={v:.6g}" for k, v in res.params.items())
        label = "" if len(results) == 1 else f" [{ds}]"
        out.write(f"{res.law.NAME}{label}: {ps}\n")
        c = res.convergence
        how = (f"{c.iterations} AdamW steps (the MPL authors' procedure)"
               if res.settings.get("procedure") == "mpl-reference"
               else f"{res.n_optimized}/{res.n_starts} starts optimised")
        out.write(f"  objective {res.objective:.6g}, {c.status}, {how}, {res.time_s:.1f} s"
                  + (f"; at a bound: {', '.join(c.at_bound)}" if c.at_bound else "") + "\n")
    cols = METRIC_COLS if len(results) == 1 else METRIC_COLS[:1] + [("set", "dataset", "")] + \
        METRIC_COLS[1:]
    out.write(text_table(rows, cols))
    report = None
    if args.report:
        from cptdyn.report import fit_report

        report = render(fit_report({ds: r.law for ds, r in results.items()}, runs,
                                   fit_docs={ds: r.to_dict()["fit"] for ds, r in results.items()}),
                        args.report)
    _note_undefined_r2(rows)
    _note_constant_only(groups, results, getattr(args, "prior", "default"))
    set_result({"laws": {ds: {"law": res.law.NAME, "params": dict(res.params),
                              "objective": float(res.objective),
                              "status": res.convergence.status, "seconds": float(res.time_s)}
                         for ds, res in results.items()},
                "runs": rows, "outputs": [args.out] if args.out else [],
                **({"selection": selection} if selection else {})})
    if args.out:
        from cptdyn.dynamics import samples_to_doc

        def law_doc(ds: str, res: Any) -> dict[str, Any]:
            d = res.to_dict()
            if ds in samples:  # parameter samples of refits on reweighted runs (intervals)
                d["samples"] = _readable_samples(d, samples_to_doc(samples[ds]), ds)
                d["interval"] = {"level": 0.9, "method": "bayesian-bootstrap + cv-fold refits",
                                 "model_error": model_error.get(ds, 0.0),
                                 "train_peaks": train_peaks.get(ds, [])}
                if posteriors.get(ds) is not None:  # the Laplace band's (prediction_band)
                    d["interval"]["method"] += " + laplace"
                    d["interval"]["posterior"] = posteriors[ds]
            return d

        if len(results) == 1:
            (ds, res), = results.items()
            doc = law_doc(ds, res)
            if ds != "val":
                doc["dataset"] = ds
        else:
            doc = {"version": 1, "laws": {ds: law_doc(ds, res) for ds, res in results.items()}}
        doc["source"] = run_source(args.runs, args)  # for `cptdyn report params.json`
        if report is not None:
            write_outputs([(args.report, report, "--report")])
        write_json(args.out, doc)
        out.write(f"wrote {args.out}\n")
    elif report is not None:
        write_outputs([(args.report, report, "--report")])
    if report is not None:
        out.write(f"wrote {args.report}\n")
    return 0


# ------------------------------------------------------------------------------------- evaluate
#: laws whose annealing term (the gain of an LR decay) no constant-LR run can identify
_ANNEAL_LAWS = ("momentum", "momentum-lam", "momentum-lr", "momentum-size", "mpl", "fsl")


def _note_constant_only(groups: Mapping[str, Sequence[Any]], results: Mapping[str, Any],
                        prior: str) -> None:
    """A note per validation set whose runs all keep the LR near its peak (``_schedule_kind``):
    no such run shows what a decay gains, so the fitted annealing term is the prior's."""
    from cptdyn.dynamics._fitting._select import _schedule_kind

    for ds, rs in groups.items():
        res = results.get(ds)
        if res is None or res.law.NAME not in _ANNEAL_LAWS or any(
                r.transfer_step is not None or _schedule_kind(r) != "constant" for r in rs):
            continue
        label = "" if len(groups) == 1 else f" [{ds}]"
        held = ("nothing sets the law's annealing term (--prior none): its value is arbitrary"
                if prior == "none" else
                "the law's annealing term is the prior's (published fits: a full decay gains "
                "about 0.10 nats; with --prior-from, your earlier models'), not a measurement")
        sys.stdout.write(
            f"note:{label} every run keeps its LR near its peak to the last observation: no run "
            f"shows what an LR decay gains, so {held}, and predictions of decayed schedules can "
            "be off by 0.1 nats or more (0.09-0.15 on the shipped 124M sweep's constant runs). "
            "A short decay branched from a "
            "checkpoint (10-20% of its steps), added as a run, measures it.\n")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cptdyn.dynamics import evaluate

    check_outputs({"--report": args.report},
                  [*args.runs, args.params, getattr(args, "run_schedule", None)])
    laws = load_params(args.params)
    runs = _load(args.runs, args)
    rows = []
    for ds, rs in _by_dataset(runs).items():
        law = laws.get(ds) or (next(iter(laws.values())) if len(laws) == 1 else None)
        if law is None:
            raise CLIError(f"--params {args.params!r} has no law for validation set {ds!r} "
                           f"(has {', '.join(laws)})")
        ev = evaluate(law, rs)
        for r in ev.per_run:
            rows.append(metric_row(r["name"], r, ds if len(laws) > 1 else None))
    report = None
    if args.report:
        from cptdyn.report import fit_report

        report = render(fit_report(laws, runs, what="evaluate"), args.report)
    mean = None
    if len(rows) > 1:
        mean = {k: _finite_mean([r[k] for r in rows]) for _, k, _ in METRIC_COLS[1:]}
    set_result({"runs": rows, "mean": mean,
                "outputs": [args.report] if report is not None else []})
    if not getattr(args, "json", False):
        table_rows = rows + ([{"run": "mean", **mean}] if mean is not None else [])
        sys.stdout.write(text_table(table_rows, METRIC_COLS, rule_before=len(rows)
                                    if mean is not None else None))
    _note_undefined_r2(rows)
    if report is not None:
        write_outputs([(args.report, report, "--report")])
        print(f"wrote {args.report}")
    return 0


def _finite_mean(vals: Sequence[Any]) -> float | None:
    v = [float(x) for x in vals if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _note_undefined_r2(rows: Sequence[Mapping[str, Any]]) -> None:
    undefined = [str(r["run"]) for r in rows if r.get("R2") is None]
    if undefined:
        print(f"note: R2 is undefined (shown as -) for {', '.join(undefined)}: fewer than two "
              "observations or a constant loss", file=sys.stderr)


# ------------------------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    from cptdyn.planner import evaluate_schedule

    check_outputs({"--out": args.out, "--report": args.report}, [args.params, args.schedule])
    laws = load_params(args.params)
    sched = load_spec(args.schedule, "--schedule")
    if args.every is not None and args.every < 1:
        raise CLIError(f"--every {args.every}: must be >= 1")
    ctx = _law_context(args)
    if args.warmup_steps is not None:
        ctx["warmup_steps"] = args.warmup_steps
    n_steps = int(sched.total_steps)
    if args.every is not None and args.every > n_steps:
        raise CLIError(f"--every {args.every}: longer than the schedule ({n_steps} steps)")
    if args.warmup_steps is not None and not 0 <= args.warmup_steps <= n_steps:
        raise CLIError(f"--warmup-steps {args.warmup_steps}: must be in 0..{n_steps}")
    curves = evaluate_schedule(laws, sched, ctx)
    lr = lr_array(sched)
    n = lr.size
    # before the first update with a positive LR the LR area S1 is 0 and no law defines a loss
    # (S1^-alpha): those leading steps are left empty; a non-finite loss anywhere else is refused
    no_area = np.cumsum(lr) <= 0.0
    curves = {k: _blank_leading(v, no_area, k) for k, v in curves.items()}
    band_notes: list[str] = []
    bands = _sample_bands(args.params, laws, sched, ctx, band_notes)
    bands = {k: (np.where(no_area, np.nan, lo), np.where(no_area, np.nan, hi))
             for k, (lo, hi) in bands.items()}
    notes = _early_divergence(curves, int(getattr(sched, "warmup_steps", 0) or 0), n)
    notes += band_notes
    if no_area.any() and any(np.isnan(v).any() for v in curves.values()):
        k0 = int(np.flatnonzero(no_area)[-1]) + 1
        notes.insert(0, f"note: no loss at steps 1..{k0}: the LR is 0 until then (warmup from 0), "
                        "so no LR area has accumulated and the law is undefined; left empty")
    if args.noise is not None:
        if not (args.noise >= 0 and math.isfinite(args.noise)):
            raise CLIError(f"--noise {args.noise}: must be a finite number >= 0")
        rng = np.random.default_rng(args.seed)
        # multiplicative log-normal noise: a synthetic run file (the laws fit log loss)
        curves = {k: v * np.exp(args.noise * rng.standard_normal(v.shape))
                  for k, v in curves.items()}
    every = args.every or max(1, n // 2000)
    steps = list(range(every, n + 1, every))
    if steps[-1] != n:
        steps.append(n)
    names = list(curves)
    buf = io.StringIO()
    lcols = ["loss"] if names == ["val"] else [f"loss_{k}" for k in names]
    for k in names:
        if k in bands:
            sfx = "" if names == ["val"] else f"_{k}"
            lcols += [f"lo{sfx}", f"hi{sfx}"]
    buf.write("step,lr," + ",".join(lcols) + "\n")
    def cell(x: float) -> str:
        return "" if np.isnan(x) else f"{x:.10g}"

    for s in steps:
        vals = ",".join(cell(curves[k][s - 1]) for k in names)
        for k in names:
            if k in bands:
                vals += f",{cell(bands[k][0][s - 1])},{cell(bands[k][1][s - 1])}"
        buf.write(f"{s},{lr[s - 1]:.10g},{vals}\n")
    report = None
    if args.report:
        from cptdyn.report import simulate_report

        report = render(simulate_report(laws, sched, context=ctx, bands=bands,
                                        level=_band_level(args.params)), args.report)
    write_outputs([(args.report, report or "", "--report"),
                   (args.out, buf.getvalue(), "--out")])
    finals = ", ".join(f"{k} {v[-1]:.4f}" + (f" [{bands[k][0][-1]:.4f}, {bands[k][1][-1]:.4f}]"
                                              if k in bands else "")
                       for k, v in curves.items())
    print(f"wrote {args.out}: {len(steps)} rows; predicted final loss: {finals}")
    if args.report:
        print(f"wrote {args.report}")
    for note in notes:
        print(note)
    set_result({"outputs": [args.out] + ([args.report] if args.report else []),
                "rows": len(steps),
                "final_loss": {k: float(v[-1]) for k, v in curves.items()},
                "interval": {k: [float(b[0][-1]), float(b[1][-1])] for k, b in bands.items()}})
    return 0


def _blank_leading(v: np.ndarray, no_area: np.ndarray, name: str) -> np.ndarray:
    """``v`` with its values at the leading zero-LR-area steps set to NaN; CLIError naming the
    first step where the law's loss is non-finite although the LR area is positive."""
    v = np.asarray(v, dtype=np.float64)
    bad = ~np.isfinite(v) & ~no_area
    if bad.any():
        raise CLIError(f"the {name!r} law predicts a non-finite loss at step "
                       f"{int(np.argmax(bad)) + 1}; check the parameters")
    return np.where(no_area, np.nan, v)


def _early_divergence(curves: Mapping[str, np.ndarray], warmup: int, n: int) -> list[str]:
    """Notes for laws whose predicted loss blows up at the first steps: the S1^-alpha term of
    every law diverges as the LR area goes to 0, so during (and right after) warmup a prediction
    can be far above any real loss. Compared with the loss at the end of warmup (at least 1% of
    the run)."""
    ref_step = min(n, max(warmup, int(math.ceil(0.01 * n)), 1))
    out = []
    for k, v in curves.items():
        ref = float(v[ref_step - 1])
        early = np.where(np.isnan(v[: ref_step - 1]), -np.inf, v[: ref_step - 1])
        if early.size and np.isfinite(ref) and float(np.max(early)) > 1.5 * ref:
            i = int(np.argmax(early))
            last = int(np.flatnonzero(early > 1.5 * ref)[-1]) + 1
            out.append(
                f"note: {k}: the law diverges at the first steps (predicted loss {early[i]:.4g} at "
                f"step {i + 1} vs {ref:.4g} at step {ref_step}): laws in S1^-alpha describe the "
                f"loss after warmup; do not read the curve before step {last + 1}"
            )
    return out


def _band_level(path: str) -> float:
    """The level of the bands stored in a params file (0.9 when it says none)."""
    doc = read_json(path, "--params")
    docs = list(doc["laws"].values()) if isinstance(doc, Mapping) and isinstance(
        doc.get("laws"), Mapping) else [doc]
    for d in docs:
        info = d.get("interval") if isinstance(d, Mapping) else None
        if isinstance(info, Mapping) and isinstance(info.get("level"), (int, float)):
            return float(info["level"])
    return 0.9


def _sample_bands(path: str, laws: Mapping[str, Any], sched: Any,
                  ctx: Mapping[str, Any], notes: list[str] | None = None,
                  laplace: set[str] | None = None,
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{dataset: (lo, hi)}``: pointwise band of the curves of the parameter samples stored in
    the params document (key ``samples``, written by ``fit --law auto`` and ``fit --samples
    N``), widened on each side by ``interval.model_error`` x the median curve (the law's
    cross-validated relative final-loss error); empty when there are no samples. When the
    training runs had one peak LR (``interval.train_peaks``) and the schedule's peak is another,
    the band also carries the LR response that one peak cannot show (``lr_response_variance``,
    added in quadrature to the log half-widths around the median curve); a line saying so is
    appended to ``notes``. Where the document also holds the fit's Laplace posterior
    (``interval.posterior``), the band is the wider, on each side, of this and
    ``posterior_band``'s; those datasets are added to ``laplace``."""
    from scipy.stats import norm

    from cptdyn.dynamics import (
        LaplacePosterior,
        Run,
        lr_response_variance,
        posterior_band,
        samples_from_doc,
    )
    from cptdyn.planner import evaluate_schedule

    doc = read_json(path, "--params")
    docs = dict(doc["laws"]) if isinstance(doc, Mapping) and "laws" in doc else \
        {str(doc.get("dataset", "val")): doc} if isinstance(doc, Mapping) else {}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for ds, d in docs.items():
        if ds not in laws or not isinstance(d, Mapping) or not d.get("samples"):
            continue
        try:
            sample_laws = samples_from_doc(d)
        except (ValueError, TypeError, KeyError) as e:
            raise CLIError(f"--params {path!r}: samples: {one_line(e)}") from None
        info = d.get("interval") or {}
        try:
            level = float(info.get("level", 0.9))
            rel = float(info.get("model_error", 0.0))
        except (TypeError, ValueError):
            raise CLIError(f"--params {path!r}: interval: level and model_error must be "
                           "numbers") from None
        if not (0.0 < level < 1.0) or not (math.isfinite(rel) and rel >= 0.0):
            raise CLIError(f"--params {path!r}: interval: level={level} must be in (0, 1) and "
                           f"model_error={rel} >= 0")
        cs = np.stack([evaluate_schedule({ds: law}, sched, ctx)[ds] for law in sample_laws])
        q = (1.0 - level) / 2.0
        with np.errstate(invalid="ignore"):  # non-finite curves are reported by the caller
            mid = np.median(cs, axis=0)
            pad = rel * mid
            lo, hi = np.quantile(cs, q, axis=0) - pad, np.quantile(cs, 1.0 - q, axis=0) + pad
        peaks = info.get("train_peaks")
        one_peak = isinstance(peaks, list) and len(peaks) == 1 \
            and isinstance(peaks[0], (int, float))
        if one_peak or info.get("posterior") is not None:
            # the schedule as a run to predict, in the context evaluate_schedule gives the law
            lr = lr_array(sched)
            pt_part = getattr(sched, "pt", None)  # a PT schedule joined to a CPT one
            ts = getattr(sched, "transfer_step", None) if pt_part is not None else \
                ctx.get("transfer_step")
            warm = int(ctx.get("warmup_steps", getattr(pt_part if pt_part is not None else
                                                       sched, "warmup_steps", 0)) or 0)
            target = Run("schedule", lr, np.arange(1, lr.size + 1), warmup_steps=warm,
                         transfer_step=None if ts is None else int(ts), dataset=ds,
                         **{k: ctx[k] for k in ("replay_ratio", "model_size") if k in ctx})
        if one_peak:
            assert isinstance(peaks, list)
            try:
                extra = lr_response_variance(laws[ds], target, [float(peaks[0])])
            except (ValueError, TypeError):
                extra = None  # a law without a transformable LR: the band stays as it is
            if extra is not None:
                zz = float(norm.ppf(0.5 + level / 2)) ** 2 * extra
                with np.errstate(invalid="ignore", divide="ignore"):
                    hl = np.log(mid / np.maximum(lo, 1e-300))
                    hh = np.log(np.maximum(hi, 1e-300) / mid)
                    lo = mid * np.exp(-np.sqrt(hl**2 + zz))
                    hi = mid * np.exp(np.sqrt(hh**2 + zz))
                if notes is not None:
                    notes.append(
                        f"note: [{ds}] the band includes the LR response: the schedule's peak "
                        f"LR {float(np.max(lr)):.3g} differs from the training runs' "
                        f"{float(peaks[0]):.3g}, and runs at one peak LR cannot show how the "
                        "loss responds to it")
        if info.get("posterior") is not None:
            # the Laplace band of the fit (``prediction_band``): what the runs could not pin
            # down keeps its prior width, where the refits on resampled runs all agree (the
            # anneal gain of a constant run); the band is the wider of the two on each side
            try:
                post = LaplacePosterior.from_doc(info["posterior"], laws[ds])
            except ValueError as e:
                raise CLIError(f"--params {path!r}: interval: {one_line(e)}") from None
            pband: tuple[np.ndarray, np.ndarray] | None
            try:
                pband = posterior_band(laws[ds], post, target, level, model_error=rel)
            except (ValueError, TypeError, FloatingPointError):
                pband = None  # a law the band cannot be carried through: samples alone
            if pband is not None and pband[0].shape == lo.shape:
                plo, phi = pband
                with np.errstate(invalid="ignore"):
                    lo, hi = np.fmin(lo, plo), np.fmax(hi, phi)
                if laplace is not None:
                    laplace.add(ds)
        out[ds] = (lo, hi)
    return out


# ----------------------------------------------------------------------------------------- plan
def _parse_bounds(text: str | None) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    if not text:
        return out
    for item in text.split(","):
        if "=" not in item or ":" not in item:
            raise CLIError(f"--bounds item {item!r}: expected NAME=LO:HI")
        k, rng = item.split("=", 1)
        lo, hi = rng.split(":", 1)
        try:
            out[k.strip()] = (float(lo), float(hi))
        except ValueError:
            raise CLIError(f"--bounds item {item!r}: LO and HI must be numbers") from None
    return out


def cmd_plan(args: argparse.Namespace) -> int:
    from cptdyn.planner import Problem, parse_objective, plan, plan_free_form
    from cptdyn.schedules import CPTSchedule

    check_outputs({"--out": args.out, "--report": args.report},
                  [args.params, args.schedule, args.pt])
    laws = load_params(args.params)
    objective = parse_objective(args.objective)
    pt = None
    if args.pt:
        pt = load_spec(args.pt, "--pt")
    ctx = _law_context(args)
    if args.budget_steps is not None:
        args.total_steps = args.budget_steps
    if args.family == "free-form":
        if args.total_steps is None or args.peak_lr is None:
            raise CLIError("--family free-form needs --total-steps (or --budget-steps) and "
                           "--peak-lr")
        wi = args.warmup_init if args.warmup_init is not None else 0.0
        if not (math.isfinite(wi) and 0.0 <= wi <= 1.0):
            raise CLIError(f"--warmup-init {args.warmup_init}: must be a fraction of the peak "
                           "LR in [0, 1]")
        ff = plan_free_form(laws, total_steps=args.total_steps, peak_lr=args.peak_lr,
                            warmup_steps=args.warmup_steps or 0,
                            warmup_init=args.warmup_init if args.warmup_init is not None else 0.0,
                            min_lr=args.final_lr or 0.0, objective=objective, pt=pt, context=ctx,
                            max_iter=args.max_iter)
        doc = ff.to_dict()
        if args.export:
            doc["exports"] = _export_plan(ff.schedule, args)
        _record_inputs(doc, laws, ctx)
        report = _plan_report(args, doc, laws, ff.schedule, ctx)
        write_outputs([(args.report, report or "", "--report")])
        write_json(args.out, doc)
        print(f"free-form plan: predicted objective {ff.value:.5f} "
              f"({len(ff.history) - 1} L-BFGS iterations, {ff.n_evaluations} evaluations, "
              f"{ff.seconds:.1f} s); decay starts at step "
              f"{ff.summary['decay_start']:.0f} ({ff.summary['decay_fraction']:.1%} of the run), "
              f"ends at {ff.summary['final_over_peak']:.2%} of peak, shape ~(1-tau)^"
              f"{ff.summary['power_fit']:.2f}")
        for d in ff.diagnostics:
            print(d)
        exported = _print_exports(doc)
        print(f"wrote {args.out}")
        if report is not None:
            print(f"wrote {args.report}")
        set_result({"status": ff.status, "objective_value": float(ff.value),
                    "summary": dict(ff.summary), "diagnostics": list(ff.diagnostics),
                    "outputs": [args.out] + ([args.report] if report is not None else [])})
        return 3 if ff.status != "ok" else (0 if exported else EXIT_USAGE)
    if args.schedule:
        tmpl = load_spec(args.schedule, "--schedule")
    else:
        kw = schedule_kwargs(args)
        kw.pop("values", None)
        if pt is not None and "warmup_steps" in kw and kw.get("warmup_steps"):
            kw.setdefault("warmup_from_previous", True)
        tmpl = make_schedule_from_flags(args.family, kw)
    if pt is not None and not isinstance(tmpl, CPTSchedule):
        tmpl = CPTSchedule(pt, tmpl)
    tune = [t.strip() for t in (args.tune or "").split(",") if t.strip()]
    bounds = _parse_bounds(args.bounds)
    if args.budget_steps is not None:
        key = "cpt_steps" if isinstance(tmpl, CPTSchedule) else "total_steps"
        lo = bounds.get(key, (max(1.0, args.budget_steps / 8), 0))[0]
        bounds[key] = (lo, float(args.budget_steps))
    prob = Problem.make(laws, tmpl, tune, objective, bounds=bounds, context=ctx)
    result = plan(prob)
    doc = result.to_dict(every=args.every or max(1, int(prob.horizon // 1000) or 1))
    if result.schedule is not None and args.export:
        doc["exports"] = _export_plan(result.schedule, args)
    bands = {}
    if result.schedule is not None:
        band_notes: list[str] = []
        with_laplace: set[str] = set()
        bands = _sample_bands(args.params, laws, result.schedule, ctx, band_notes,
                              with_laplace)
        if bands:  # the law has parameter samples (fit --law auto): final-loss interval
            doc["uncertainty"] = {
                ds: {"final_loss_lo": float(lo[-1]), "final_loss_hi": float(hi[-1]),
                     "source": "parameter samples in the params file, widened by the law's "
                               "cross-validated relative final-loss error"
                               + (", joined with the fit's Laplace band" if ds in with_laplace
                                  else "")
                               + (" and the LR response (the plan's peak LR is not the "
                                  "training runs')" if any(f"[{ds}]" in n for n in band_notes)
                                  else "")}
                for ds, (lo, hi) in bands.items()}
    _record_inputs(doc, laws, ctx)
    report = _plan_report(args, doc, laws, result.schedule, ctx, bands)
    write_outputs([(args.report, report or "", "--report")])
    write_json(args.out, doc)
    _print_plan(result)
    exported = _print_exports(doc)
    for ds, u in doc.get("uncertainty", {}).items():
        print(f"  predicted final loss interval [{ds}]: {u['final_loss_lo']:.4f} .. "
              f"{u['final_loss_hi']:.4f} (parameter samples + cross-validated model error"
              + (", joined with the fit's Laplace band" if "Laplace" in u["source"] else "")
              + (" + the LR response" if "LR response" in u["source"] else "") + ")")
    print(f"wrote {args.out}")
    if report is not None:
        print(f"wrote {args.report}")
    set_result({k: doc[k] for k in ("status", "objective", "objective_value", "tuned",
                                    "predicted_final_loss", "flatness", "baselines",
                                    "constraint", "diagnostics", "uncertainty", "schedule")
                if k in doc})
    set_result({"outputs": [args.out] + ([args.report] if report is not None else [])})
    if result.status != "ok":
        return 3
    return 0 if exported else EXIT_USAGE


def _export_plan(sched: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Export the planned schedule to every ``--export`` target and write the files ``cptdyn
    export`` writes, one folder per target under ``--out-dir`` (default: ``<plan>_exports``
    next to the plan file). Everything is exported before anything is written."""
    from pathlib import Path

    from cptdyn.schedules import EXPORT_TARGETS, CPTSchedule, ExportError, export, write

    targets = [t.strip() for t in args.export.split(",") if t.strip()]
    for t in targets:
        if t not in EXPORT_TARGETS:
            raise CLIError(f"--export {t!r} is unknown; choose from {', '.join(EXPORT_TARGETS)}")
    # a CPT plan is run as a new trainer run from the PT checkpoint: export its CPT phase
    part = "cpt" if isinstance(sched, CPTSchedule) else None
    results: dict[str, Any] = {}
    for t in targets:
        try:
            results[t] = export(sched, t, part=part)
        except ExportError as e:  # the plan is still written; the command then exits 2
            results[t] = e
    out_dir = Path(args.out_dir) if args.out_dir else \
        Path(args.out).with_name(Path(args.out).stem + "_exports")
    info: dict[str, Any] = {}
    for t, r in results.items():
        if isinstance(r, ExportError):
            info[t] = {"native": False, "error": str(r), "files": []}
            continue
        d = out_dir / t
        d.mkdir(parents=True, exist_ok=True)
        paths = [str(p) for p in write(r, d)]
        info[t] = {"native": r.native, "note": r.note, "files": paths,
                   **({"part": part} if part else {})}
    return info


def _print_exports(doc: Mapping[str, Any]) -> bool:
    """Print where each export went; False when one of them failed (its error on stderr)."""
    ok = True
    for target, info in doc.get("exports", {}).items():
        if "error" in info:
            print(f"cptdyn: error: --export {target}: {info['error']}", file=sys.stderr)
            ok = False
            continue
        route = "native" if info["native"] else "per-step table"
        what = " (the CPT phase, a run of its own)" if info.get("part") == "cpt" else ""
        print(f"export {target}{what} ({route}): {', '.join(info['files'])}")
    return ok


def _print_plan(p: Any) -> None:
    print(f"objective: {p.objective.describe()}")
    print(f"status: {p.status}")
    for d in p.diagnostics:
        print(f"  {d}")
    if p.schedule is None:
        print("no schedule is printed: the problem has no interior optimum within the bounds")
        return
    for k, v in p.tuned.items():
        prof = p.profiles.get(k, {})
        print(f"  {k} = {v:.6g}   (within +0.001 nats: {prof.get('lo', v):.4g} .. "
              f"{prof.get('hi', v):.4g})")
    print(f"predicted objective {p.value:.5f} (relaxed {p.relaxed_value:.5f}, rounding effect "
          f"{p.rounding_effect:+.2e}); final loss " +
          ", ".join(f"{k} {v:.4f}" for k, v in p.losses.items()))
    if p.constraint:
        c = p.constraint
        print(f"  constraint: general-loss rise {c['rise']:.4f} <= {c['max_rise']:g}: "
              f"{'binds' if c['binds'] else 'slack'}")
    if p.baselines:
        print("baselines (same objective):")
        for b in p.baselines:
            extra = ""
            if "feasible" in b:
                extra = (f"   general rise {b['general_rise']:.4f}"
                         + ("" if b["feasible"] else " (violates the constraint)"))
            print(f"  {b['name']:<22} {b['objective_value']:.5f}   plan - baseline "
                  f"{b['plan_minus_baseline']:+.5f}{extra}")


def _record_inputs(doc: dict[str, Any], laws: Mapping[str, Any], ctx: Mapping[str, Any]) -> None:
    """The laws and law context of a plan, so that ``cptdyn report plan.json`` can redraw every
    curve without the params file."""
    doc["laws"] = {ds: law.to_dict() for ds, law in laws.items()}
    doc["context"] = dict(ctx)


def _plan_report(args: argparse.Namespace, doc: Mapping[str, Any], laws: Mapping[str, Any],
                 sched: Any, ctx: Mapping[str, Any],
                 bands: Mapping[str, Any] | None = None) -> str | bytes | None:
    """The rendered ``--report`` of a plan (None without ``--report``); computed before any
    output is written. A plan with no schedule (status 3) still gets its numbers."""
    if not args.report:
        return None
    from cptdyn.report import plan_report

    level = _band_level(args.params) if bands else 0.9
    return render(plan_report(doc, laws, context=ctx, bands=bands or None, level=level),
                  args.report)


# --------------------------------------------------------------------------------------- parser
def add_commands(sub: Any) -> None:
    """Register ``fit``, ``evaluate``, ``simulate`` and ``plan`` on the ``cptdyn`` subparsers."""
    f = sub.add_parser("fit", help="fit a loss law to observed runs")
    f.add_argument("runs", nargs="*", metavar="RUN",
                   help="run files or folders (or --wandb ENTITY/PROJECT/RUN)")
    f.add_argument("--config", metavar="FILE", help="TOML or YAML file of these options "
                   "(keys = option names, runs = [...]); flags given here override it")
    f.add_argument("--law", required=True, choices=list(FIT_LAWS) + ["auto"], metavar="LAW",
                   help=" | ".join(FIT_LAWS))
    f.add_argument("--out", help="write the fitted parameters (JSON)")
    f.add_argument("--report", help="also write a report: observed vs predicted per run, "
                   "residuals, metrics, schedules, the law's terms (.html; .png/.svg for the main "
                   "figure)")
    f.add_argument("--lam", type=float, help="annealing momentum lambda (area laws; default 0.999)")
    f.add_argument("--warmup-convention", help="warmup accounting: peak|as-run (area laws), "
                   "paper|repo (mpl)")
    f.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    f.add_argument("--samples", type=int, help="refits on resampled runs kept for prediction "
                   "intervals, with the law's cross-validated model error (default 8 with --law "
                   "auto, 0 = none with one law)")
    f.add_argument("--rule", choices=["one-se", "min"], default="one-se",
                   help="with --law auto: one-se = the law with the fewest parameters among "
                   "those within one standard error of the best CV score (default); min = the "
                   "best CV score")
    f.add_argument("--procedure", choices=["converged", "mpl-reference"], default="converged",
                   help="converged = minimise the Huber objective from many starts (default); "
                   "mpl-reference = the MPL authors' procedure (surrogate start, early-stopped "
                   "AdamW; --law mpl, repo warmup convention unless --warmup-convention), which "
                   "reproduces their released parameters")
    f.add_argument("--prior", choices=["default", "none"], default="default",
                   help="default = weak priors at published values on exponents and annealing "
                   "terms, warmup-from-zero conventions (README 'Fitting that generalises'); "
                   "none = the plain minimum of the objective over every observation (with "
                   "--warmup-convention peak|paper: the fit before issue 12)")
    f.add_argument("--prior-from", nargs="+", metavar="FILES",
                   help="learn the prior from earlier models' runs instead of the published "
                   "values: one argument per earlier model, its run files joined by commas "
                   "(same column options); each model fitted on its own; centre = mean, width "
                   "= their spread (README 'Learned priors')")
    f.add_argument("--n-random", type=int, help="random starts around the grid")
    f.add_argument("--coarsen", action=argparse.BooleanOptionalAction, default=None,
                   help="fit on LRs averaged between observed steps (the LR area at every "
                   "observed step stays exact); default on for mpl, off otherwise")
    _add_run_options(f)
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("evaluate", help="metrics of fitted parameters on observed runs")
    e.add_argument("runs", nargs="*", metavar="RUN",
                   help="run files or folders (or --wandb ENTITY/PROJECT/RUN)")
    e.add_argument("--params", required=True, help="params JSON from `cptdyn fit`")
    e.add_argument("--report", help="also write a report: observed vs predicted per run, "
                   "residuals, metrics, schedules, the law's terms (.html; .png/.svg for the main "
                   "figure)")
    _add_run_options(e)
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("simulate", help="predicted loss curve(s) of a schedule")
    s.add_argument("--params", required=True, help="params JSON from `cptdyn fit`")
    s.add_argument("--schedule", required=True, help="schedule spec (a PT->CPT spec for CPT), "
                   "or a plan JSON of `cptdyn plan`")
    s.add_argument("--every", type=int, help="write every N-th step (default: ~2000 rows)")
    s.add_argument("--out", required=True, help="curve CSV: step,lr,loss (or loss_<set>...)")
    s.add_argument("--report", "--plot", dest="report",
                   help="also write a report: predicted curves with bands and a tail zoom, the "
                   "schedule, the law's terms (.html; .png/.svg for the main figure)")
    s.add_argument("--warmup-steps", type=int, help="override the schedule's warmup length")
    s.add_argument("--noise", type=float, help="multiply the losses by exp(NOISE * N(0,1)): a "
                   "synthetic run file to try fitting on (default: none)")
    s.add_argument("--seed", type=int, default=0, help="seed of --noise")
    _add_context_options(s)
    s.set_defaults(func=cmd_simulate)

    p = sub.add_parser("plan", help="tune a schedule by gradient through the predicted loss")
    p.add_argument("--params", required=True, help="params JSON from `cptdyn fit`")
    p.add_argument("--config", metavar="FILE", help="TOML or YAML file of these options "
                   "(keys = option names); flags given here override it")
    p.add_argument("--family", "--lr-scheduler-type", "--lr-decay-style", default="wsd",
                   choices=["wsd", "cosine", "linear", "constant", "constant-then-decay",
                            "free-form", "warmup_stable_decay", "WSD", "cosine_with_min_lr",
                            "constant_with_warmup", "constant_then_decay"],
                   help="schedule family to tune (HF / Megatron-LM names accepted)")
    p.add_argument("--schedule", help="template schedule spec (else built from the options)")
    p.add_argument("--pt", help="PT schedule spec: plan the CPT phase after it")
    p.add_argument("--tune", default="", help="knobs, comma-separated: peak_lr, final_lr, "
                   "decay_fraction, decay_power, total_steps (cpt_steps), rewarmup_steps, "
                   "replay_ratio, loss_potential")
    p.add_argument("--objective", default="final",
                   help="final | weighted:W_PT,W_CPT | constrained:MAX_RISE")
    p.add_argument("--bounds", help="NAME=LO:HI,... (defaults: peak_lr x0.1..x10 of the "
                   "template, steps x0.25..x4, fractions 0..1)")
    p.add_argument("--budget-steps", type=int, help="total (or CPT) step budget")
    _add_context_options(p)
    p.add_argument("--export", help="also export the plan: comma-separated targets (hf,torch,"
                   "...); writes the files `cptdyn export` writes, one folder per target")
    p.add_argument("--out-dir", help="folder for the --export files (default: <plan>_exports "
                   "next to --out)")
    p.add_argument("--every", type=int, help="curve resolution in plan.json")
    p.add_argument("--max-iter", type=int, default=300,
                   help="free-form: L-BFGS iterations (default 300; fewer give smoother decays "
                   "under laws that reward sharp drops)")
    p.add_argument("--out", required=True, help="plan JSON")
    p.add_argument("--report", help="also write a report: the plan against every baseline with "
                   "Δ, the Pareto front of two validation sets, schedules, terms (.html; "
                   ".png/.svg for the main figure)")
    add_schedule_options(p)
    p.set_defaults(func=cmd_plan, warmup_from_previous=False, milestones=None, factors=None,
                   knots=None, values=None)
