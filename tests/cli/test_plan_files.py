"""`plan --export --out-dir` writes the real trainer files; `export` / `simulate` read plan files;
`--config FILE` (TOML / YAML) for `plan` and `fit`, command-line flags overriding it."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cptdyn.cli import main

D400 = Path(__file__).resolve().parents[2] / "data" / "MultiPowerLaw" / "loss_curve_repo" / \
    "csv_400"
# the annealing law fitted on the MPL 400M training curves (README "Measured numbers")
MOMENTUM = {"law": "momentum", "params": {"L0": 2.670, "A": 0.630, "alpha": 0.727, "C": 0.556}}


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_plan_config_export_and_plan_file_reuse(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.json").write_text(json.dumps(MOMENTUM))
    Path("plan.toml").write_text(
        '[plan]\nparams = "params.json"\nfamily = "wsd"\ntotal-steps = 2000\nlr = 3e-4\n'
        'warmup_steps = 100\ndecay-shape = "linear"\ntune = ["decay_fraction"]\n'
        'export = ["hf", "torch", "megatron"]\nout = "from_config.json"\n')
    # flags override the file: --decay-shape and --out
    rc, out, err = run(["plan", "--config", "plan.toml", "--decay-shape", "1-sqrt",
                        "--out", "p.json", "--out-dir", "trainer"], capsys)
    assert rc == 0, err
    assert not Path("from_config.json").exists()
    doc = json.loads(Path("p.json").read_text())
    assert doc["schedule"]["decay_shape"] == "1-sqrt" and doc["schedule"]["total_steps"] == 2000
    files = {t: v["files"] for t, v in doc["exports"].items()}
    assert files["hf"] == ["trainer/hf/hf_training_args.json"]  # native: two fields, no table
    assert set(Path(f).name for f in files["torch"]) == {"lr_table.json",
                                                          "cptdyn_lr_scheduler.py"}
    for fs in files.values():
        for f in fs:
            assert Path(f).exists() and f in out  # every file is named on stdout
    # the HF file read back is the plan's schedule
    assert run(["import", files["hf"][0], "--from", "hf", "--out", "back.json"], capsys)[0] == 0
    assert json.loads(Path("back.json").read_text()) == doc["schedule"]
    # export and simulate take the plan file itself
    rc, _, err = run(["export", "p.json", "--to", "csv", "--out", "p.csv"], capsys)
    assert rc == 0, err
    np.testing.assert_allclose(pd.read_csv("p.csv").lr.to_numpy(), doc["lr"], rtol=1e-12)
    rc, _, err = run(["simulate", "--params", "params.json", "--schedule", "p.json",
                      "--out", "curve.csv"], capsys)
    assert rc == 0, err


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[plan]\nwobble = 1\n", "unknown option 'wobble' for `cptdyn plan`"),
        ("[plan]\ntotal-steps = \"many\"\n", "total-steps='many' is not a valid value"),
        ("[plan]\nfamily = \"zigzag\"\n", "family='zigzag' is not one of"),
        ("[plan\n", "cannot be parsed"),
    ],
)
def test_config_errors_are_one_line(text, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("c.toml").write_text(text)
    rc, _, err = run(["plan", "--config", "c.toml", "--params", "x.json", "--out", "o.json"],
                     capsys)
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_fit_config_yaml(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = [str(D400 / f"{n}.csv") for n in ("cosine_24000", "constant_24000")]
    Path("fit.yaml").write_text(json.dumps({"runs": runs, "law": "momentum",
                                            "out": "fit.json"}))  # JSON is YAML
    rc, _, err = run(["fit", "--config", "fit.yaml"], capsys)
    assert rc == 0, err
    assert json.loads(Path("fit.json").read_text())["law"] == "momentum"
