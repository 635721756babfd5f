"""Loaders: MPL CSVs (exact LR rebuild), generic CSV / DataFrame, W&B JSON (real files, stitching),
W&B panel CSV, TensorBoard, HF trainer_state.json, the compact 124M sweep, and malformed input."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import (
    load_cooldown_sweep,
    load_runs,
    mpl_schedule,
    reconstruct_lr,
    sniff_format,
)

DATA = Path(__file__).resolve().parents[2] / "data"
MPL = DATA / "MultiPowerLaw" / "loss_curve_repo"
SWEEP = DATA / "lr-scheduling"
WJ = SWEEP / "wandb_json"
TRUNK = WJ / ("stable-124m_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
              "decay_linear_0.0_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_02 = WJ / ("ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                  "decay_linear_0.2_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_SQRT = WJ / ("ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                    "decay_sqrt_0.2_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_04 = WJ / ("ann124-0.4_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                  "decay_linear_0.4_iter50000_bs50x2_ws2_seed0_data_seed1337.json")


# ------------------------------------------------------------------------------ MPL CSVs
def repo_array(kind, total, a=0, b=0.0, W=2160, peak=3e-4, end=3e-5):
    """The MPL repository's schedule array (index 0 is a dummy 0), built from its formulas."""
    warm = np.linspace(0, peak, W)
    i = np.arange(W, total)
    if kind == "constant":
        post = np.full(i.size, peak)
    elif kind == "cosine":
        post = end + 0.5 * (peak - end) * (1 + np.cos(np.pi * (i - W) / (total - W)))
    elif kind == "wsdcon":
        post = np.where(i < a, peak, b)
    elif kind == "wsd":
        post = np.where(i < a, peak, peak ** ((total - i) / (total - a)) * end ** ((i - a) / (total - a)))
    else:
        post = np.where(i < a, peak, peak * (1 - (i - a) / (total - a)) + end * (i - a) / (total - a))
    return np.concatenate([warm, post])


@pytest.mark.parametrize("size", ["25", "100", "400"])
def test_mpl_csvs_rebuild_the_repository_schedule(size):
    files = sorted((MPL / f"csv_{size}").glob("*.csv"))
    assert len(files) == 9
    for f in files:
        (run,) = load_runs(f)
        df = pd.read_csv(f)
        assert run.meta["lr_source"] == "mpl-repository"
        assert run.warmup_steps == 2160
        # the logged lr at step s is the LR of the s-th update = lr[s - 1]
        np.testing.assert_allclose(run.lr[df.step.to_numpy() - 1], df.lr.to_numpy(), rtol=1e-9)
        np.testing.assert_array_equal(run.steps, df.step.to_numpy())
        np.testing.assert_array_equal(run.loss, df.loss.to_numpy())
        # the repository's S1 at step s is cumsum(r)[s] with r[0] = 0: identical LR sums
        stem = f.stem
        if stem.startswith("wsdcon"):
            r = repo_array("wsdcon", 16000, 8000, int(stem.split("_")[1]) * 1e-5)
        elif stem.startswith(("wsd_", "wsdld_")):
            kind, a, total = stem.split("_")
            r = repo_array(kind, int(total), int(a))
        else:
            kind, total = stem.split("_")
            r = repo_array(kind, int(total))
        assert run.total_steps == r.size
        np.testing.assert_allclose(np.cumsum(run.lr)[run.steps - 1], np.cumsum(r)[run.steps],
                                   rtol=1e-12)


def test_mpl_schedule_families():
    lr, w, info = mpl_schedule("wsd_20000_24000.csv")
    assert (lr.size, w, info["family"], info["decay_start"]) == (24000, 2160, "wsd", 20000)
    assert lr[0] == pytest.approx(3e-4 / 2159) and lr[2158] == pytest.approx(3e-4)
    assert lr[20063] == pytest.approx(2.8915e-4, rel=1e-4)  # logged at step 20064
    assert lr[-1] == pytest.approx(3e-5)
    lr, _, info = mpl_schedule("wsdcon_18")
    assert lr[7998] == 3e-4 and lr[7999] == pytest.approx(1.8e-4)  # step 8000 carries the new LR
    assert mpl_schedule("cosine_run.csv") is None and mpl_schedule("wsd_100_24000") is None


