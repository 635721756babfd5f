"""Cross-validated choice among loss laws, using the training runs only.

Rule (``select_law``), identical for every dataset:

1. Folds, built from the training runs alone:

   * leave-one-run-out (LORO), when there are at least 3 runs: fit on the others, predict the
     held-out run;
   * fit-short / predict-long (FSPL), always: every run truncated at ``fspl_fraction`` of the
     last observed step of the longest run, predict the observations beyond (CPT runs, with a
     ``transfer_step``: at that fraction of the CPT phase after the latest transfer step).

2. Score of a law = mean over the held-out curves of all folds of
   ``0.5 * (PredE + |final error| / final loss)`` (relative error along the curve and at its end;
   both matter for schedule decisions). A fold whose fit fails scores ``inf``.
3. One-standard-error rule (``rule="one-se"``, the default; Breiman et al. 1984, Hastie et al.
   *Elements of Statistical Learning* §7.10): take the lowest score and its standard error over
   the held-out curves (sd / sqrt(n)); among the laws scoring within one SE of it, choose the one
   with the fewest fitted parameters (then the lower score, then the earlier candidate). With few
   training runs the CV estimate is noisy, and a law with more parameters must beat a simpler one
   by more than that noise to be chosen. With a single held-out curve (one training run: only
   the fit-short fold) the SE is unknown (infinite), so the law with the fewest parameters is
   chosen. ``rule="min"``: the lowest score wins. The chosen law is
   then refitted on all the runs (the returned ``FitResult``).

Candidates default to ``default_candidates(runs)``: ``DEFAULT_CANDIDATES`` (the laws that need
nothing but (LR, loss) runs), plus ``momentum-lr`` when the runs have two or more peak LRs.
"""

from __future__ import annotations

import contextvars
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from cptdyn._progress import start_task

from .._law import Law, law_class
from .._run import Run
from ._batch import fit_many, predict_many
from ._fit import (
    MAX_OBS,
    N_BINS,
    FitError,
    FitResult,
    bin_observations,
    check_runs,
    evaluate,
    run_row,
)
from ._priors import default_options, default_prior, distinct_peaks, fit_window, prior_strength

__all__ = [
    "DEFAULT_CANDIDATES", "RULES", "default_candidates", "law_template", "law_fit_options",
    "select_law", "cv_score",
    "cv_score_se", "format_table", "extrapolation_folds", "extrapolation_fold_masks",
]

#: selection rules of ``select_law``
RULES = ("one-se", "min")

#: laws fitted from (LR, loss) runs alone, simplest first (ties go to the earlier one).
DEFAULT_CANDIDATES: tuple[str, ...] = ("momentum", "momentum-lam", "mpl", "fsl")

#: Levenberg-Marquardt (``fit_many(method="lm")``) with the tighter relative-decrease test it
#: needs for BFGS's accuracy: 5-10x fewer iterations on these laws, the same minima
_LM = {"method": "lm", "ftol": 1e-12}
#: per-law fit options used by the selection (speed: MPL on block-averaged LR, fewer starts
#: optimised, Levenberg-Marquardt for every law: its Jacobian is one forward-mode column per
#: parameter, so the fitted-lambda law's per-update recurrence is differentiated for lambda only).
_FIT_OPTIONS: dict[str, dict[str, Any]] = {
    "momentum": dict(_LM),
    "momentum-lam": {"n_keep": 4, **_LM},
    "momentum-lr": {"n_keep": 4, **_LM},
    "mpl": {"coarsen_lr": True, "coarsen_warmup": 50, "n_keep": 4, **_LM},
    "fsl": {"n_keep": 4, **_LM},
}


def default_candidates(runs: Sequence[Run]) -> tuple[str, ...]:
    """``DEFAULT_CANDIDATES``, plus ``momentum-lr`` when the runs have two or more peak LRs
    (``distinct_peaks``): with one peak its LR-response exponent stays at 1 and it is
    ``momentum`` again."""
    extra = ("momentum-lr",) if len(distinct_peaks(runs)) >= 2 else ()
    return DEFAULT_CANDIDATES + extra


