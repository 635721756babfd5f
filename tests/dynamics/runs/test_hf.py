"""Hugging Face trainer_state.json."""

import json

import numpy as np
import pytest

from cptdyn.dynamics._runs import load_runs


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
