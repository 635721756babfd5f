"""Mixture planning (cptdyn.planner._mixture) on D-CPT laws: the three usages of Que et al. 2024."""

from __future__ import annotations

import numpy as np
import pytest

from cptdyn.dynamics.mixture import (
    DCPTLaw,
    best_ratio_limited_data,
    check_monotone,
    max_domain_ratio,
)
from cptdyn.planner._mixture import plan_mixture, replay_ratio

# synthetic general / domain laws (the D-CPT paper prints no fitted parameters)
GEN = DCPTLaw(E=1.5, A=300.0, alpha=0.35, B=200.0, beta=0.3, C=0.12, gamma=0.5, eta=0.05,
              eps=0.02)
DOM = DCPTLaw(E=0.9, A=250.0, alpha=0.33, B=400.0, beta=0.3, C=0.5, gamma=0.6, eta=0.1, eps=0.02)
N18, D10 = 1.8e9, 10e9


def test_laws_are_monotone_on_the_planning_range():
    rs = np.linspace(0.01, 1, 50)
    for law in (GEN, DOM):
        assert check_monotone(law, [0.5e9, 1.8e9, 4e9], np.geomspace(1e9, 3e10, 6), rs).ok


def test_tolerance_plan_is_usage1():
    lg0 = float(GEN(N18, D10, 1.0)) * 0.99
    plan = plan_mixture(GEN, DOM, model_sizes=[N18], tokens=D10, tolerance=0.03,
                        general_loss0=lg0)
    want = max_domain_ratio(GEN, N18, D10, 0.03, lg0)
    assert plan.domain_ratio == pytest.approx(want, abs=1e-4)
    assert plan.general_loss <= 1.03 * lg0 and plan.general_limit == pytest.approx(1.03 * lg0)
    assert set(plan.binding) == {"tolerance", "tokens"} and plan.tokens == pytest.approx(D10)
    assert plan.replay_ratio == pytest.approx(1 - plan.domain_ratio)
    assert plan.to_dict()["replay_ratio"] == pytest.approx(plan.replay_ratio)


def test_chemistry_table_example():
    # Que et al. 2024 usage 1 (chemistry, 1.8B, D = 10B, T = 3%, L_g0 = 2.8602): transcribed real
    # L_g and L_d; the best ratio under the tolerance is 0.924 (limit crossed in (0.924, 0.93))
    rd = np.array([0.90, 0.91, 0.92, 0.924, 0.93, 0.94, 1.0])
    lg = np.array([2.9052, 2.9193, 2.9376, 2.9445, 2.9644, 2.9848, 3.4667])
    ld = np.array([1.7321, 1.7312, 1.7311, 1.7291, 1.7279, 1.7265, 1.7220])

    def gen(N, D, r_g):
        return np.interp(1 - np.asarray(r_g), rd, lg) + 0 * np.asarray(D)

    def dom(N, D, r_d):
        return np.interp(np.asarray(r_d), rd, ld) + 0 * np.asarray(D)

    plan = plan_mixture(gen, dom, model_sizes=[N18], tokens=D10, tolerance=0.03,
                        general_loss0=2.8602, ratio_min=0.9, token_grid=1)
    assert plan.domain_ratio == pytest.approx(0.924, abs=1e-3)
    assert "tolerance" in plan.binding


def test_limited_domain_data_plan_is_usage2():
    dd = 2e9
    plan = plan_mixture(GEN, DOM, model_sizes=N18, domain_tokens=dd)
    r, L = best_ratio_limited_data(DOM, N18, dd)
    assert plan.domain_ratio == pytest.approx(r, abs=2e-4)
    assert plan.domain_loss == pytest.approx(L, abs=1e-9)
    assert plan.domain_tokens == pytest.approx(dd) and "domain_tokens" in plan.binding


def test_compute_budget_picks_the_model_size():
    sizes = [0.5e9, 1.8e9, 4e9]
    C = 6 * 1.8e9 * 20e9
    plan = plan_mixture(GEN, DOM, model_sizes=sizes, compute=C, tolerance=0.02,
                        general_loss0=float(GEN(N18, D10, 1.0)))
    assert plan.compute == pytest.approx(C, rel=1e-9) and "compute" in plan.binding
    best = min((r for r in plan.by_model_size if r["objective"] is not None),
               key=lambda r: r["objective"])
    assert plan.model_size == best["model_size"] and len(plan.by_model_size) == 3
    # brute force over (N, r_d) at D = C / 6N
    rs = np.linspace(0, 1, 4001)
    lim = plan.general_limit
    objs = []
    for N in sizes:
        D = C / (6 * N)
        ok = GEN(N, D, 1 - rs) <= lim
        objs.append(np.where(ok, DOM(N, D, rs), np.inf).min())
    assert plan.model_size == sizes[int(np.argmin(objs))]
    # the refined ratio sits closer to the tolerance boundary than the brute-force grid
    assert min(objs) - 1e-4 < plan.domain_loss <= min(objs) + 1e-12


def test_general_weight_trades_off():
    a = plan_mixture(GEN, DOM, model_sizes=N18, tokens=D10, general_weight=0.0)
    b = plan_mixture(GEN, DOM, model_sizes=N18, tokens=D10, general_weight=0.5)
    assert a.domain_ratio == pytest.approx(1.0) and b.domain_ratio < a.domain_ratio
    assert b.general_loss < a.general_loss


def test_replay_ratio_and_errors():
    assert replay_ratio(0.75) == 0.25
    with pytest.raises(ValueError, match="domain_ratio=1.5"):
        replay_ratio(1.5)
    with pytest.raises(ValueError, match="tokens=None"):
        plan_mixture(GEN, DOM, model_sizes=N18)
    with pytest.raises(ValueError, match="general_loss0=None"):
        plan_mixture(GEN, DOM, model_sizes=N18, tokens=D10, tolerance=0.03)
    with pytest.raises(ValueError, match="model_sizes=-1"):
        plan_mixture(GEN, DOM, model_sizes=[-1.0], tokens=D10)
    with pytest.raises(ValueError, match="tolerance=0.0: no"):
        plan_mixture(GEN, DOM, model_sizes=N18, tokens=D10, tolerance=0.0, general_loss0=1.0)
    with pytest.raises(ValueError, match="general_weight=2"):
        plan_mixture(GEN, DOM, model_sizes=N18, tokens=D10, general_weight=2)
