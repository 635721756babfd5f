"""Issue 12: default priors, warmup window, binning of per-step logs, extrapolation folds, the
prediction band, and the MPL NaN regression (a one-run cosine fit predicting other runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import (
    MomentumLaw,
    MPLLaw,
    Run,
    bin_observations,
    cv_model_error,
    default_prior,
    fit,
    prediction_band,
)
from cptdyn.dynamics._fitting._priors import PRIOR_OBS_PER_RUN, fit_window, prior_strength
from cptdyn.dynamics._fitting._select import extrapolation_folds

from .test_fit import TRUE_MPL, TRUE_MTL, W, lr_array, make_runs


def test_default_prior_centres_follow_the_peak_lr() -> None:
    # B * peak = 0.10 nats (mean of the published fits, _priors.ANNEAL_GAIN); C at peak 3e-4 is
    # the MPL release's 2.0 (Luo et al. 2025 src/config.py: 2.02-2.13)
    run = Run("c", lr_array("constant", 2000), np.arange(400, 2001, 100), warmup_steps=W)
    p = default_prior(MPLLaw(), [run])
    assert p["B"][0] == pytest.approx(0.10 / 3e-4)
    assert p["C"][0] == pytest.approx(2.0)
    assert set(p) == {"alpha", "beta", "gamma", "B", "C"}
    m = default_prior(MomentumLaw(), [run])
    assert m["C"][0] * 3e-4 / (1 - 0.999) == pytest.approx(0.10)
    assert "L0" not in m and "A" not in m


def test_prior_strength_counts_runs_not_points() -> None:
    w = [np.ones(500), np.ones(300)]
    assert prior_strength(w, 2) == pytest.approx(800 / (PRIOR_OBS_PER_RUN * 2))
    assert prior_strength([np.ones(3)], 1) == 1.0


def test_fit_window_drops_the_warmup_only() -> None:
    run = Run("c", lr_array("constant", 2000), np.arange(100, 2001, 100), warmup_steps=W)
    keep = fit_window(run)
    assert run.steps[keep].min() == 400 and keep.sum() == run.steps.size - 3
    inside = Run("w", lr_array("constant", 2000), np.array([100, 200]), warmup_steps=W)
    assert fit_window(inside).all()
    # the annealing law also skips its 1 / (1 - lam) = 1000-step memory of the warmup
    assert run.steps[fit_window(run, MomentumLaw())].min() == 1400
    assert run.steps[fit_window(run, MPLLaw())].min() == 400


def test_prior_none_is_the_plain_minimum() -> None:
    runs = make_runs(MomentumLaw(**TRUE_MTL), ["constant", "cosine"], T=4000)
    plain = fit(MomentumLaw(), runs, prior=None, n_random=4)
    shrunk = fit(MomentumLaw(), runs, n_random=4)
    assert plain.settings["prior"] == {} and shrunk.settings["prior"]
    assert plain.objective <= shrunk.objective * (1 + 1e-9)
    # synthetic data from the law: the weak prior barely moves a well-identified fit
    assert shrunk.params["alpha"] == pytest.approx(TRUE_MTL["alpha"], rel=0.1)


def test_binning_a_per_step_log_keeps_weights_and_the_final_point() -> None:
    T = 20000
    lr = lr_array("cosine", T)
    steps = np.arange(W + 1, T + 1)
    run = Run("per-step", lr, steps, warmup_steps=W)
    with x64_context():
        clean = np.asarray(MomentumLaw(**TRUE_MTL).predict(run))
    rng = np.random.default_rng(0)
    noisy = run.replace(loss=clean * np.exp(0.02 * rng.standard_normal(clean.size)))
    b, w = bin_observations(noisy)
    assert b.steps.size <= 257 and w.sum() == pytest.approx(steps.size)
    assert b.steps[-1] == T and np.all(np.diff(b.steps) > 0)
    # per-bin means average the noise away: the binned curve follows the clean one
    with x64_context():
        ref = np.asarray(MomentumLaw(**TRUE_MTL).predict(b))
    big = w > 50
    assert np.max(np.abs(b.loss[big] / ref[big] - 1)) < 0.01
    # a fit sees the binned points (fit cost independent of the log length)
    res = fit(MomentumLaw(), [noisy], n_random=2)
    assert res.per_run[0]["n_obs"] <= 257
    assert res.params["alpha"] == pytest.approx(TRUE_MTL["alpha"], rel=0.25)
    small = Run("s", lr, np.arange(1000, T + 1, 1000), warmup_steps=W, loss=np.ones(20))
    assert bin_observations(small)[0] is small


def test_mpl_one_short_cosine_run_predicts_finite_everywhere() -> None:
    # Regression (issue 12): fitted on one short cosine run, the converged MPL fit drifted to
    # B ~ 1e32, C ~ 1e-13, beta ~ 1e-22 (a ridge where B * beta * C is all the data fix) and
    # predicted NaN at the first observation of other runs: the tail coefficient r / (1 - r),
    # r = exp(-beta h), was inf * 0. Now written 1 / expm1(beta h), and the default prior keeps
    # B * peak near 0.1 nats.
    law = MPLLaw(L0=2.75, A=1.07, alpha=0.35, B=6.5e32, C=9.6e-14, beta=6.2e-22,
                 gamma=1 - 1e-12)
    other = Run("wsd", lr_array("wsd", 8000), np.arange(200, 8001, 200), warmup_steps=W)
    with x64_context():
        assert np.all(np.isfinite(np.asarray(law.predict(other))))
    train = make_runs(MPLLaw(**TRUE_MPL), ["cosine"], T=3000, every=100)
    res = fit(MPLLaw(warmup="paper"), train, coarsen_lr=True, n_random=4)
    assert 0.01 < res.params["B"] * 3e-4 < 1.0 and res.params["beta"] > 1e-3
    for kind in ("constant", "wsd", "two"):
        r = Run(kind, lr_array(kind, 9000), np.arange(200, 9001, 200), warmup_steps=W)
        with x64_context():
            p = np.asarray(res.law.predict(r))
        assert np.all(np.isfinite(p)) and np.all(p > 0)


def test_extrapolation_folds_hold_out_horizon_and_kind() -> None:
    runs = make_runs(MomentumLaw(**TRUE_MTL), ["constant", "cosine"], T=3000)
    runs += make_runs(MomentumLaw(**TRUE_MTL), ["wsd"], T=6000)
    folds = {name.split(":")[0]: (tr, te) for name, tr, te in extrapolation_folds(runs)}
    assert [r.name for r in folds["horizon"][1]] == ["wsd"]
    assert [r.name for r in folds["kind"][1]] in (["constant"], ["cosine", "wsd"])
    assert extrapolation_folds(runs[:1]) == []


def test_band_is_wider_for_a_one_run_fit_and_for_a_longer_horizon() -> None:
    law = MomentumLaw(**TRUE_MTL)
    runs = make_runs(law, ["constant", "cosine", "wsd"], T=4000)
    target = make_runs(law, ["cosine"], T=12000)[0]
    one = prediction_band(law, runs[:1], target)
    three = prediction_band(law, runs, target)
    width = [float(hi[-1] - lo[-1]) for lo, hi in (one, three)]
    assert width[0] > 2 * width[1] > 0
    lo, hi = three
    assert np.all(lo < hi) and math.isfinite(float(hi[-1]))
    near = make_runs(law, ["cosine"], T=4000)[0]
    lo2, hi2 = prediction_band(law, runs, near)
    assert hi2[-1] - lo2[-1] < hi[-1] - lo[-1]


def test_cv_model_error_sees_a_misspecified_law_and_widens_the_band() -> None:
    """``cv_model_error``: the annealing law on runs it generated misses its held-out runs by
    little (noise 5e-4 and the priors' pull); on runs the MPL generated (another shape of the
    annealing response) it misses them by about ten times more. ``prediction_band``'s
    ``model_error`` adds exactly that fraction of the prediction to each side."""
    same = make_runs(MomentumLaw(**TRUE_MTL), ["constant", "cosine", "wsd"], T=4000)
    other = make_runs(MPLLaw(**TRUE_MPL), ["constant", "cosine", "wsd"], T=4000)
    e_same = cv_model_error(MomentumLaw(), same)
    e_other = cv_model_error(MomentumLaw(), other)
    assert 0 < e_same < 0.004
    assert e_other > 4 * e_same and e_other > 0.008
    law = MomentumLaw(**TRUE_MTL)
    target = make_runs(law, ["cosine"], T=12000)[0]
    lo0, hi0 = prediction_band(law, same, target)
    lo1, hi1 = prediction_band(law, same, target, model_error=0.01)
    with x64_context():
        pred = np.asarray(law.predict(target), np.float64)
    np.testing.assert_allclose(lo0 - lo1, 0.01 * pred, rtol=1e-9)
    np.testing.assert_allclose(hi1 - hi0, 0.01 * pred, rtol=1e-9)
    with pytest.raises(ValueError, match=r"model_error=-0\.1 must be"):
        prediction_band(law, same, target, model_error=-0.1)


def test_learned_prior_recovers_the_groups_anneal_gain_and_helps_a_one_run_fit() -> None:
    """``learn_prior``: three earlier "models" (different L0, A) share an anneal gain of
    C * peak / (1 - lam) that is not the published 0.10 nats; the learned centre finds it, the
    width is floored, and a fit on one constant run with the learned prior predicts the cosine
    run's final loss far better than with the published prior (a constant run cannot show the
    cooldown gain)."""
    from cptdyn.dynamics import learn_prior
    from cptdyn.dynamics._fitting._priors import LEARNED_SD_FLOOR

    from .test_fit import PEAK

    law = MomentumLaw(warmup="as-run")
    true = {**TRUE_MTL, "C": 0.7}  # a 0.21-nat cooldown gain, as on the 124M sweep (0.17-0.22)
    gain = true["C"] * PEAK / (1 - 0.999)
    assert abs(gain - 0.10) > 0.05  # the published centre is wrong for these "models"
    groups = [make_runs(MomentumLaw(**{**true, "L0": l0, "A": a}, warmup="as-run"),
                        ["cosine", "wsd", "constant"], seed=i)
              for i, (l0, a) in enumerate([(2.6, 0.4), (2.9, 0.5), (3.2, 0.45)])]
    lp = learn_prior(law, groups, fit_fn=lambda lw, rs: fit(lw, rs, prior=None))
    assert lp.centres["C"] == pytest.approx(gain, rel=0.05)
    assert lp.centres["alpha"] == pytest.approx(true["alpha"], rel=0.05)
    published = default_prior(law, groups[0])
    # the groups agree closely: the width is the floor, not their (tiny) spread
    assert lp.sds["C"] == pytest.approx(LEARNED_SD_FLOOR * published["C"][1])
    # on runs at another peak LR the centre is rescaled to that peak
    new = [make_runs(MomentumLaw(**true, warmup="as-run"), ["constant"], seed=7)[0]]
    half = [r.replace(lr=0.5 * np.asarray(r.lr)) for r in new]
    assert lp(law, half)["C"][0] == pytest.approx(2 * lp(law, new)["C"][0])
    with pytest.raises(ValueError, match="learned for law"):
        lp(MPLLaw(), new)
    # one constant run of a new model: the learned prior carries the cooldown gain
    target = make_runs(MomentumLaw(**true, warmup="as-run"), ["cosine"], seed=8)[0]
    errs = {}
    for name, prior in (("published", "default"), ("learned", lp(law, new))):
        res = fit(law, new, prior=prior)
        errs[name] = abs(float(np.asarray(res.law.predict(target))[-1]) - target.loss[-1])
    assert errs["learned"] < 0.5 * errs["published"], errs


@pytest.mark.parametrize("law", [MomentumLaw(**TRUE_MTL), MPLLaw(**TRUE_MPL)])
def test_band_jacobian_is_the_derivative_of_the_log_prediction(law) -> None:
    """The Laplace band's Jacobian (one compiled program over every run's observations) equals
    central finite differences of ``log law.predict`` in the unconstrained parameters."""
    from cptdyn.dynamics._fitting._band import _log_jacobian
    from cptdyn.dynamics._fitting._fit import _constraints, _law_from_raw, _raw_from_params

    runs = make_runs(law, ["constant", "cosine"], T=3000)
    names, cons = _constraints(law)
    raw = _raw_from_params(law.params(), names, cons)
    with x64_context():
        jac, val = _log_jacobian(law, raw, [law.features(r) for r in runs])

        def logp(x: np.ndarray) -> np.ndarray:
            lw = _law_from_raw(law, names, cons, x)
            return np.concatenate([np.log(np.asarray(lw.predict(r), np.float64)) for r in runs])

        np.testing.assert_allclose(val, logp(raw), rtol=1e-12)
        h = 1e-6
        for i in range(raw.size):
            e = np.zeros_like(raw)
            e[i] = h
            fd = (logp(raw + e) - logp(raw - e)) / (2 * h)
            np.testing.assert_allclose(jac[:, i], fd, rtol=1e-4, atol=1e-8)
    assert jac.shape == (sum(r.steps.size for r in runs), raw.size)
