"""Metrics as the MPL repository computes them (``src/evaluation.py``), per curve and averaged."""

import math

import numpy as np
import pytest

from cptdyn.dynamics import (
    METRIC_NAMES,
    curve_metrics,
    final_error,
    mae,
    mean_metrics,
    mse,
    pred_e,
    r2,
    rmse,
    worst_e,
)

OBS = np.array([4.0, 3.5, 3.2, 3.0])
PRED = np.array([4.1, 3.4, 3.2, 3.03])


def test_values_by_hand():
    err = PRED - OBS  # 0.1, -0.1, 0, 0.03
    ss_res = 0.01 + 0.01 + 0.0 + 0.0009
    ss_tot = float(np.sum((OBS - OBS.mean()) ** 2))
    assert r2(OBS, PRED) == pytest.approx(1 - ss_res / ss_tot, rel=1e-12)
    assert mae(OBS, PRED) == pytest.approx(0.23 / 4, rel=1e-12)
    assert mse(OBS, PRED) == pytest.approx(ss_res / 4, rel=1e-12)
    assert rmse(OBS, PRED) == pytest.approx(math.sqrt(ss_res / 4), rel=1e-12)
    rel = np.abs(err) / OBS
    assert pred_e(OBS, PRED) == pytest.approx(rel.mean(), rel=1e-12)
    assert worst_e(OBS, PRED) == pytest.approx(0.1 / 3.5, rel=1e-12)
    assert final_error(OBS, PRED) == pytest.approx(0.03, rel=1e-9)  # pred - obs, signed


def test_curve_metrics_keys_types_and_sign():
    m = curve_metrics(OBS, PRED)
    assert tuple(m) == METRIC_NAMES
    assert all(type(v) is float for v in m.values())
    assert curve_metrics(OBS, OBS - 0.01)["final_error"] == pytest.approx(-0.01)


def test_matches_sklearn_r2_when_available():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    obs = 3 + rng.random(50)
    pred = obs + 0.01 * rng.standard_normal(50)
    assert r2(obs, pred) == pytest.approx(sk.r2_score(obs, pred), rel=1e-12)


def test_mean_is_unweighted_over_curves():
    a = curve_metrics([3.0, 2.0], [3.1, 2.0])  # 2 points
    b = curve_metrics([3.0, 2.5, 2.2, 2.0], [3.0, 2.5, 2.2, 2.2])  # 4 points
    m = mean_metrics([a, b])
    for k in METRIC_NAMES:
        assert m[k] == pytest.approx((a[k] + b[k]) / 2, rel=1e-12)


def test_constant_observations_give_nan_r2():
    assert math.isnan(r2([3.0, 3.0], [3.0, 3.1]))


def test_errors():
    with pytest.raises(ValueError, match="obs has 2 values but pred has 3"):
        curve_metrics([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="empty curve"):
        mae([], [])
    with pytest.raises(ValueError, match="no curves"):
        mean_metrics([])
