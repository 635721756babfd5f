"""W&B history JSON (real files of the 124M sweep: LR convention, stitching, malformed input,
history rows) and W&B panel CSV."""

import json
import math

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import load_runs, sniff_format

from .helpers import BRANCH_02, BRANCH_04, BRANCH_SQRT, TRUNK, WJ


def hagele_factor(step, T, warmup=300, fract=0.0, kind="linear"):
    """epfml/schedules-and-scaling ``wsd_schedule``, written independently of the loader."""
    n_anneal = int(fract * T)
    n_hold = T - n_anneal
    if step < warmup:
        return step / warmup + (1 - step / warmup) / 100
    if step < n_hold:
        return 1.0
    tau = (step - n_hold) / n_anneal
    return 1 - tau if kind == "linear" else 1 - math.sqrt(tau)


def test_wandb_logged_lr_is_lr_of_update_i():
    """wsd_schedule: the LR logged at iter i is the factor at step i, i.e. the LR of update i."""
    for f, fract, kind in ((TRUNK, 0.0, "linear"), (BRANCH_02, 0.2, "linear"),
                           (BRANCH_SQRT, 0.2, "sqrt")):
        h = json.loads(f.read_text())["history"]["train"]
        for it, lr in zip(h["iter"], h["train_lr"], strict=True):
            if it < 50000:
                assert lr == pytest.approx(1e-3 * hagele_factor(it, 50000, 300, fract, kind),
                                           rel=1e-9, abs=1e-15)
    h = json.loads(BRANCH_SQRT.read_text())["history"]["train"]
    assert h["train_lr"][h["iter"].index(40050)] == pytest.approx(1e-3 * (1 - math.sqrt(50 / 10000)))


def test_wandb_json_stitching_and_lr():
    runs = {r.name.split("_slim")[0] + r.name.split("decay_")[1][:10]: r
            for r in load_runs([TRUNK, BRANCH_02, BRANCH_SQRT, BRANCH_04])}
    trunk = runs["stable-124mlinear_0.0"]
    b = runs["ann124-0.2linear_0.2"]
    assert b.meta["branch_step"] == 40000 and b.meta["stitched_from"].startswith("stable-124m")
    np.testing.assert_array_equal(b.steps, np.arange(200, 50000, 200))  # full curve, iter 0 dropped
    np.testing.assert_array_equal(b.loss[b.steps < 40000], trunk.loss[trunk.steps < 40000])
    assert b.loss[b.steps == 40000][0] == pytest.approx(3.1191649, abs=1e-7)  # same in both files
    assert b.meta["lr_source"] == "config" and b.meta["lr_config_max_dev"] < 1e-9
    t = np.arange(50000)
    ref = 1e-3 * np.array([hagele_factor(s, 50000, 300, 0.2) for s in t])
    np.testing.assert_allclose(b.lr, ref, rtol=1e-12, atol=1e-18)
    assert b.warmup_steps == 300 and b.meta["final_val_loss"] == pytest.approx(2.965991497)
    # the unsorted / duplicated file: sorted, de-duplicated, last occurrence wins
    b4 = runs["ann124-0.4linear_0.4"]
    assert np.all(np.diff(b4.steps) == 200) and b4.steps[-1] == 49800
    raw = json.loads(BRANCH_04.read_text())["history"]["val"]
    last = dict(zip(raw["iter"], raw["val_loss"], strict=True))
    for s in (30000, 39000, 45000):
        assert b4.loss[b4.steps == s][0] == last[s]
    # logged-LR reconstruction agrees with the config formula after the first logged point
    (bl,) = [r for r in load_runs([TRUNK, BRANCH_02], lr_source="logged") if "ann124" in r.name]
    assert bl.meta["lr_source"] == "logged"
    # (after the last logged point, iter 49950, it is held: the LR logged at iter T is dropped)
    np.testing.assert_allclose(bl.lr[50:49951], b.lr[50:49951], rtol=1e-9, atol=1e-15)
    assert bl.lr[-1] == pytest.approx(5e-6)


def test_wandb_branch_without_trunk_is_an_error():
    with pytest.raises(RunError, match=r"cooldown branch resumed from 'stable-124m.*' at iter 40000"
                                       r".*add the trunk run"):
        load_runs(BRANCH_02)


def test_wandb_directory_and_from_scratch_and_cosine():
    runs = load_runs(WJ)  # a directory of JSON files: sniffed as wandb-json
    assert len(runs) == 6
    by = {r.name[:6]: r for r in runs}
    cos = by["cos-10"]
    assert cos.meta["lr_source"] == "config" and cos.meta["lr_config_max_dev"] < 1e-9
    assert cos.lr[50] == pytest.approx(7.675e-5, rel=1e-3)  # cosine-shaped OneCycleLR warmup
    assert cos.lr[-1] == pytest.approx(1e-4, rel=1e-6)  # cosine to 10% of the peak
    scratch = [r for r in runs if "decay_linear_0.8_iter15000" in r.name][0]
    assert "stitched_from" not in scratch.meta and scratch.steps[0] == 200


def test_wandb_json_malformed(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"config": {}, "history": {"val": {"iter": [200, 400],
                                                               "val_loss": [3.0, float("nan")]}}})
                 .replace("NaN", '"nan"'))
    with pytest.raises(RunError, match=r"bad\.json history\.val row 1 column 'val_loss': 'nan' is "
                                       "not a finite number"):
        load_runs(p)
    p.write_text(json.dumps({"config": {}, "history": {"val": {"iter": [200], "val_loss": [3.0, 2.9]}}}))
    with pytest.raises(RunError, match=r"column 'history\.val\.val_loss': 2 entries but "
                                       r"history\.val\.iter has 1"):
        load_runs(p)
    p.write_text("{not json")
    with pytest.raises(RunError, match="not valid JSON"):
        load_runs(p)


def test_wandb_history_rows_json(tmp_path):
    rows = [{"_step": s, "train/loss": 4 - s / 1000, "train/learning_rate": 1e-3} for s in
            range(10, 200, 10)]
    p = tmp_path / "history.json"
    p.write_text(json.dumps(rows))
    (run,) = load_runs(p)
    assert run.total_steps == 190 and run.meta["loss_column"] == "train/loss"


def test_wandb_panel_csv(tmp_path):
    p = tmp_path / "panel.csv"
    p.write_text(
        "Step,runA - eval/loss,runA - eval/loss__MIN,runA - eval/loss__MAX,runB - eval/loss\n"
        "100,3.0,2.9,3.1,3.2\n200,2.8,2.7,2.9,\n300,2.7,2.6,2.8,2.9\n"
    )
    assert sniff_format(p) == "wandb-csv"
    runs = load_runs(p, schedule={"runA": np.full(300, 1e-3), "runB": np.full(300, 2e-3)})
    assert [r.name for r in runs] == ["runA", "runB"]
    np.testing.assert_array_equal(runs[1].steps, [100, 300])
    assert runs[1].lr[0] == 2e-3
    with pytest.raises(RunError, match="no LR column"):
        load_runs(p)