def law_template(name: str | Law) -> Law:
    """Default template of a candidate law (``name`` or an instance, returned as is)."""
    if isinstance(name, Law):
        return name
    cls = law_class(name)
    if name == "fsl":
        return cls(block_size=64)  # type: ignore[call-arg]
    return cls(**default_options(name))  # the generalising warmup convention (_priors.py)


def law_fit_options(law: Law | str) -> dict[str, Any]:
    """Fit options the selection uses for ``law`` (copy)."""
    name = law if isinstance(law, str) else law.NAME
    return dict(_FIT_OPTIONS.get(name, {}))


def _curve_scores(rows: Sequence[Mapping[str, Any]]) -> list[float] | None:
    """``0.5 * (pred_e + |final_error| / final_obs)`` per held-out row; None if a row failed."""
    vals = []
    for r in rows:
        if r.get("failed"):
            return None
        fe = abs(float(r["final_error"])) / float(r["final_obs"])
        vals.append(0.5 * (float(r["pred_e"]) + fe))
    return vals


def cv_score(rows: Sequence[Mapping[str, Any]]) -> float:
    """``mean(0.5 * (pred_e + |final_error| / final_obs))`` over held-out rows; inf if none or a
    row failed."""
    vals = _curve_scores(rows)
    return float(np.mean(vals)) if vals else math.inf


def cv_score_se(rows: Sequence[Mapping[str, Any]]) -> float:
    """Standard error of ``cv_score`` (sd of the per-curve scores / sqrt(n)); inf if < 2 rows or
    a row failed."""
    vals = _curve_scores(rows)
    if vals is None or len(vals) < 2:
        return math.inf
    return float(np.std(vals, ddof=1) / math.sqrt(len(vals)))


def _choose(table: Sequence[Mapping[str, Any]], ok: Sequence[bool], rule: str) -> int:
    """Index of the chosen row (``ok[i]``: law i was fitted on all runs)."""
    scores = [float(r["cv_score"]) if ok[i] else math.inf for i, r in enumerate(table)]
    best = int(np.argmin(scores))  # first minimum = earliest candidate on ties
    if rule == "min":
        return best
    se = float(table[best].get("cv_score_se", math.inf))
    # one held-out curve (a single run): the CV cannot measure its own noise, so no law has
    # shown that it beats a simpler one by more than that noise: every fitted law is "within"
    limit = scores[best] + se
    within = [i for i, s in enumerate(scores) if math.isfinite(s) and s <= limit]
    return min(within, key=lambda i: (int(table[i]["n_params"]), scores[i], i))


def cv_fold_masks(
    runs: Sequence[Run], fspl_fraction: float
) -> list[tuple[str, list[Run], list[np.ndarray], list[np.ndarray]]]:
    """The folds of ``cv_folds`` as observation masks on ``runs``: ``(name, train runs (as
    ``fit`` sees them), train mask per run, held-out mask per run)``."""
    folds: list[tuple[str, list[Run], list[np.ndarray], list[np.ndarray]]] = []
    ones = [np.ones(r.steps.size, bool) for r in runs]
    zeros = [np.zeros(r.steps.size, bool) for r in runs]
    if len(runs) >= 3:
        for i, r in enumerate(runs):
            train = [x for j, x in enumerate(runs) if j != i]
            tr = [zeros[j] if j == i else ones[j] for j in range(len(runs))]
            te = [ones[j] if j == i else zeros[j] for j in range(len(runs))]
            folds.append((f"loro:{r.name}", train, tr, te))
    smax = max(int(r.steps[-1]) for r in runs)
    ts = [r.transfer_step for r in runs if r.transfer_step is not None]
    # CPT runs: the cut lies that fraction into the CPT phase (a cut in the PT phase would ask
    # for the whole distribution shift from PT data alone)
    start = max(ts) if ts and max(ts) < smax else 0
    cut = int(start + fspl_fraction * (smax - start))
    train, tr, te = [], [], []
    for r in runs:
        m = r.steps <= cut
        kept = int(m.sum()) >= 3
        if kept:
            train.append(r.truncated(cut))
        tr.append(m if kept else np.zeros_like(m))
        te.append(~m)
    if train and any(t.any() for t in te):
        folds.append((f"fspl:{cut}", train, tr, te))
    return folds


