"""The run-reading flags of `cptdyn fit` / `evaluate`: --wandb (a recorded API response),
--run-config, --lr-at, the one-line warnings and errors."""

import json
import sys

import pytest

from cptdyn.cli import main

from .helpers import FIX
from .test_real_shapes import _fake_wandb

WB = FIX / "hf_wandb"


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    p = tmp_path_factory.mktemp("fit") / "params.json"
    rc = main([str(a) for a in ["fit", WB / "eval_loss_panel.csv", "--run-config",
                                WB / "config.json", "--law", "momentum", "--out", p]])
    assert rc == 0
    return p


def test_fit_on_an_eval_only_panel_with_the_run_config(params):
    doc = json.loads(params.read_text())
    assert doc["law"] == "momentum" and doc["fit"]["metrics"]["r2"] > 0.9


def test_evaluate_from_wandb(params, monkeypatch, capsys):
    _fake_wandb(monkeypatch, json.loads((WB / "run.json").read_text()))
    rc, out, err = run(["evaluate", "--params", params, "--wandb", "my-team/cpt/abc123xy",
                        "--json"], capsys)
    assert rc == 0, err
    rows = json.loads(out)["runs"]
    assert [r["run"] for r in rows] == ["hf-cosine-400"]
    assert err == ""  # the run config names the transformers version: nothing guessed
    rc, out, err = run(["evaluate", "--params", params, WB / "history.csv", "--json"], capsys)
    assert rc == 0
    assert err.startswith("cptdyn: warning: ") and "assumed Hugging Face Trainer >= 4.51" in err
    assert len(err.strip().splitlines()) == 1
    rc, out, err = run(["evaluate", "--params", params, WB / "history.csv", "--json",
                        "--lr-at", "last"], capsys)
    assert rc == 0 and err == ""


def test_run_flag_errors(params, monkeypatch, capsys):
    rc, _, err = run(["evaluate", "--params", params], capsys)
    assert rc == 2 and err.strip() == ("cptdyn: error: no runs: give run files or folders, or "
                                       "--wandb ENTITY/PROJECT/RUN")
    monkeypatch.setitem(sys.modules, "wandb", None)
    rc, _, err = run(["evaluate", "--params", params, "--wandb", "a/b/c"], capsys)
    assert rc == 2 and err.strip() == ("cptdyn: error: reading runs from W&B needs the optional "
                                       "dependency wandb (pip install 'cptdyn[wandb]')")
    rc, _, err = run(["evaluate", "--params", params, WB / "eval_loss_panel.csv"], capsys)
    assert rc == 2 and "has no LR column" in err and "(--run-config)" in err
    rc, _, err = run(["evaluate", "--params", params, WB / "eval_loss_panel.csv",
                      "--run-config", "nope.json"], capsys)
    assert rc == 2 and err.strip() == "cptdyn: error: --run-config 'nope.json' does not exist"
