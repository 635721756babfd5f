"""Every reader on logs shaped exactly as the real tools write them (fixtures made by
fixtures/make_fixtures.py, which says where each shape comes from)."""

import json
import shutil
import sys
import types
import warnings

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import RunReadWarning, load_runs, load_wandb
from cptdyn.dynamics._runs._wandb_api import wandb_run_path

from .fixtures import make_fixtures as mk
from .helpers import FIX

HF = FIX / "hf" / "checkpoint-400"
WB = FIX / "hf_wandb"
TB = FIX / "hf_tensorboard" / "runs"


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


class _FakeRun:
    def __init__(self, rec):
        self.name, self.config, self._rows = rec["name"], rec["config"], rec["history"]

    def scan_history(self):
        return iter([dict(r) for r in self._rows])


def _fake_wandb(monkeypatch, rec, calls=None):
    """A ``wandb`` module whose ``Api().run(path)`` answers with the recorded response."""
    mod = types.ModuleType("wandb")

    class Api:
        def run(self, path):
            if calls is not None:
                calls.append(path)
            if path != rec["path"]:
                raise ValueError(f"Could not find run {path}")
            return _FakeRun(rec)

    mod.Api = Api
    monkeypatch.setitem(sys.modules, "wandb", mod)


def _has_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def _log_history():
    return json.loads((HF / "trainer_state.json").read_text())["log_history"]


def test_hf_wandb_tensorboard_and_trainer_state_give_the_same_run(monkeypatch):
    """The issue's acceptance test: an HF-Trainer run read from W&B (API and history export) and
    from its TensorBoard dir is the Run its trainer_state.json gives."""
    rec = json.loads((WB / "run.json").read_text())
    _fake_wandb(monkeypatch, rec)
    (ref,) = load_runs(HF)
    (api,) = _quiet(load_wandb, "my-team/cpt/abc123xy")
    (csv_export,) = _quiet(load_runs, WB / "history.csv")
    (tb,) = _quiet(load_runs, TB)
    hist = _log_history()
    evals = [h for h in hist if "eval_loss" in h]
    np.testing.assert_array_equal(ref.steps, [h["step"] for h in evals])
    np.testing.assert_array_equal(ref.loss, [h["eval_loss"] for h in evals])
    assert ref.total_steps == 400 and ref.steps[-1] == 400  # global steps, not W&B's _step
    for run, rtol in ((api, 0), (csv_export, 1e-15), (tb, 2e-7)):  # TB stores float32
        np.testing.assert_array_equal(run.steps, ref.steps)
        np.testing.assert_allclose(run.loss, ref.loss, rtol=rtol)
        np.testing.assert_allclose(run.lr, ref.lr, rtol=rtol, atol=0)
    # transformers >= 4.51 (config.json / run config): learning_rate at step s is lr[s - 1]
    for h in hist:
        if "learning_rate" in h:
            assert ref.lr[h["step"] - 1] == h["learning_rate"]


def test_wandb_history_is_read_on_the_trainer_step():
    rows = json.loads((WB / "run.json").read_text())["history"]
    assert rows[-1]["_step"] == len(rows) - 1 < 400  # W&B's own counter: one per wandb.log call
    (run,) = load_runs(WB / "run.json", step_col="train/global_step")  # the failing case
    assert run.steps[-1] == 400 and run.steps.size == 8
    g = run.meta["guesses"]
    assert any("transformers 4.51.3" in x for x in g)
    with pytest.warns(RunReadWarning, match=r"assumed Hugging Face Trainer >= 4\.51"):
        (exp,) = load_runs(WB / "history.csv")  # no config: the convention is a guess
    assert any("'train/global_step' (also present: '_step'" in x for x in exp.meta["guesses"])
    (train,) = _quiet(load_runs, WB / "history.csv", loss_col="train/loss")
    assert train.steps.size == 40 and train.steps[0] == 10


def test_run_config_rebuilds_the_hf_schedule_and_checks_the_logged_lr():
    transformers = pytest.importorskip("transformers")
    assert transformers
    (run,) = load_runs(WB / "run.json", run_config=WB / "config.json")
    assert run.meta["lr_source"] == "run-config" and run.meta["lr_config_max_dev"] < 1e-12
    np.testing.assert_allclose(run.lr, mk.hf_lrs(), rtol=1e-12, atol=0)
    assert run.warmup_steps == 40
    with pytest.raises(RunError, match=r"disagrees with the run config's schedule .* it matches "
                                       r"with lr_at='last' \(--lr-at last\)"):
        load_runs(WB / "run.json", run_config=WB / "config.json", lr_at="next")
    cfg = json.loads((WB / "config.json").read_text())
    with pytest.raises(RunError, match=r"field 'lr_scheduler_type': reduce_lr_on_plateau"):
        load_runs(WB / "run.json", run_config={**cfg, "lr_scheduler_type": "reduce_lr_on_plateau"})
    with pytest.raises(RunError, match=r"max_steps=-1 .*give total_steps"):
        load_runs(WB / "eval_loss_panel.csv", run_config={**cfg, "max_steps": -1})
    # W&B's config.yaml shape {key: {"value": ...}} is unwrapped
    (w,) = load_runs(WB / "eval_loss_panel.csv",
                     run_config={k: {"value": v, "desc": None} for k, v in cfg.items()})
    np.testing.assert_allclose(w.lr, run.lr, rtol=1e-15)