def cv_folds(runs: Sequence[Run], fspl_fraction: float) -> list[tuple[str, list[Run], list[Run]]]:
    """``(name, train runs, held-out runs)`` of every cross-validation fold."""
    out = []
    for name, train, _, te in cv_fold_masks(runs, fspl_fraction):
        test = []
        for r, m in zip(runs, te, strict=True):
            if m.any():
                assert r.loss is not None
                test.append(r if m.all() else r.replace(steps=r.steps[m], loss=r.loss[m]))
        out.append((name, train, test))
    return out


#: bins of a per-step log's warmup ramp (``binned_runs``)
WARMUP_BINS = 8


def _after_warmup(run: Run, mask: np.ndarray) -> np.ndarray:
    """``mask`` without the observations inside the warmup ramp (steps <= ``warmup_steps``),
    where the laws' warmup conventions are approximations: a held-out curve is scored after
    its warmup (all of ``mask`` if nothing of it is left)."""
    m = mask & (np.asarray(run.steps) > int(run.warmup_steps))
    return m if m.any() else mask


def binned_runs(runs: Sequence[Run]) -> tuple[list[Run], list[np.ndarray]]:
    """The runs as ``fit`` fits them: a run with more than ``MAX_OBS`` observations (a per-step
    training-loss log) averaged in log-spaced step bins (``bin_observations``), and each
    observation's count (its weight in every fit). Runs with fewer are unchanged (counts 1), so
    the cost of ``select_law``, ``cv_model_error`` and ``interval_samples`` does not grow with
    the length of a log."""
    runs_out, counts = [], []
    for r in runs:
        if r.steps.size <= MAX_OBS or r.loss is None:
            runs_out.append(r)
            counts.append(np.ones(r.steps.size))
            continue
        # the warmup ramp and what follows are binned apart (log-spaced bins from step 1 would
        # put half of them inside the ramp, which no fit uses and no score counts)
        ramp = r.steps <= r.warmup_steps
        parts = [bin_observations(r.replace(steps=r.steps[m], loss=np.asarray(r.loss)[m]),
                                  None, n_bins, n_bins)
                 for m, n_bins in ((ramp, WARMUP_BINS), (~ramp, N_BINS)) if m.any()]
        runs_out.append(r.replace(
            steps=np.concatenate([b.steps for b, _ in parts]),
            loss=np.concatenate([np.asarray(b.loss) for b, _ in parts]),
            meta={**r.meta, "binned_from": int(r.steps.size)}))
        counts.append(np.concatenate([np.asarray(c, np.float64) for _, c in parts]))
    return runs_out, counts


def window_weights(law: Law, runs: Sequence[Run], counts: Sequence[np.ndarray]
                   ) -> list[np.ndarray]:
    """Each observation's weight in a default fit: its count (``binned_runs``) inside the fit
    window (``fit_window``: after the warmup and the law's memory of it), 0 outside."""
    return [np.where(fit_window(r, law), c, 0.0) for r, c in zip(runs, counts, strict=True)]


