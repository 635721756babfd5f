"""Free-form planner: feasibility, best iterate, reported losses, CPT re-warmup, objectives, errors.

(The MPL 400M comparison with the authors' optimised schedule and the annealing-law collapse are in
``test_plan.py``.)
"""

import json

import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import CPTLaw, MPLLaw
from cptdyn.dynamics.presets import P1_FIG3_DCPT, P1_FIG3_DPT
from cptdyn.planner._freeform import plan_free_form
from cptdyn.planner._plan import PlanError, evaluate_schedule
from cptdyn.schedules import WSD, ArraySchedule

MPL = MPLLaw.released("400M", "repo", warmup="paper")
CPT_LAWS = {"pt": CPTLaw(**P1_FIG3_DPT), "cpt": CPTLaw(**P1_FIG3_DCPT)}
PT = WSD(8_000, 2e-4, 2e-5, 0.1, "linear", warmup_steps=200)


def _final(laws, lr, warmup):
    return {k: float(v[-1]) for k, v in
            evaluate_schedule(laws, ArraySchedule(lr), {"warmup_steps": warmup}).items()}


def test_history_decreases_and_the_best_iterate_is_returned():
    ff = plan_free_form(MPL, total_steps=4_000, peak_lr=3e-4, warmup_steps=400, max_iter=60)
    h = np.asarray(ff.history)
    assert len(h) == 61 and np.all(np.isfinite(h))
    assert np.all(np.diff(h) <= 0)  # every accepted step lowers the objective
    assert h[-1] < h[0] - 1e-4
    assert ff.value <= h.min()
    # the returned schedule: the ramp, then non-increasing from at most peak, above min_lr
    np.testing.assert_allclose(ff.lr[:400], 3e-4 * np.arange(400) / 400, rtol=0, atol=1e-18)
    body = ff.lr[400:]
    assert body.shape == (3_600,) and body[0] <= 3e-4 and body.min() > 0
    assert np.all(np.diff(body) <= 0)
    # value and losses are the prediction of the returned schedule (per-step curve path)
    assert _final({"val": MPL}, ff.lr, 400)["val"] == pytest.approx(ff.value, abs=1e-9)
    assert ff.losses == {"val": pytest.approx(ff.value, abs=1e-12)}
    assert ff.n_evaluations >= len(h)
    assert ff.seconds >= ff.seconds_optimize >= ff.seconds_compile > 0
    doc = json.loads(json.dumps(ff.to_dict()))
    assert doc["family"] == "free-form" and doc["status"] == ff.status
    assert doc["n_evaluations"] == ff.n_evaluations and len(doc["lr"]) == 4_000


def test_max_iter_zero_returns_the_start():
    ff = plan_free_form(MPL, total_steps=4_000, peak_lr=3e-4, warmup_steps=400, max_iter=0,
                        init="cosine")
    n = 3_600
    start = 3e-4 * 0.5 * (1 + np.cos(np.pi * np.arange(n) / n))
    np.testing.assert_allclose(ff.lr[400:], start, rtol=1e-9, atol=1e-12)
    assert ff.history == [ff.value]
    assert ff.value == pytest.approx(_final({"val": MPL}, ff.lr, 400)["val"], abs=1e-12)


def test_min_lr_and_array_init():
    n = 3_600
    init = np.linspace(3e-4, 3e-5, n)
    ff = plan_free_form(MPL, total_steps=4_000, peak_lr=3e-4, warmup_steps=400, min_lr=6e-5,
                        init=init, max_iter=40)
    body = ff.lr[400:]
    assert body.min() >= 6e-5 and np.all(np.diff(body) <= 0)
    assert ff.summary["final_over_peak"] >= 0.2
    assert ff.value < ff.history[0]


def test_cpt_rewarmup_then_free_decay_weighted():
    ff = plan_free_form(CPT_LAWS, total_steps=4_000, peak_lr=1e-4, warmup_steps=200, pt=PT,
                        objective="weighted:0.5,0.5", max_iter=60)
    with x64_context():
        pt_lr = np.asarray(PT.array())
    assert ff.lr.shape == (12_000,)
    np.testing.assert_array_equal(ff.lr[:8_000], pt_lr)
    ramp = pt_lr[-1] + (1e-4 - pt_lr[-1]) * np.arange(200) / 200  # re-warmup from PT's last LR
    np.testing.assert_allclose(ff.lr[8_000:8_200], ramp, rtol=1e-12)
    assert np.all(np.diff(ff.lr[8_200:]) <= 0) and ff.lr[8_200] <= 1e-4
    assert ff.schedule.transfer_step == 8_000
    curves = evaluate_schedule(CPT_LAWS, ff.schedule)
    for name in ("pt", "cpt"):
        assert ff.losses[name] == pytest.approx(float(curves[name][-1]), abs=1e-9)
    assert ff.value == pytest.approx(0.5 * ff.losses["pt"] + 0.5 * ff.losses["cpt"], abs=1e-12)
    assert ff.value < ff.history[0]
    assert ff.summary["decay_start"] >= 8_200


def test_cpt_constrained_objective_keeps_the_rise():
    ff = plan_free_form(CPT_LAWS, total_steps=4_000, peak_lr=1e-4, warmup_steps=200, pt=PT,
                        objective="constrained:0.05", max_iter=60)
    curves = evaluate_schedule(CPT_LAWS, ff.schedule)
    rise = float(curves["pt"][-1] - curves["pt"][8_000 - 1])
    assert rise <= 0.05 + 1e-3
    assert ff.value == pytest.approx(ff.losses["cpt"], abs=1e-3)  # penalty (almost) inactive


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"total_steps": 100, "warmup_steps": 98}, "leaves no room after warmup_steps=98"),
        ({"peak_lr": -1.0}, "peak_lr=-1.0 must be positive"),
        ({"min_lr": 3e-4}, r"min_lr=0.0003 must be in \[0, peak_lr\)"),
        ({"init": "zigzag"}, "init='zigzag' must be wsd, cosine, constant or an array"),
        ({"init": np.ones(5)}, "init has 5 values, expected 3600"),
    ],
)
def test_bad_inputs_are_named(kw, match):
    args = {"total_steps": 4_000, "peak_lr": 3e-4, "warmup_steps": 400, **kw}
    with pytest.raises(PlanError, match=match):
        plan_free_form(MPL, max_iter=1, **args)
