"""Bootstrap parameter samples and prediction intervals (``dynamics/_uncertainty.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cptdyn.dynamics import (
    FitError,
    MomentumLaw,
    bootstrap_samples,
    bootstrap_weights,
    fit,
    law_from_dict,
    predict_interval,
    samples_from_doc,
    samples_to_doc,
)

from .test_select import TRUE, _lr, synthetic_runs


@pytest.fixture(scope="module")
def fitted():
    runs = synthetic_runs(noise=2e-3, seed=1)
    res = fit(MomentumLaw(), runs)
    return res, runs, bootstrap_samples(res, runs, 6, seed=0)


def test_weights_positive_and_shaped():
    runs = synthetic_runs()
    w = bootstrap_weights(runs, np.random.default_rng(0), block=4)
    assert [a.shape for a in w] == [r.steps.shape for r in runs]
    assert all(np.all(a > 0) for a in w)
    # blocks of 4 share one weight within a run
    assert np.allclose(w[0][:4], w[0][0])


def test_samples_vary_and_band_is_ordered(fitted):
    res, runs, samples = fitted
    assert len(samples) == 6 and all(s.NAME == "momentum" for s in samples)
    L0s = [float(s.L0) for s in samples]
    assert np.std(L0s) > 0
    b = predict_interval(samples, runs[1], 0.9)
    assert np.all(b["lo"] <= b["median"]) and np.all(b["median"] <= b["hi"])
    assert b["samples"].shape == (6, runs[1].steps.size)
    # the noise-free truth lies inside the band on most of the steps the fit saw (its window:
    # after the warmup and the annealing term's memory of it, as the refits see them too)
    from cptdyn.dynamics._fitting._priors import fit_window

    truth = np.asarray(TRUE.predict(runs[1]))
    wide = predict_interval(samples, runs[1], 0.9, rel_error=2e-3)
    seen = fit_window(runs[1], res.law)
    assert 0 < seen.sum() < seen.size
    inside = (truth >= wide["lo"]) & (truth <= wide["hi"])
    assert np.mean(inside[seen]) > 0.8
    assert np.all(wide["hi"] - wide["lo"] >= b["hi"] - b["lo"])


def test_lr_array_path_and_doc_round_trip(fitted):
    res, _, samples = fitted
    lr = _lr("wsd", T=4000)
    b = predict_interval(samples, lr, 0.8, steps=[1000, 4000], warmup_steps=100)
    assert b["lo"].shape == (2,) and np.all(b["hi"] >= b["lo"])
    doc = res.to_dict()
    doc["samples"] = samples_to_doc(samples)
    doc = json.loads(json.dumps(doc))
    back = samples_from_doc(doc)
    assert law_from_dict(doc).NAME == "momentum"
    assert len(back) == len(samples)
    for b, s in zip(back, samples, strict=True):
        pb, ps = b.params(), s.params()
        assert set(pb) == set(ps)
        for k in ps:
            assert float(pb[k]) == pytest.approx(float(ps[k]))


def test_errors(fitted):
    res, runs, samples = fitted
    with pytest.raises(FitError):
        bootstrap_samples(res, runs, 0)
    with pytest.raises(ValueError):
        predict_interval([], runs[0])
    with pytest.raises(ValueError):
        predict_interval(samples, runs[0], level=1.5)


def test_jackknife_and_interval_samples(fitted):
    from cptdyn.dynamics import interval_samples, jackknife_samples

    res, runs, _ = fitted
    jk = jackknife_samples(res, runs)
    assert len(jk) == 4  # 3 leave-one-run-out refits + the truncated-runs refit
    both = interval_samples(res, runs, 3)
    assert len(both) == 3 + 4 and all(s.NAME == "momentum" for s in both)


def test_interval_samples_spread_what_one_constant_run_cannot_show():
    """One constant run does not identify the annealing amplitude C (the cooldown gain): the
    bootstrap refits draw their prior's centre from the prior (randomise-then-optimise), so C
    spreads about as the prior's log-sd of 1.0 says (sd of log C over 16 refits > 0.5), and the
    band on a WSD run widens with it. Without the prior (``prior=None``) nothing holds C, and
    with the prior at its centre every refit used to return about the same C."""
    from cptdyn.dynamics import default_prior, interval_samples

    law = MomentumLaw(warmup="as-run")
    const = synthetic_runs(("constant",), noise=1e-3, seed=3)
    res = fit(law, const)
    assert default_prior(res.law, const)["C"][1] == pytest.approx(1.0)
    smp = interval_samples(res, const, 16, seed=0)
    log_c = np.log([float(s.C) for s in smp[:16]])
    assert np.std(log_c) > 0.5
    wsd = synthetic_runs(("wsd",))[0]
    band = predict_interval(smp, wsd, 0.9)
    assert band["hi"][-1] - band["lo"][-1] > 0.02
    with pytest.raises(FitError, match="prior='flat' must be"):
        interval_samples(res, const, 2, prior="flat")
