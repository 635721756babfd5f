"""Fitting: parameter recovery on noisy synthetic curves, shared parameters, weights, priors,
determinism, the failure path, evaluation / JSON, and the cross-validation helpers.

Synthetic curves are generated from known parameters on numpy-built LR arrays (constant, cosine,
WSD) and perturbed by multiplicative noise. The fits reuse a few run sets and start counts so that
most tests hit the compilation cache.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import pytree_dataclass, x64_context
from cptdyn.dynamics import (
    Evaluation,
    FitError,
    FitResult,
    Law,
    MomentumLaw,
    MPLLaw,
    Run,
    block_average_lr,
    curve_metrics,
    evaluate,
    fit,
    fit_short_predict_long,
    law_from_dict,
    leave_one_schedule_out,
    positive,
)

PEAK, END, W = 3e-4, 3e-5, 300
TRUE_MTL = {"L0": 2.7, "A": 0.45, "alpha": 0.55, "C": 0.45}
TRUE_TOY = {"L0": 2.5, "A": 0.5, "alpha": 0.6}
TRUE_MPL = {"L0": 2.6, "A": 0.6, "alpha": 0.45, "B": 450.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


# ------------------------------------------------------------------------------ synthetic data
def lr_array(kind: str, T: int) -> np.ndarray:
    """Linear warmup over W steps, then constant / cosine to END / WSD (last 20 % linear to 0) /
    two-stage (PEAK until T/2, then 0.3 PEAK)."""
    ramp = PEAK * (np.arange(W) + 1.0) / W
    t = np.arange(T - W, dtype=np.float64)
    if kind == "constant":
        rest = np.full(T - W, PEAK)
    elif kind == "cosine":
        rest = END + 0.5 * (PEAK - END) * (1.0 + np.cos(np.pi * t / (T - W)))
    elif kind == "wsd":
        d = int(0.2 * T)
        rest = np.where(t < T - W - d, PEAK, PEAK * (T - W - t) / d)
    elif kind == "two":
        rest = np.where(t < T // 2 - W, PEAK, 0.3 * PEAK)
    else:  # pragma: no cover
        raise ValueError(kind)
    return np.concatenate([ramp, rest])


def make_runs(law: Law, kinds: list[str], T: int = 6000, every: int = 100, noise: float = 5e-4,
              seed: int = 0) -> list[Run]:
    rng = np.random.default_rng(seed)
    runs = []
    for kind in kinds:
        lr = lr_array(kind, T)
        steps = np.arange(W + every, T + 1, every)
        run = Run(kind, lr, steps, warmup_steps=W)
        with x64_context():
            clean = np.asarray(law.predict(run), dtype=np.float64)
        runs.append(run.replace(loss=clean * np.exp(noise * rng.standard_normal(clean.shape))))
    return runs


def huber_objective(law: Law, runs: list[Run], delta: float = 1e-3) -> float:
    total = 0.0
    for r in runs:
        with x64_context():
            res = np.log(np.asarray(law.predict(r))) - np.log(r.loss)
        a = np.abs(res)
        total += float(np.sum(np.where(a <= delta, 0.5 * res**2, delta * (a - 0.5 * delta))))
    return total


@pytest.fixture(scope="module")
def mtl_runs() -> dict[str, Run]:
    runs = make_runs(MomentumLaw(**TRUE_MTL), ["constant", "cosine", "wsd", "two"])
    return {r.name: r for r in runs}


@pytest.fixture(scope="module")
def toy_runs() -> dict[str, Run]:
    runs = make_runs(ToyPower(**TRUE_TOY), ["constant", "cosine", "wsd", "two"], seed=2)
    return {r.name: r for r in runs}


@pytest.fixture(scope="module")
def mtl_fit(mtl_runs: dict[str, Run]) -> FitResult:
    # the plain minimum over every observation (these tests check the objective machinery; the
    # default priors and warmup window are tested in test_generalisation.py)
    return fit(MomentumLaw(), [mtl_runs["constant"], mtl_runs["cosine"]], n_random=8, n_keep=None,
               prior=None, skip_warmup=False)


# ------------------------------------------------------------------------------ a toy law
@pytree_dataclass
class ToyPower(Law):
    """``L = L0 + A * S1^-alpha`` (row-wise features, stacked by ``stack_features``)."""

    NAME: ClassVar[str] = "toy-power"
    PARAMS: ClassVar[dict] = {"L0": positive(), "A": positive(), "alpha": positive()}
    L0: Any = 2.0
    A: Any = 0.5
    alpha: Any = 0.5

    def features(self, run: Run) -> dict[str, np.ndarray]:
        return {"S1": np.cumsum(run.lr)[run.steps - 1]}

    def predict_features(self, feats: Any) -> Any:
        return self.L0 + self.A * feats["S1"] ** (-self.alpha)

    def predict_lr(self, lr: Any, steps: Any = None, **context: Any) -> Any:
        s1 = jnp.cumsum(jnp.asarray(lr))
        if steps is not None:
            s1 = s1[jnp.asarray(steps) - 1]
        return self.L0 + self.A * s1 ** (-self.alpha)

    def init_grid(self, runs: Any) -> list[dict[str, float]]:
        return [{"L0": 2.0, "A": 0.5, "alpha": a} for a in (0.3, 0.6)]

    def stack_features(self, feats: Any) -> Any:
        return {"S1": np.concatenate([f["S1"] for f in feats])}


@pytree_dataclass
class Broken(ToyPower):
    """Predicts a negative loss everywhere: every start is non-finite in log space."""

    NAME: ClassVar[str] = "broken"

    def predict_features(self, feats: Any) -> Any:
        return -self.L0 * jnp.ones_like(feats["S1"])


# ------------------------------------------------------------------------------ recovery
def test_momentum_recovers_parameters_and_predicts_held_out(mtl_runs, mtl_fit):
    res = mtl_fit
    for k, v in TRUE_MTL.items():
        assert res.params[k] == pytest.approx(v, rel=0.06), k
    assert res.convergence.converged and not res.convergence.hit_max_iter
    assert res.convergence.at_bound == ()
    assert res.n_finite == res.n_optimized == res.n_starts
    # the optimiser finds at least the objective of the true parameters
    train = [mtl_runs["constant"], mtl_runs["cosine"]]
    assert res.objective <= huber_objective(MomentumLaw(**TRUE_MTL), train) * (1 + 1e-9)
    # held-out schedules: errors at the noise level (noise 5e-4 relative)
    ev = evaluate(res.law, [mtl_runs["wsd"], mtl_runs["two"]])
    assert ev.aggregate["pred_e"] < 1e-3
    assert ev.aggregate["abs_final_error"] < 5e-3
    assert ev.aggregate["r2"] > 0.999


def test_mpl_fit_reaches_true_objective_and_predicts_held_out():
    law = MPLLaw(warmup="paper", **TRUE_MPL)
    runs = make_runs(law, ["cosine", "two", "constant", "wsd"], T=5000, noise=3e-4, seed=1)
    train, test = runs[:2], runs[2:]
    res = fit(MPLLaw(warmup="paper"), train, n_random=0, n_keep=4, coarsen_lr=True)
    assert res.law.warmup == "paper"
    # the optimiser reaches (at least) the objective of the true parameters on the runs it fits
    # (LR averaged between observations), and nearly so on the exact runs
    averaged = [block_average_lr(r) for r in train]
    assert res.objective <= huber_objective(law, averaged) * (1 + 1e-9)
    assert huber_objective(res.law, train) <= huber_objective(law, train) * 1.2
    ev = evaluate(MPLLaw(warmup="paper", **res.params), test)
    assert ev.aggregate["pred_e"] < 1.5e-3
    for k in ("L0", "A", "alpha"):  # the power-law part is well identified
        assert res.params[k] == pytest.approx(TRUE_MPL[k], rel=0.15), k


def test_shared_parameters_across_runs(mtl_runs, mtl_fit):
    # one tuple for both runs: the constant run alone cannot identify C (its S2 is 0) ...
    const, cos = mtl_runs["constant"], mtl_runs["cosine"]
    with x64_context():
        p1 = np.asarray(mtl_fit.law.predict(const))
        p2 = np.asarray(mtl_fit.law.with_params(C=3.0).predict(const))
    np.testing.assert_array_equal(p1, p2)
    # ... the joint fit gets it from the cosine run
    assert mtl_fit.params["C"] == pytest.approx(TRUE_MTL["C"], rel=0.06)
    assert [r["name"] for r in mtl_fit.per_run] == ["constant", "cosine"]
    # the objective is the sum over runs, and sharing costs objective vs separate fits
    assert mtl_fit.objective == pytest.approx(huber_objective(mtl_fit.law, [const, cos]), rel=1e-9)
    sep = sum(fit(MomentumLaw(), [r], n_random=8, n_keep=4, prior=None,
                  skip_warmup=False).objective for r in (const, cos))
    assert mtl_fit.objective >= sep * (1 - 1e-9)


def test_stacked_features_match_per_run_loop(toy_runs):
    runs = [toy_runs["constant"], toy_runs["cosine"]]

    @pytree_dataclass
    class ToyLoop(ToyPower):
        def stack_features(self, feats: Any) -> Any:
            return None

    a = fit(ToyPower(), runs, n_random=2)
    b = fit(ToyLoop(), runs, n_random=2)
    for k in a.params:
        assert a.params[k] == pytest.approx(b.params[k], rel=1e-6)
        assert a.params[k] == pytest.approx(TRUE_TOY[k], rel=0.05)
    assert a.objective == pytest.approx(b.objective, rel=1e-9)


# ------------------------------------------------------------------------------ options
def test_deterministic_under_a_seed(mtl_runs, mtl_fit):
    train = [mtl_runs["constant"], mtl_runs["cosine"]]
    again = fit(MomentumLaw(), train, n_random=8, n_keep=None, prior=None, skip_warmup=False)
    assert again.params == mtl_fit.params
    assert again.objective == mtl_fit.objective
    assert again.start_objectives == mtl_fit.start_objectives
    other = fit(MomentumLaw(), train, n_random=8, n_keep=None, seed=1, prior=None,
                skip_warmup=False)
    assert other.start_objectives != mtl_fit.start_objectives  # other random starts ...
    for k in TRUE_MTL:  # ... same optimum
        assert other.params[k] == pytest.approx(mtl_fit.params[k], rel=1e-4)


def test_screening_keeps_the_optimum(mtl_runs, mtl_fit):
    res = fit(MomentumLaw(), [mtl_runs["constant"], mtl_runs["cosine"]], n_random=8, n_keep=4,
              prior=None, skip_warmup=False)
    assert res.n_optimized == 4 and res.n_starts == mtl_fit.n_starts
    assert res.objective == pytest.approx(mtl_fit.objective, rel=1e-7)


def test_weights_zero_drops_a_run(toy_runs):
    runs = [toy_runs["cosine"], toy_runs["wsd"]]
    w = fit(ToyPower(), runs, n_random=2, weights={"cosine": 1.0, "wsd": 0.0})
    solo = fit(ToyPower(), [toy_runs["cosine"], toy_runs["cosine"]], n_random=2)
    for k in w.params:  # the same data twice: same optimum as the cosine run alone
        assert w.params[k] == pytest.approx(solo.params[k], rel=1e-5)
    per_point = [np.ones(runs[0].steps.size), np.zeros(runs[1].steps.size)]
    w2 = fit(ToyPower(), runs, n_random=2, weights=per_point)
    assert w2.params == pytest.approx(w.params, rel=1e-9)
    with pytest.raises(FitError, match="weights for run 'wsd' have shape"):
        fit(ToyPower(), runs, weights=[1.0, np.ones(3)])


def test_prior_pins_a_parameter(toy_runs):
    runs = [toy_runs["cosine"], toy_runs["wsd"]]
    free = fit(ToyPower(), runs, n_random=2)
    pinned = fit(ToyPower(), runs, n_random=2, prior={"alpha": (0.9, 1e-4)})
    assert pinned.params["alpha"] == pytest.approx(0.9, rel=1e-3)
    assert free.params["alpha"] == pytest.approx(TRUE_TOY["alpha"], rel=0.05)
    with pytest.raises(FitError, match="unknown parameter 'beta'"):
        fit(ToyPower(), runs, prior={"beta": (1.0, 1.0)})


def test_block_average_lr_keeps_areas_at_observed_steps(mtl_runs):
    run = mtl_runs["wsd"]
    avg = block_average_lr(run)
    np.testing.assert_allclose(np.cumsum(avg.lr)[run.steps - 1], np.cumsum(run.lr)[run.steps - 1],
                               rtol=1e-13)
    np.testing.assert_array_equal(avg.lr[:W], run.lr[:W])  # warmup untouched
    seg = avg.lr[run.steps[3]:run.steps[4]]
    assert np.all(seg == seg[0])  # constant between two observations
    warm = block_average_lr(run, warmup_block=100)
    assert len(np.unique(warm.lr[:W])) == 3


# ------------------------------------------------------------------------------ failure path
def test_failure_raises_one_line_fit_error(toy_runs):
    runs = [toy_runs["cosine"]]
    with pytest.raises(FitError) as e:
        fit(Broken(), runs, n_random=1)
    msg = str(e.value)
    assert "non-finite objective" in msg and "'broken'" in msg and "\n" not in msg
    with pytest.raises(FitError, match="has no observed loss"):
        fit(ToyPower(), [runs[0].replace(loss=None)])
    with pytest.raises(FitError, match="no runs given"):
        fit(ToyPower(), [])
    with pytest.raises(FitError, match="delta"):
        fit(ToyPower(), runs, delta=0.0)

    @pytree_dataclass
    class WrongShape(ToyPower):
        def predict_features(self, feats: Any) -> Any:
            return jnp.ones(3)

    with pytest.raises(FitError, match="cannot be evaluated on these runs: .*shapes"):
        fit(WrongShape(), runs)


# ------------------------------------------------------------------------------ results / JSON
def test_evaluate_and_to_dict_round_trip(mtl_runs, mtl_fit):
    ev = evaluate(mtl_fit.law, [mtl_runs["wsd"]])
    assert isinstance(ev, Evaluation)
    row = ev.per_run[0]
    with x64_context():
        pred = np.asarray(mtl_fit.law.predict(mtl_runs["wsd"]))
    for k, v in curve_metrics(mtl_runs["wsd"].loss, pred).items():
        assert row[k] == pytest.approx(v, rel=1e-12, abs=1e-15)
    assert row["final_error"] == pytest.approx(pred[-1] - mtl_runs["wsd"].loss[-1])
    # in-sample metrics of the fit equal evaluate() on the training runs
    again = evaluate(mtl_fit.law, [mtl_runs["constant"], mtl_runs["cosine"]])
    assert again.aggregate["r2"] == pytest.approx(mtl_fit.metrics["r2"], rel=1e-10)

    doc = json.loads(json.dumps(mtl_fit.to_dict(), allow_nan=False))
    assert doc["law"] == "momentum" and set(doc["params"]) == set(TRUE_MTL)
    assert doc["options"] == {"lam": 0.999, "warmup": "peak"}
    fit_doc = doc["fit"]
    assert {"objective", "metrics", "runs", "convergence", "n_starts"} <= set(fit_doc)
    assert {"r2", "mae", "rmse", "pred_e", "worst_e", "final_error"} <= set(fit_doc["metrics"])
    assert {"grad_norm", "iterations", "hit_max_iter", "at_bound"} <= set(fit_doc["convergence"])
    law = law_from_dict(doc)
    assert isinstance(law, MomentumLaw) and law.params() == mtl_fit.params
    assert json.loads(json.dumps(ev.to_dict()))["runs"][0]["name"] == "wsd"


# ------------------------------------------------------------------------------ CV helpers
def test_leave_one_schedule_out(toy_runs):
    runs = [toy_runs[k] for k in ("constant", "cosine", "wsd", "two")]
    rows = leave_one_schedule_out(
        ToyPower(), runs, key=lambda r: "flat" if r.name in ("constant", "two") else "decay",
        n_random=2,
    )
    assert [(r["group"], r["name"]) for r in rows] == [
        ("flat", "constant"), ("flat", "two"), ("decay", "cosine"), ("decay", "wsd")
    ]
    assert all(r["n_train_runs"] == 2 and "param.alpha" in r for r in rows)
    assert all(r["pred_e"] < 2e-3 for r in rows)  # the toy law is the truth here
    by_name = leave_one_schedule_out(ToyPower(), runs[:3], n_random=2)
    assert [r["group"] for r in by_name] == ["constant", "cosine", "wsd"]
    with pytest.raises(FitError, match="at least two"):
        leave_one_schedule_out(ToyPower(), runs, key=lambda r: 0)


def test_fit_short_predict_long(toy_runs):
    runs = [toy_runs["constant"], toy_runs["cosine"]]
    rows = fit_short_predict_long(ToyPower(), runs, 3000, n_random=2)
    assert [r["name"] for r in rows] == ["constant", "cosine"]
    for r, run in zip(rows, runs, strict=True):
        assert r["n_train"] + r["n_test"] == run.steps.size and r["n_test"] > 0
        assert r["pred_e"] < 2e-3  # extrapolation 2x in steps, noise 5e-4
        assert r["param.alpha"] == pytest.approx(TRUE_TOY["alpha"], rel=0.1)
    with pytest.raises(FitError, match="no observation at or before step 10"):
        fit_short_predict_long(ToyPower(), runs, 10)


def test_constraint_value_of_equals_from_raw():
    """Fitted vectors are read back in Python floats (``Constraint.value_of``, no JAX operation):
    the values of the JAX transform ``from_raw`` the optimiser used, to rounding (XLA's logistic
    and ``1 / (1 + exp(-r))`` differ by a few ulps)."""
    import math

    from cptdyn.dynamics._law import interval, real

    for c in (positive(), interval(0.9, 0.9999), interval(-2.0, 3.0), real()):
        for r in (-800.0, -36.7, -1.3, -1e-9, 0.0, 2.7, 35.0, 700.0):
            with x64_context():
                ref = float(c.from_raw(jnp.asarray(r, jnp.float64)))
            got = c.value_of(r)
            if math.isinf(ref):
                assert math.isinf(got)
            else:
                assert got == pytest.approx(ref, rel=1e-14, abs=1e-300)
    assert math.isinf(positive().value_of(800.0))  # overflow: not finite, as exp gives