def _law_cv(
    law: Law, runs: Sequence[Run], folds: Sequence[tuple[str, list[Run], list[np.ndarray],
                                                         list[np.ndarray]]],
    kw: Mapping[str, Any], full: Sequence[np.ndarray] | None,
) -> tuple[list[dict[str, Any]], str, FitResult | FitError | None]:
    """Held-out rows of every fold (its fit weights, held-out masks) and the fit on all runs
    with the weights ``full`` (skipped, None, with ``full=None``), as one batch
    (``fit_many``)."""
    probs = [list(tr) for _, _, tr, _ in folds]
    starts: list[Sequence[Run] | None] = [f[1] for f in folds]
    every = [False] * len(folds)
    if full is not None:  # the fit on all runs is the one returned: every kept start runs
        probs.append(list(full))
        starts.append(None)
        every.append(True)
    own: list[list[np.ndarray] | None] = []
    fits = fit_many(law, runs, probs, start_runs=starts, predictions=own, every_start=every,
                    **kw)
    ok = [i for i, f in enumerate(fits[: len(folds)]) if isinstance(f, FitResult)]
    preds: dict[int, list[np.ndarray]] = {}
    if not kw.get("coarsen_lr"):  # the fits' own predictions are on the exact runs: no 2nd program
        preds = {i: pi for i in ok if (pi := own[i]) is not None}
    elif ok:
        try:
            got = predict_many([fits[i].law for i in ok], runs)  # type: ignore[union-attr]
            preds = dict(zip(ok, got, strict=True))
        except (FitError, FloatingPointError, ValueError, TypeError):
            preds = {}
    rows: list[dict[str, Any]] = []
    err = ""
    for i, (fname, _, _, te_all) in enumerate(folds):
        te = [_after_warmup(r, m) for r, m in zip(runs, te_all, strict=True)]
        res = fits[i]
        try:
            if isinstance(res, FitError):
                raise res
            if i in preds:
                for r, p, m in zip(runs, preds[i], te, strict=True):
                    if m.any():
                        assert r.loss is not None
                        sub = r if m.all() else r.replace(steps=r.steps[m], loss=r.loss[m])
                        rows.append({"fold": fname, **run_row(sub, p[m])})
            else:  # the batched prediction failed: fold by fold
                test = [r.replace(steps=r.steps[m], loss=r.loss[m])  # type: ignore[index]
                        for r, m in zip(runs, te, strict=True) if m.any()]
                for er in evaluate(res.law, test).per_run:
                    rows.append({"fold": fname, **er})
        except (FitError, FloatingPointError, ValueError) as e:
            rows.append({"fold": fname, "failed": True})
            err = err or f"{fname}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return rows, err, fits[-1] if full is not None else None


def _prepare(
    cand: str | Law, runs: Sequence[Run], folds: Sequence[tuple[str, list[Run],
                                                               list[np.ndarray], list[np.ndarray]]],
    seed: int, fit_options: Mapping[str, Mapping[str, Any]] | None,
    priors: Mapping[str, Callable[[Law, Sequence[Run]], Mapping[str, tuple[float, float]]]]
    | None, counts: Sequence[np.ndarray],
) -> tuple[Law, list[Any], dict[str, Any], list[np.ndarray]]:
    """A candidate's template, its folds with their fit weights (``window_weights`` inside the
    fold), its fit options with the defaults of ``fit`` (issue 12: priors scaled by their
    strength), and the weights of its fit on all runs."""
    law = law_template(cand)
    kw = law_fit_options(law)
    kw.update((fit_options or {}).get(law.NAME, {}))
    kw.setdefault("seed", seed)
    full = window_weights(law, runs, counts)
    law_folds = [(n, tr_runs, [np.where(t, w, 0.0) for t, w in zip(tr, full, strict=True)], te)
                 for n, tr_runs, tr, te in folds]
    if "prior" not in kw:
        k = math.sqrt(prior_strength(full, len(runs)))
        prior_fn = (priors or {}).get(law.NAME, default_prior)
        kw["prior"] = {p: (float(c), float(sd) / k)
                       for p, (c, sd) in prior_fn(law, runs).items()}
    return law, law_folds, kw, full


def cv_abs_final_error(rows: Sequence[Mapping[str, Any]]) -> float:
    """Mean |final-loss error| over the held-out rows that did not fail (NaN if none)."""
    ok = [abs(r["final_error"]) for r in rows if not r.get("failed")]
    return float(np.mean(ok)) if ok else math.nan


