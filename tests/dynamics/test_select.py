"""Cross-validated law selection (``dynamics/_select.py``) on small synthetic runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cptdyn.dynamics import FitError, MomentumLaw, Run, cv_score, law_template, select_law
from cptdyn.dynamics._fitting._select import _choose, cv_score_se, format_table

# the default template's warmup convention (law_template("momentum"): "as-run", issue 12)
TRUE = MomentumLaw(L0=2.5, A=0.6, alpha=0.5, C=0.5, warmup="as-run")


def _lr(kind: str, T: int = 3000, W: int = 100, peak: float = 3e-4) -> np.ndarray:
    t = np.arange(T)
    lr = np.full(T, peak)
    lr[:W] = peak * (t[:W] + 1) / W
    if kind == "cosine":
        lr[W:] = 3e-5 + (peak - 3e-5) * 0.5 * (1 + np.cos(np.pi * (t[W:] - W) / (T - W)))
    elif kind == "wsd":
        d = int(0.8 * T)
        lr[d:] = peak * (1 - (t[d:] - d) / (T - d)) + 3e-6
    return lr


ROOT_DATA = Path(__file__).resolve().parents[2] / "data"


def synthetic_runs(kinds=("constant", "cosine", "wsd"), noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    runs = []
    for k in kinds:
        r = Run(k, _lr(k), np.arange(200, 3001, 100), warmup_steps=100)
        y = np.asarray(TRUE.predict(r)) * (1 + noise * rng.normal(size=r.steps.size))
        runs.append(r.replace(loss=y))
    return runs


def test_select_recovers_generating_law():
    runs = synthetic_runs()
    # a named law and a template instance (a wrong fixed lambda) compete
    res, table = select_law(runs, candidates=("momentum", MomentumLaw(lam=0.9, warmup="as-run")))
    assert [r["law"] for r in table] == ["momentum", "momentum"]
    assert table[0]["chosen"] and table[1]["cv_score"] > table[0]["cv_score"]
    chosen = [r for r in table if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["law"] == res.law.NAME
    # the chosen law has the lowest finite score
    assert chosen[0]["cv_score"] == min(r["cv_score"] for r in table)
    mom = table[0]
    # 3 LORO + FSPL on 3 runs + the extrapolation folds: constant -> 2 annealed, 2 -> constant
    # (the constant-only fold cannot see the annealing amplitude: the prior's 0.10-nat centre
    # stands in for it, so the score is no longer ~0 on exact data)
    assert mom["cv_score"] < 2e-3 and mom["n_heldout"] == 3 + 3 + 2 + 1
    assert res.law.NAME == "momentum" and res.law.lam == 0.999
    assert res.params["L0"] == pytest.approx(2.5, rel=2e-3)
    assert "momentum" in format_table(table) and "*" in format_table(table)


def test_two_runs_use_fit_short_predict_long_only():
    runs = synthetic_runs(("constant", "cosine"))
    res, table = select_law(runs, candidates=("momentum",))
    # FSPL (2 curves) + the extrapolation folds constant -> cosine and cosine -> constant
    assert table[0]["chosen"] and table[0]["n_heldout"] == 2 + 1 + 1
    assert math.isfinite(table[0]["cv_score"]) and res.law.NAME == "momentum"


def test_cv_score_rules():
    assert cv_score([]) == math.inf
    assert cv_score([{"failed": True}]) == math.inf
    rows = [{"pred_e": 0.002, "final_error": -0.03, "final_obs": 3.0}]
    assert cv_score(rows) == pytest.approx(0.5 * (0.002 + 0.01))


def test_one_se_rule_prefers_fewer_parameters_within_noise():
    def row(law, n, score, se):
        return {"law": law, "n_params": n, "cv_score": score, "cv_score_se": se}

    # mpl best (0.0024 +- 0.0005); momentum (4 params) within one SE: momentum is chosen
    table = [row("momentum", 4, 0.0028, 0.0004), row("momentum-lam", 5, 0.0027, 0.0004),
             row("mpl", 7, 0.0024, 0.0005)]
    ok = [True, True, True]
    assert _choose(table, ok, "one-se") == 0
    assert _choose(table, ok, "min") == 2
    # outside one SE: the best law stays
    table[0]["cv_score"] = table[1]["cv_score"] = 0.0030
    assert _choose(table, ok, "one-se") == 2
    # a law that could not be refitted on all runs is never chosen
    table[0]["cv_score"] = 0.0025
    assert _choose(table, [False, True, True], "one-se") == 2
    # equal parameter counts: the lower score
    t2 = [row("a", 4, 0.0030, 0.001), row("b", 4, 0.0029, 0.001)]
    assert _choose(t2, [True, True], "one-se") == 1
    # one held-out curve (a single training run): the SE is unknown (inf), nothing has shown
    # that it beats a simpler law by more than the noise -> the fewest parameters
    t3 = [row("simple", 4, 0.0030, math.inf), row("rich", 7, 0.0010, math.inf)]
    assert _choose(t3, [True, True], "one-se") == 0
    assert _choose(t3, [True, True], "min") == 1
    rows = [{"pred_e": 0.002, "final_error": e, "final_obs": 3.0} for e in (0.0, 0.03, 0.06)]
    vals = [0.5 * (0.002 + abs(e) / 3.0) for e in (0.0, 0.03, 0.06)]
    assert cv_score_se(rows) == pytest.approx(np.std(vals, ddof=1) / math.sqrt(3))
    assert cv_score_se(rows[:1]) == math.inf


def test_select_rule_argument():
    runs = synthetic_runs(noise=1e-3, seed=1)
    res, table = select_law(runs, candidates=("momentum-lam", "momentum"), rule="one-se")
    # the generating law has fixed lambda = 0.999; fitting lambda too cannot be much better
    assert res.law.NAME == "momentum" and table[1]["chosen"]
    assert table[0]["n_params"] == 5 and table[1]["n_params"] == 4
    assert "+-SE" in format_table(table)
    with pytest.raises(FitError, match="rule='best'"):
        select_law(runs, rule="best")


def test_bad_arguments():
    with pytest.raises(FitError, match="no runs"):
        select_law([])
    with pytest.raises(FitError, match="no candidate"):
        select_law(synthetic_runs(), candidates=())
    with pytest.raises(FitError, match="fspl_fraction"):
        select_law(synthetic_runs(), fspl_fraction=0.01)
    assert law_template("fsl").block_size == 64
    assert law_template(TRUE) is TRUE


def test_cli_fit_auto_then_simulate_with_band(tmp_path, capsys, monkeypatch):
    import json

    import pandas as pd

    import cptdyn.dynamics._fitting._select as sel
    from cptdyn.cli import main

    monkeypatch.setattr(sel, "DEFAULT_CANDIDATES", ("momentum",))  # keep the test fast

    paths = []
    for r in synthetic_runs(noise=1e-3, seed=2):
        p = tmp_path / f"{r.name}.csv"
        pd.DataFrame({"step": r.steps, "lr": r.lr[np.minimum(r.steps, r.lr.size - 1)], "loss": r.loss}).to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "auto.json"
    assert main(["fit", *paths, "--law", "auto", "--warmup-steps", "100", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cv_score" in text and "momentum" in text
    doc = json.loads(out.read_text())
    chosen = [ln.split()[0] for ln in text.splitlines() if ln.rstrip().endswith("*")]
    assert doc["law"] == chosen[0] and len(doc["samples"]) == 8 + 4  # bootstrap + CV folds
    spec = tmp_path / "wsd.json"
    assert main(["schedule", "wsd", "--total-steps", "3000", "--peak-lr", "3e-4",
                 "--warmup-steps", "100", "--out", str(spec)]) == 0
    curve = tmp_path / "curve.csv"
    assert main(["simulate", "--params", str(out), "--schedule", str(spec), "--every", "500",
                 "--out", str(curve), "--plot", str(tmp_path / "c.html")]) == 0
    df = pd.read_csv(curve)
    assert list(df.columns) == ["step", "lr", "loss", "lo", "hi"]
    assert (df.lo <= df.hi).all() and (df.hi - df.lo).iloc[-1] > 0
    assert "[" in capsys.readouterr().out
    assert main(["evaluate", "--params", str(out), *paths, "--warmup-steps", "100"]) == 0
    # the band = parameter quantiles widened by the stored cross-validated model error
    rel = doc["interval"]["model_error"]
    assert rel >= 0 and math.isfinite(rel)
    doc["interval"]["model_error"] = rel + 0.01
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps(doc))
    curve2 = tmp_path / "curve2.csv"
    assert main(["simulate", "--params", str(wide), "--schedule", str(spec), "--every", "500",
                 "--out", str(curve2)]) == 0
    df2 = pd.read_csv(curve2)
    extra = (df2.hi - df2.lo) - (df.hi - df.lo)
    # median of the samples ~ the fit (within 1%: step 500 lies before the default fit window,
    # 100 warmup + 1000 steps of the annealing law's memory, where the refits spread more)
    assert np.allclose(extra, 2 * 0.01 * df.loss, rtol=1e-2)
    doc["interval"]["model_error"] = -1
    wide.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["simulate", "--params", str(wide), "--schedule", str(spec), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "model_error=-1.0" in capsys.readouterr().err


def test_cli_fit_one_law_with_samples_stores_the_interval(tmp_path, capsys):
    """``fit --law momentum --samples 4``: the interval ``--law auto`` stores (parameter samples,
    the law's cross-validated model error, the training peaks), so ``simulate`` draws a band;
    without ``--samples`` a one-law fit stores none, as before; bad counts are one-line errors."""
    import json

    import pandas as pd

    from cptdyn.cli import main
    from cptdyn.dynamics import cv_model_error, load_runs

    runs = synthetic_runs(noise=1e-3, seed=2)
    paths = []
    for r in runs:
        p = tmp_path / f"{r.name}.csv"
        pd.DataFrame({"step": r.steps, "lr": r.lr[np.minimum(r.steps, r.lr.size - 1)],
                      "loss": r.loss}).to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "m.json"
    assert main(["fit", *paths, "--law", "momentum", "--warmup-steps", "100", "--samples", "4",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["samples"]) == 4 + 4  # bootstrap + the CV folds' refits
    rel = doc["interval"]["model_error"]
    loaded = [load_runs(p, warmup_steps=100)[0] for p in paths]  # as the command reads them
    assert rel == pytest.approx(cv_model_error(law_template("momentum"), loaded), rel=1e-6)
    assert 0 < rel < 0.05 and doc["interval"]["train_peaks"] == [pytest.approx(3e-4, rel=0.01)]
    spec = tmp_path / "wsd.json"
    assert main(["schedule", "wsd", "--total-steps", "3000", "--peak-lr", "3e-4",
                 "--warmup-steps", "100", "--out", str(spec)]) == 0
    curve = tmp_path / "curve.csv"
    assert main(["simulate", "--params", str(out), "--schedule", str(spec), "--every", "500",
                 "--out", str(curve)]) == 0
    df = pd.read_csv(curve)
    assert list(df.columns) == ["step", "lr", "loss", "lo", "hi"]
    # at least the model error on each side of the median curve
    assert ((df.hi - df.lo) >= 2 * rel * df.loss * 0.99).all()
    plain = tmp_path / "plain.json"
    assert main(["fit", *paths, "--law", "momentum", "--warmup-steps", "100",
                 "--out", str(plain)]) == 0
    assert "samples" not in json.loads(plain.read_text())
    capsys.readouterr()
    assert main(["fit", *paths, "--law", "momentum", "--samples", "-1"]) == 2
    assert "--samples -1: must be >= 0" in capsys.readouterr().err
    assert main(["fit", *paths, "--law", "mpl", "--procedure", "mpl-reference",
                 "--samples", "2"]) == 2
    assert "--samples 2: intervals need the converged fit" in capsys.readouterr().err


def test_cli_band_of_a_constant_run_keeps_the_prior_width_of_the_anneal_gain(tmp_path, capsys):
    """One constant run cannot show what a cooldown gains: the refits on resampled runs all
    agree on the prior's centre, so their band alone is narrow. ``fit --samples`` also stores
    the fit's Laplace posterior (``interval.posterior``), and ``simulate``'s band on a WSD is at
    least ``prediction_band``'s, where the anneal gain keeps its prior width; a broken posterior
    is a one-line error naming it."""
    import json

    import pandas as pd

    from cptdyn.cli import main
    from cptdyn.dynamics import load_runs, prediction_band

    run = synthetic_runs(("constant",), noise=1e-3, seed=3)[0]
    path = tmp_path / "constant.csv"
    pd.DataFrame({"step": run.steps, "lr": run.lr[np.minimum(run.steps, run.lr.size - 1)],
                  "loss": run.loss}).to_csv(path, index=False)
    out = tmp_path / "c.json"
    assert main(["fit", str(path), "--law", "momentum", "--warmup-steps", "100",
                 "--samples", "4", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["interval"]["posterior"]["names"] == ["L0", "A", "alpha", "C"]
    spec = tmp_path / "wsd.json"
    assert main(["schedule", "wsd", "--total-steps", "3000", "--peak-lr", "3e-4",
                 "--warmup-steps", "100", "--decay-fraction", "0.3", "--out", str(spec)]) == 0
    curve = tmp_path / "curve.csv"
    assert main(["simulate", "--params", str(out), "--schedule", str(spec), "--out",
                 str(curve)]) == 0
    df = pd.read_csv(curve)
    bare = dict(doc, interval={k: v for k, v in doc["interval"].items() if k != "posterior"})
    bare_path = tmp_path / "bare.json"
    bare_path.write_text(json.dumps(bare))
    curve0 = tmp_path / "curve0.csv"
    assert main(["simulate", "--params", str(bare_path), "--schedule", str(spec), "--out",
                 str(curve0)]) == 0
    df0 = pd.read_csv(curve0)
    width, width0 = float(df.hi.iloc[-1] - df.lo.iloc[-1]), float(df0.hi.iloc[-1] -
                                                                    df0.lo.iloc[-1])
    assert width > 1.5 * width0 > 0  # the gain's prior width, which the refits cannot show
    # at least the library's band of the same fit, the same target
    from cptdyn.dynamics import Run
    from cptdyn.dynamics._fitting._select import law_template

    law = law_template("momentum").with_params(**doc["params"])
    loaded = load_runs(str(path), warmup_steps=100)
    target = Run("wsd", df.lr.to_numpy(), df.step.to_numpy(), warmup_steps=100)
    lo, hi = prediction_band(law, loaded, target,
                             model_error=doc["interval"]["model_error"])
    assert df.lo.iloc[-1] <= lo[-1] * (1 + 1e-6) and df.hi.iloc[-1] >= hi[-1] * (1 - 1e-6)
    # plan says where its final-loss interval comes from
    capsys.readouterr()
    assert main(["plan", "--params", str(out), "--schedule", str(spec), "--tune",
                 "decay_fraction", "--out", str(tmp_path / "plan")]) == 0
    said = [ln for ln in capsys.readouterr().out.splitlines() if "interval [val]" in ln]
    assert len(said) == 1 and "joined with the fit's Laplace band" in said[0]
    doc["interval"]["posterior"]["cov"] = [[1.0]]
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["simulate", "--params", str(out), "--schedule", str(spec), "--out",
                 str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "interval: posterior: raw has shape (4,) and cov (1, 1)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()


def test_fit_short_fold_of_cpt_runs_cuts_inside_the_cpt_phase():
    """A CPT run (``transfer_step``): the fit-short fold is cut 60% into the CPT phase, not at
    60% of the whole run (which would fit PT data alone and ask for the whole distribution
    shift); plain runs keep 60% of the longest run."""
    from cptdyn.dynamics._fitting._select import cv_fold_masks

    lr = np.full(5000, 2e-4)
    cpt = Run("r", lr, np.arange(250, 5001, 250), warmup_steps=100, transfer_step=4000)
    (name, _, tr, te), = cv_fold_masks([cpt], 0.6)
    assert name == "fspl:4600" and cpt.steps[tr[0]].max() == 4500 and te[0].sum() == 2
    plain = Run("p", lr, np.arange(250, 5001, 250), warmup_steps=100)
    assert cv_fold_masks([plain], 0.6)[0][0] == "fspl:3000"


def test_cli_cpt_law_with_samples_draws_a_band_in_the_runs_context(tmp_path, capsys):
    """``fit --law cpt --samples 2`` on a synthetic CPT run (the README's walkthrough data):
    the band ``simulate`` draws on the run's own joined schedule holds the prediction and stays
    within a few percent (the Laplace band is computed with the schedule's transfer step and
    validation set, as the curve is)."""
    import json

    import pandas as pd

    from cptdyn.cli import main

    d = tmp_path
    for argv in (
        ["schedule", "wsd", "--total-steps", "8000", "--peak-lr", "2e-4", "--final-lr", "2e-5",
         "--warmup-steps", "500", "--decay-fraction", "0.1", "--out", d / "pt.json"],
        ["schedule", "cosine", "--total-steps", "3000", "--peak-lr", "1e-4", "--warmup-steps",
         "200", "--warmup-from-previous", "--out", d / "cpt.json"],
        ["cpt", "--pt", d / "pt.json", "--cpt", d / "cpt.json", "--out", d / "joined.json"],
        ["simulate", "--params", ROOT_DATA / "cpt_synthetic" / "wang2025_fig3_params.json",
         "--schedule", d / "joined.json", "--every", "250", "--noise", "0.002", "--seed", "1",
         "--out", d / "run.csv"],
        ["fit", d / "run.csv", "--law", "cpt", "--loss-col", "loss_pt=pt", "--loss-col",
         "loss_cpt=cpt", "--transfer-step", "8000", "--schedule-spec", d / "joined.json",
         "--samples", "2", "--out", d / "p.json"],
        ["simulate", "--params", d / "p.json", "--schedule", d / "joined.json", "--every",
         "500", "--out", d / "curve.csv"],
    ):
        assert main([str(a) for a in argv]) == 0, argv
    doc = json.loads((d / "p.json").read_text())
    assert set(doc["laws"]) == {"pt", "cpt"}
    for v in doc["laws"].values():
        assert "posterior" in v["interval"] and v["interval"]["model_error"] < 0.03
    df = pd.read_csv(d / "curve.csv").dropna()
    last = df.iloc[-1]
    for ds in ("pt", "cpt"):
        lo, mid, hi = last[f"lo_{ds}"], last[f"loss_{ds}"], last[f"hi_{ds}"]
        assert lo < mid < hi and (hi - lo) / mid < 0.1, (ds, lo, mid, hi)
    capsys.readouterr()


def test_laws_fitted_in_threads_give_the_same_table():
    """``workers`` only changes how the laws share the CPU: same scores, fits and choice."""
    runs = synthetic_runs(noise=0.003)
    cands = ("momentum", "momentum-lam")
    res1, t1 = select_law(runs, candidates=cands, workers=1)
    res2, t2 = select_law(runs, candidates=cands, workers=2)
    assert res1.law.NAME == res2.law.NAME and res1.params == res2.params
    for a, b in zip(t1, t2, strict=True):
        assert a["cv_score"] == b["cv_score"] and a["chosen"] == b["chosen"]
    with pytest.raises(FitError, match="workers=0"):
        select_law(runs, candidates=cands, workers=0)


def test_priors_replace_the_default_prior_per_law():
    """``priors={name: fn}``: ``fn(law, runs)`` stands in for ``default_prior`` for that law (a
    learned prior); scaled by the prior strength like the default."""
    runs = synthetic_runs(("constant",))  # one constant run: the anneal amplitude is the prior's
    seen = []

    def far(law, rs):
        seen.append((law.NAME, len(rs)))
        return {"C": (5.0, 0.01)}  # a tight prior far from the truth (0.5)

    res, table = select_law(runs, candidates=("momentum",), priors={"momentum": far})
    assert ("momentum", 1) in seen
    assert res.params["C"] == pytest.approx(5.0, rel=0.05)
    res0, _ = select_law(runs, candidates=("momentum",))
    assert abs(res0.params["C"] - 5.0) > 1.0


def test_per_step_logs_are_binned_as_fit_bins_them():
    """A per-step log (here 3,000 observations per run, 0.5% noise) is selected on, fitted and
    scored in ``fit``'s log-spaced bins (at most MAX_OBS + 1 observations per run, the counts as
    weights), so the cost no longer grows with the log; the chosen fit still recovers the
    generating law, and its interval samples are refits on the same bins."""
    from cptdyn.dynamics import interval_samples
    from cptdyn.dynamics._fitting._fit import MAX_OBS
    from cptdyn.dynamics._fitting._select import binned_runs

    rng = np.random.default_rng(5)
    runs = []
    for k in ("constant", "cosine", "wsd"):
        r = Run(k, _lr(k), np.arange(1, 3001), warmup_steps=100)
        y = np.asarray(TRUE.predict(r)) * (1 + 5e-3 * rng.normal(size=3000))
        runs.append(r.replace(loss=y))
    binned, counts = binned_runs(runs)
    assert all(b.steps.size <= MAX_OBS + 1 for b in binned)
    assert [float(c.sum()) for c in counts] == [3000.0] * 3
    assert all(b.steps[-1] == 3000 and c[-1] == 1.0 for b, c in zip(binned, counts, strict=True))
    res, table = select_law(runs, ["momentum"])
    assert all(row["n_obs"] <= MAX_OBS + 1 for row in res.per_run)
    assert res.params["alpha"] == pytest.approx(TRUE.alpha, rel=0.1)
    assert res.params["L0"] == pytest.approx(TRUE.L0, rel=0.02)
    assert table[0]["n_heldout"] >= 4
    smp = interval_samples(res, runs, 3)
    assert len(smp) >= 3
    # a short log is unchanged (counts 1)
    short = synthetic_runs()
    b2, c2 = binned_runs(short)
    assert all(a is b for a, b in zip(b2, short, strict=True))
    assert all(np.all(c == 1.0) for c in c2)