def test_mpl_family_ignored_when_logged_lr_disagrees(tmp_path):
    p = tmp_path / "cosine_5000.csv"
    p.write_text("step,lr,loss\n100,0.001,4.0\n200,0.001,3.9\n300,0.0005,3.8\n")
    (run,) = load_runs(p)
    assert run.meta["lr_source"] == "logged"


# ------------------------------------------------------------------------------ generic CSV
def test_generic_csv_reconstruction_and_meta(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("step,lr,loss\n100,0.001,4.0\n200,0.001,3.5\n300,0.0005,3.3\n400,0.0001,3.2\n")
    (run,) = load_runs(p, warmup_steps=50)
    assert run.total_steps == 400 and run.warmup_steps == 50
    lr = run.lr
    assert lr[0] == pytest.approx(0.001 / 50) and lr[49] == pytest.approx(0.001)  # warmup from 0
    assert lr[60] == 0.001 and lr[100] == 0.001  # held until the first logged point
    assert lr[250] == pytest.approx(0.00075)  # linear interpolation; lr[s] logged at step s
    assert lr[399] == pytest.approx(0.0005)  # the LR logged at the last step belongs to no update
    assert run.meta["lr_source"] == "logged"
    assert "linear interpolation between 4 logged LR points" in run.meta["lr_reconstruction"]
    (held,) = load_runs(p)  # no warmup known: held before the first point
    assert held.lr[0] == 0.001
    (last,) = load_runs(p, lr_at="last")  # logged LR = LR of the update that produced the loss
    assert last.lr[299] == pytest.approx(0.0005) and last.lr[249] == pytest.approx(0.00075)
    assert last.lr[399] == pytest.approx(0.0001)


def test_reconstruct_lr_rule():
    lr = reconstruct_lr([10, 20], [1.0, 0.5], 30, warmup_steps=4)
    np.testing.assert_allclose(lr[:5], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert lr[15] == pytest.approx(0.75) and lr[29] == 0.5
    lr = reconstruct_lr([2, 20], [1.0, 0.5], 30, warmup_steps=100)  # first point inside warmup
    np.testing.assert_allclose(lr[:3], [1 / 3, 2 / 3, 1.0])


def test_csv_column_names_runs_and_schedule(tmp_path):
    p = tmp_path / "many.tsv"
    p.write_text("it\tname\tvalid\tLR\n10\ta\t3.0\t1e-3\n20\ta\t2.9\t1e-3\n10\tb\t3.1\t2e-3\n"
                 "20\tb\t3.0\t\n30\tb\t2.8\t1e-3\n")
    runs = load_runs(p, step_col="it", loss_col="valid", lr_col="LR", run_col="name",
                     total_steps=40)
    assert [r.name for r in runs] == ["a", "b"]
    assert all(r.total_steps == 40 for r in runs)
    np.testing.assert_array_equal(runs[1].steps, [10, 20, 30])
    assert runs[1].lr[20] == pytest.approx(1.5e-3)  # the empty LR cell is skipped
    # exact schedule: array, callable, cptdyn schedule object, mapping
    from cptdyn.schedules import Cosine

    sched = Cosine(total_steps=40, peak_lr=1e-3, final_lr=1e-4, warmup_steps=5)
    for s in (np.asarray(sched.array()), lambda t: np.asarray(sched.lr(t)), sched,
              {"a": sched, "b": sched}):
        a, b = load_runs(p, step_col="it", loss_col="valid", run_col="name", schedule=s,
                         total_steps=40)
        np.testing.assert_allclose(a.lr, np.asarray(sched.array()), rtol=1e-6)
        assert a.meta["lr_source"] == "schedule"
    a, _ = load_runs(p, step_col="it", loss_col="valid", run_col="name", schedule=sched)
    assert a.warmup_steps == 5  # taken from the schedule


def test_cpt_two_loss_columns(tmp_path):
    df = pd.DataFrame({"step": [100, 200, 300, 400], "lr": [3e-4, 3e-4, 1e-4, 5e-5],
                       "loss_pt": [2.5, 2.4, 2.6, 2.7], "loss_cpt": [3.5, 3.3, 2.9, 2.8]})
    p = tmp_path / "cpt.csv"
    df.to_csv(p, index=False)
    for src in (p, df):
        pt, cpt = load_runs(src, transfer_step=200)
        assert (pt.dataset, cpt.dataset) == ("pt", "cpt")
        assert pt.transfer_step == cpt.transfer_step == 200
        np.testing.assert_array_equal(pt.lr, cpt.lr)
        np.testing.assert_array_equal(cpt.loss, [3.5, 3.3, 2.9, 2.8])
    d1, d2 = load_runs(df, loss_col={"loss_pt": "general", "loss_cpt": "math"}, transfer_step=200)
    assert (d1.dataset, d2.dataset) == ("general", "math")


def test_dataframe_with_missing_values_and_step_zero():
    df = pd.DataFrame({"step": [0, 50, 100, 150, 200], "loss": [10.0, np.nan, 3.0, np.nan, 2.8],
                       "learning_rate": [1e-4, 2e-4, 3e-4, 3e-4, 3e-4]})
    (run,) = load_runs(df, name="hf")
    np.testing.assert_array_equal(run.steps, [100, 200])
    assert run.meta["dropped_steps"] == [0] and run.name == "hf"
    assert run.lr[0] == 1e-4 and run.lr[50] == 2e-4


# ------------------------------------------------------------------------------ malformed input
@pytest.mark.parametrize(
    "text, match",
    [
        ("step,lr\n1,0.1\n", r"runs\.csv: no loss column"),
        ("step,lr,loss\n100,0.001,3.0\n200,0.001,nan\n", r"runs\.csv row 3 column 'loss': 'nan' is not a finite number"),
        ("step,lr,loss\n100,0.001,3.0\n200,-0.001,2.9\n", r"runs\.csv row 3 column 'lr': lr -0\.001 is negative"),
        ("step,lr,loss\n200,0.001,3.0\n100,0.001,2.9\n", r"runs\.csv row 3 column 'step': step 100 does not follow step 200"),
        ("step,lr,loss\n100,0.001,3.0\n100,0.001,2.9\n", r"runs\.csv row 3 column 'step': step 100 does not follow"),
        ("", r"runs\.csv: empty file"),
        ("step,lr,loss\n", r"runs\.csv: no data rows"),
        ("step,lr,loss\n100,0.001,abc\n", r"runs\.csv row 2 column 'loss': 'abc' is not a number"),
        ("step,lr,loss\n100.5,0.001,3.0\n", r"runs\.csv row 2 column 'step': 100\.5 is not a whole number"),
        ("step,lr,loss\n100,0.001,0\n", r"runs\.csv row 2 column 'loss': loss 0 must be > 0"),
        ("step,lr,loss\n100,0.001\n", r"runs\.csv row 2: 2 fields but the header has 3"),
        ("step,loss\n100,3.0\n", r"runs\.csv: run 'runs' has no LR column"),
    ],
)
def test_malformed_csv(tmp_path, text, match):
    p = tmp_path / "runs.csv"
    p.write_text(text)
    with pytest.raises(RunError, match=match):
        load_runs(p)


def test_malformed_options(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("\n".join(["step,lr,loss"] + [f"{i},0.001,3.0" for i in range(100, 2000, 100)]))
    with pytest.raises(RunError, match=r"runs\.csv column 'val': not found \(loss\); columns are: step, lr, loss"):
        load_runs(p, loss_col="val")
    with pytest.raises(TypeError, match="option 'lr_source' does not apply to format 'csv'"):
        load_runs(p, lr_source="config")
    with pytest.raises(RunError, match="a loss at step 1900 but the LR covers only 1000 steps"):
        load_runs(p, total_steps=1000)
    with pytest.raises(RunError, match="a loss at step 1900 but the LR covers only 10 steps"):
        load_runs(p, schedule=np.full(10, 1e-3))
    with pytest.raises(RunError, match="schedule for run 'runs' has 10 steps but the run needs 20"):
        load_runs(p, schedule=np.full(10, 1e-3), total_steps=20)
    with pytest.raises(RunError, match=r"lr\[3\] = -1\.0 is not a finite LR >= 0"):
        load_runs(p, schedule=np.r_[np.full(3, 1e-3), -1.0, np.full(2000, 1e-3)])
    with pytest.raises(RunError, match="no such file"):
        load_runs(p.with_name("missing.csv"))


# ------------------------------------------------------------------------------ W&B JSON (real)
def hagele_factor(step, T, warmup=300, fract=0.0, kind="linear"):
    """schedules_and_trainers.md §2.2, written independently of the loader."""
    n_anneal = int(fract * T)
    n_hold = T - n_anneal
    if step < warmup:
        return step / warmup + (1 - step / warmup) / 100
    if step < n_hold:
        return 1.0
    tau = (step - n_hold) / n_anneal
    return 1 - tau if kind == "linear" else 1 - math.sqrt(tau)


def test_wandb_logged_lr_is_lr_of_update_i():
    """§2.2: the LR logged at iter i is the factor at step i, i.e. the LR of update i."""
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


def test_compact_sweep_matches_raw_json():
    sweep = load_cooldown_sweep(SWEEP)
    assert len(sweep) == 117
    assert all(r.meta["lr_source"] == "config" for r in sweep)
    by = {r.name: r for r in sweep}
    raw = {r.name[:10]: r for r in load_runs([TRUNK, BRANCH_04])}
    a, b = by["ann124-0.4_lr0.001_linear_T50000"], raw["ann124-0.4"]
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-9)
    np.testing.assert_array_equal(a.lr, b.lr)
    assert a.meta["final_val_loss"] == pytest.approx(2.9547817707)
    sel = load_cooldown_sweep(SWEEP, select=["cos-zero-124m_lr0.001_T50000"])
    assert [r.name for r in sel] == ["cos-zero-124m_lr0.001_T50000"]
    assert sel[0].lr[-1] == pytest.approx(1e-7, rel=1e-3)
    with pytest.raises(RunError, match="unknown run ids nope"):
        load_cooldown_sweep(SWEEP, select=["nope"])


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


# ------------------------------------------------------------------------------ W&B panel CSV
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


# ------------------------------------------------------------------------------ TensorBoard
@pytest.fixture(scope="module")
def tb_dir(tmp_path_factory):
    writer_mod = pytest.importorskip("torch.utils.tensorboard")
    root = tmp_path_factory.mktemp("tb")
    for run, peak in (("run_a", 1e-3), ("run_b", 2e-3)):
        w = writer_mod.SummaryWriter(str(root / run))
        for s in range(0, 1001, 10):
            w.add_scalar("train/learning_rate", peak * min(1.0, (s + 1) / 100), s)
            if s % 100 == 0:
                w.add_scalar("eval/loss", 4.0 - s / 1000 - peak, s)
        w.add_scalar("eval/loss", 3.5, 1000)  # a repeated event (restart): the last one wins
        w.close()
    return root


@pytest.mark.parametrize("backend", ["tbparse", "tensorboard"])
def test_tensorboard(tb_dir, backend):
    pytest.importorskip(backend)
    assert sniff_format(tb_dir) == "tensorboard"
    runs = load_runs(tb_dir, backend=backend, warmup_steps=100)
    assert [r.name for r in runs] == ["run_a", "run_b"]
    a = runs[0]
    np.testing.assert_array_equal(a.steps, np.arange(100, 1001, 100))
    assert a.loss[-1] == pytest.approx(3.5)
    assert a.loss[0] == pytest.approx(4.0 - 0.1 - 1e-3, rel=1e-6)
    assert a.lr[500] == pytest.approx(1e-3, rel=1e-6) and a.total_steps == 1000
    assert a.lr[15] == pytest.approx(1e-3 * 16 / 100, rel=1e-6)
    (one,) = load_runs(next((tb_dir / "run_b").glob("events.out.tfevents*")), backend=backend,
                       loss_col="eval/loss", lr_col="train/learning_rate")
    assert one.name == "run_b"


def test_tensorboard_missing_dependency(tb_dir, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith(("tbparse", "tensorboard")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(RunError, match=r"needs the optional dependency tbparse or tensorboard "
                                       r"\(pip install 'cptdyn\[tensorboard\]'\)"):
        load_runs(tb_dir, format="tensorboard")


# ------------------------------------------------------------------------------ HF trainer_state
def test_hf_trainer_state(tmp_path):
    hist = []
    for s in range(50, 501, 50):
        hist.append({"epoch": s / 500, "learning_rate": 1e-3 * min(1.0, s / 100), "loss": 5 - s / 500,
                     "grad_norm": 1.0, "step": s})
        if s % 100 == 0:
            hist.append({"epoch": s / 500, "eval_loss": 4.5 - s / 1000, "eval_runtime": 1.0,
                         "step": s})
    hist.append({"epoch": 1.0, "step": 500, "train_loss": 4.4, "train_runtime": 10.0})
    d = tmp_path / "checkpoint-500"
    d.mkdir()
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 500, "max_steps": 500,
                                                      "log_history": hist}))
    for src in (d / "trainer_state.json", d):
        (run,) = load_runs(src)
        assert run.name == "checkpoint-500" and run.meta["loss_column"] == "eval_loss"
        np.testing.assert_array_equal(run.steps, [100, 200, 300, 400, 500])
        assert run.total_steps == 500
        assert run.lr[50] == pytest.approx(5e-4) and run.lr[100] == pytest.approx(1e-3)
    (tr,) = load_runs(d, loss_col="loss")
    assert tr.steps.size == 10


# ------------------------------------------------------------------------------ formats
def test_sniff_formats(tmp_path):
    assert sniff_format(MPL / "csv_25" / "cosine_24000.csv") == "csv"
    assert sniff_format(BRANCH_02) == "wandb-json"
    assert sniff_format(SWEEP / "curves.csv.gz") == "csv"
    p = tmp_path / "x.parquet"
    p.write_text("")
    with pytest.raises(RunError, match="cannot tell the format"):
        load_runs(p)
    with pytest.raises(ValueError, match="format='xml' must be one of"):
        load_runs(MPL / "csv_25" / "cosine_24000.csv", format="xml")


def test_gzipped_csv(tmp_path):
    p = tmp_path / "curve.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("step,lr,loss\n10,0.001,3.0\n20,0.001,2.9\n")
    (run,) = load_runs(p)
    assert run.name == "curve" and run.total_steps == 20


def test_directory_of_csvs_and_list_of_sources():
    runs = load_runs(MPL / "csv_100")
    assert [r.name for r in runs][:3] == ["constant_24000", "constant_72000", "cosine_24000"]
    assert len(runs) == 9
    mixed = load_runs([MPL / "csv_25" / "wsdcon_9.csv", TRUNK, BRANCH_02])
    assert [r.name[:10] for r in mixed] == ["wsdcon_9", "stable-124", "ann124-0.2"]
    assert mixed[2].meta["branch_step"] == 40000