def heldout_rows(
    law: str | Law, runs: Sequence[Run], *, fspl_fraction: float = 0.6, seed: int = 0,
    fit_options: Mapping[str, Any] | None = None,
    prior: Callable[[Law, Sequence[Run]], Mapping[str, tuple[float, float]]] | None = None,
) -> list[dict[str, Any]]:
    """The held-out rows ``select_law`` scores ``law`` by (its folds, its fit options updated by
    ``fit_options``, ``prior(law, runs)`` or the default prior), without the fit on all runs."""
    runs, counts = binned_runs(check_runs(runs, "heldout_rows"))
    folds = cv_fold_masks(runs, fspl_fraction) + extrapolation_fold_masks(runs)
    name = law if isinstance(law, str) else law.NAME
    lw, lf, kw, _ = _prepare(law, runs, folds, seed, {name: dict(fit_options or {})},
                             None if prior is None else {name: prior}, counts)
    return _law_cv(lw, runs, lf, kw, None)[0]


def _schedule_kind(r: Run) -> str:
    """``"constant"`` (LR at the last observed update still >= 90% of the peak) or ``"anneal"``."""
    lr = np.asarray(r.lr)
    last = lr[min(int(r.steps[-1]), lr.size) - 1] if lr.size else 0.0
    return "constant" if lr.size and last >= 0.9 * float(lr.max()) else "anneal"


def extrapolation_folds(runs: Sequence[Run]) -> list[tuple[str, list[Run], list[Run]]]:
    """Folds that test extrapolation, not interpolation (issue 12): with runs of several
    horizons, fit those shorter than the longest and predict the longest (``horizon:``); with
    runs at two or more peak LRs, fit the others and predict the highest peak's runs, then the
    lowest's (``peak:``; with exactly two peaks each such fold trains on one peak, where
    ``momentum-lr`` is ``momentum``: the fold then scores how far a law fitted at one peak
    carries, and only three or more peaks let it score the fitted LR response); with both
    constant and annealed runs, fit one kind and predict the other (``kind:``). Empty when the
    runs allow none (one run, or all of one horizon, one peak and one kind)."""
    folds: list[tuple[str, list[Run], list[Run]]] = []
    ends = [int(r.steps[-1]) for r in runs]
    longest = max(ends)
    short = [r for r, e in zip(runs, ends, strict=True) if e < 0.8 * longest]
    long_ = [r for r, e in zip(runs, ends, strict=True) if e >= 0.8 * longest]
    if short and long_:
        folds.append((f"horizon:{longest}", short, long_))
    peaks = distinct_peaks(runs)
    if len(peaks) >= 2:
        at = [min(range(len(peaks)), key=lambda i: abs(math.log(float(np.max(r.lr)) / peaks[i])))
              for r in runs]
        for i in sorted({0, len(peaks) - 1}):
            test = [r for r, j in zip(runs, at, strict=True) if j == i]
            train = [r for r, j in zip(runs, at, strict=True) if j != i]
            folds.append((f"peak:{peaks[i]:g}", train, test))
    kinds = [_schedule_kind(r) for r in runs]
    for k in ("constant", "anneal"):
        test = [r for r, kk in zip(runs, kinds, strict=True) if kk == k]
        train = [r for r, kk in zip(runs, kinds, strict=True) if kk != k]
        if test and train:
            folds.append((f"kind:{k}", train, test))
    return folds


def extrapolation_fold_masks(
    runs: Sequence[Run],
) -> list[tuple[str, list[Run], list[np.ndarray], list[np.ndarray]]]:
    """``extrapolation_folds`` in the mask form of ``cv_fold_masks``."""
    out = []
    for name, train, test in extrapolation_folds(runs):
        tr = [np.full(r.steps.size, any(r is x for x in train)) for r in runs]
        te = [np.full(r.steps.size, any(r is x for x in test)) for r in runs]
        out.append((name, list(train), tr, te))
    return out


