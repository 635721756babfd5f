"""The compact 124M cooldown sweep against the raw W&B JSON files."""

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import load_cooldown_sweep, load_runs

from .helpers import BRANCH_04, SWEEP, TRUNK


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
