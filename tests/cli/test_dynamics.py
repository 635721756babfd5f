"""`cptdyn fit | evaluate | simulate | plan | demo` as a user runs them, and their error contract."""

import json
from pathlib import Path

import pandas as pd
import pytest

from cptdyn.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "MultiPowerLaw" / "loss_curve_repo"
D400 = DATA / "csv_400"
TRAIN = [str(D400 / f"{n}.csv") for n in ("cosine_24000", "constant_24000", "wsdcon_9")]


MOMENTUM = '{"law": "momentum", "params": {"L0": 2.67, "A": 0.63, "alpha": 0.727, "C": 0.556}}'


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    p = tmp_path_factory.mktemp("fit") / "params.json"
    # the plain minimum in the paper's convention (the defaults add priors, issue 12)
    assert main(["fit", *TRAIN, "--law", "momentum", "--prior", "none", "--warmup-convention",
                 "peak", "--out", str(p)]) == 0
    return p


def test_fit_writes_params_matching_published_fit(params):
    doc = json.loads(params.read_text())
    assert doc["law"] == "momentum"
    # bench_fit.py's SciPy fit of the momentum law, MPL 400M training set: L0 2.670, A 0.630, C 0.556,
    # alpha 0.727
    p = doc["params"]
    assert p["L0"] == pytest.approx(2.670, abs=2e-3) and p["alpha"] == pytest.approx(0.727, abs=2e-3)
    assert p["A"] == pytest.approx(0.630, abs=2e-3) and p["C"] == pytest.approx(0.556, abs=2e-3)
    assert doc["fit"]["metrics"]["r2"] > 0.99


