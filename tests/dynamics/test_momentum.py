"""The annealing ("Momentum") law of P2: cptdyn.dynamics._laws._momentum."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import (
    MomentumLamLaw,
    MomentumLaw,
    MomentumSizeLaw,
    Run,
    law_class,
    law_from_dict,
    run_context,
    simulate,
)
from cptdyn.dynamics.presets import P2_FIG2, P2_FIG7B

PEAK, T, W = 2e-4, 20_000, 500  # P2 Setting A (Table 3) / Fig. 2


def constant_lr(T=T, W=W):
    t = np.arange(T)
    return np.where(t < W, PEAK * (t + 1) / W, PEAK)


def cosine_lr(T=T, W=W, final=0.0):
    t = np.arange(T)
    return np.where(
        t < W, PEAK * (t + 1) / W, final + (PEAK - final) * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W)))
    )


# P2 Fig. 2 parameters, losses computed independently of cptdyn (plain float64 sums, no data):
# L = 2.628 + 0.429*S1^-0.55 - 0.411*S2, lambda 0.999, 500 warmup steps counted as 2e-4.
STEPS = np.array([5000, 10000, 15000, 20000])
LOSS_CONSTANT = np.array([3.057, 2.921, 2.8624, 2.8281])
LOSS_COSINE = np.array([3.0595, 2.9185, 2.857, 2.8359])


def test_table_8_1_losses():
    law = MomentumLaw(**P2_FIG2)
    got_c = simulate(law, constant_lr(), STEPS, warmup_steps=W)
    got_k = simulate(law, cosine_lr(), STEPS, warmup_steps=W)
    # table precision: half a unit of the last printed digit
    assert np.all(np.abs(got_c - LOSS_CONSTANT) <= [5e-4, 5e-4, 5e-5, 5e-5])
    assert np.all(np.abs(got_k - LOSS_COSINE) <= [5e-5, 5e-5, 5e-4, 5e-5])
    # P2 §4.3: at 20K steps constant beats cosine (2.828 < 2.836)
    assert got_c[-1] < got_k[-1]


def test_predict_paths_agree():
    law = MomentumLaw()
    run = Run("cos", cosine_lr(), STEPS, LOSS_COSINE, warmup_steps=W)
    with x64_context():
        f = law.features(run)
        p_run = np.asarray(law.predict(run))
        p_lr = np.asarray(law.predict_lr(run.lr, run.steps, **run_context(run)))
        p_jit = np.asarray(jax.jit(lambda lr: law.predict_lr(lr, STEPS, warmup_steps=W))(run.lr))
    assert set(f) == {"S1", "S2"} and f["S1"].dtype == np.float64
    np.testing.assert_allclose(p_run, LOSS_COSINE, atol=5e-4)
    np.testing.assert_allclose(p_lr, p_run, rtol=1e-14)
    np.testing.assert_allclose(p_jit, p_run, rtol=1e-14)
    # float32 (no x64): same curve to float32 precision
    p32 = np.asarray(law.predict_lr(run.lr.astype(np.float32), STEPS, warmup_steps=W))
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p_run, rtol=2e-6)


def test_vmap_over_schedules_and_params():
    law = MomentumLaw()
    lrs = np.stack([constant_lr(), cosine_lr()])
    with x64_context():
        batched = law.predict_lr(lrs, STEPS, warmup_steps=W)
        vm = jax.vmap(lambda lr: law.predict_lr(lr, STEPS, warmup_steps=W))(lrs)
        # a batch of laws (parameter leaves) on one schedule
        Cs = jnp.asarray([0.2, 0.411, 0.6])
        laws = jax.vmap(lambda c: dataclasses.replace(law, C=c))(Cs)
        per_law = jax.vmap(lambda lw: lw.predict_lr(lrs[1], STEPS, warmup_steps=W))(laws)
    np.testing.assert_allclose(np.asarray(batched), np.stack([LOSS_CONSTANT, LOSS_COSINE]),
                               atol=5e-4)
    np.testing.assert_allclose(np.asarray(vm), np.asarray(batched), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(per_law[1]), np.asarray(batched[1]), rtol=1e-14)
    assert np.all(np.diff(np.asarray(per_law)[:, -1]) < 0)  # larger C, lower annealed loss


def _fd_grad(f, x, eps):
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)])


def test_grad_wrt_params_and_lr():
    lr = cosine_lr(3000, 100)
    steps = np.array([500, 1500, 3000])
    with x64_context():
        def loss(p, a):
            law = MomentumLaw(L0=p[0], A=p[1], alpha=p[2], C=p[3])
            return jnp.sum(law.predict_lr(a, steps, warmup_steps=100) ** 2)

        p0 = jnp.asarray([P2_FIG2[k] for k in ("L0", "A", "alpha", "C")])
        g = np.asarray(jax.jit(jax.grad(loss))(p0, lr))
        f = jax.jit(loss)
        fd = _fd_grad(lambda p: float(f(jnp.asarray(p), lr)), np.asarray(p0), 1e-6)
        np.testing.assert_allclose(g, fd, rtol=1e-7)
        # w.r.t. the LR array (the planner differentiates through this), a random direction
        v = np.random.default_rng(0).normal(size=lr.size) * 1e-9
        gl = np.asarray(jax.jit(jax.grad(loss, argnums=1))(p0, lr))
        fd_v = (float(f(p0, lr + v)) - float(f(p0, lr - v))) / 2
        np.testing.assert_allclose(gl @ v, fd_v, rtol=1e-6)


def test_fitted_lambda_variant():
    lr = cosine_lr()
    with x64_context():
        ref = MomentumLaw().predict_lr(lr, STEPS, warmup_steps=W)
        lamlaw = MomentumLamLaw(lam=0.999)
        got = lamlaw.predict_lr(lr, STEPS, warmup_steps=W)
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-13)
        # fitting features: the observed-step recurrence for S2(lam), for any lam
        run = Run("cos", lr, STEPS, LOSS_COSINE, warmup_steps=W)
        f = lamlaw.features(run)
        assert set(f) == {"d", "ni", "ntab", "blk", "gi", "reset", "S1"}
        assert f["d"].shape == (int(STEPS[-1]),)
        f64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), f)  # as _fit does

        def pred(lam):
            return jnp.sum(dataclasses.replace(lamlaw, lam=lam).predict_features(f64))

        g = jax.jit(jax.grad(pred))(jnp.asarray(0.995))
        fd = (pred(jnp.asarray(0.995 + 1e-7)) - pred(jnp.asarray(0.995 - 1e-7))) / 2e-7
        np.testing.assert_allclose(float(g), float(fd), rtol=1e-5)
        lam99 = np.asarray(MomentumLaw(lam=0.99).predict(run))
        np.testing.assert_allclose(
            np.asarray(dataclasses.replace(lamlaw, lam=0.99).predict_features(f64)), lam99,
            rtol=1e-13,
        )
    assert MomentumLamLaw.PARAMS["lam"].lo == 0.9 and MomentumLamLaw.PARAMS["lam"].hi == 0.9999


def test_model_size_form():
    law = MomentumSizeLaw(**P2_FIG7B)
    # N in millions (inferred from P2's fits, not stated): 594.6^(-0.158) * 3.067 = 1.117, so
    # L0_eff = 1.504 + 1.117 = 2.62, close to the 2.628 fitted at 594M (P2 Fig. 2).
    with x64_context():
        f = law.lr_features(constant_lr(), STEPS, warmup_steps=W, model_size=594.6)
        l0_eff = float(law.predict_features({**f, "S1": jnp.full(4, jnp.inf), "S2": f["S2"]})[0])
    assert abs(l0_eff - 1.504 - 1.117) < 1e-3 and abs(l0_eff - 2.628) < 0.01
    lr = constant_lr()
    with x64_context():
        got = np.asarray(law.predict_lr(lr, STEPS, warmup_steps=W, model_size=594.6))
    S1 = STEPS * PEAK
    want = 1.504 + 0.440 * S1 ** (-0.546) + 3.067 * 594.6 ** (-0.158)  # S2 = 0 (constant LR)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the annealing benefit grows with N (gamma > 0, P2 Fig. 7a)
    k = cosine_lr()
    small = simulate(law, k, STEPS, warmup_steps=W, model_size=100.0)
    big = simulate(law, k, STEPS, warmup_steps=W, model_size=1000.0)
    gain_small = simulate(law, lr, STEPS, warmup_steps=W, model_size=100.0) - small
    gain_big = simulate(law, lr, STEPS, warmup_steps=W, model_size=1000.0) - big
    assert gain_big[-1] > gain_small[-1]
    with pytest.raises(ValueError, match=r"model_size is required"):
        law.predict_lr(lr, STEPS, warmup_steps=W)


def test_warmup_convention_option():
    lr = cosine_lr()
    with x64_context():
        peak = np.asarray(MomentumLaw().predict_lr(lr, STEPS, warmup_steps=W))
        asrun = np.asarray(MomentumLaw(warmup="as-run").predict_lr(lr, STEPS, warmup_steps=W))
    # as run: the warmup adds about W*peak/2 less to S1 and its rise makes S2 smaller (loss up)
    assert np.all(asrun > peak)


def test_init_grid_feasible():
    law = MomentumLaw()
    runs = [
        Run("const", constant_lr(), STEPS, LOSS_CONSTANT, warmup_steps=W),
        Run("cos", cosine_lr(), STEPS, LOSS_COSINE, warmup_steps=W),
    ]
    for lw in (law, MomentumLamLaw()):
        grid = lw.init_grid(runs)
        assert len(grid) >= 27
        for g in grid:
            assert set(g) == set(lw.PARAMS)
            assert all(lw.PARAMS[k].contains(float(v)) for k, v in g.items())
    sized = [r.replace(model_size=594.6 * (i + 1)) for i, r in enumerate(runs)]
    grid = MomentumSizeLaw().init_grid(sized)
    assert grid and all(set(g) == set(MomentumSizeLaw.PARAMS) for g in grid)
    # fitting fast path (Law.stack_features): the stacked prediction is the concatenation
    for lw, rs in ((law, runs), (MomentumSizeLaw(), sized)):
        with x64_context():
            feats = [lw.features(r) for r in rs]
            stacked = np.asarray(lw.predict_features(lw.stack_features(feats)))
            each = np.concatenate([np.asarray(lw.predict_features(f)) for f in feats])
        np.testing.assert_allclose(stacked, each, rtol=1e-15)
    assert MomentumLamLaw().stack_features([]) is None
    with x64_context():  # the recurrence features of several runs stack into one evaluation
        lw = MomentumLamLaw(lam=0.99)
        feats = [lw.features(r) for r in runs]
        stacked = np.asarray(lw.predict_features(lw.stack_features(feats)))
        each = np.concatenate([np.asarray(lw.predict_features(f)) for f in feats])
    np.testing.assert_allclose(stacked, each, rtol=1e-15)


def test_registry_and_serialization():
    for name, cls in [("momentum", MomentumLaw), ("momentum-lam", MomentumLamLaw),
                      ("momentum-size", MomentumSizeLaw)]:
        assert law_class(name) is cls
        law = cls()
        back = law_from_dict(law.to_dict())
        assert type(back) is cls and back.params() == law.params()
        assert back.options() == law.options()
        assert "Warmup convention" in cls.__doc__


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lam": 1.5}, r"^MomentumLaw: lam=1.5 is outside \[0, 1\)$"),
        ({"lam": "x"}, r"^MomentumLaw: lam='x' is not a number in \[0, 1\)$"),
        ({"warmup": "linear"}, r"^MomentumLaw: warmup='linear' is not one of 'peak', 'as-run'$"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MomentumLaw(**kwargs)
    with pytest.raises(ValueError, match=r"MomentumLamLaw: warmup='x'"):
        MomentumLamLaw(warmup="x")


@pytest.mark.parametrize("bad", ["2.0", None, True, [1.0, "x"]])
def test_every_law_refuses_non_numeric_parameters(bad):
    """A parameter that is not a real number is refused at construction, naming the field
    (it used to pass and fail later with a TypeError inside JAX)."""
    from cptdyn.dynamics import law_class, law_names

    for name in law_names():
        cls = law_class(name)
        first = next(iter(cls.PARAMS))
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {first}=.* must be a real number"):
            cls(**{first: bad})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1e-3])
def test_predict_lr_refuses_bad_learning_rates(bad):
    """No law returns NaN for a bad concrete LR array: the first bad update is named."""
    from cptdyn.dynamics import MPLLaw

    lr = np.full(50, 1e-3)
    lr[7] = bad
    for law in (MomentumLaw(), MPLLaw()):
        with pytest.raises(ValueError, match=r"predict_lr: lr\[7\] = .* must be a finite, "
                                             r"non-negative learning rate"):
            law.predict_lr(lr)
