"""The annealing law with an LR-response exponent (``momentum-lr``, ``MomentumLRLaw``), its
prior rule (``rho`` identified only by runs at two or more peak LRs) and its place in
``select_law``."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import MomentumLaw, MomentumLRLaw, Run, fit, law_class, law_from_dict
from cptdyn.dynamics._fitting._priors import RHO_ONE_PEAK_SD, default_prior, distinct_peaks
from cptdyn.dynamics._fitting._select import default_candidates, extrapolation_folds
from cptdyn.dynamics.presets import P2_FIG2

T, W = 6000, 200
STEPS = np.arange(100, T + 1, 100)


def wsd_lr(peak, frac=0.2, T=T, W=W):
    t = np.arange(T)
    d0 = int(T * (1 - frac))
    dec = peak * np.clip((T - t) / (T - d0), 0.0, 1.0)
    return np.where(t < W, peak * (t + 1) / W, np.where(t < d0, peak, dec))


def cosine_lr(peak, T=T, W=W):
    t = np.arange(T)
    return np.where(t < W, peak * (t + 1) / W,
                    peak * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W))))


def test_rho_one_is_the_annealing_law():
    lr = cosine_lr(2e-3)
    for warmup in ("peak", "as-run"):
        ref = MomentumLaw(**P2_FIG2, warmup=warmup)
        law = MomentumLRLaw(**P2_FIG2, rho=1.0, warmup=warmup)
        run = Run("cos", lr, STEPS, np.ones(STEPS.size), warmup_steps=W)
        with x64_context():
            want = np.asarray(ref.predict_lr(lr, STEPS, warmup_steps=W))
            np.testing.assert_allclose(np.asarray(law.predict_lr(lr, STEPS, warmup_steps=W)),
                                       want, rtol=1e-12)
            np.testing.assert_allclose(np.asarray(law.predict(run)), want, rtol=1e-12)


def test_transformed_lr_and_paths_agree():
    """rho != 1: the prediction is P2's law on ``lr_ref * (lr / lr_ref)^rho``, by both the
    fitting features (observed-step recurrence, stacked runs) and ``predict_lr``; the gradient
    in rho matches a central difference."""
    law = MomentumLRLaw(**P2_FIG2, rho=0.6, warmup="as-run", lr_ref=1e-3)
    runs = [Run("cos", cosine_lr(2e-3), STEPS, np.ones(STEPS.size), warmup_steps=W),
            Run("wsd", wsd_lr(5e-4), STEPS[::3], np.ones(STEPS[::3].size), warmup_steps=W)]
    with x64_context():
        for r in runs:
            xt = 1e-3 * (r.lr / 1e-3) ** 0.6
            want = np.asarray(MomentumLaw(**P2_FIG2, warmup="as-run").predict_lr(
                xt, r.steps, warmup_steps=W))
            np.testing.assert_allclose(np.asarray(law.predict(r)), want, rtol=1e-11)
            np.testing.assert_allclose(
                np.asarray(law.predict_lr(r.lr, r.steps, warmup_steps=W)), want, rtol=1e-11)
        feats = [law.features(r) for r in runs]
        # only LR changes and runs of equal LR are kept: the WSD's stable phase is a few entries
        assert feats[0]["sv"].size == T  # cosine: one entry per update
        assert feats[1]["sv"].size < 0.3 * T and feats[1]["x"].size < 0.3 * T
        stacked = np.asarray(law.predict_features(law.stack_features(feats)))
        each = np.concatenate([np.asarray(law.predict_features(f)) for f in feats])
        np.testing.assert_allclose(stacked, each, rtol=1e-13)
        f64 = jax.tree_util.tree_map(jnp.asarray, law.stack_features(feats))

        def total(rho):
            return jnp.sum(dataclasses.replace(law, rho=rho).predict_features(f64))

        g = float(jax.jit(jax.grad(total))(jnp.asarray(0.6)))
        fd = float((total(jnp.asarray(0.6 + 1e-6)) - total(jnp.asarray(0.6 - 1e-6))) / 2e-6)
    assert np.isfinite(g) and abs(g - fd) <= 1e-5 * abs(fd)
    # a lower rho: a run at twice the LR gains less progress (the point of the law)
    with x64_context():
        lo, hi = (np.asarray(dataclasses.replace(law, rho=r).predict_lr(
            np.full(T, 2e-3), STEPS, warmup_steps=0)) for r in (0.5, 1.0))
    assert lo[-1] > hi[-1]


def _synthetic(rho, peaks):
    true = MomentumLRLaw(L0=2.6, A=0.5, alpha=0.5, C=0.2, rho=rho, warmup="as-run")
    runs = []
    for p in peaks:
        for name, lr in (("cos", cosine_lr(p)), ("wsd", wsd_lr(p))):
            y = np.asarray(true.predict_lr(lr, STEPS, warmup_steps=W), np.float64)
            runs.append(Run(f"{name}-{p:g}", lr, STEPS, y, warmup_steps=W))
    return runs


def test_fit_recovers_rho_from_two_peaks_and_keeps_one_peak_at_1():
    two = _synthetic(0.5, (5e-4, 2e-3))
    res = fit(MomentumLRLaw(warmup="as-run"), two, seed=0)
    assert abs(float(res.law.rho) - 0.5) < 0.03
    # fit's default optimiser: Levenberg-Marquardt for this law, BFGS for the others
    assert res.settings["method"] == "lm"
    assert fit(MomentumLaw(warmup="as-run"), two[:1], seed=0,
               n_random=0).settings["method"] == "bfgs"
    # one peak: rho is not identified across runs, the prior holds it at P2's 1
    one = _synthetic(0.5, (2e-3,))
    assert default_prior(MomentumLRLaw(), one)["rho"] == (1.0, RHO_ONE_PEAK_SD)
    assert default_prior(MomentumLRLaw(), two)["rho"][1] == 0.25
    res1 = fit(MomentumLRLaw(warmup="as-run"), one, seed=0)
    assert abs(float(res1.law.rho) - 1.0) < 0.05


def test_peaks_candidates_and_folds():
    two = _synthetic(0.5, (5e-4, 2e-3))
    assert distinct_peaks(two) == pytest.approx([5e-4, 2e-3])
    assert distinct_peaks(_synthetic(0.5, (1e-3, 1.05e-3))) == pytest.approx([1e-3])
    assert "momentum-lr" in default_candidates(two)
    assert "momentum-lr" not in default_candidates(two[:2])
    names = [n for n, _, _ in extrapolation_folds(two)]
    assert "peak:0.002" in names and "peak:0.0005" in names
    for n, train, test in extrapolation_folds(two):
        if n.startswith("peak:"):
            assert {float(np.max(r.lr)) for r in test}.isdisjoint(
                {float(np.max(r.lr)) for r in train})


def test_registry_serialization_and_bad_options():
    assert law_class("momentum-lr") is MomentumLRLaw
    law = MomentumLRLaw(rho=0.7, lr_ref=3e-4, warmup="as-run")
    back = law_from_dict(law.to_dict())
    assert type(back) is MomentumLRLaw and back.params() == law.params()
    assert back.options() == law.options()
    for bad in (0.0, -1e-3, float("nan"), "x", True):
        with pytest.raises(ValueError, match=r"^MomentumLRLaw: lr_ref=.* must be a positive"):
            MomentumLRLaw(lr_ref=bad)


def test_learned_prior_takes_rho_from_lr_sweeps_only():
    from cptdyn.dynamics import learn_prior

    law = MomentumLRLaw(warmup="as-run")
    one_peak = [_synthetic(0.5, (2e-3,)), _synthetic(0.5, (1e-3,))]
    lp = learn_prior(law, one_peak)
    assert lp.values["rho"] == () and lp.centres["rho"] == 1.0 and lp.sds["rho"] == 0.25
    lp2 = learn_prior(law, [_synthetic(0.5, (5e-4, 2e-3))] + one_peak)
    assert lp2.values["rho"] == pytest.approx((0.5,), abs=0.03)
    assert lp2.centres["rho"] == pytest.approx(0.5, abs=0.03)
    # a new model's one-peak runs: rho held at the centre learned from the earlier LR sweep
    c, sd = lp2(law, one_peak[0])["rho"]
    assert c == pytest.approx(0.5, abs=0.03) and sd == RHO_ONE_PEAK_SD


def test_band_carries_the_lr_response_one_peak_cannot_show():
    """``prediction_band``: one training peak, a target at a quarter of it. Per term of the law,
    the slope in ``log rho`` equals ``momentum-lr``'s derivative of that term (autodiff,
    lr_ref = the training peak) over the prediction, and the slopes sum to the whole
    prediction's; the log variance gains ``max((sum s)^2, sum s^2) * 0.25^2`` (a shared
    exponent or one per term, whichever is wider); a target at the training peak (or within
    10% of it) gains nothing."""
    from scipy.stats import norm

    from cptdyn.dynamics import prediction_band
    from cptdyn.dynamics._fitting._band import lr_response_slope, lr_response_slopes

    law = MomentumLaw(L0=2.6, A=0.5, alpha=0.5, C=0.2, warmup="as-run")
    train = []
    for name, lr in (("cos", cosine_lr(2e-3)), ("wsd", wsd_lr(2e-3))):
        y = np.asarray(law.predict_lr(lr, STEPS, warmup_steps=W), np.float64)
        train.append(Run(name, lr, STEPS, y * (1 + 1e-3 * np.sin(STEPS)), warmup_steps=W))
    target = Run("wsd-low", wsd_lr(5e-4), STEPS, warmup_steps=W)
    g = lr_response_slope(law, target, 2e-3)
    slopes = lr_response_slopes(law, target, 2e-3)
    assert set(slopes) == {"power (S1)", "annealing (S2)"}
    lrlaw = MomentumLRLaw(L0=2.6, A=0.5, alpha=0.5, C=0.2, rho=1.0, warmup="as-run", lr_ref=2e-3)
    with x64_context():
        def logp(lrho):
            return jnp.log(dataclasses.replace(lrlaw, rho=jnp.exp(lrho)).predict_lr(
                target.lr, STEPS, warmup_steps=W))

        def term(lrho, k):
            lw = dataclasses.replace(lrlaw, rho=jnp.exp(lrho))
            f = lw.lr_features(jnp.asarray(target.lr), STEPS, warmup_steps=W)
            return lw.terms_features(f)[k]

        want = np.asarray(jax.jacfwd(logp)(jnp.asarray(0.0)))
        pred = np.asarray(lrlaw.predict_lr(target.lr, STEPS, warmup_steps=W), np.float64)
        want_k = {k: np.asarray(jax.jacfwd(term)(jnp.asarray(0.0), k)) / pred for k in slopes}
    np.testing.assert_allclose(g, want, rtol=1e-3, atol=1e-7)
    for k, v in slopes.items():
        np.testing.assert_allclose(v, want_k[k], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(sum(slopes.values()), g, rtol=1e-3, atol=1e-7)  # both O(h^2)
    s1, s2 = slopes["power (S1)"], slopes["annealing (S2)"]
    assert np.any(s1 * s2 < 0)  # here the terms pull apart: the independent model is wider
    added = np.maximum((s1 + s2) ** 2, s1**2 + s2**2) * 0.25**2
    z = norm.ppf(0.95)
    (lo, hi), (lo0, hi0) = (prediction_band(law, train, target, lr_response_sd=sd)
                            for sd in (0.25, 0.0))
    var, var0 = ((np.log(h / lo_) / (2 * z)) ** 2 for lo_, h in ((lo, hi), (lo0, hi0)))
    np.testing.assert_allclose(var - var0, added, rtol=1e-6, atol=1e-12)
    assert np.all(var - var0 >= (g * 0.25) ** 2 * (1 - 1e-3))
    assert np.all(hi - lo > hi0 - lo0) and abs(g[-1]) > 1e-3
    near = Run("wsd-near", wsd_lr(2.1e-3), STEPS, warmup_steps=W)
    a, b = (prediction_band(law, train, near, lr_response_sd=sd) for sd in (0.25, 0.0))
    np.testing.assert_array_equal(a[0], b[0])


def test_constant_lr_without_changes():
    """No LR change at all (constant from step 0, as run): S2 = 0, S1 = t * lr~."""
    lr = np.full(T, 2e-3)
    run = Run("const", lr, STEPS, np.ones(STEPS.size))
    law = MomentumLRLaw(L0=2.6, A=0.5, alpha=0.5, C=0.2, rho=0.5, warmup="as-run")
    with x64_context():
        got = np.asarray(law.predict(run))
    s1 = STEPS * 1e-3 * (2e-3 / 1e-3) ** 0.5
    np.testing.assert_allclose(got, 2.6 + 0.5 * s1 ** -0.5, rtol=1e-12)