def test_eval_only_wandb_panel_with_the_lr_from_a_config_or_a_spec():
    from cptdyn.schedules import Cosine

    p = WB / "eval_loss_panel.csv"
    with pytest.raises(RunError, match=r"has no LR column .*run_config=\.\.\. \(--run-config\)"):
        load_runs(p)
    (run,) = load_runs(p, run_config=WB / "config.json")
    np.testing.assert_array_equal(run.steps, np.arange(50, 401, 50))
    assert run.meta["lr_source"] == "run-config" and run.name == "hf-cosine-400"
    (ref,) = load_runs(HF)
    np.testing.assert_array_equal(run.loss, ref.loss)
    spec = Cosine(total_steps=400, peak_lr=3e-4, final_lr=0.0, warmup_steps=40, warmup_init=0.0)
    (s,) = load_runs(p, schedule=spec)
    np.testing.assert_allclose(s.lr, run.lr, rtol=1e-5, atol=1e-10)  # float32 schedule array


def test_load_wandb_recorded_response(monkeypatch, tmp_path):
    rec = json.loads((WB / "run.json").read_text())
    calls: list[str] = []
    _fake_wandb(monkeypatch, rec, calls)
    saved = tmp_path / "saved.json"
    (run,) = _quiet(load_wandb, "https://wandb.ai/my-team/cpt/runs/abc123xy?nw=1", save=saved)
    assert calls == ["my-team/cpt/abc123xy"] and run.name == "hf-cosine-400"
    assert run.meta["source"] == "wandb:my-team/cpt/abc123xy"
    (again,) = load_runs(saved)  # offline copy
    np.testing.assert_array_equal(again.lr, run.lr)
    with pytest.raises(RunError, match=r"wandb run 'my-team/cpt/nope': ValueError: Could not find"):
        load_wandb("my-team/cpt/nope")
    with pytest.raises(RunError, match=r"expected ENTITY/PROJECT/RUN_ID"):
        wandb_run_path("just-a-name")
    # an eval-only history: the LR comes from the run's own HF config
    rec2 = {**rec, "history": [r for r in rec["history"] if "eval/loss" in r]}
    _fake_wandb(monkeypatch, rec2)
    (ev,) = load_wandb("my-team/cpt/abc123xy")
    assert ev.meta["lr_source"] == "run-config"
    np.testing.assert_allclose(ev.lr, mk.hf_lrs() if _has_transformers() else ev.lr, rtol=1e-12)
    np.testing.assert_allclose(ev.lr[9::10], run.lr[9::10], rtol=1e-12)  # at the logged points


def test_load_wandb_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(RunError, match=r"^reading runs from W&B needs the optional dependency "
                                       r"wandb \(pip install 'cptdyn\[wandb\]'\)$"):
        load_wandb("a/b/c")


@pytest.mark.parametrize("backend", ["tbparse", "tensorboard"])
def test_torchtitan_tensorboard(backend):
    pytest.importorskip(backend)
    (run,) = _quiet(load_runs, FIX / "torchtitan" / "tb", backend=backend)
    assert run.meta["loss_column"] == "validation_metrics/loss"
    np.testing.assert_array_equal(run.steps, [100, 200, 300, 400])
    for s in range(10, 400, 10):  # "lr" logged after the scheduler step: lr[s]
        assert run.lr[s] == pytest.approx(mk.torchtitan_lr(s), rel=1e-6)
    (tr,) = _quiet(load_runs, FIX / "torchtitan" / "tb", backend=backend,
                   loss_col="loss_metrics/global_avg_loss")
    assert tr.steps[0] == 1 and tr.steps.size == 41


@pytest.mark.parametrize("backend", ["tbparse", "tensorboard"])
def test_megatron_tensorboard(backend):
    pytest.importorskip(backend)
    (run,) = _quiet(load_runs, FIX / "megatron" / "tensorboard", backend=backend)
    assert run.meta["loss_column"] == "lm loss validation"
    np.testing.assert_array_equal(run.steps, [100, 200, 300, 400])
    assert run.lr.size == 400  # the "vs samples" tags (x = samples) are not read as steps
    for s in range(10, 400, 10):
        assert run.lr[s] == pytest.approx(mk.megatron_lr(s), rel=1e-6)
    (tr,) = _quiet(load_runs, FIX / "megatron" / "tensorboard", backend=backend,
                   loss_col="lm loss")
    assert tr.steps.size == 40


