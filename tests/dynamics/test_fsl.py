"""The Functional Scaling Law ansatz (cptdyn.dynamics._laws._fsl) against a direct double loop.

No FSL parameter values for LLMs are published (the paper releases no code, no data), so the checks
are against the formula itself (a plain numpy evaluation of FSL App. B.2 Eq. 30) and its limits.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import FSLLaw, Run, law_class, law_from_dict, simulate

PEAK, T, W = 2e-4, 4000, 200
PARAMS = {"L0": 2.6, "c1": 0.45, "s": 0.55, "c2": 300.0, "c3": 0.5, "c4": 50.0, "gamma": 0.6}


def cosine_lr(T=T, W=W, final=0.0):
    t = np.arange(T)
    cos = final + (PEAK - final) * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W)))
    return np.where(t < W, PEAK * (t + 1) / W, cos)


def fsl_reference(lr, steps, p, warmup_steps=0, warmup="peak"):
    """FSL App. B.2 Eq. 30 literally: L(k) = L0 + c1 T(k)^-s - LRD(k), 1-based eta_1..eta_k."""
    eta = np.array(lr, dtype=np.float64)
    if warmup == "peak" and warmup_steps:
        eta[:warmup_steps] = eta[warmup_steps]
    eta0 = eta[0]
    Tcum = np.cumsum(eta)  # T(i) for i = 1..n
    out = []
    for k in steps:
        lrd = 0.0
        for i in range(1, k + 1):
            d = (eta[i - 2] if i > 1 else eta0) - eta[i - 1]
            if d == 0.0:
                continue
            sat = 1 - (1 + p["c4"] * (Tcum[k - 1] - Tcum[i - 1])) ** (-p["gamma"])
            lrd += d * (p["c3"] + Tcum[i - 1] ** (-p["s"])) * sat
        out.append(p["L0"] + p["c1"] * Tcum[k - 1] ** (-p["s"]) - p["c2"] * lrd)
    return np.array(out)


STEPS = np.array([1, 150, 1000, 2500, 4000])


@pytest.mark.parametrize("warmup", ["peak", "as-run"])
def test_matches_the_formula(warmup):
    lr = cosine_lr()
    law = FSLLaw(**PARAMS, warmup=warmup)
    got = simulate(law, lr, STEPS, warmup_steps=W)
    want = fsl_reference(lr, STEPS, PARAMS, warmup_steps=W, warmup=warmup)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_limits():
    # constant LR: no decrement, LRD = 0 and L = L0 + c1 * T^-s
    lr = np.full(T, PEAK)
    got = simulate(FSLLaw(**PARAMS), lr, STEPS)
    np.testing.assert_allclose(got, 2.6 + 0.45 * (STEPS * PEAK) ** -0.55, rtol=1e-12)
    # a decaying schedule: LRD > 0 lowers the loss below L0 + c1*T^-s (the c2 = 0 curve)
    k = simulate(FSLLaw(**PARAMS), cosine_lr(W=1), STEPS)
    k0 = simulate(FSLLaw(**{**PARAMS, "c2": 0.0}), cosine_lr(W=1), STEPS)
    T_k = np.cumsum(cosine_lr(W=1))[STEPS - 1]
    np.testing.assert_allclose(k0, 2.6 + 0.45 * T_k**-0.55, rtol=1e-12)
    assert np.all(k[2:] < k0[2:])
    # peak warmup convention: the warmup adds T = W * peak and no decrement
    a = simulate(FSLLaw(**PARAMS), cosine_lr(), [W], warmup_steps=W)
    assert a[0] == pytest.approx(2.6 + 0.45 * (W * PEAK) ** -0.55, rel=1e-12)


def test_block_aggregation_is_close():
    lr = cosine_lr()
    exact = simulate(FSLLaw(**PARAMS), lr, STEPS[1:], warmup_steps=W)
    blocked = simulate(FSLLaw(**PARAMS, block_size=20), lr, STEPS[1:], warmup_steps=W)
    assert np.max(np.abs(blocked - exact)) < 1e-3
    assert np.max(np.abs(blocked - exact)) > 0


def test_jit_vmap_grad():
    lr = cosine_lr()
    names = tuple(PARAMS)
    with x64_context():
        def loss(p, a):
            law = FSLLaw(**dict(zip(names, p, strict=True)))
            return jnp.sum(law.predict_lr(a, STEPS[1:], warmup_steps=W) ** 2)

        p0 = np.array([PARAMS[k] for k in names])
        g, gl = (np.asarray(v) for v in jax.jit(jax.grad(loss, argnums=(0, 1)))(p0, lr))
        f = jax.jit(loss)
        h = 1e-6 * np.abs(p0)
        fd = [(float(f(p0 + hi * e, lr)) - float(f(p0 - hi * e, lr))) / (2 * hi)
              for e, hi in zip(np.eye(len(p0)), h, strict=True)]
        np.testing.assert_allclose(g, fd, rtol=1e-6)
        v = np.random.default_rng(0).normal(size=lr.size) * 1e-7
        np.testing.assert_allclose(gl @ v, (float(f(p0, lr + v)) - float(f(p0, lr - v))) / 2,
                                   rtol=1e-6)
        law = FSLLaw(**PARAMS)
        batch = np.stack([lr, 0.5 * lr])
        vm = jax.vmap(lambda a: law.predict_lr(a, STEPS, warmup_steps=W))(batch)
        direct = law.predict_lr(batch, STEPS, warmup_steps=W)
        np.testing.assert_allclose(np.asarray(vm), np.asarray(direct), rtol=1e-13)
    p32 = np.asarray(law.predict_lr(lr.astype(np.float32), STEPS, warmup_steps=W))
    np.testing.assert_allclose(p32, np.asarray(direct)[0], rtol=1e-5)


def test_protocol():
    assert law_class("fsl") is FSLLaw
    assert "Warmup convention" in FSLLaw.__doc__
    law = FSLLaw(**PARAMS)
    back = law_from_dict(law.to_dict())
    assert back.params() == law.params() and back.options() == law.options()
    lr = cosine_lr()
    steps = np.arange(100, T + 1, 100)
    run = Run("cos", lr, steps, simulate(law, lr, steps, warmup_steps=W), warmup_steps=W)
    with x64_context():
        f = law.features(run)
    # + the contributing (observed step, block) pairs and those blocks' decrements and T
    assert set(f) == {"d", "Ti", "Tk", "pk", "pb", "bd", "bTi"}
    assert all(f[k].dtype == np.float64 for k in ("d", "Ti", "Tk", "bd", "bTi"))
    assert np.all(f["bd"] != 0) and f["pk"].size == f["pb"].size
    grid = law.init_grid([run])
    assert len(grid) == 16
    for g in grid:
        assert set(g) == set(FSLLaw.PARAMS)
        assert all(FSLLaw.PARAMS[k].contains(float(v)) for k, v in g.items())
        pred = np.asarray(dataclasses.replace(law, **g).predict(run))
        assert np.all(np.isfinite(pred))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"warmup": "cosine"}, r"^FSLLaw: warmup='cosine' is not one of 'peak', 'as-run'$"),
        ({"block_size": 0}, r"^FSLLaw: block_size=0 must be >= 1$"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FSLLaw(**kwargs)


@pytest.mark.parametrize("warmup", ["peak", "as-run"])
@pytest.mark.parametrize("block_size", [1, 64])
def test_numpy_fitting_features_equal_jax_lr_features(warmup, block_size):
    """``features`` (NumPy, for fitting) and ``lr_features`` (JAX, differentiable) agree."""
    from cptdyn.dynamics._laws._fsl import _lr_features_np

    law = FSLLaw(**PARAMS, warmup=warmup, block_size=block_size)
    lr = cosine_lr()
    steps = np.arange(100, T + 1, 100)
    with x64_context():
        ref = law.lr_features(jnp.asarray(lr, jnp.float64), steps, warmup_steps=W)
    got = _lr_features_np(np.asarray(lr, np.float64), steps, W, warmup, block_size)
    for k in ("d", "Ti", "Tk"):
        np.testing.assert_allclose(got[k], np.asarray(ref[k]), rtol=1e-12, atol=1e-18, err_msg=k)
