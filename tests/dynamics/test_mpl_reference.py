"""The MPL authors' fitting procedure (``fit_mpl_reference``) and the blocked evaluation of the MPL
at observed steps that makes it fast.

Reference numbers: the MultiPowerLaw repository (github.com/thu-yao-01-luo/MultiPowerLaw, commit
8da9f19), ``src/config.py`` (released 400M parameters, repository convention) and its README test
metrics (R2 0.9978, PredE 0.00168, WorstE 0.00995 for 400M); running its ``main.py``, the
400M AdamW stage stops after 91 steps.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cptdyn.dynamics._laws._mpl as mpl_mod
from cptdyn._pytree import x64_context
from cptdyn.dynamics import FitError, MPLLaw, Run, evaluate, fit_mpl_reference, load_runs
from cptdyn.dynamics.presets import REPO_PARAMS

DATA = Path(__file__).resolve().parents[2] / "data" / "MultiPowerLaw" / "loss_curve_repo"
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3",
        "wsdcon_18"]
NAMES = ("L0", "A", "alpha", "B", "C", "beta", "gamma")


def load(size, names):
    return [load_runs(DATA / f"csv_{size}" / f"{n}.csv")[0] for n in names]


@pytest.fixture(scope="module")
def fit400():
    return fit_mpl_reference(load(400, TRAIN))


def test_reproduces_released_parameters_and_readme_metrics(fit400):
    res = fit400
    want = REPO_PARAMS["400M"]  # src/config.py
    for k in NAMES:
        assert res.params[k] == pytest.approx(want[k], rel=2e-5), k
    assert res.convergence.iterations == 91  # the repository's main.py: 91 AdamW steps
    assert "patience" in res.convergence.status
    assert res.convergence.at_bound == () and 0 < res.convergence.grad_norm < 1.0
    assert res.settings["procedure"] == "mpl-reference"
    agg = evaluate(res.law, load(400, TEST)).aggregate
    assert agg["r2"] == pytest.approx(0.9978, abs=5e-5)  # README: 0.9978
    assert agg["pred_e"] == pytest.approx(0.00168, abs=5e-6)  # README: 0.00168
    assert agg["worst_e"] == pytest.approx(0.00995, abs=5e-6)  # README: 0.00995
    # in-sample numbers are those of the returned law
    ev = evaluate(res.law, load(400, TRAIN)).aggregate
    assert ev["pred_e"] == pytest.approx(res.metrics["pred_e"], rel=1e-6)


def test_result_is_not_the_objective_minimum(fit400):
    """Early stopping is the point: the converged fit has a lower training objective."""
    from cptdyn.dynamics import fit

    conv = fit(MPLLaw(warmup="repo"), load(400, TRAIN), n_random=0, n_keep=4, coarsen_lr=True,
               coarsen_warmup=120)
    assert conv.objective < 0.5 * fit400.objective


def test_step_cap_and_last_step_kept():
    """With max_steps=3 the objective still falls at the last step: the kept parameters are the
    ones after it, whose predictions the loop never computed (the fallback path)."""
    runs = load(25, ["constant_24000", "wsdcon_9"])
    res = fit_mpl_reference(runs, max_steps=3)
    assert res.convergence.hit_max_iter and res.convergence.status == "max_steps"
    assert res.convergence.iterations == 3
    assert all(np.isfinite(v) for v in res.params.values())
    with x64_context():
        pred = np.asarray(res.law.predict(runs[0]))
    assert res.per_run[0]["final_pred"] == pytest.approx(pred[-1], rel=1e-9)


def test_parameters_outside_the_law_ranges_are_named():
    """AdamW is unconstrained, as in the repository: with a large step on the exponents it leaves
    beta, gamma in (0, 1), and the result says so instead of clipping."""
    res = fit_mpl_reference(load(25, ["constant_24000", "wsdcon_9"]), lr_exp=0.3, max_steps=40)
    out = res.convergence.at_bound
    assert out and set(out) <= {"beta", "gamma"}
    assert "outside the law's constraints" in res.convergence.status
    for k in out:
        assert not 0 < res.params[k] < 1


@pytest.mark.parametrize("kw, msg", [
    ({"warmup": "nope"}, "warmup='nope'"),
    ({"max_steps": 0}, "max_steps=0"),
    ({"patience": 2.5}, "patience=2.5"),
    ({"lr_coef": -1.0}, "lr_coef=-1.0"),
    ({"weight_decay": float("nan")}, "weight_decay=nan"),
])
def test_bad_settings_one_line(kw, msg):
    runs = load(25, ["wsdcon_9"])
    with pytest.raises(FitError, match=msg.replace("(", r"\(")) as e:
        fit_mpl_reference(runs, **kw)
    assert "\n" not in str(e.value)


def test_no_observations_rejected():
    with pytest.raises(FitError):
        fit_mpl_reference([])


# ------------------------------------------------------------------ blocked evaluation
def _schedules():
    w, peak = 200, 3e-4
    ramp = peak * (np.arange(w) + 1.0) / w
    t = np.arange(2800)
    cos = 3e-5 + 0.5 * (peak - 3e-5) * (1 + np.cos(np.pi * t / 2800))
    two = np.where(t < 1000, peak, 9e-5)
    rng = np.random.default_rng(1)
    poly = np.interp(t, np.linspace(0, 2799, 6), rng.uniform(3e-5, 3e-4, 6))
    return [np.concatenate([ramp, v]) for v in (cos, two, poly)]


@pytest.mark.parametrize("convention", ["repo", "paper"])
def test_blocked_equals_event_scan_value_and_gradient(convention, monkeypatch):
    rng = np.random.default_rng(0)
    runs = []
    for i, lr in enumerate(_schedules()):
        steps = np.unique(np.concatenate([rng.integers(1, lr.size + 1, 40), [lr.size]]))
        runs.append(Run(f"r{i}", lr, steps, warmup_steps=200))
    law = MPLLaw.released("100M", convention)
    with x64_context():
        feats = law.stack_features([law.features(r, form="events") for r in runs])
        x = jnp.asarray([float(getattr(law, k)) for k in NAMES])

        def total(v):
            m = MPLLaw(**dict(zip(NAMES, v, strict=True)), warmup=convention)
            return jnp.sum(jnp.log(m.predict_features(feats))), m.predict_features(feats)

        (v1, p1), g1 = jax.value_and_grad(total, has_aux=True)(x)
        monkeypatch.setattr(mpl_mod, "BLOCKED_MAX_ELEMENTS", 0)  # force the event scan
        (v0, p0), g0 = jax.value_and_grad(total, has_aux=True)(x)
    np.testing.assert_allclose(p1, p0, rtol=1e-13)
    np.testing.assert_allclose(g1, g0, rtol=1e-10)
    # and per run == stacked (history restarted at each run)
    with x64_context():
        one = np.concatenate([np.asarray(law.predict_features(law.features(r, form="events")))
                              for r in runs])
    np.testing.assert_allclose(p1, one, rtol=1e-13)


def test_features_form_validated():
    run = Run("x", np.full(100, 1e-3), np.array([50, 100]))
    with pytest.raises(ValueError, match="form='dense'"):
        MPLLaw().features(run, form="dense")
