"""Hugging Face trainer_state.json: merged rows, the LR-logging convention by transformers version,
NaN refused."""

import json

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import RunReadWarning, load_runs


def _state(tmp_path, *, nan_at=None, version=None):
    hist = []
    for s in range(50, 501, 50):
        hist.append({"epoch": s / 500, "learning_rate": 1e-3 * min(1.0, s / 100),
                     "loss": float("nan") if s == nan_at else 5 - s / 500, "grad_norm": 1.0,
                     "step": s})
        if s % 100 == 0:
            hist.append({"epoch": s / 500, "eval_loss": 4.5 - s / 1000, "eval_runtime": 1.0,
                         "step": s})
    hist.append({"epoch": 1.0, "step": 500, "train_loss": 4.4, "train_runtime": 10.0})
    d = tmp_path / "checkpoint-500"
    d.mkdir(exist_ok=True)
    # json.dumps writes NaN as the bare literal NaN, as the Trainer's json.dumps does
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 500, "max_steps": 500,
                                                      "log_history": hist}))
    if version is not None:
        (d / "config.json").write_text(json.dumps({"model_type": "llama",
                                                   "transformers_version": version}))
    return d


def test_hf_trainer_state(tmp_path):
    d = _state(tmp_path)
    for src in (d / "trainer_state.json", d):
        (run,) = load_runs(src, lr_at="next")
        # the Trainer's output folder names the run (every last checkpoint is checkpoint-N)
        assert run.name == tmp_path.name and run.meta["loss_column"] == "eval_loss"
        np.testing.assert_array_equal(run.steps, [100, 200, 300, 400, 500])
        assert run.total_steps == 500
        assert run.lr[50] == pytest.approx(5e-4) and run.lr[100] == pytest.approx(1e-3)
    (tr,) = load_runs(d, loss_col="loss", lr_at="next")
    assert tr.steps.size == 10


def test_hf_lr_convention_from_the_checkpoint_config(tmp_path):
    """transformers >= 4.51 logs the LR of the update just done (PR #36973): lr[s-1]."""
    d = _state(tmp_path, version="4.51.3")
    (new,) = load_runs(d)
    assert new.lr[49] == pytest.approx(5e-4) and new.lr[99] == pytest.approx(1e-3)
    assert any("4.51.3" in g for g in new.meta["guesses"])
    d = _state(tmp_path, version="4.46.0")
    (old,) = load_runs(d)
    assert old.lr[50] == pytest.approx(5e-4) and old.lr[100] == pytest.approx(1e-3)
    (d / "config.json").unlink()
    with pytest.warns(RunReadWarning, match=r"assumed Hugging Face Trainer >= 4\.51"):
        (guess,) = load_runs(d)
    assert guess.lr[49] == pytest.approx(5e-4)


def test_hf_nan_loss_is_refused(tmp_path):
    d = _state(tmp_path, nan_at=300)
    assert "NaN" in (d / "trainer_state.json").read_text()
    with pytest.raises(RunError, match=r"trainer_state\.json row log_history\[\d+\] \(step 300\) "
                                       r"column 'loss': 'nan' is not a finite number"):
        load_runs(d, loss_col="loss")
    (run,) = load_runs(d, lr_at="next")  # the eval loss is used: the NaN train loss is not read
    assert run.steps.size == 5


def test_warmup_is_read_off_a_logged_lr_ramp(tmp_path):
    """A per-step log (logging_steps=1) whose LR ramps from near 0 to its peak over 200 updates:
    warmup_steps=200 is inferred and listed among the guesses; an explicit value wins, and a
    run that starts at its peak has none."""
    hist = [{"epoch": s / 1000, "grad_norm": 1.0, "step": s, "loss": 5 - s / 1000,
             "learning_rate": 2e-4 * min(1.0, s / 200)} for s in range(1, 1001)]
    d = tmp_path / "out" / "checkpoint-1000"
    d.mkdir(parents=True)
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 1000, "max_steps": 1000,
                                                      "log_history": hist}))
    (run,) = load_runs(d, lr_at="last")
    assert run.name == "out" and run.warmup_steps == 200
    assert any(g.startswith("warmup_steps=200: the logged LR rises") for g in run.meta["guesses"])
    (run,) = load_runs(d, lr_at="last", warmup_steps=150)
    assert run.warmup_steps == 150
    for h in hist:
        h["learning_rate"] = 2e-4
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 1000, "max_steps": 1000,
                                                      "log_history": hist}))
    (run,) = load_runs(d, lr_at="last")
    assert run.warmup_steps == 0