def test_lightning_csv_logger_with_nan_holes():
    p = FIX / "lightning" / "lightning_logs" / "version_0" / "metrics.csv"
    (run,) = load_runs(p)
    assert run.meta["loss_column"] == "val_loss" and run.meta["format"] == "lightning-csv"
    # validation after batch k (k + 1 updates) is logged at step k: read as step k + 1
    np.testing.assert_array_equal(run.steps, [100, 200, 300, 400])
    assert any("Lightning CSVLogger" in g for g in run.meta["guesses"])
    for k in range(9, 399, 10):  # LearningRateMonitor: the LR of the coming update
        assert run.lr[k] == pytest.approx(mk.lightning_lr(k), rel=1e-12)
    (tr,) = load_runs(p, loss_col="train_loss")
    assert tr.steps.size == 40 and tr.steps[0] == 9  # batch 9 ran after 9 updates


def test_nan_in_tensorboard_and_wandb_rows_is_refused(tmp_path):
    rec = json.loads((WB / "run.json").read_text())
    rec["history"][5]["eval/loss"] = float("nan")  # json.dumps writes the bare NaN W&B stores
    p = tmp_path / "run.json"
    p.write_text(json.dumps(rec))
    with pytest.raises(RunError, match=r"run\.json row history\[5\] \(train/global_step 50\) "
                                       r"column 'eval/loss': 'nan' is not a finite number"):
        load_runs(p)
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    w = torch_tb.SummaryWriter(str(tmp_path / "tb"))
    for s in range(10, 101, 10):
        w.add_scalar("lr", 1e-3, s)
        w.add_scalar("validation_metrics/loss", float("inf") if s == 60 else 3.0, s)
    w.close()
    with pytest.raises(RunError, match=r"row step 60 column 'validation_metrics/loss': 'inf' is "
                                       r"not a finite number"):
        _quiet(load_runs, tmp_path / "tb")


def test_fixtures_are_small():
    total = sum(f.stat().st_size for f in FIX.rglob("*") if f.is_file())
    assert total < 500_000


def test_wandb_history_json_of_the_124m_sweep_refuses_nan(tmp_path):
    from .helpers import TRUNK

    doc = json.loads(TRUNK.read_text())
    doc["history"]["val"]["val_loss"][3] = float("nan")
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    it = doc["history"]["val"]["iter"][3]
    with pytest.raises(RunError, match=rf"history\.val row 3 column 'val_loss': nan at iter {it} "
                                       "is not a finite number"):
        load_runs(p)


def test_copy_of_hf_checkpoint_without_config_warns(tmp_path):
    d = tmp_path / "checkpoint-400"
    shutil.copytree(HF, d)
    (d / "config.json").unlink()
    with pytest.warns(RunReadWarning, match=r"checkpoint-400/trainer_state\.json: guessed LR"):
        (run,) = load_runs(d)
    (ref,) = load_runs(HF)
    np.testing.assert_array_equal(run.lr, ref.lr)  # the assumption is the current convention


def test_wandb_history_dataframe_with_the_run_config():
    """``load_runs(run.history(pandas=True), run_config=run.config)``: NaN = not logged."""
    import pandas as pd

    rec = json.loads((WB / "run.json").read_text())
    df = pd.DataFrame(rec["history"])  # what run.history() returns (floats, NaN holes)
    assert df["train/global_step"].dtype.kind in "iuf"
    (run,) = load_runs(df, name="hf", run_config=rec["config"])
    (ref,) = load_runs(HF)
    np.testing.assert_array_equal(run.steps, ref.steps)
    np.testing.assert_array_equal(run.loss, ref.loss)
    assert run.meta["lr_source"] == "run-config" and run.meta["lr_config_max_dev"] < 1e-12
    assert any("transformers 4.51.3" in g for g in run.meta["guesses"])


def test_wandb_panel_with_a_custom_x_axis_and_several_metrics(tmp_path):
    from cptdyn.dynamics._runs import sniff_format

    hist = _log_history()
    p = tmp_path / "panel.csv"
    lines = ['"train/global_step","hf - train/loss","hf - eval/loss","hf - train/learning_rate"']
    for h in hist:
        if "loss" in h:
            lines.append(f'{h["step"]},{h["loss"]},,{h["learning_rate"]}')
        elif "eval_loss" in h:
            lines.append(f'{h["step"]},,{h["eval_loss"]},')
    p.write_text("\n".join(lines) + "\n")
    assert sniff_format(p) == "wandb-csv"
    (run,) = load_runs(p, lr_at="last")
    (ref,) = load_runs(HF)
    assert run.meta["loss_column"] == "loss" and run.meta["metric"] == "eval/loss"
    np.testing.assert_array_equal(run.steps, ref.steps)
    np.testing.assert_allclose(run.lr, ref.lr, rtol=1e-15)