def _n_workers(workers: int | None, n_laws: int) -> int:
    if workers is None:
        return max(1, min(n_laws, os.cpu_count() or 1))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise FitError(f"select_law: workers={workers!r} must be a positive integer")
    return min(workers, max(n_laws, 1))


def select_law(
    runs: Sequence[Run],
    candidates: Sequence[str | Law] | None = None,
    *,
    fspl_fraction: float = 0.6,
    seed: int = 0,
    fit_options: Mapping[str, Mapping[str, Any]] | None = None,
    rule: str = "one-se",
    verbose: bool = False,
    workers: int | None = None,
    priors: Mapping[str, Callable[[Law, Sequence[Run]], Mapping[str, tuple[float, float]]]]
    | None = None,
) -> tuple[FitResult, list[dict[str, Any]]]:
    """Choose a law by cross-validation on ``runs`` (module docstring) and fit it on all runs.

    Args:
      runs: observed training runs (the only data looked at); a run with more than
        ``MAX_OBS`` observations (a per-step log) is binned as ``fit`` bins it
        (``binned_runs``): folds, fits and held-out scores are on the bins.
      candidates: law names or templates (default ``DEFAULT_CANDIDATES``).
      fspl_fraction: truncation point of the fit-short / predict-long fold (fraction of the
        longest run's last observed step; of the CPT phase for CPT runs).
      seed: seed of every fit.
      fit_options: ``{law name: fit kwargs}`` overriding ``law_fit_options``.
      rule: ``"one-se"`` (default) or ``"min"`` (module docstring, step 3).
      verbose: print one line per law.
      workers: laws fitted at once, in threads (default: one per CPU core, at most one per
        law). The result does not depend on it; 1 fits them one after the other.
      priors: ``{law name: prior(law, runs) -> {param: (centre, sd)}}`` in place of
        ``default_prior`` for those laws (e.g. ``learn_prior`` results); scaled by the prior
        strength the same way. ``fit_options[name]["prior"]`` still overrides both, unscaled.

    Returns:
      ``(result, table)``: the chosen law refitted on all runs, and one row per candidate with
      ``law, n_params, cv_score, cv_score_se, cv_pred_e, cv_abs_final_error, cv_worst_e,
      n_heldout, fit_r2, chosen, error`` and ``result`` (that law's ``FitResult`` on all runs,
      absent if the fit failed), in the order of ``candidates``.
    Raises:
      FitError: no runs, or every candidate failed.
    """
    runs, counts = binned_runs(check_runs(runs, "select_law"))
    candidates = default_candidates(runs) if candidates is None else tuple(candidates)
    if not candidates:
        raise FitError("select_law: no candidate laws")
    if not 0.1 <= fspl_fraction <= 0.95:
        raise FitError(f"select_law: fspl_fraction={fspl_fraction} must be in [0.1, 0.95]")
    if rule not in RULES:
        raise FitError(f"select_law: rule={rule!r} is not one of {', '.join(map(repr, RULES))}")
    n_workers = _n_workers(workers, len(candidates))
    folds = cv_fold_masks(runs, fspl_fraction) + extrapolation_fold_masks(runs)
    table: list[dict[str, Any]] = []
    fitted: dict[int, FitResult] = {}
    # progress per law and fold, and a Ctrl-C point between fits (closes itself at the end)
    prog = start_task("law selection", total=len(candidates) * (len(folds) + 1))

    prepared = [_prepare(c, runs, folds, seed, fit_options, priors, counts) for c in candidates]
    outs: list[tuple[list[dict[str, Any]], str, FitResult | FitError | None]] = []

    def done(law: Law) -> None:
        prog.advance(len(folds) + 1, note=f"{law.NAME}: {len(folds)} folds and all runs")

    if n_workers > 1:
        # the laws are independent problems: fitted side by side in threads (XLA runs outside
        # the GIL), each in a copy of this context (progress reporter, x64 flag); Ctrl-C stops
        # them at their next checkpoint. The laws with more parameters (the costlier fits) are
        # started first, so that the cheap ones fill the gaps instead of ending the batch
        order = sorted(range(len(prepared)), key=lambda i: -len(prepared[i][0].params()))
        with ThreadPoolExecutor(n_workers, thread_name_prefix="select_law") as ex:
            by_i = {i: ex.submit(contextvars.copy_context().run, _law_cv, prepared[i][0], runs,
                                 prepared[i][1], prepared[i][2], prepared[i][3]) for i in order}
            futs = [by_i[i] for i in range(len(prepared))]
            try:
                for (law, *_), fut in zip(prepared, futs, strict=True):
                    outs.append(fut.result())
                    done(law)
            except BaseException:
                for fut in futs:
                    fut.cancel()
                raise
    else:
        for law, lf, kw, full in prepared:
            outs.append(_law_cv(law, runs, lf, kw, full))
            done(law)
    for ci, ((law, *_), out) in enumerate(zip(prepared, outs, strict=True)):
        rows, err, full_fit = out
        score = cv_score(rows)
        ok = [r for r in rows if not r.get("failed")]
        row: dict[str, Any] = {
            "law": law.NAME,
            "n_params": len(law.params()),
            "cv_score": score,
            "cv_score_se": cv_score_se(rows),
            "cv_pred_e": float(np.mean([r["pred_e"] for r in ok])) if ok else math.nan,
            "cv_abs_final_error": cv_abs_final_error(rows),
            "cv_worst_e": float(np.max([r["worst_e"] for r in ok])) if ok else math.nan,
            "n_heldout": len(rows),
            "fit_r2": math.nan,
            "chosen": False,
            "error": err,
        }
        if isinstance(full_fit, FitResult):
            fitted[ci] = full_fit
            row["fit_r2"] = full_fit.metrics["r2"]
            row["result"] = full_fit
        else:
            row["cv_score"] = math.inf
            row["error"] = row["error"] or str(full_fit).splitlines()[0]
        table.append(row)
        if verbose:
            print(f"  {law.NAME:<14} cv_score {row['cv_score']:.5f}  "
                  f"PredE {row['cv_pred_e']:.5f}  |final| {row['cv_abs_final_error']:.5f}")
    scores = [r["cv_score"] if ci in fitted else math.inf for ci, r in enumerate(table)]
    if not any(math.isfinite(s) for s in scores):
        if fitted:  # nothing could be cross-validated (e.g. too little data): first fitted law
            best = min(fitted)
        else:
            raise FitError("select_law: every candidate law failed to fit: "
                           + "; ".join(f"{r['law']}: {r['error']}" for r in table))
    else:
        best = _choose(table, [ci in fitted for ci in range(len(table))], rule)
    table[best]["chosen"] = True
    return fitted[best], table


def format_table(table: Sequence[Mapping[str, Any]]) -> str:
    """Plain-text table of ``select_law``'s rows."""
    head = (f"{'law':<14} {'params':>6} {'cv_score':>9} {'+-SE':>8} {'cv_PredE':>9} "
            f"{'cv_|final|':>10} {'cv_WorstE':>9} {'fit_R2':>8}  chosen\n")
    out = [head]
    for r in table:
        def f(v: Any, fmt: str) -> str:
            return "-" if v is None or not math.isfinite(float(v)) else format(float(v), fmt)

        out.append(
            f"{r['law']:<14} {r.get('n_params', '-'):>6} {f(r['cv_score'], '.5f'):>9} "
            f"{f(r.get('cv_score_se', math.nan), '.5f'):>8} {f(r['cv_pred_e'], '.5f'):>9} "
            f"{f(r['cv_abs_final_error'], '.5f'):>10} {f(r['cv_worst_e'], '.5f'):>9} "
            f"{f(r['fit_r2'], '.5f'):>8}  {'*' if r['chosen'] else ''}"
            + (f"  ({r['error']})" if r.get("error") else "") + "\n"
        )
    return "".join(out)
