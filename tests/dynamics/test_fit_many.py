"""``fit_many`` (folds / refits as observation weights, one compiled batch) against ``fit`` on
the corresponding runs, and the fitting features that make the batch fast (MPL data: the MPL
repository's 100M training curves, data/MultiPowerLaw)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import FSLLaw, MomentumLamLaw, MomentumLaw, fit, load_runs
from cptdyn.dynamics._fitting._batch import fit_many, predict_many
from cptdyn.dynamics._fitting._select import cv_fold_masks
from cptdyn.dynamics._laws._area_law import AreaLaw

DATA = Path(__file__).resolve().parents[2] / "data" / "MultiPowerLaw" / "loss_curve_repo"
NAMES = ["cosine_24000", "constant_24000", "wsdcon_9"]


@pytest.fixture(scope="module")
def runs():
    rs = {r.name: r for r in load_runs(DATA / "csv_100")}
    return [rs[n] for n in NAMES]


def test_fit_many_equals_fit_on_each_fold(runs):
    law = MomentumLaw()
    folds = cv_fold_masks(runs, 0.6)
    assert [f[0].split(":")[0] for f in folds] == ["loro"] * 3 + ["fspl"]
    ws = [[m.astype(float) for m in tr] for _, _, tr, _ in folds]
    got = fit_many(law, runs, ws, start_runs=[f[1] for f in folds], n_keep=4)
    for (name, train, _, _), res in zip(folds, got, strict=True):
        # the plain objective on both sides (fit's default priors and warmup window are what
        # select_law passes to fit_many explicitly; here the batch machinery is compared)
        ref = fit(law, train, n_keep=4, prior=None, skip_warmup=False)
        assert not isinstance(res, Exception), name
        for k, v in ref.params.items():
            assert res.params[k] == pytest.approx(v, rel=1e-6), (name, k)
        assert res.objective == pytest.approx(ref.objective, rel=1e-8)
        assert res.n_starts == ref.n_starts
        assert [r["name"] for r in res.per_run] == [r.name for r in train]


def test_fit_many_reports_failures_per_problem(runs):
    got = fit_many(MomentumLaw(), runs, [[0.0, 0.0, 0.0], None], n_random=0, n_keep=2)
    assert isinstance(got[0], Exception) and "all weights are zero" in str(got[0])
    assert got[1].metrics["r2"] > 0.99  # type: ignore[union-attr]


def test_predict_many_matches_predict(runs):
    laws = [MomentumLaw(), MomentumLaw(C=0.3)]
    got = predict_many(laws, runs)
    for law, row in zip(laws, got, strict=True):
        for r, p in zip(runs, row, strict=True):
            with x64_context():
                ref = np.asarray(law.predict_features(law.features(r)))
            np.testing.assert_allclose(p, ref, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_momentum_lam_recurrence_equals_areas(runs, name):
    r = next(x for x in runs if x.name == name)
    for lam in (0.9, 0.99, 0.9999):
        law = MomentumLamLaw(lam=lam)
        with x64_context():
            fast = np.asarray(law.predict_features(law.features(r)))
            ref = np.asarray(law.predict_features(AreaLaw.features(law, r)))
        assert "d" in law.features(r)
        np.testing.assert_allclose(fast, ref, rtol=1e-12)


@pytest.mark.parametrize("block", [1, 64])
def test_fsl_pairs_equal_dense(runs, block):
    law = FSLLaw(block_size=block)
    for r in runs:
        f = law.features(r)
        with x64_context():
            fast = np.asarray(law.predict_features(f))
            ref = np.asarray(law.predict_features(AreaLaw.features(law, r)))
        np.testing.assert_allclose(fast, ref, rtol=1e-12)
    # constant LR after a peak-convention warmup: no decrement, no pair
    assert law.features(runs[1])["pk"].size == 0


def test_identical_problems_are_solved_once(runs, monkeypatch):
    # a leave-one-run-out fold that is also the constant-vs-annealed fold: same weights, same
    # starts; solved once, both get the same result
    from cptdyn.dynamics._fitting import _batch

    seen = []
    real = _batch._run_batch

    def spy(law, runs_, probs, *a, **k):
        seen.append(len(probs))
        return real(law, runs_, probs, *a, **k)

    monkeypatch.setattr(_batch, "_run_batch", spy)
    ws = [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
    got = fit_many(MomentumLaw(), runs, ws, n_keep=2, n_random=2)
    assert seen == [2]
    assert got[0].params == got[2].params and got[0].objective == got[2].objective
    assert got[0].params != got[1].params


def test_predictions_out_equal_predict_many(runs):
    # the fits' own final predictions (select_law's held-out predictions) = a fresh prediction
    ws = [[1.0, 0.0, 1.0], None]
    own: list = []
    got = fit_many(MomentumLaw(), runs, ws, n_keep=2, n_random=2, predictions=own)
    assert len(own) == 2
    for res, pr in zip(got, own, strict=True):
        ref = predict_many([res.law], runs)[0]
        for a, b in zip(pr, ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("law_name", ["momentum", "mpl", "fsl"])
def test_levenberg_marquardt_reaches_bfgs_minimum(runs, law_name):
    """``method="lm"`` minimises the same objective as BFGS: on every fold of ``select_law``'s
    batch and the full fit, its best objective is never higher (2e-6 relative) and mostly the
    same minimum (LM may find a lower one from the same starts), in far fewer iterations."""
    from cptdyn.dynamics import law_fit_options, law_template

    law = law_template(law_name)
    kw = {k: v for k, v in law_fit_options(law).items() if k not in ("method", "ftol")}
    folds = cv_fold_masks(runs, 0.6)
    ws = [[m.astype(float) for m in tr] for _, _, tr, _ in folds] + [None]
    starts = [f[1] for f in folds] + [None]
    ref = fit_many(law, runs, ws, start_runs=starts, **kw)
    got = fit_many(law, runs, ws, start_runs=starts, method="lm", ftol=1e-12, **kw)
    it_ref = it_got = same = 0
    for a, b in zip(ref, got, strict=True):
        assert not isinstance(a, Exception) and not isinstance(b, Exception)
        assert b.objective <= a.objective * (1 + 2e-6)
        same += b.objective == pytest.approx(a.objective, rel=2e-6)
        assert b.settings["method"] == "lm" and a.settings["method"] == "bfgs"
        it_ref += a.convergence.iterations
        it_got += b.convergence.iterations
    assert same >= 1
    assert it_got < 0.5 * it_ref


def test_fit_method_lm_and_bad_method(runs):
    ref = fit(MomentumLaw(), runs)
    got = fit(MomentumLaw(), runs, method="lm", ftol=1e-12)
    assert got.objective == pytest.approx(ref.objective, rel=1e-6)
    for k, v in ref.params.items():
        assert got.params[k] == pytest.approx(v, rel=1e-4), k
    assert got.convergence.converged
    from cptdyn.dynamics import FitError

    with pytest.raises(FitError, match="method='newton' is not one of 'bfgs', 'lm'"):
        fit(MomentumLaw(), runs, method="newton")
    with pytest.raises(FitError, match="method='newton'"):
        fit_many(MomentumLaw(), runs, [None], method="newton")


def test_select_law_lm_keeps_bfgs_scores_and_choice(runs):
    """``select_law`` fits the annealing law and the MPL with LM (``law_fit_options``); with
    BFGS instead (``fit_options``) its CV scores are the same to 1e-5 and it makes the same
    choice (MPL data, the 100M training curves)."""
    from cptdyn.dynamics import law_fit_options, select_law

    cands = ["momentum", "mpl"]
    assert all(law_fit_options(c)["method"] == "lm" for c in cands)
    bfgs = {c: {"method": "bfgs", "ftol": 1e-10} for c in cands}
    res_lm, tab_lm = select_law(runs, cands, workers=1)
    res_bf, tab_bf = select_law(runs, cands, workers=1, fit_options=bfgs)
    for a, b in zip(tab_lm, tab_bf, strict=True):
        assert a["cv_score"] == pytest.approx(b["cv_score"], rel=1e-5), a["law"]
        assert a["chosen"] == b["chosen"]
    assert res_lm.law.NAME == res_bf.law.NAME
    for k, v in res_bf.params.items():
        assert res_lm.params[k] == pytest.approx(v, rel=1e-4), k


def test_every_start_runs_all_kept_starts(runs):
    from cptdyn.dynamics import FitError

    law = MomentumLaw()
    (a,) = fit_many(law, runs, [None], n_keep=8)
    (b,) = fit_many(law, runs, [None], n_keep=8, every_start=[True])
    assert len(b.start_objectives) == 8 and all(np.isfinite(b.start_objectives))
    assert b.objective <= a.objective * (1 + 1e-12)
    with pytest.raises(FitError, match="2 every_start flags for 1 problems"):
        fit_many(law, runs, [None], every_start=[True, False])


@pytest.mark.parametrize("law_name", ["momentum-lam", "mpl"])
def test_gauss_newton_columns_equal_batched_jacobian(runs, law_name):
    """The Levenberg-Marquardt pass builds its Jacobian one forward-mode column per parameter
    (the others held as plain scalars); its gradient and Gauss-Newton Hessian equal those of a
    batched ``jax.jacfwd`` over the whole vector, and the gradient equals the objective's."""
    import jax
    import jax.numpy as jnp

    from cptdyn.dynamics import law_template
    from cptdyn.dynamics._fitting._fit import (
        _constraints,
        _make_gauss_newton,
        _make_objective,
        _residuals,
    )

    law = law_template(law_name)
    names, cons = _constraints(law)
    with x64_context():
        feats = [law.features(r) for r in runs]
        logobs = [jnp.asarray(np.log(np.asarray(r.loss))) for r in runs]
        # one observation left out, so zero weights are exercised too
        weights = [jnp.asarray(np.r_[0.0, np.ones(r.steps.size - 1)]) for r in runs]
        delta, scale = jnp.asarray(1e-3), jnp.asarray(0.7)
        prior = (jnp.zeros(len(names)), jnp.full(len(names), 0.5))
        raw = jnp.asarray([c.to_raw(float(getattr(law, k))) for k, c in zip(names, cons, strict=True)])
        raw = raw + 0.01 * jnp.arange(len(names))  # away from any symmetric point
        f, g, h, _ = _make_gauss_newton(law, names, cons, feats, logobs, weights, delta, scale,
                                        prior)(raw)
        obj = _make_objective(law, names, cons, feats, logobs, weights, delta, scale, prior)
        f_ref, g_ref = jax.value_and_grad(lambda x: obj(x)[0])(raw)

        def res(x):
            return jnp.concatenate([q for q, _ in _residuals(law, names, cons, feats, logobs,
                                                             weights, x)])

        j = jax.jacfwd(res)(raw)
        r = res(raw)
        w = jnp.concatenate(weights)
        om = w * jnp.where(jnp.abs(r) <= delta, 1.0, delta / jnp.abs(r))
        h_ref = scale * ((j * om[:, None]).T @ j + jnp.diag(delta**2 * prior[1] ** 2))
    assert float(f) == pytest.approx(float(f_ref), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(np.asarray(h), np.asarray(h_ref), rtol=1e-8, atol=1e-14)


def test_problem_priors_replace_the_shared_prior_per_problem(runs):
    """``problem_priors``: a problem's own prior is the one its fit has (as ``fit`` with that
    prior would give), a None entry keeps the shared ``prior``, and the batch stays one batch."""
    law = MomentumLaw()
    shared = {"alpha": (0.5, 0.25)}
    far = {"alpha": (0.2, 0.01)}  # pins alpha near 0.2, far from the data's ~0.5-0.7
    got = fit_many(law, runs, [None, None], prior=shared, problem_priors=[None, far],
                   n_random=4, n_keep=4)
    ref_shared = fit_many(law, runs, [None], prior=shared, n_random=4, n_keep=4)[0]
    ref_far = fit_many(law, runs, [None], prior=far, n_random=4, n_keep=4)[0]
    for res, ref in ((got[0], ref_shared), (got[1], ref_far)):
        assert not isinstance(res, Exception)
        for k, v in ref.params.items():
            assert res.params[k] == pytest.approx(v, rel=1e-9), k
    assert abs(got[1].params["alpha"] - 0.2) < 0.03 and got[0].params["alpha"] > 0.3
    assert got[1].settings["prior"] == {"alpha": [0.2, 0.01]}
    with pytest.raises(Exception, match="1 problem_priors for 2 problems"):
        fit_many(law, runs, [None, None], problem_priors=[None])
