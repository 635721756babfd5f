"""`cptdyn plan-mixture` as a user runs it, and its error contract."""

import json

import numpy as np
import pandas as pd
import pytest

from cptdyn.cli import main
from cptdyn.dynamics.mixture import DCPTLaw

GEN = DCPTLaw(E=1.5, A=300.0, alpha=0.35, B=200.0, beta=0.3, C=0.12, gamma=0.5, eta=0.05,
              eps=0.02)
DOM = DCPTLaw(E=0.9, A=250.0, alpha=0.33, B=400.0, beta=0.3, C=0.5, gamma=0.6, eta=0.1, eps=0.02)


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def params(tmp_path):
    p = tmp_path / "laws.json"
    p.write_text(json.dumps({"general": GEN.to_dict(), "domain": DOM.to_dict()}))
    return p


def test_plan_with_tolerance_json_and_out(params, tmp_path, capsys):
    lg0 = float(GEN(1.8e9, 10e9, 1.0)) * 0.99
    out = tmp_path / "plan.json"
    rc, text, err = run(["plan-mixture", "--params", params, "--model-size", "0.5B,1.8B,4B",
                         "--tokens", "10B", "--tolerance", "0.03", "--general-loss0", lg0,
                         "--json", "--out", out], capsys)
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["command"] == "plan-mixture" and doc["ok"] and doc["exit_code"] == 0
    assert doc["outputs"] == [str(out)]
    assert json.loads(out.read_text()) == {k: doc[k] for k in ("plan", "warnings")}
    p = doc["plan"]
    assert p["general_loss"] <= 1.03 * lg0 + 1e-12 and "tolerance" in p["binding"]
    assert p["replay_ratio"] == pytest.approx(1 - p["domain_ratio"])
    assert p["model_size"] == 4e9 and len(p["by_model_size"]) == 3 and doc["warnings"] == []


def test_plan_text_output_limited_domain_data(params, capsys):
    rc, text, err = run(["plan-mixture", "--params", params, "--model-size", "1.8B",
                         "--domain-tokens", "2B"], capsys)
    assert rc == 0, err
    assert "domain ratio r_d" in text and "replay ratio of the CPT law" in text
    assert "domain_tokens" in text


def test_fit_from_data_and_save_params(tmp_path, capsys):
    n, d, r = (a.ravel() for a in np.meshgrid([0.5e9, 1.8e9, 4e9], np.geomspace(1e8, 2.6e10, 6),
                                             [0.0, 0.2, 0.5, 0.8, 1.0], indexing="ij"))
    csv = tmp_path / "mix.csv"
    pd.DataFrame({"N": n, "D": d, "r_d": r, "loss_general": GEN(n, d, 1 - r),
                  "loss_domain": DOM(n, d, r)}).to_csv(csv, index=False)
    saved = tmp_path / "fitted.json"
    rc, text, err = run(["plan-mixture", "--data", csv, "--model-size", "1.8B", "--compute",
                         "1e20", "--save-params", saved, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["fit"]["general"]["r2"] > 0.9999 and doc["fit"]["domain"]["r2"] > 0.9999
    fitted = json.loads(saved.read_text())
    assert fitted["domain"]["params"]["alpha"] == pytest.approx(0.33, abs=0.01)
    assert doc["plan"]["compute"] == pytest.approx(1e20, rel=1e-9)


def test_cross_lingual_allocation(capsys):
    # Zheng et al. 2024: CPT N_opt = 4.79 C^0.385, D_opt = 0.035 C^0.615
    rc, text, err = run(["plan-mixture", "--allocation", "zheng-cpt", "--compute", "1e21",
                         "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["N_coef"] == pytest.approx(4.79, abs=0.005)
    assert doc["D_exp"] == pytest.approx(0.615, abs=5e-4)
    assert doc["N"] * doc["D"] * 6 == pytest.approx(1e21)
    rc, text, _ = run(["plan-mixture", "--allocation", "zheng-scratch", "--compute", "1e21"],
                      capsys)
    assert rc == 0 and "C^0.429" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--model-size", "1B", "--tokens", "1B"], "exactly one of --params"),
        (["--params", "{P}", "--tokens", "1B"], "--model-size is required"),
        (["--params", "{P}", "--model-size", "1.8X", "--tokens", "1B"], "--model-size '1.8X'"),
        (["--params", "{P}", "--model-size", "1B"], "tokens=None"),
        (["--params", "{P}", "--model-size", "1B", "--tokens", "1B", "--tolerance", "0.03"],
         "--general-loss0"),
        (["--params", "missing.json", "--model-size", "1B", "--tokens", "1B"], "does not exist"),
        (["--data", "missing.csv", "--model-size", "1B", "--tokens", "1B"], "does not exist"),
        (["--allocation", "zheng-cpt"], "needs --compute"),
        (["--params", "{P}", "--model-size", "1B", "--tokens", "1B", "--out", "/nope/x.json"],
         "does not exist"),
    ],
)
def test_errors_are_one_line(argv, match, params, capsys):
    argv = [a.replace("{P}", str(params)) for a in argv]
    rc, out, err = run(["plan-mixture", *argv], capsys)
    assert rc == 2 and match in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_params_file(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"general": {"params": {"E": 1}}, "domain": DOM.to_dict()}))
    rc, _, err = run(["plan-mixture", "--params", p, "--model-size", "1B", "--tokens", "1B"],
                     capsys)
    assert rc == 2 and "missing parameter" in err