def test_evaluate_json_contract(params, capsys):
    rc, out, err = run(["evaluate", "--params", params, D400 / "wsd_20000_24000.csv",
                        D400 / "cosine_72000.csv", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert [r["run"] for r in doc["runs"]] == ["wsd_20000_24000", "cosine_72000"]
    for r in doc["runs"]:
        assert set(r) >= {"run", "R2", "MAE", "RMSE", "PredE", "WorstE", "final_error"}
    # same SciPy fit: test MAPE of the momentum law on 400M: wsd 0.15%, cos72K 0.12%
    assert doc["runs"][0]["PredE"] == pytest.approx(0.0015, abs=3e-4)
    assert doc["runs"][1]["PredE"] == pytest.approx(0.0012, abs=3e-4)
    rc, out, _ = run(["evaluate", "--params", params, D400 / "cosine_72000.csv"], capsys)
    assert rc == 0 and "PredE" in out and "cosine_72000" in out


def test_simulate_and_plan(params, tmp_path, capsys):
    spec = tmp_path / "wsd.json"
    assert run(["schedule", "wsd", "--total-steps", "24000", "--peak-lr", "3e-4",
                "--warmup-steps", "2160", "--warmup-init", "0", "--out", spec], capsys)[0] == 0
    curve = tmp_path / "curve.csv"
    rc, out, err = run(["simulate", "--params", params, "--schedule", spec, "--every", "1000",
                        "--out", curve, "--plot", tmp_path / "c.html"], capsys)
    assert rc == 0, err
    df = pd.read_csv(curve)
    assert list(df.columns) == ["step", "lr", "loss"] and df.step.iloc[-1] == 24000
    assert len(df) == 24 and df.loss.iloc[-1] < df.loss.iloc[5]
    plan = tmp_path / "plan.json"
    rc, out, err = run(["plan", "--params", params, "--family", "wsd", "--total-steps", "24000",
                        "--peak-lr", "3e-4", "--warmup-steps", "2160", "--warmup-init", "0",
                        "--tune", "decay_fraction", "--export", "hf", "--out", plan], capsys)
    assert rc == 0, err
    doc = json.loads(plan.read_text())
    assert doc["status"] == "ok" and doc["schedule"]["kind"] == "wsd"
    assert 0.1 < doc["tuned"]["decay_fraction"] < 0.5
    assert doc["exports"]["hf"]["native"] is True
    assert "baselines" in doc and "flatness" in doc
    # the annealing law has no peak-LR optimum: reported, exit 3, no schedule
    rc, out, err = run(["plan", "--params", params, "--family", "wsd", "--total-steps", "24000",
                        "--peak-lr", "3e-4", "--warmup-steps", "2160", "--tune",
                        "peak_lr,decay_fraction", "--out", plan], capsys)
    assert rc == 3 and "ill-posed" in out
    assert "schedule" not in json.loads(plan.read_text())


def test_cpt_simulate_outputs_both_sets(tmp_path, capsys):
    from cptdyn.dynamics import P1_FIG3_DCPT, P1_FIG3_DPT, CPTLaw

    params = tmp_path / "cpt.json"
    params.write_text(json.dumps({"version": 1, "laws": {
        "pt": CPTLaw(**P1_FIG3_DPT).to_dict(), "cpt": CPTLaw(**P1_FIG3_DCPT).to_dict()}}))
    pt, cpt, joined = tmp_path / "pt.json", tmp_path / "c.json", tmp_path / "j.json"
    run(["schedule", "wsd", "--total-steps", "40000", "--peak-lr", "2e-4", "--final-lr", "2e-5",
         "--decay-fraction", "0.1", "--warmup-steps", "500", "--out", pt], capsys)
    run(["schedule", "cosine", "--total-steps", "10000", "--peak-lr", "1e-4", "--warmup-steps",
         "500", "--warmup-from-previous", "--out", cpt], capsys)
    run(["cpt", "--pt", pt, "--cpt", cpt, "--out", joined], capsys)
    out = tmp_path / "curve.csv"
    rc, _, err = run(["simulate", "--params", params, "--schedule", joined, "--out", out,
                      "--every", "500"], capsys)
    assert rc == 0, err
    df = pd.read_csv(out).set_index("step")
    assert list(df.columns) == ["lr", "loss_pt", "loss_cpt"]
    # P1: D_pt rises and D_cpt falls after the transfer (P1 Fig. 3)
    assert df.loss_pt.loc[50000] > df.loss_pt.loc[40000]
    assert df.loss_cpt.loc[50000] < df.loss_cpt.loc[40000]


@pytest.mark.parametrize(
    "make,argv,needle",
    [
        (None, ["fit", "missing.csv", "--law", "momentum"], "run file 'missing.csv' does not exist"),
        ("step,lr,loss\n1,1e-4,3.0\n2,1e-4,nan\n", ["fit", "{f}", "--law", "momentum"],
         "column 'loss'"),
        ("step,lr,loss\n1,1e-4,3.0\n2,-1e-4,2.9\n", ["fit", "{f}", "--law", "momentum"], "lr"),
        ("step,lr,loss\n2,1e-4,3.0\n1,1e-4,2.9\n", ["fit", "{f}", "--law", "momentum"], "step"),
        ("step,loss\n1,3.0\n", ["fit", "{f}", "--law", "momentum"], "lr"),
        ("", ["fit", "{f}", "--law", "momentum"], "runs.csv"),
        (None, ["fit", str(D400 / "cosine_24000.csv"), "--law", "nope"], "invalid choice"),
        (None, ["fit", str(D400 / "cosine_24000.csv"), "--law", "momentum", "--prior-from",
                ","], "--prior-from ',': no run files"),
        (None, ["fit", str(D400 / "cosine_24000.csv"), "--law", "momentum", "--prior-from",
                "gone.csv"], "run file 'gone.csv' does not exist"),
        (None, ["fit", str(D400 / "cosine_24000.csv"), "--law", "fsl", "--prior-from",
                str(D400 / "constant_24000.csv")], "--prior-from: applies to"),
        ('{"law": "momentum", "params": {"L0": "x"}}', ["evaluate", "--params", "{f}",
                                                       str(D400 / "cosine_24000.csv")],
         "params.L0"),
        ("{oops", ["evaluate", "--params", "{f}", str(D400 / "cosine_24000.csv")],
         "not valid JSON"),
        (MOMENTUM, ["plan", "--params", "{f}", "--tune", "wobble", "--total-steps",
                    "100", "--peak-lr", "1e-3", "--out", "plan.json"], "wobble"),
        (MOMENTUM, ["plan", "--params", "{f}", "--tune", "decay_fraction",
                    "--objective", "weighted:x", "--total-steps", "100",
                    "--peak-lr", "1e-3", "--out", "plan.json"], "--objective"),
        ('{"law": "momentum", "params": {"L0": 2.6, "A": 0.6, "alpha": 0.7}}',
         ["simulate", "--params", "{f}", "--schedule", "s.json", "--out", "c.csv"],
         "params.C (missing"),
    ],
)
def test_errors_are_one_line(make, argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / ("runs.csv" if make is None or not make.lstrip().startswith(("{",)) else "p.json")
    if make is not None:
        f.write_text(make)
    argv = [a.replace("{f}", str(f)) for a in argv]
    rc, out, err = run(argv, capsys)
    assert rc == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("cptdyn: error:"), err
    assert needle in err, err
    assert not (tmp_path / "p.json").exists() or make is not None
    assert not (tmp_path / "plan.json").exists() and not (tmp_path / "c.csv").exists()


def test_demo(tmp_path, capsys):
    rc, out, err = run(["demo", "--out", tmp_path / "demo"], capsys)
    assert rc == 0, err
    for name in ("params.json", "plan.json", "plan_schedule.json", "fit_report.html",
                 "plan_report.html", "torch/lr_table.json", "torch/cptdyn_lr_scheduler.py"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "held-out curves" in out and "planned a 24k-step WSD schedule" in out


def test_plan_reports_uncertainty_from_samples(params, tmp_path, capsys):
    doc = json.loads(params.read_text())
    doc["samples"] = [{**doc["params"], "C": doc["params"]["C"] * f} for f in (0.9, 1.0, 1.1)]
    doc["interval"] = {"level": 0.9}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    out = tmp_path / "plan.json"
    rc, text, err = run(["plan", "--params", p, "--family", "wsd", "--total-steps", "24000",
                         "--peak-lr", "3e-4", "--warmup-steps", "2160", "--warmup-init", "0",
                         "--tune", "decay_fraction", "--out", out], capsys)
    assert rc == 0, err
    u = json.loads(out.read_text())["uncertainty"]["val"]
    # a larger annealing coefficient C lowers the predicted loss: the band is ordered and non-empty
    assert u["final_loss_lo"] < u["final_loss_hi"]
    assert "predicted final loss interval" in text


def test_plan_free_form_mpl_max_iter_and_sharp_drop(tmp_path, capsys):
    from cptdyn.dynamics import MPLLaw

    p = tmp_path / "mpl.json"
    p.write_text(json.dumps(MPLLaw.released("400M", "repo", warmup="paper").to_dict()))
    base = ["plan", "--params", p, "--family", "free-form", "--total-steps", 24000, "--peak-lr",
            3e-4, "--warmup-steps", 2160]
    out = tmp_path / "ff.json"
    rc, text, _ = run([*base, "--max-iter", 300, "--out", out], capsys)
    doc = json.loads(out.read_text())
    # the authors' committed schedule predicts 2.5332 under their optimize_lr_schedule objective
    assert rc == 0 and doc["status"] == "ok" and doc["objective_value"] < 2.5333
    assert "300 L-BFGS iterations" in text
    # the law rewards sharp drops: a long run ends with one, and says so
    assert doc["decay"]["max_step_drop"] > 0.05 and "sharp drop" in text
    rc, text, _ = run([*base, "--max-iter", 10, "--out", out], capsys)
    doc10 = json.loads(out.read_text())
    assert rc == 0 and "10 L-BFGS iterations" in text
    assert doc10["objective_value"] > doc["objective_value"]
    rc, _, err = run([*base, "--max-iter", -1, "--out", tmp_path / "bad.json"], capsys)
    assert rc != 0 and "max_iter=-1" in err and not (tmp_path / "bad.json").exists()


def test_fit_mpl_reference_procedure_reproduces_released_fit(tmp_path, capsys):
    """`fit --law mpl --procedure mpl-reference` = the MPL authors' procedure: their released
    400M parameters (src/config.py) come back, and `evaluate` of the
    written file gives their README test PredE 0.00168."""
    out = tmp_path / "mpl.json"
    rc, text, _ = run(["fit", *TRAIN, "--law", "mpl", "--procedure", "mpl-reference",
                       "--out", out], capsys)
    assert rc == 0 and "AdamW steps" in text and "patience" in text
    doc = json.loads(out.read_text())
    assert doc["options"]["warmup"] == "repo"
    assert doc["fit"]["settings"]["procedure"] == "mpl-reference"
    assert doc["params"]["B"] == pytest.approx(523.42464371, rel=2e-5)
    test = [D400 / f"{n}.csv" for n in ("constant_72000", "cosine_72000", "wsd_20000_24000",
                                        "wsdld_20000_24000", "wsdcon_3", "wsdcon_18")]
    rc, text, _ = run(["evaluate", "--params", out, *test, "--json"], capsys)
    rows = json.loads(text)["runs"]
    assert sum(r["PredE"] for r in rows) / len(rows) == pytest.approx(0.00168, abs=5e-6)


def test_fit_procedure_applies_to_mpl_only(capsys):
    rc, out, err = run(["fit", *TRAIN, "--law", "momentum", "--procedure", "mpl-reference"],
                       capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "--procedure mpl-reference" in err


def test_fit_prior_from_earlier_models(tmp_path, capsys):
    """`--prior-from`: a one-run fit (the 100M constant run, which cannot show the cooldown gain)
    with the prior learned from the 25M and 400M models' training runs predicts the 100M 72k
    cosine run's final loss far better than with the published prior (MPL release data,
    data/MultiPowerLaw)."""
    groups = [",".join(str(DATA / f"csv_{s}" / f"{n}.csv")
                       for n in ("cosine_24000", "constant_24000", "wsdcon_9")) for s in (25, 400)]
    one = str(DATA / "csv_100" / "constant_24000.csv")
    target = str(DATA / "csv_100" / "cosine_72000.csv")
    finals = {}
    for name, extra in (("learned", ["--prior-from", *groups]), ("published", [])):
        out_p = tmp_path / f"{name}.json"
        rc, out, _ = run(["fit", one, "--law", "momentum", *extra, "--out", out_p], capsys)
        assert rc == 0
        assert ("momentum prior learned from 2 earlier models" in out) == (name == "learned")
        rc, out, _ = run(["evaluate", "--params", out_p, target, "--json"], capsys)
        assert rc == 0
        finals[name] = abs(json.loads(out)["runs"][0]["final_error"])
    assert finals["learned"] < 0.01 < finals["published"], finals
    rc, _, err = run(["fit", one, "--law", "mpl", "--procedure", "mpl-reference",
                      "--prior-from", *groups], capsys)
    assert rc != 0 and "--prior-from: applies to" in err and err.count("\n") == 1


def test_fit_momentum_lr_on_an_lr_sweep(tmp_path, capsys):
    """`fit --law momentum-lr` on runs at two peak LRs (synthetic, from the law with rho 0.5)
    recovers the LR-response exponent; `--law auto` offers it (two peaks) and its table shows it."""
    import numpy as np

    from cptdyn.dynamics import MomentumLRLaw, load_runs

    true = MomentumLRLaw(L0=2.6, A=0.5, alpha=0.5, C=0.2, rho=0.5, warmup="as-run")
    T, W = 4000, 100
    t = np.arange(T)
    files = []
    for peak in (5e-4, 2e-3):
        cos = peak * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W)))
        wsd = peak * np.clip((T - t) / (0.2 * T), 0.0, 1.0)
        for name, lr in (("cos", cos), ("wsd", wsd)):
            lr = np.where(t < W, peak * (t + 1) / W, lr)
            p = tmp_path / f"{name}_{peak:g}.csv"
            loss = np.where((t + 1) % 50 == 0, 1.0, np.nan)  # placeholder, then the law's
            pd.DataFrame({"step": t + 1, "lr": lr, "loss": loss}).to_csv(p, index=False)
            run_ = load_runs(p, warmup_steps=W)[0]
            loss[(t + 1) % 50 == 0] = np.asarray(true.predict(run_))
            pd.DataFrame({"step": t + 1, "lr": lr, "loss": loss}).to_csv(p, index=False)
            files.append(str(p))
    out_p = tmp_path / "lr.json"
    rc, out, err = run(["fit", *files, "--law", "momentum-lr", "--warmup-steps", W,
                        "--out", out_p], capsys)
    assert rc == 0, err
    doc = json.loads(out_p.read_text())
    assert doc["law"] == "momentum-lr"
    assert doc["params"]["rho"] == pytest.approx(0.5, abs=0.03)
    rc, out, err = run(["fit", *files, "--law", "auto", "--warmup-steps", W,
                        "--out", tmp_path / "auto.json"], capsys)
    assert rc == 0, err
    assert "momentum-lr" in out
    # the params file records the training peaks (two here: the band needs no LR response)
    interval = json.loads((tmp_path / "auto.json").read_text())["interval"]
    assert interval["train_peaks"] == pytest.approx([5e-4, 2e-3])


def test_band_carries_the_lr_response_at_another_peak(params, tmp_path, capsys):
    """`simulate` with parameter samples from runs at one peak LR (`interval.train_peaks`): at
    that peak the band is the samples' band; at 4x the peak it gains the LR response in
    quadrature around the median curve (`lr_response_variance` of the fitted law: log
    half-width^2 += z^2 * variance) and says so; without `train_peaks` (params files written
    before it) nothing changes."""
    import numpy as np
    from scipy.stats import norm

    from cptdyn.cli._common import load_spec, lr_array
    from cptdyn.cli._dynamics import load_params
    from cptdyn.dynamics import Run, lr_response_variance

    doc = json.loads(params.read_text())
    doc["samples"] = [{**doc["params"], "C": doc["params"]["C"] * f} for f in (0.9, 1.0, 1.1)]
    doc["interval"] = {"level": 0.9}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    doc["interval"]["train_peaks"] = [3e-4]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    last = {}
    for peak in ("3e-4", "1.2e-3"):
        sched = tmp_path / f"wsd{peak}.json"
        assert run(["schedule", "wsd", "--total-steps", "24000", "--peak-lr", peak,
                    "--warmup-steps", "2160", "--decay-fraction", "0.2", "--out", sched,
                    "--quiet"], capsys)[0] == 0
        for tag, p in (("old", old), ("new", new)):
            out = tmp_path / f"{tag}{peak}.csv"
            rc, text, err = run(["simulate", "--params", p, "--schedule", sched, "--out", out],
                                capsys)
            assert rc == 0, err
            said = "the band includes the LR response" in text
            assert said == ((tag, peak) == ("new", "1.2e-3")), text
            last[tag, peak] = pd.read_csv(out).iloc[-1]
    for c in ("loss", "lo", "hi"):
        assert last["new", "3e-4"][c] == last["old", "3e-4"][c]
    a, b = last["old", "1.2e-3"], last["new", "1.2e-3"]
    assert a["loss"] == b["loss"] and b["lo"] < a["lo"] and b["hi"] > a["hi"]
    lr = lr_array(load_spec(str(tmp_path / "wsd1.2e-3.json"), "--schedule"))
    law = load_params(str(params))["val"]
    var = lr_response_variance(law, Run("t", lr, np.arange(1, lr.size + 1), warmup_steps=2160),
                               [3e-4])
    assert var is not None
    z2 = norm.ppf(0.95) ** 2 * var[-1]
    m = a["loss"]  # the middle sample (C x 1.0) is the fitted law: the median curve
    assert np.log(m / b["lo"]) ** 2 == pytest.approx(np.log(m / a["lo"]) ** 2 + z2, rel=1e-6)
    assert np.log(b["hi"] / m) ** 2 == pytest.approx(np.log(a["hi"] / m) ** 2 + z2, rel=1e-6)


def test_fit_of_constant_runs_only_says_the_anneal_term_is_the_priors(tmp_path, capsys):
    """A constant-LR run cannot show what a decay gains: the fit says the annealing term is the
    prior's (or arbitrary with --prior none); a run with a decay among them silences it."""
    const, cos = str(D400 / "constant_24000.csv"), str(D400 / "cosine_24000.csv")
    rc, out, err = run(["fit", const, "--law", "momentum", "--out", tmp_path / "c.json"], capsys)
    assert rc == 0, err
    note = [ln for ln in out.splitlines() if ln.startswith("note: every run keeps its LR")]
    assert len(note) == 1 and "annealing term is the prior's" in note[0]
    rc, out, err = run(["fit", const, "--law", "mpl", "--prior", "none", "--out",
                        tmp_path / "n.json"], capsys)
    assert rc == 0, err
    assert "nothing sets the law's annealing term (--prior none)" in out
    rc, out, err = run(["fit", const, cos, "--law", "momentum", "--out", tmp_path / "b.json"],
                       capsys)
    assert rc == 0, err
    assert "every run keeps its LR" not in out
