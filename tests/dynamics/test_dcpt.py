"""D-CPT Law, Cross-Domain D-CPT Law and the cross-lingual CPT law (cptdyn.dynamics._mixture._dcpt).

Published numbers: Que et al. 2024 (D-CPT usages, chemistry worked example) and Zheng et al.
2024 (Table 2 and the compute-optimal allocations). No D-CPT parameter values were published
(none found in the paper), so the D-CPT fits are checked by synthetic recovery.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cptdyn.dynamics.mixture import (
    CrossDomainDCPTLaw,
    CrossLingualLaw,
    DCPTLaw,
    allocation,
    best_ratio_limited_data,
    check_monotone,
    chinchilla_allocation,
    dcpt_compute_optimal,
    dcpt_from_dict,
    dlc,
    domain_coefficients,
    fit_cross_domain,
    fit_cross_lingual,
    fit_dcpt,
    max_domain_ratio,
    monotone_min_tokens,
)
from cptdyn.dynamics.presets import ZHENG_CPT, ZHENG_SCRATCH

# monotone on the whole D-CPT range (checked below); eta small enough that dL/dr < 0 at D = 0.1B
TRUE = DCPTLaw(E=1.2, A=300.0, alpha=0.35, B=400.0, beta=0.3, C=0.5, gamma=0.6, eta=0.1,
               eps=0.02)
# D-CPT setup (Que et al. 2024): Qwen-1.5 0.5B/1.8B/4B, the 9 mixture ratios, D in 0.1B-26B
NS = np.array([0.5e9, 1.8e9, 4e9])
DS = np.geomspace(1e8, 2.6e10, 8)
RS = np.array([0.0, 0.1, 0.2, 0.333, 0.5, 0.667, 0.8, 0.9, 1.0])


def _grid(*axes):
    return [a.ravel() for a in np.meshgrid(*axes, indexing="ij")]


def test_fit_dcpt_recovers_synthetic_l3():
    n, d, r = _grid(NS, DS, RS)
    rng = np.random.default_rng(0)
    y = TRUE(n, d, r) * np.exp(1e-4 * rng.standard_normal(n.size))
    fit = fit_dcpt(n, d, r, y, n_starts=256, n_keep=16)
    assert fit.r2 > 0.9999 and fit.huber < 1e-7
    got, want = fit.law.params(), TRUE.params()
    for k in ("alpha", "beta", "gamma", "eta"):
        assert got[k] == pytest.approx(want[k], abs=0.02), k
    assert got["E"] == pytest.approx(want["E"], rel=0.02)
    # held-out point (unseen 7B model, as in the paper's generalisation test)
    assert float(fit.law(7e9, 1e10, 0.2)) == pytest.approx(float(TRUE(7e9, 1e10, 0.2)), rel=1e-3)
    back = dcpt_from_dict(fit.law.to_dict())
    assert back.params() == got and back.form == "L3"


def test_l1_form_and_consistency():
    l1 = DCPTLaw(E=1.0, A=200.0, alpha=0.3, B=300.0, beta=0.28, C=0.2, gamma=0.4, eps=0.05,
                 form="L1")
    assert float(l1(1e9, 1e10, 0.5)) == pytest.approx(
        1.0 + 200.0 / 1e9**0.3 + 300.0 / 1e10**0.28 + 0.2 / 0.55**0.4)
    assert "eta" not in l1.params() and monotone_min_tokens(l1, RS) == 0.0
    # L1 has no D x r interaction: it violates the implicit trend (Que et al. 2024, Table 1)
    assert check_monotone(l1, NS, DS, RS).violations["d2L/dDdr<0"] > 0
    # design requirement 4 (consistency): at fixed r, L3 is Chinchilla's E' + A/N^a + B'/D^b
    e2, A, alpha, b2, beta = TRUE.at_ratio(0.3)
    assert float(TRUE(1e9, 5e9, 0.3)) == pytest.approx(e2 + A / 1e9**alpha + b2 / 5e9**beta)


def test_monotone_check_and_min_tokens():
    # a law whose r^eta term wins at small D (derived from the formula, not in the paper)
    law = DCPTLaw(E=1.0, A=100.0, alpha=0.3, B=50.0, beta=0.2, C=0.01, gamma=0.3, eta=0.8,
                  eps=0.05)
    rs = np.linspace(0.05, 1.0, 20)
    dmin = monotone_min_tokens(law, rs)
    assert 0 < dmin < math.inf
    assert check_monotone(law, [1e9], [dmin * 1.01, dmin * 10], rs).ok
    bad = check_monotone(law, [1e9], [dmin * 0.5], rs)
    assert not bad.ok and bad.violations["dL/dr<0"] > 0 and "dL/dr<0" in bad.first
    assert check_monotone(TRUE, NS, DS, RS).ok and monotone_min_tokens(TRUE, RS) < DS[0]


def test_usage1_chemistry_worked_example():
    # Que et al. 2024 usage 1: chemistry, Qwen1.5-1.8B, D = 10B, T = 3%, L_g0 = 2.8602; transcribed
    # real L_g; predicted r_d = 0.924, the limit 1.03*2.8602 = 2.946 is crossed in (0.924, 0.93)
    rd = np.array([0.90, 0.91, 0.92, 0.924, 0.93, 0.94, 1.0])
    lg = np.array([2.9052, 2.9193, 2.9376, 2.9445, 2.9644, 2.9848, 3.4667])

    def general(N, D, r_g):
        return np.interp(1.0 - np.asarray(r_g), rd, lg, left=2.0)

    r = max_domain_ratio(general, 1.8e9, 10e9, 0.03, 2.8602)
    assert 0.924 < r < 0.93 and r == pytest.approx(0.924, abs=1e-3)
    assert 1.03 * 2.8602 == pytest.approx(2.946, abs=1e-3)
    assert math.isnan(max_domain_ratio(general, 1.8e9, 10e9, 0.0, 1.0))


def test_usage1_on_a_law_sits_on_the_constraint():
    lg0 = float(TRUE(1.8e9, 1e10, 1.0)) * 0.99
    r = max_domain_ratio(TRUE, 1.8e9, 1e10, 0.03, lg0)
    assert 0 < r < 1
    assert float(TRUE(1.8e9, 1e10, 1.0 - r)) == pytest.approx(1.03 * lg0, rel=1e-9)


def test_usage2_limited_domain_data_matches_brute_force():
    rs = np.linspace(1e-3, 1, 200001)
    for dd in (5e9, 1e9):
        r, L = best_ratio_limited_data(TRUE, 1.8e9, dd)
        brute = TRUE(1.8e9, dd / rs, rs)
        assert r == pytest.approx(rs[np.argmin(brute)], abs=1e-4)
        assert L <= brute.min() + 1e-12


def test_usage3_compute_optimal_split():
    C, r = 1e21, 0.5
    a = dcpt_compute_optimal(TRUE, r, C)
    assert 6 * a.N * a.D == pytest.approx(C)
    Ns = np.geomspace(a.N / 30, a.N * 30, 200001)
    losses = TRUE(Ns, C / (6 * Ns), r)
    assert a.N == pytest.approx(Ns[np.argmin(losses)], rel=1e-3)
    assert a.loss == pytest.approx(losses.min(), abs=1e-12)
    with pytest.raises(ValueError, match="r=0"):
        dcpt_compute_optimal(TRUE, 0.0, C)


def test_cross_lingual_published_allocations():
    # Zheng et al. 2024 (Table 2 and text): CPT N = 4.79 C^0.385, D = 0.035 C^0.615;
    # from scratch N = 0.324 C^0.429, D = 0.514 C^0.571
    cpt = allocation(CrossLingualLaw())
    assert (cpt.n_coef, cpt.a) == (pytest.approx(4.79, abs=0.005), pytest.approx(0.385, abs=5e-4))
    assert (cpt.d_coef, cpt.b) == (pytest.approx(0.035, abs=5e-4), pytest.approx(0.615, abs=5e-4))
    pt = allocation(CrossLingualLaw(**ZHENG_SCRATCH))
    assert (pt.n_coef, pt.a) == (pytest.approx(0.324, abs=5e-4), pytest.approx(0.429, abs=5e-4))
    assert (pt.d_coef, pt.b) == (pytest.approx(0.514, abs=5e-4), pytest.approx(0.571, abs=5e-4))
    same = chinchilla_allocation(420.0, 0.4, 719.5, 0.3)
    assert same.n_coef == pytest.approx(pt.n_coef)
    # the closed form is the argmin of the law along C = 6ND; CPT prefers larger N, less D
    C = 1e21
    law = CrossLingualLaw(**ZHENG_CPT)
    at = allocation(law, C)
    Ns = np.geomspace(at.N / 10, at.N * 10, 100001)
    assert at.N == pytest.approx(Ns[np.argmin(law(Ns, C / (6 * Ns)))], rel=1e-3)
    assert at.N > allocation(CrossLingualLaw(**ZHENG_SCRATCH), C).N
    with pytest.raises(ValueError, match="beta > gamma"):
        allocation(CrossLingualLaw(gamma=0.3))


def test_fit_cross_lingual_two_stage_recovers_published_cpt_fit():
    # second stage of Zheng et al. 2024's fit: E, A, alpha frozen; fit B', beta', gamma on CPT runs
    # (40 sizes 50M-5.5B, 20 N tokens each; here a few D per size)
    law = CrossLingualLaw(**ZHENG_CPT)
    n, t = _grid(np.geomspace(5e7, 5.5e9, 10), np.array([2.0, 5.0, 10.0, 20.0]))
    d = n * t
    fit = fit_cross_lingual(n, d, law(n, d),
                            fixed={k: ZHENG_CPT[k] for k in ("E", "A", "alpha")}, n_starts=64)
    got = fit.law.params()
    for k in ("B", "beta", "gamma"):
        assert got[k] == pytest.approx(ZHENG_CPT[k], rel=1e-4), k
    assert got["E"] == ZHENG_CPT["E"]


def test_cross_domain_law_predicts_unseen_domains():
    truth = CrossDomainDCPTLaw(base=TRUE, F=0.4, mu=1.2, w2=3.0)
    k1 = np.array([1.2, 1.6, 2.0, 2.4, 1.4, 2.2])  # initial domain losses
    k2 = np.array([0.10, 0.30, 0.05, 0.20, 0.15, 0.25])  # early rates of fall
    rows = []
    for i in range(4):  # fit on 4 domains, predict the other 2 (Que et al. 2024)
        n, d, r = _grid(NS, DS[::2], RS[1::2])
        rows.append((n, d, r, np.full(n.size, k1[i]), np.full(n.size, k2[i])))
    n, d, r, a, b = (np.concatenate(c) for c in zip(*rows, strict=True))
    fit = fit_cross_domain(n, d, r, a, b, truth(n, d, r, a, b), n_starts=256, n_keep=16)
    assert fit.r2 > 0.9999
    for i in (4, 5):
        new = fit.law.for_domain(k1[i], k2[i])
        want = truth.for_domain(k1[i], k2[i])
        assert isinstance(new, DCPTLaw)
        assert float(new(1.8e9, 1e10, 0.5)) == pytest.approx(float(want(1.8e9, 1e10, 0.5)),
                                                               rel=2e-3)
    assert fit.law.to_dict()["law"] == "cross-domain-dcpt"


def test_dlc_and_probe_coefficients():
    assert dlc(2.0, 0.1, w1=1.0, w2=3.0) == pytest.approx(0.5 + 0.3)
    steps = np.arange(0, 201, 20)
    k1, k2 = domain_coefficients(steps, 2.5 - 1e-3 * steps)
    assert (k1, k2) == (pytest.approx(2.5), pytest.approx(1e-3))
    k1, k2 = domain_coefficients(steps, 2.5 - 1e-3 * steps, early=100)
    assert k2 == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fit_dcpt([1e9, 2e9], [1e9, 1e9], [0.5, 1.5], [2.0, 2.1]), "r=1.5"),
        (lambda: fit_dcpt([1e9, -2e9], [1e9, 1e9], [0.5, 0.5], [2.0, 2.1]), "N=-2"),
        (lambda: fit_dcpt([1e9, 2e9], [1e9, 1e9], [0.5, 0.5], [2.0, 2.1], form="L9"), "form="),
        (lambda: fit_dcpt([1e9, 2e9, 3e9], [1e9], [0.5, 0.5], [2.0, 2.1]), "D has 1|r has 2"),
        (lambda: max_domain_ratio(TRUE, 1e9, 1e9, -0.1, 2.0), "tolerance=-0.1"),
        (lambda: best_ratio_limited_data(TRUE, 1e9, 0.0), "domain_tokens=0.0"),
        (lambda: DCPTLaw(E=1, A=1, alpha=1, B=1, beta=1, C=1, gamma=1, eps=0.0), "eps=0.0"),
        (lambda: dcpt_from_dict({"params": {"E": 1}}), "missing parameter"),
        (lambda: domain_coefficients([0, 1], [2.0]), "steps/losses"),
        (lambda: fit_cross_lingual([1e9, 2e9], [1e9, 1e9], [2.0, 2.1], fixed={"Z": 1}), "'Z'"),
    ],
)
def test_validation_errors_are_one_line(call, match):
    with pytest.raises(ValueError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
