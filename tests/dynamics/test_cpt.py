"""The CPT law of P1 (cptdyn.dynamics._laws._cpt) with the paper's parameter sets.

Parameter tuples: P1 Fig. 3 (Setting A, 106M, FineWeb -> Knowledge-Pile; signs of the terms
reconstructed, P1's PDF text drops them). Qualitative targets: P1 Figs. 3, 5, 7, 8. Schedules follow
the P1 setups of Table 1 / App. I (peak LR 2e-4, PT WSD 40K, CPT cosine / linear), built here
with numpy.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import (
    CPTLaw,
    CPTOpenLaw,
    CPTReplayLaw,
    CPTSizeLaw,
    MomentumLaw,
    Run,
    critical_point,
    law_class,
    law_from_dict,
    loss_potential,
    simulate,
    turning_length,
)
from cptdyn.dynamics.presets import (
    P1_FIG3_DCPT,
    P1_FIG3_DPT,
    P1_FIG18_MODEL1_DCPT,
    P1_FIG19_DCPT,
    P1_FIG19_DPT,
)

PEAK = 2e-4  # P1 Table 1: peak LR 2e-4
T_PT = 40_000  # P1 App. I: PT WSD 40K steps, CPT cosine 10K

D_PT = CPTLaw(**P1_FIG3_DPT)
D_CPT = CPTLaw(**P1_FIG3_DCPT)


def wsd_pt(final_frac=0.0, T=T_PT, decay_frac=0.1):
    """Constant PT LR, then a linear decay over the last 10% to final_frac * PEAK."""
    lr = np.full(T, PEAK)
    D = int(decay_frac * T)
    lr[T - D:] = PEAK * (1 - (1 - final_frac) * np.arange(1, D + 1) / D)
    return lr


def cpt_cosine(n, start, peak, rewarm=500, end=0.0):
    """Linear re-warmup start -> peak over `rewarm` steps, then cosine peak -> end."""
    up = start + (peak - start) * np.arange(1, rewarm + 1) / rewarm
    u = np.arange(n - rewarm) / (n - rewarm)
    return np.concatenate([up, end + (peak - end) * 0.5 * (1 + np.cos(np.pi * u))])


def final_loss(law, lr, transfer_step=T_PT, **kw):
    return float(simulate(law, lr, [lr.size], transfer_step=transfer_step, **kw)[0])


# ------------------------------------------------------------------------------------------------
# P1's qualitative facts (Figs. 3, 5, 7, 8) with the Fig. 3 tuples


def test_dpt_rises_and_dcpt_falls_after_transfer():
    pt = wsd_pt()
    lr = np.concatenate([pt, cpt_cosine(10_000, pt[-1], PEAK)])
    steps = T_PT + np.array([0, 1000, 2000, 5000, 10_000])
    lp = simulate(D_PT, lr, steps, transfer_step=T_PT)
    lc = simulate(D_CPT, lr, steps, transfer_step=T_PT)
    assert np.all(lp[1:] > lp[0])  # D_pt (general) loss rises after the transfer
    assert np.all(lc[1:] < lc[0])  # D_cpt (downstream) loss falls
    assert np.all(np.diff(lc) < 0)
    # the magnitudes are those of P1 Fig. 3's axes (read off the figure: D_pt within 3.1-3.8, D_cpt
    # reaches about 2.6 with an axis bottom of 2.5)
    assert 3.1 < lp.min() and lp.max() < 3.8
    assert 2.5 < lc[-1] < 2.7


@pytest.mark.parametrize("cpt_steps", [20_000, 50_000])
def test_higher_loss_potential_gives_lower_dcpt(cpt_steps):
    # P1 Fig. 5b/c (Finding 3): loss potential 10/30/50/100%; CPT starts at the final PT LR and
    # decays linearly to 0 (no re-warmup); predictions for 20K..50K CPT steps.
    finals = []
    for pot in (0.1, 0.3, 0.5, 1.0):
        pt = wsd_pt(final_frac=pot) if pot < 1 else np.full(T_PT, PEAK)
        assert abs(loss_potential(pt) - pot) < 1e-12
        cpt = pt[-1] * (1 - np.arange(1, cpt_steps + 1) / cpt_steps)
        finals.append(final_loss(D_CPT, np.concatenate([pt, cpt])))
    assert np.all(np.diff(finals) < 0), finals  # expected direction: strictly decreasing


@pytest.mark.parametrize("cpt_steps", [10_000, 20_000, 60_000])
def test_higher_cpt_peak_lr_lowers_dcpt_raises_dpt(cpt_steps):
    # P1 Fig. 7a/b: peak CPT LR 0.25e-4 .. 2e-4, PT WSD (annealed), CPT re-warmup + cosine.
    # (With the Fig. 3 tuples the D_pt ordering of the two largest peaks flips beyond ~80K CPT
    # steps, where the A*S1^-alpha gain overtakes the saturating shift; not tested there.)
    pt = wsd_pt()
    dpt, dcpt = [], []
    for peak in (0.25e-4, 0.5e-4, 1e-4, 2e-4):
        lr = np.concatenate([pt, cpt_cosine(cpt_steps, pt[-1], peak)])
        dpt.append(final_loss(D_PT, lr))
        dcpt.append(final_loss(D_CPT, lr))
    assert np.all(np.diff(dcpt) < 0), dcpt  # higher peak, lower downstream loss
    assert np.all(np.diff(dpt) > 0), dpt  # higher peak, higher general loss


def test_balance_has_an_interior_optimal_peak_lr():
    # P1 Fig. 8b: for some intermediate lambda1 the composite
    # lambda1*L_Dpt + (1-lambda1)*L_Dcpt has a finite optimal CPT peak LR (PT WSD 40K + CPT
    # cosine 10K, the App. I assumptions). Expected: an interior argmin for at least one lambda1,
    # the largest peak for lambda1 = 0 and the smallest for lambda1 = 1.
    pt = wsd_pt()
    peaks = np.geomspace(1e-5, 4e-4, 30)
    dpt, dcpt = [], []
    for p in peaks:
        lr = np.concatenate([pt, cpt_cosine(10_000, pt[-1], p)])
        dpt.append(final_loss(D_PT, lr))
        dcpt.append(final_loss(D_CPT, lr))
    dpt, dcpt = np.array(dpt), np.array(dcpt)
    argmins = [int(np.argmin(l1 * dpt + (1 - l1) * dcpt)) for l1 in np.linspace(0, 1, 51)]
    assert argmins[0] == len(peaks) - 1 and argmins[-1] == 0
    assert any(0 < i < len(peaks) - 1 for i in argmins)


# ------------------------------------------------------------------------------------------------
# structure of Eq. 4


def test_pt_phase_and_no_shift_reduce_to_the_momentum_law():
    pt = wsd_pt(final_frac=0.3, T=8000)
    lr = np.concatenate([pt, cpt_cosine(4000, pt[-1], PEAK)])
    steps = np.arange(100, lr.size + 1, 100)
    mom = MomentumLaw(L0=3.0, A=0.5, alpha=0.5, C=0.3)
    ref = simulate(mom, lr, steps, warmup_steps=200)
    for split in ("origin", "step"):
        # P1 Eq. 2: with C1 = C2 and B = 0 the law is P2's law on the whole schedule
        law = CPTLaw(L0=3.0, A=0.5, alpha=0.5, C1=0.3, C2=0.3, B=0.0, split=split)
        got = simulate(law, lr, steps, warmup_steps=200, transfer_step=8000)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    # before the transfer S1cpt = S2cpt = 0: Eq. 4 is the PT curve whatever C2, B, E, beta
    law = CPTLaw(**P1_FIG3_DPT)
    pre = steps <= 8000
    got = simulate(law, lr, steps, warmup_steps=200, transfer_step=8000)[pre]
    plain = MomentumLaw(L0=3.057, A=0.490, alpha=0.497, C=0.299)
    np.testing.assert_allclose(got, simulate(plain, lr, steps, warmup_steps=200)[pre], rtol=1e-12)
    # a run without transfer_step is a PT run
    no_t = simulate(law, lr[:8000], steps[pre], warmup_steps=200)
    np.testing.assert_allclose(no_t, got, rtol=1e-12)


def test_split_option_matters_only_after_an_annealed_transfer():
    pt = wsd_pt(T=8000)  # annealed to 0 right before the transfer: PT momentum tail
    lr = np.concatenate([pt, cpt_cosine(4000, pt[-1], PEAK)])
    steps = np.arange(8000, lr.size + 1, 250)
    a = simulate(CPTLaw(**P1_FIG3_DCPT, split="origin"), lr, steps, transfer_step=8000)
    b = simulate(CPTLaw(**P1_FIG3_DCPT, split="step"), lr, steps, transfer_step=8000)
    assert a[0] == b[0] and np.max(np.abs(a - b)) > 1e-4
    flat = np.concatenate([np.full(8000, PEAK), cpt_cosine(4000, PEAK, PEAK)])
    a = simulate(CPTLaw(**P1_FIG3_DCPT, split="origin"), flat, steps, transfer_step=8000)
    b = simulate(CPTLaw(**P1_FIG3_DCPT, split="step"), flat, steps, transfer_step=8000)
    np.testing.assert_allclose(a, b, rtol=1e-13)  # the two splits coincide (no PT momentum tail)


def test_jit_vmap_grad():
    pt = wsd_pt(T=6000)
    lr = np.concatenate([pt, cpt_cosine(3000, pt[-1], PEAK)])
    steps = np.array([3000, 6000, 6500, 9000])
    names = ("L0", "A", "alpha", "C1", "C2", "B", "E", "beta")
    with x64_context():
        def loss(p, a):
            law = CPTLaw(**dict(zip(names, p, strict=True)))
            return jnp.sum(law.predict_lr(a, steps, transfer_step=6000) ** 2)

        p0 = np.array([P1_FIG3_DCPT[k] for k in names])
        g, gl = (np.asarray(v) for v in jax.jit(jax.grad(loss, argnums=(0, 1)))(p0, lr))
        f = jax.jit(loss)
        fd = [(float(f(p0 + h * e, lr)) - float(f(p0 - h * e, lr))) / (2 * h)
              for e, h in zip(np.eye(8), 1e-6 * np.maximum(np.abs(p0), 1e-3), strict=True)]
        np.testing.assert_allclose(g, fd, rtol=1e-6)  # w.r.t. the parameters
        v = np.random.default_rng(0).normal(size=lr.size) * 1e-7
        np.testing.assert_allclose(gl @ v, (float(f(p0, lr + v)) - float(f(p0, lr - v))) / 2,
                                   rtol=1e-6)  # w.r.t. the LR array (the planner's gradient)
        batch = np.stack([lr, lr * 0.5])
        vm = jax.vmap(lambda a: D_PT.predict_lr(a, steps, transfer_step=6000))(batch)
        rows = [np.asarray(D_PT.predict_lr(a, steps, transfer_step=6000)) for a in batch]
        np.testing.assert_allclose(np.asarray(vm), np.stack(rows), rtol=1e-14)
    # the float32 path (no x64) agrees with float64
    p32 = np.asarray(D_PT.predict_lr(lr.astype(np.float32), steps, transfer_step=6000))
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, rows[0], rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# derived quantities


def test_loss_potential():
    # P1 §3.3: final PT LR / peak PT LR
    assert loss_potential(wsd_pt(final_frac=0.3)) == pytest.approx(0.3, abs=1e-12)
    lr = np.concatenate([wsd_pt(final_frac=0.5), np.full(100, 9e-4)])
    assert loss_potential(lr, transfer_step=T_PT) == pytest.approx(0.5, abs=1e-12)
    assert loss_potential(np.full(10, PEAK)) == 1.0


def test_turning_length_and_critical_point():
    d_pt = D_PT
    # constant LR throughout (S2 = 0): D_pt = L0 + A*(S1pt+S1cpt)^-alpha + B*(1-(1+E*S1cpt)^-beta)
    # Its limit (critical point) is L0 + B = 3.057 + 0.366 (P1 Fig. 3 D_pt tuple).
    assert critical_point(d_pt) == pytest.approx(3.057 + 0.366, abs=1e-12)
    # short PT (5K steps, S1pt = 1): loss at transfer 3.057 + 0.490 = 3.547 > 3.423, so the D_pt
    # loss rises, then comes back below its transfer value (P1 §3.1 pattern 3): finite length.
    lr = np.full(5000 + 20_000, PEAK)
    n = turning_length(d_pt, lr, 5000)
    s1c = np.arange(1, 20_001) * PEAK
    curve = 0.490 * (1 + s1c) ** -0.497 + 0.366 * (1 - (1 + 28 * s1c) ** -0.189)
    back = np.nonzero((curve <= 0.490) & (np.arange(curve.size) > np.argmax(curve > 0.490)))[0]
    assert n == back[0] + 1 and 1000 < n < 20_000
    # long PT (20K, S1pt = 4): 3.057 + 0.490/4^0.497 = 3.303 < 3.423: never comes back
    assert turning_length(d_pt, np.full(20_000 + 20_000, PEAK), 20_000) is None
    # composite with weight 0 is the D_cpt loss, which only falls: turning length 0
    pt = wsd_pt()
    lr = np.concatenate([pt, cpt_cosine(10_000, pt[-1], PEAK)])
    assert turning_length(d_pt, lr, T_PT, cpt_law=D_CPT, weight=0.0) == 0
    # schedule ending at LR 0: the critical point is the loss once the momenta have decayed
    lr = np.concatenate([lr, [0.0]])
    ext = np.concatenate([lr, np.zeros(40_000)])  # lam^40000 ~ 4e-18
    assert critical_point(D_CPT, lr, T_PT) == pytest.approx(final_loss(D_CPT, ext), abs=1e-12)
    with pytest.raises(ValueError, match=r"weight=1.5 is outside \[0, 1\]"):
        turning_length(d_pt, lr, T_PT, cpt_law=D_CPT, weight=1.5)


# ------------------------------------------------------------------------------------------------
# variants


def test_replay_law():
    pt = wsd_pt(T=8000)
    lr = np.concatenate([pt, cpt_cosine(6000, pt[-1], PEAK)])
    law_pt = CPTReplayLaw(**P1_FIG19_DPT, beta=0.189)  # Fig. 19's beta is not printed
    law_cpt = CPTReplayLaw(**P1_FIG19_DCPT, beta=0.189)

    def fin(law, r, dataset):
        return final_loss(law, lr, 8000, replay_ratio=r, dataset=dataset)

    # P1 §4.2: more replay, a smaller shift: D_pt ends lower, D_cpt ends higher
    dpt = [fin(law_pt, r, "pt") for r in (0.0, 1 / 3, 0.5, 2 / 3)]
    dcpt = [fin(law_cpt, r, "cpt") for r in (0.0, 1 / 3, 0.5, 2 / 3)]
    assert np.all(np.diff(dpt) < 0) and np.all(np.diff(dcpt) > 0)
    # r_pt = 1 (no CPT data): both shift factors vanish (Eq. 8); D_pt is then Eq. 4 with B = 0
    # and the annealing factor e^(a1)
    eq4 = CPTLaw(**{k: v for k, v in P1_FIG19_DPT.items() if k not in ("a1", "a2")},
                 beta=0.189)
    eq4 = dataclasses.replace(eq4, B=0.0, C2=0.263 * np.exp(0.055))
    assert fin(law_pt, 1.0, "pt") == pytest.approx(final_loss(eq4, lr, 8000), abs=1e-12)
    # the role comes from the run's dataset, or is forced by the option
    forced = CPTReplayLaw(**P1_FIG19_DPT, role="pt")
    assert final_loss(forced, lr, 8000, replay_ratio=0.5, dataset="val") == pytest.approx(
        fin(CPTReplayLaw(**P1_FIG19_DPT), 0.5, "pt"), abs=1e-14)
    with pytest.raises(ValueError, match=r"role='auto' needs dataset 'pt' or 'cpt'"):
        final_loss(law_pt, lr, 8000, replay_ratio=0.5, dataset="val")
    # the UNSURE D_cpt annealing factor: e^(a1*r_cpt) (Eq. 8) vs e^(a1*r_pt) (Fig. 19 caption)
    alt = dataclasses.replace(law_cpt, cpt_anneal_ratio="r_pt")
    assert fin(alt, 0.5, "cpt") == pytest.approx(fin(law_cpt, 0.5, "cpt"), abs=1e-14)
    assert fin(alt, 0.2, "cpt") != pytest.approx(fin(law_cpt, 0.2, "cpt"), abs=1e-9)
    assert fin(dataclasses.replace(law_pt, cpt_anneal_ratio="r_pt"), 0.2, "pt") == fin(
        law_pt, 0.2, "pt")


def test_replay_curve_law_contains_eq8():
    """CPTReplayCurveLaw is Eq. 8's family with the curvature's sign free: at k = -a2 (D_pt) and
    k = +a2 (D_cpt), B rescaled, it predicts what CPTReplayLaw predicts with P1 Fig. 19's
    parameters; at k = 0 the shift is linear in r_cpt; bad options are refused by name."""
    from cptdyn.dynamics import CPTReplayCurveLaw
    from cptdyn.dynamics._laws._cpt import replay_curve

    pt = wsd_pt(T=8000)
    lr = np.concatenate([pt, cpt_cosine(6000, pt[-1], PEAK)])
    for preset, role, k, scale in (
        (P1_FIG19_DPT, "pt", -P1_FIG19_DPT["a2"], -np.expm1(-P1_FIG19_DPT["a2"])),
        (P1_FIG19_DCPT, "cpt", P1_FIG19_DCPT["a2"], np.expm1(P1_FIG19_DCPT["a2"])),
    ):
        paper = CPTReplayLaw(**preset, beta=0.189)
        kw = {n: v for n, v in preset.items() if n != "a2"}
        curve = CPTReplayCurveLaw(**{**kw, "B": preset["B"] * scale}, k=k, beta=0.189)
        for r in (0.0, 0.25, 0.5, 0.9):
            assert final_loss(curve, lr, 8000, replay_ratio=r, dataset=role) == pytest.approx(
                final_loss(paper, lr, 8000, replay_ratio=r, dataset=role), abs=1e-12)
    # the default parameters are Fig. 19's D_pt mapped this way
    assert final_loss(CPTReplayCurveLaw(), lr, 8000, replay_ratio=0.3, dataset="pt") == (
        pytest.approx(final_loss(CPTReplayLaw(), lr, 8000, replay_ratio=0.3, dataset="pt"),
                      abs=1e-12))
    # g(0) = 0, g(1) = 1, g = r at k = 0 and continuous through it; convex for k > 0
    r = jnp.linspace(0.0, 1.0, 11)
    for k in (-5.0, -1e-5, 0.0, 1e-5, 5.0):
        g = np.asarray(replay_curve(r, k))
        assert g[0] == pytest.approx(0.0, abs=1e-12) and g[-1] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(replay_curve(r, 0.0), r, atol=1e-12)
    np.testing.assert_allclose(replay_curve(r, 2e-4), replay_curve(r, 9e-5), atol=1e-4)
    assert float(replay_curve(0.5, 5.0)) < 0.5 < float(replay_curve(0.5, -5.0))
    with pytest.raises(ValueError, match=r"role='x' is not one of"):
        CPTReplayCurveLaw(role="x")


def test_size_law():
    pt = wsd_pt(T=8000)
    lr = np.concatenate([pt, cpt_cosine(6000, pt[-1], PEAK)])
    steps = np.arange(500, lr.size + 1, 500)
    base = CPTLaw(**P1_FIG3_DPT)
    # gamma1 = gamma2 = 0, F = 0: Eq. 7 is Eq. 4 for any N
    law = CPTSizeLaw(**P1_FIG3_DPT, gamma1=0.0, gamma2=0.0, F=0.0, gamma3=0.2)
    np.testing.assert_allclose(
        simulate(law, lr, steps, transfer_step=8000, model_size=106.0),
        simulate(base, lr, steps, transfer_step=8000), rtol=1e-12)
    # with F the size term adds F*N^-gamma3
    law = dataclasses.replace(law, F=2.0)
    np.testing.assert_allclose(
        simulate(law, lr, steps, transfer_step=8000, model_size=594.0),
        simulate(base, lr, steps, transfer_step=8000) + 2.0 * 594.0**-0.2, rtol=1e-12)
    with pytest.raises(ValueError, match=r"model_size is required"):
        simulate(law, lr, steps, transfer_step=8000)


def test_open_source_law():
    # P1 §6 / Fig. 18, Model I (LLaMA-3.2-1B) on Pile-of-Law: peak CPT LR 2e-5, re-warmup from
    # the (assumed) zero final PT LR, then anneal; fitted on 0-5000, predicted to 20000.
    cpt = cpt_cosine(20_000, 0.0, 2e-5, rewarm=500)
    steps = np.array([1, 500, 5000, 20_000])
    law = CPTOpenLaw(**P1_FIG18_MODEL1_DCPT)
    L = simulate(law, cpt, steps)
    assert np.all(np.diff(L) < 0)  # D_cpt falls during CPT
    with x64_context():
        f = law.features(Run("c", cpt, steps))
    assert set(f) == {"S1cpt", "S2cpt"}
    assert f["S2cpt"][1] < 0  # the re-warmup from 0 makes S2cpt negative (P1 §6)
    # with an (ignored, unknown) PT prefix and transfer_step, the same CPT curve
    prefix = np.full(3000, 1e-3)
    L2 = simulate(law, np.concatenate([prefix, cpt]), steps + 3000, transfer_step=3000)
    np.testing.assert_allclose(L2, L, rtol=1e-13)
    # S1pt is a fitted parameter
    assert "S1pt" in CPTOpenLaw.PARAMS and "C1" not in CPTOpenLaw.PARAMS
    # critical point: with a final LR > 0, S1cpt -> inf: L0 + B - C2 * S2cpt(saturated)
    cp = critical_point(law, cpt)
    assert cp == pytest.approx(critical_point(law, np.concatenate([prefix, cpt]), 3000), abs=1e-12)
    assert cp < L[-1]


# ------------------------------------------------------------------------------------------------
# protocol


def test_init_grids_and_registry():
    pt = wsd_pt(T=8000)
    lr = np.concatenate([pt, cpt_cosine(4000, pt[-1], PEAK)])
    steps = np.arange(200, lr.size + 1, 200)
    runs = []
    for law, ds in ((D_PT, "pt"), (D_CPT, "cpt")):
        y = simulate(law, lr, steps, transfer_step=8000)
        runs.append(Run(ds, lr, steps, y, transfer_step=8000, dataset=ds, replay_ratio=0.0,
                        model_size=106.0))
    for cls, name in ((CPTLaw, "cpt"), (CPTReplayLaw, "cpt-replay"), (CPTSizeLaw, "cpt-size"),
                      (CPTOpenLaw, "cpt-open")):
        assert law_class(name) is cls
        assert "Warmup convention" in cls.__doc__
        law = cls()
        back = law_from_dict(law.to_dict())
        assert type(back) is cls and back.params() == law.params()
        for subset in (runs[:1], runs[1:]):
            grid = law.init_grid(subset)
            assert grid and all(set(g) == set(cls.PARAMS) for g in grid)
            assert all(cls.PARAMS[k].contains(float(v)) for g in grid for k, v in g.items())
            signs = {np.sign(g["B"]) for g in grid}
            assert signs == ({1.0} if subset[0].dataset == "pt" else {-1.0})
        assert np.all(np.isfinite(np.asarray(law.predict(runs[0]))))
        with x64_context():  # fitting fast path: stacked prediction = concatenation
            feats = [law.features(r) for r in runs]
            stacked = np.asarray(law.predict_features(law.stack_features(feats)))
            each = np.concatenate([np.asarray(law.predict_features(f)) for f in feats])
        np.testing.assert_allclose(stacked, each, rtol=1e-15)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (CPTLaw, {"split": "half"}, r"^CPTLaw: split='half' is not one of 'origin', 'step'$"),
        (CPTLaw, {"lam": -0.1}, r"^CPTLaw: lam=-0.1 is outside \[0, 1\)$"),
        (CPTLaw, {"warmup": "none"}, r"^CPTLaw: warmup='none' is not one of"),
        (CPTReplayLaw, {"role": "both"}, r"^CPTReplayLaw: role='both' is not one of"),
        (CPTReplayLaw, {"cpt_anneal_ratio": "r"}, r"^CPTReplayLaw: cpt_anneal_ratio='r' is not"),
        (CPTOpenLaw, {"pt_final_lr": -1.0}, r"^CPTOpenLaw: pt_final_lr=-1.0 must be a number"),
    ],
)
def test_bad_options(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_ood_combination_eq6():
    from cptdyn.dynamics import fit_ood_weights, ood_loss
    from cptdyn.dynamics.presets import P1_OOD

    # P1 Fig. 9 (App. K): C4 = 0.867 L_pt + 0.152 L_cpt
    assert P1_OOD["c4"] == (0.867, 0.152)
    lp = np.linspace(3.2, 3.4, 50)
    lc = np.linspace(3.1, 2.6, 50)
    y = ood_loss(lp, lc, "c4")
    np.testing.assert_allclose(y, 0.867 * lp + 0.152 * lc)
    rng = np.random.default_rng(0)
    l1, l2 = fit_ood_weights(lp, lc, y + rng.normal(0, 1e-4, y.size))
    assert l1 == pytest.approx(0.867, abs=0.02) and l2 == pytest.approx(0.152, abs=0.02)
    with pytest.raises(ValueError, match="unknown set 'nope'"):
        ood_loss(lp, lc, "nope")
