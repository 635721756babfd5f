"""Schedule families: formulas, warmup conventions, JSON specs, validation, jit/vmap/grad."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.schedules._core import (
    DECAY_SHAPES,
    WSD,
    ArraySchedule,
    Constant,
    ConstantThenDecay,
    Cosine,
    CPTSchedule,
    CyclicCosine,
    InverseSqrt,
    Linear,
    MultiStep,
    Polyline,
    TwoStage,
    make_schedule,
    schedule_from_spec,
    schedule_kinds,
    stack,
)


def arr(s):
    with x64_context():
        return np.asarray(s.array(), dtype=np.float64)


# ------------------------------------------------------------------ formulas vs independent numpy
def test_cosine_formula():
    T, W, peak, final = 1000, 100, 3e-4, 3e-5
    a = arr(Cosine(T, peak, final, warmup_steps=W))
    s = np.arange(T)
    ref = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    # default warmup (spec version 2): linear from 0 at step 0, peak first reached at step W, as
    # HF get_cosine_schedule_with_warmup (lr * t / W), optax linear_schedule, Megatron
    ref[:W] = peak * s[:W] / W
    np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-18)
    assert a[0] == 0.0 and a[W] == pytest.approx(peak)
    # torchtitan's (t+1)/W is warmup_init=None / warmup_style="torchtitan"
    tt = arr(make_schedule("cosine", total_steps=T, peak_lr=peak, final_lr=final, warmup_steps=W,
                           warmup_style="torchtitan"))
    np.testing.assert_allclose(tt[:W], peak * (s[:W] + 1) / W, rtol=1e-12)
    assert tt[W - 1] == pytest.approx(peak) and tt[0] == pytest.approx(peak / W)


def test_warmup_init_convention_matches_hagele():
    # Hägele et al. wsd_schedule warmup factor: step/W + (1 - step/W)/100 (epfml repo)
    T, W = 50_000, 300
    a = arr(WSD(T, 1e-3, 0.0, decay_fraction=0.2, warmup_steps=W, warmup_init=0.01))
    s = np.arange(W)
    np.testing.assert_allclose(a[:W], 1e-3 * (s / W + (1 - s / W) / 100), rtol=1e-12)
    assert a[W] == 1e-3


def test_wsd_matches_logged_124m_sweep():
    # data/lr-scheduling: T=50k, f=0.2, peak 1e-3 cooldown branch logs train_lr 9.95e-4 at
    # iter 40050 (linear) and 9.29e-4 (1-sqrt) (wandb_json/ann124-0.2_*, curves.csv.gz).
    lin = arr(WSD(50_000, 1e-3, 0.0, decay_fraction=0.2, warmup_steps=300, warmup_init=0.01))
    sq = arr(WSD(50_000, 1e-3, 0.0, 0.2, "1-sqrt", warmup_steps=300, warmup_init=0.01))
    assert lin[40050] == pytest.approx(9.95e-4, rel=1e-9)
    assert sq[40050] == pytest.approx(1e-3 * (1 - math.sqrt(50 / 10000)), rel=1e-9)
    assert round(sq[40050], 6) == 9.29e-4
    assert lin[39999] == 1e-3 and lin[40000] == 1e-3


def test_wsd_exponential_matches_mpl_data():
    # MPL wsd_20000_24000: 3e-4 until 20000 then geometric to 3e-5; logged 2.8915e-4 at step 20064
    # (csv_25 / csv_100) and 3.11e-5 at step 23936 (csv_400), data/MultiPowerLaw `lr` column.
    s = WSD(
        24_000,
        3e-4,
        3e-5,
        decay_fraction=4000 / 24000,
        decay_shape="exponential",
        warmup_steps=2160,
        warmup_init=0.0,
    )
    a = arr(s)
    assert a[20064] == pytest.approx(2.8915e-4, rel=2e-5)
    assert a[23936] == pytest.approx(3.11e-5, rel=2e-3)
    assert a[0] == 0.0 and a[2160] == pytest.approx(3e-4, rel=1e-12)


@pytest.mark.parametrize("shape", DECAY_SHAPES)
def test_wsd_shapes(shape):
    T, f, peak, final, p = 1000, 0.3, 1e-3, 1e-5, 1.5
    a = arr(WSD(T, peak, final, f, shape, decay_power=p))
    tau = np.clip((np.arange(T) - 700) / 300, 0, 1)
    coeff = {
        "linear": 1 - tau,
        "cosine": 0.5 * (1 + np.cos(np.pi * tau)),
        "1-sqrt": 1 - np.sqrt(tau),
        "square": 1 - tau**2,
        "mirror-cosine": 2 * (1 - tau) - 0.5 * (1 + np.cos(np.pi * tau)),
        "power": (1 - tau) ** p,
    }
    ref = (
        (peak ** (1 - tau) * final**tau)
        if shape == "exponential"
        else final + (peak - final) * coeff[shape]
    )
    np.testing.assert_allclose(a, ref, rtol=1e-9, atol=1e-15)
    assert a[699] == pytest.approx(peak)


def test_linear_inverse_sqrt_constant_two_stage_multistep():
    T, W = 200, 20
    s = np.arange(T)
    lin = arr(Linear(T, 1.0, 0.1, warmup_steps=W, warmup_init=0.0))
    np.testing.assert_allclose(lin[W:], 0.1 + 0.9 * (1 - (s[W:] - W) / (T - W)), rtol=1e-12)
    np.testing.assert_allclose(lin[:W], s[:W] / W, rtol=1e-12)
    inv = arr(InverseSqrt(T, 1.0, warmup_steps=W))
    np.testing.assert_allclose(inv[W:], 1 / np.sqrt((s[W:] - W + W) / W), rtol=1e-12)
    assert np.all(arr(Constant(T, 2e-4)) == 2e-4)
    two = arr(TwoStage(16000, 3e-4, 9e-5, switch_step=8000))
    assert two[7999] == 3e-4 and two[8000] == 9e-5  # MPL wsdcon: row at step 8000 carries eta_B
    ms = arr(MultiStep.multistep_811(1000, 1.0))
    assert ms[799] == 1.0 and ms[800] == pytest.approx(1 / math.sqrt(10)) and ms[900] == 0.1


def test_cyclic_cosine_rewarmup():
    a = arr(CyclicCosine(1000, 1.0, 0.0, cycle_steps=300, rewarmup_steps=50))
    assert a[0] == 1.0 and a[299] < 1e-3  # first cycle decays
    assert a[300] == pytest.approx(1 / 50) and a[349] == pytest.approx(1.0)  # re-warmup
    assert a[350] == pytest.approx(1.0) and a[599] < 1e-3
    assert np.all(np.diff(a[300:350]) > 0)


def test_polyline_and_array():
    p = arr(Polyline(100, knot_steps=(0, 50, 99), knot_lrs=(0.0, 1.0, 0.5)))
    assert p[25] == pytest.approx(0.5) and p[50] == 1.0 and p[99] == 0.5
    a = ArraySchedule(np.linspace(1, 0, 11))
    assert a.total_steps == 11 and arr(a)[10] == 0.0


def test_zero_length_phases_are_skipped():
    a = arr(WSD(100, 1.0, 0.0, decay_fraction=0.0))
    assert np.all(a == 1.0)
    b = arr(WSD(100, 1.0, 0.0, decay_fraction=1.0))
    np.testing.assert_allclose(b, 1 - np.arange(100) / 100, rtol=1e-12)
    assert np.all(np.isfinite(arr(Cosine(10, 1.0, warmup_steps=10))))


def test_cpt_composition_rewarmup_from_previous():
    pt = WSD(1000, 2e-4, 2e-5, decay_fraction=0.1, warmup_steps=10)
    cpt = Cosine(500, 1e-4, 0.0, warmup_steps=50, warmup_from_previous=True)
    j = CPTSchedule(pt, cpt)
    a = arr(j)
    assert j.total_steps == 1500 and j.transfer_step == 1000
    np.testing.assert_array_equal(a[:1000], arr(pt))
    assert a[1000] == pytest.approx(a[999])  # re-warmup starts at the last PT LR
    assert a[1050] == pytest.approx(1e-4)
    assert float(j.loss_potential) == pytest.approx(a[999] / 2e-4)
    with pytest.raises(ValueError, match="needs a preceding schedule"):
        cpt.array()


# ------------------------------------------------------------------------- JSON specs
ALL = [
    Constant(100, 1e-3, warmup_steps=10),
    Cosine(100, 1e-3, 1e-4, warmup_steps=10, warmup_init=0.0),
    Linear(100, 1e-3),
    InverseSqrt(100, 1e-3, timescale=7.0, warmup_steps=5),
    MultiStep(100, 1e-3, milestones=(80, 90), factors=(0.3, 0.1)),
    TwoStage(100, 1e-3, 1e-4, switch_step=40),
    CyclicCosine(100, 1e-3, 0.0, cycle_steps=30, rewarmup_steps=5),
    WSD(100, 1e-3, 1e-5, 0.25, "power", decay_power=1.5, warmup_steps=5),
    ConstantThenDecay(100, 1e-3, 0.0, 0.5, "cosine"),
    Polyline(100, knot_steps=(0, 99), knot_lrs=(1e-3, 0.0)),
    ArraySchedule(np.linspace(1e-3, 0, 7)),
    CPTSchedule(WSD(100, 1e-3, 1e-4), Cosine(50, 5e-4, warmup_steps=5, warmup_from_previous=True)),
]


@pytest.mark.parametrize("s", ALL, ids=lambda s: s.KIND)
def test_spec_roundtrip(s):
    doc = json.loads(json.dumps(s.to_spec()))
    assert doc["version"] == 2 and doc["kind"] == s.KIND
    back = schedule_from_spec(doc)
    assert back.to_spec() == s.to_spec()
    np.testing.assert_array_equal(arr(back), arr(s))


def test_every_kind_is_covered():
    assert {s.KIND for s in ALL} == set(schedule_kinds())


def test_make_schedule_conveniences():
    s = make_schedule("wsd", total_steps=1000, peak_lr=1e-3, warmup_fraction=0.01, decay_steps=200)
    assert s.warmup_steps == 10 and s.decay_fraction == pytest.approx(0.2)
    m = make_schedule(
        "multistep",
        total_steps=1000,
        peak_lr=1.0,
        milestone_fractions=[0.8, 0.9],
        factors=[0.316, 0.1],
    )
    assert m.milestones == (800, 900)


@pytest.mark.parametrize(
    "kind,kw,msg",
    [
        ("wsd", dict(total_steps=100, peak_lr=-1e-3), "peak_lr=-0.001 is negative"),
        ("wsd", dict(total_steps=100, peak_lr=1.0, warmup_steps=101), "warmup_steps=101 is longer"),
        ("wsd", dict(total_steps=100, peak_lr=1.0, decay_fraction=1.5), "decay_fraction=1.5"),
        ("wsd", dict(total_steps=100, peak_lr=1.0, decay_shape="zigzag"), "decay_shape='zigzag'"),
        ("wsd", dict(total_steps=100, peak_lr=1.0, final_lr=2.0), "final_lr=2 exceeds peak_lr=1"),
        ("cosine", dict(total_steps=100, peak_lr=float("nan")), "peak_lr=nan"),
        ("cosine", dict(total_steps=0, peak_lr=1.0), "total_steps=0"),
        # warmup_init > 1 is legal since spec version 2 (a warmup ramping down to peak)
        ("wsd", dict(total_steps=100, peak_lr=1.0, warmup_init=-2.0), "warmup_init=-2"),
        ("wsd", dict(total_steps=100, peak_lr=1.0, colour="red"), "unknown field 'colour'"),
        ("constant", dict(total_steps=100), "peak_lr is required"),
        (
            "two-stage",
            dict(total_steps=100, peak_lr=1.0, second_lr=0.1, switch_step=200),
            "switch_step=200",
        ),
        (
            "polyline",
            dict(total_steps=100, knot_steps=[0, 50, 40], knot_lrs=[1, 1, 1]),
            "knot_steps must increase",
        ),
        ("array", dict(values=[1.0, -1.0]), "values[1]=-1"),
        (
            "constant-then-decay",
            dict(total_steps=100, peak_lr=1.0, warmup_steps=5),
            "warmup_steps=5 must be 0",
        ),
        ("zigzag", dict(), "kind 'zigzag' is unknown"),
    ],
)
def test_validation_messages(kind, kw, msg):
    with pytest.raises(ValueError) as e:
        make_schedule(kind, **kw)
    assert msg in str(e.value)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------ jit / vmap / grad
def test_jit_vmap():
    s = WSD(1000, 1e-3, 0.0, 0.2, "1-sqrt", warmup_steps=10)
    np.testing.assert_allclose(jax.jit(lambda s: s.array())(s), s.array(), rtol=1e-6)
    batch = stack([s.replace(peak_lr=p, decay_fraction=f) for p, f in [(1e-3, 0.1), (2e-3, 0.4)]])
    out = jax.vmap(lambda b: b.array())(batch)
    assert out.shape == (2, 1000)
    np.testing.assert_allclose(
        out[1], s.replace(peak_lr=2e-3, decay_fraction=0.4).array(), rtol=1e-6
    )


@pytest.mark.parametrize(
    "sched,field",
    [
        (WSD(500, 1e-3, 1e-5, 0.3, "1-sqrt", warmup_steps=10, warmup_init=0.1), "peak_lr"),
        # decay start off the step grid: at an integer start 1-sqrt has an infinite one-sided slope
        (
            WSD(500, 1e-3, 1e-5, 0.3013, "1-sqrt", warmup_steps=10, warmup_init=0.1),
            "decay_fraction",
        ),
        (WSD(500, 1e-3, 1e-5, 0.3013, "cosine"), "decay_fraction"),
        (WSD(500, 1e-3, 1e-5, 0.3, "1-sqrt", warmup_steps=10, warmup_init=0.1), "warmup_init"),
        (WSD(500, 1e-3, 1e-5, 0.3, "power", decay_power=1.7), "decay_power"),
        (WSD(500, 1e-3, 1e-5, 0.3, "exponential"), "final_lr"),
        (Cosine(500, 1e-3, 1e-4, warmup_steps=20), "final_lr"),
        (CyclicCosine(500, 1e-3, 1e-4, cycle_steps=100, rewarmup_steps=10), "peak_lr"),
    ],
)
def test_grad_matches_finite_differences(sched, field):
    # a smooth scalar functional of the schedule: weighted sum of the per-step LR
    def f(s):
        a = s.array()
        w = jnp.linspace(0.5, 1.5, a.shape[0])
        return jnp.sum(w * a) / a.shape[0]

    with x64_context():
        sched = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), sched)
        g = getattr(jax.grad(f)(sched), field)
        x0 = float(getattr(sched, field))
        h = 1e-6 * max(abs(x0), 1e-3)
        fd = (f(sched.replace(**{field: x0 + h})) - f(sched.replace(**{field: x0 - h}))) / (2 * h)
        assert float(g) == pytest.approx(float(fd), rel=1e-4, abs=1e-9)


def test_grad_through_cpt_composition():
    pt = WSD(300, 2e-4, 2e-5, 0.2)
    cpt = Cosine(200, 1e-4, warmup_steps=20, warmup_from_previous=True)
    j = CPTSchedule(pt, cpt)
    g = jax.grad(lambda j: j.array().sum())(j)
    assert float(g.cpt.peak_lr) > 0 and float(g.pt.final_lr) > 0  # PT final LR feeds the re-warmup


# ------------------------------------------------- spec version 2: warmup convention and aliases
def test_v1_spec_keeps_its_torchtitan_warmup():
    # a version-1 spec without warmup_init meant (t+1)/W; reading it must keep that meaning
    v1 = {"version": 1, "kind": "cosine", "total_steps": 100, "peak_lr": 1e-3, "warmup_steps": 10}
    s = schedule_from_spec(v1)
    a = arr(s)
    np.testing.assert_allclose(a[:10], 1e-3 * np.arange(1, 11) / 10, rtol=1e-12)
    assert s.warmup_style == "torchtitan"
    doc = s.to_spec()
    assert doc["version"] == 2 and doc["warmup_style"] == "torchtitan"
    np.testing.assert_allclose(arr(schedule_from_spec(doc)), a, rtol=0)
    # a version-1 spec with warmup_init keeps it; nested PT/CPT specs are upgraded too
    v1w = dict(v1, warmup_init=0.0)
    np.testing.assert_allclose(arr(schedule_from_spec(v1w))[:10], 1e-3 * np.arange(10) / 10,
                               atol=1e-18)
    cpt = {"version": 1, "kind": "cpt", "pt": {k: v for k, v in v1.items() if k != "version"},
           "cpt": {"kind": "constant", "total_steps": 20, "peak_lr": 1e-4, "warmup_steps": 4}}
    j = schedule_from_spec(cpt)
    assert j.pt.warmup_init is None and j.cpt.warmup_init is None
    # version 2 without warmup_init: the default, linear from 0
    v2 = dict(v1, version=2)
    assert arr(schedule_from_spec(v2))[0] == 0.0
    with pytest.raises(ValueError, match=r"version=3 is not supported"):
        schedule_from_spec(dict(v1, version=3))


def test_plan_file_is_read_as_its_schedule():
    s = Cosine(100, 1e-3, warmup_steps=10)
    plan = {"version": 1, "status": "ok", "schedule": s.to_spec(), "lr": [0.0] * 100}
    np.testing.assert_allclose(arr(schedule_from_spec(plan)), arr(s), rtol=0)


@pytest.mark.parametrize(
    "kind,kw,want",
    [
        # Hugging Face lr_scheduler_type names and TrainingArguments / scheduler kwargs
        ("warmup_stable_decay", {"num_training_steps": 1000, "lr": 3e-4, "warmup_ratio": 0.1,
                                 "num_decay_steps": 200, "decay_type": "1-sqrt"},
         WSD(1000, 3e-4, 0.0, 0.2, "1-sqrt", warmup_steps=100)),
        ("cosine_with_min_lr", {"total_steps": 500, "learning_rate": 1e-3, "min_lr_rate": 0.1,
                                "num_warmup_steps": 50},
         Cosine(500, 1e-3, 1e-4, warmup_steps=50)),
        ("constant_with_warmup", {"total_steps": 100, "lr": 1e-3, "num_warmup_steps": 10},
         Constant(100, 1e-3, warmup_steps=10)),
        ("inverse_sqrt", {"total_steps": 100, "lr": 1e-3, "num_warmup_steps": 10},
         InverseSqrt(100, 1e-3, warmup_steps=10)),
        # Megatron-LM --lr-decay-style / flags (min-lr, lr-warmup-iters, lr-warmup-init absolute)
        ("WSD", {"train_iters": 1000, "lr": 3e-4, "min_lr": 3e-5, "lr_warmup_iters": 100,
                 "lr_wsd_decay_iters": 200, "lr_wsd_decay_style": "minus_sqrt",
                 "lr_warmup_init": 3e-5},
         WSD(1000, 3e-4, 3e-5, 0.2, "1-sqrt", warmup_steps=100, warmup_init=0.1)),
        ("inverse-square-root", {"total_steps": 100, "lr": 1e-3, "lr_warmup_iters": 10},
         InverseSqrt(100, 1e-3, warmup_steps=10)),
    ],
)
def test_other_libraries_names_are_aliases(kind, kw, want):
    got = make_schedule(kind, **kw)
    assert type(got) is type(want)
    np.testing.assert_allclose(arr(got), arr(want), rtol=1e-12, atol=1e-18)


def test_alias_errors_name_the_field():
    with pytest.raises(ValueError, match=r"'lr' is another name for 'peak_lr'"):
        make_schedule("cosine", total_steps=10, lr=1e-3, peak_lr=1e-3)
    with pytest.raises(ValueError, match=r"warmup_style='x' is unknown"):
        make_schedule("cosine", total_steps=10, peak_lr=1e-3, warmup_style="x")
    with pytest.raises(ValueError, match=r"schedule kind 'polynomial' is unknown"):
        make_schedule("polynomial", total_steps=10, peak_lr=1e-3)


def test_rewarmup_from_a_higher_previous_lr_ramps_down():
    # last PT LR 3e-4 above the CPT peak 1e-4: the re-warmup ramps linearly *down* to the peak
    j = CPTSchedule(Constant(100, 3e-4), Cosine(50, 1e-4, warmup_steps=10,
                                                warmup_from_previous=True))
    a = arr(j)
    np.testing.assert_allclose(a[100:110], 1e-4 * (3.0 + (1 - 3.0) * np.arange(10) / 10),
                               rtol=1e-12)
    assert a[110] == pytest.approx(1e-4)
    assert np.all(np.diff(a[100:111]) < 0)
    with pytest.raises(ValueError, match=r"warmup_init=-0.5 must be a finite fraction"):
        Cosine(50, 1e-4, warmup_steps=10, warmup_init=-0.5)
