"""benchmarks/bench_scaling.py: the exponent helper on known power laws, the synthetic runs, and a
tiny smoke run of the cheapest sections (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_scaling as bs
from cptdyn.dynamics import MomentumLaw
from cptdyn.planner._sweep import default_chunk


def test_loglog_slope_recovers_known_exponents() -> None:
    n = np.array([3.0, 10.0, 30.0, 100.0])
    assert bs.loglog_slope(n, 3.0 * n**1.5) == pytest.approx(1.5, abs=1e-12)
    assert bs.loglog_slope(n, 0.2 * n) == pytest.approx(1.0, abs=1e-12)
    assert bs.loglog_slope(n, np.full(4, 7.0)) == pytest.approx(0.0, abs=1e-12)
    # noise is averaged by the least-squares fit: exact for multiplicative noise that cancels
    noisy = 2.0 * n**2 * np.array([1.1, 1 / 1.1, 1.1, 1 / 1.1])
    assert bs.loglog_slope(n, noisy) == pytest.approx(2.0, abs=0.05)
    assert bs.loglog_slope(n, 2.0 * n**2) != pytest.approx(1.5, abs=0.1)


def test_loglog_slope_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="sizes must not all be equal"):
        bs.loglog_slope([5, 5], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 2 positive"):
        bs.loglog_slope([5], [1.0])
    with pytest.raises(ValueError, match=">= 2 positive"):
        bs.loglog_slope([1, 2], [1.0, 0.0])


def test_curve_table_ratios_and_exponent() -> None:
    c = bs.Curve("toy", "n", ["warm s"])
    for n in (1, 4, 16):
        c.add(n, **{"warm s": 0.5 * n**0.5})
    assert c.exponents()["warm s"] == pytest.approx(0.5, abs=1e-12)
    table = c.table()
    # ratio to the smallest size: 16**0.5 = 4
    assert "| 16 | 2 | 4 |" in table and "exponent" in table


def test_synthetic_runs_follow_the_generating_law() -> None:
    law = MomentumLaw(L0=2.7, A=0.45, alpha=0.55, C=0.45)
    runs = bs.synthetic_runs(law, 4, 50, noise=0.0)
    assert [r.name.split("-")[0] for r in runs] == ["wsd", "cosine", "wsd", "cosine"]
    assert all(r.steps.size == 50 for r in runs)
    assert len({r.total_steps for r in runs}) == 4  # varied horizons
    for r in runs:
        np.testing.assert_allclose(r.loss, np.asarray(law.predict(r)), rtol=1e-6)
    noisy = bs.synthetic_runs(law, 1, 400, noise=0.01)[0]
    ratio = np.log(noisy.loss / np.asarray(law.predict(noisy)))
    assert 0.007 < float(np.std(ratio)) < 0.013  # 1% multiplicative noise


def test_default_chunk_keeps_cpu_batches_cache_sized() -> None:
    from cptdyn._shard import batch_mesh

    mesh = batch_mesh()
    c32 = default_chunk(5_000, 1, "float32", mesh)
    c64 = default_chunk(5_000, 1, "float64", mesh)
    per_dev32, per_dev64 = c32 // mesh.size, c64 // mesh.size
    assert per_dev32 & (per_dev32 - 1) == 0  # a power of two
    assert per_dev32 * 5_000 * 4 <= 2**22 < 2 * per_dev32 * 5_000 * 4
    assert per_dev64 * 2 == per_dev32
    assert default_chunk(10**9, 3, "float32", mesh) == mesh.size  # at least one per device


def test_smoke_free_form_section(tmp_path: Path) -> None:
    out = tmp_path / "scaling.json"
    assert bs.main(["--quick", "--only", "free-form", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["machine"]["cpus"] >= 1 and len(doc["machine"]["loadavg_start"]) == 3
    (curve,) = doc["curves"]
    assert [r["size"] for r in curve["rows"]] == [1_000, 10_000]
    assert all(r["evaluations"] > 0 and r["wall s"] > 0 for r in curve["rows"])
    assert "wall s" in curve["exponents"]
