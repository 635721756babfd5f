"""Data parallelism over local devices: the sweep on 4 (forced host) CPU devices equals the
1-device result, and its outputs really were spread over the 4 devices; ``fit_many`` (rows of
BFGS problems split over the devices) gives the same fits on 4 devices as on 1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from cptdyn._shard import batch_jit, batch_mesh, n_devices_of, padded_size, shard_rows
from cptdyn.dynamics import MomentumLaw
from cptdyn.dynamics.presets import P2_FIG2
from cptdyn.planner._plan import PlanError
from cptdyn.planner._sweep import sweep
from cptdyn.schedules import WSD

ROOT = Path(__file__).resolve().parents[1]

# 10 x 3 = 30 configurations with chunk=6: five chunks on one device; on 4 devices the chunk is
# padded to 8 (2 rows per device) and the last chunk holds 6 real rows + 2 padding rows.
_SWEEP = """
import json, sys
import numpy as np
from cptdyn.dynamics import MomentumLaw
from cptdyn.dynamics.presets import P2_FIG2
from cptdyn.planner._sweep import sweep
from cptdyn.schedules import WSD
law = MomentumLaw(**P2_FIG2)
t = WSD(4_000, 2e-4, 0.0, 0.2, "linear", warmup_steps=100)
grid = {"decay_fraction": np.linspace(0.05, 0.5, 10).tolist(), "peak_lr": [1e-4, 2e-4, 4e-4]}
out = {}
for dtype in ("float32", "float64"):
    df = sweep(law, t, grid, chunk=6, dtype=dtype)
    out[dtype] = {"loss": df["loss_val"].tolist(), "objective": df["objective"].tolist(),
                  "devices": df.attrs["devices"], "chunk": df.attrs["chunk"]}
import jax
out["n_local"] = len(jax.local_devices())
json.dump(out, sys.stdout)
"""


def _run(n_devices: int, script: str = _SWEEP) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
               XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}")
    r = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_sweep_on_4_devices_equals_1_device():
    one, four = _run(1), _run(4)
    assert one["n_local"] == 1 and four["n_local"] == 4
    for dtype, tol in (("float32", 2e-6), ("float64", 1e-12)):
        a, b = one[dtype], four[dtype]
        assert a["devices"] == 1 and b["devices"] == 4  # outputs spread over all 4 devices
        assert a["chunk"] == 6 and b["chunk"] == 8
        assert len(a["loss"]) == len(b["loss"]) == 30
        np.testing.assert_allclose(b["loss"], a["loss"], rtol=tol, atol=0)
        np.testing.assert_allclose(b["objective"], a["objective"], rtol=tol, atol=0)
        # not a constant column: the comparison can fail
        assert np.ptp(a["loss"]) > 1e-3


def test_in_process_sweep_matches_subprocess_layout():
    law = MomentumLaw(**P2_FIG2)
    t = WSD(4_000, 2e-4, 0.0, 0.2, "linear", warmup_steps=100)
    df = sweep(law, t, {"decay_fraction": [0.1, 0.2, 0.3], "peak_lr": [1e-4, 2e-4]}, chunk=4)
    assert df.attrs["devices"] == len(jax.local_devices())
    assert df.attrs["chunk"] % len(jax.local_devices()) == 0
    # row order = itertools.product order (last knob fastest)
    assert df["decay_fraction"].tolist() == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]
    assert df["peak_lr"].tolist() == [1e-4, 2e-4] * 3
    with pytest.raises(PlanError, match="chunk=0"):
        sweep(law, t, {"decay_fraction": [0.1]}, chunk=0)


def test_shard_helpers_pad_and_strip():
    mesh = batch_mesh()
    d = int(mesh.size)
    assert padded_size(5, mesh) == -(-5 // d) * d and padded_size(0, mesh) == d
    x = np.arange(10.0).reshape(5, 2)
    xs = shard_rows(x, mesh)
    assert xs.shape == (padded_size(5, mesh), 2)
    np.testing.assert_array_equal(np.asarray(xs)[:5], x)
    np.testing.assert_array_equal(np.asarray(xs)[5:], np.repeat(x[-1:], xs.shape[0] - 5, 0))
    f = batch_jit(jax.vmap(lambda r: {"s": r.sum(), "r": r * 2}), mesh)
    out = f(xs)
    assert n_devices_of(out) == d
    np.testing.assert_array_equal(np.asarray(out["s"])[:5], x.sum(1))
    with pytest.raises(ValueError, match="non-empty leading batch axis"):
        shard_rows(np.zeros((0, 2)), mesh)
    with pytest.raises(ValueError, match="size=3"):
        shard_rows(x, mesh, 3)


# fit_many: the cross-validation folds of the MPL 100M curves (data/MultiPowerLaw, as
# tests/dynamics/test_fit_many.py), 4 folds x 4 kept starts = 16 BFGS rows (4 per device).
_FIT = """
import json, sys
from pathlib import Path
import jax
from cptdyn.dynamics import MomentumLaw, load_runs
from cptdyn._shard import n_devices_of
from cptdyn.dynamics._fitting import _batch
from cptdyn.dynamics._fitting._batch import fit_many
from cptdyn.dynamics._fitting._select import cv_fold_masks
rs = {r.name: r for r in load_runs(Path("data/MultiPowerLaw/loss_curve_repo/csv_100"))}
runs = [rs[n] for n in ["cosine_24000", "constant_24000", "wsdcon_9"]]
folds = cv_fold_masks(runs, 0.6)
ws = [[m.astype(float) for m in tr] for _, _, tr, _ in folds]
solve, used = _batch._trips_many, []
def spy(*a, **k):
    r = solve(*a, **k)
    used.append(n_devices_of(r))
    return r
_batch._trips_many = spy
got = fit_many(MomentumLaw(), runs, ws, start_runs=[f[1] for f in folds], n_keep=4, n_random=4)
json.dump({"n_local": len(jax.local_devices()), "used": used,
           "fits": [{"params": g.params, "objective": g.objective} for g in got]}, sys.stdout)
"""


def test_fit_many_on_4_devices_equals_1_device():
    one, four = _run(1, _FIT), _run(4, _FIT)
    assert one["n_local"] == 1 and four["n_local"] == 4
    assert len(one["fits"]) == len(four["fits"]) == 4
    assert set(one["used"]) == {1} and set(four["used"]) == {4}  # screening + BFGS calls
    for a, b in zip(one["fits"], four["fits"], strict=True):
        assert b["objective"] == pytest.approx(a["objective"], rel=1e-10)
        for k, v in a["params"].items():
            assert b["params"][k] == pytest.approx(v, rel=1e-6), k  # as fit_many vs fit
