"""Forward / annealing areas (cptdyn.dynamics._areas) against float64 and exact references."""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import lfilter

from cptdyn._pytree import x64_context
from cptdyn.dynamics import (
    annealing_area,
    areas,
    cpt_areas,
    effective_lr,
    forward_area,
    momentum_tail,
)

PEAK = 2e-4  # P2 Setting A max LR (Table 3)


# ------------------------------------------------------------------------------------------------
# references and schedules (plain numpy, independent of the library)


def ref_areas(lr, steps=None, *, lam=0.999, warmup_steps=0, warmup="peak", eta0=None):
    """float64 reference: np.cumsum + scipy.signal.lfilter on the per-step decrements."""
    x = np.array(lr, dtype=np.float64)
    if warmup == "peak" and warmup_steps > 0:
        pk = x[..., min(warmup_steps, x.shape[-1] - 1)]
        x[..., :warmup_steps] = pk[..., None]
        e0 = pk
    else:
        e0 = x[..., 0]
    if eta0 is not None:
        e0 = np.broadcast_to(eta0, x.shape[:-1])
    prev = np.concatenate([np.asarray(e0)[..., None], x[..., :-1]], -1)
    m = lfilter([1.0], [1.0, -lam], prev - x, axis=-1)
    S1, S2 = np.cumsum(x, -1), np.cumsum(m, -1)
    if steps is None:
        return S1, S2, m
    i = np.asarray(steps) - 1
    return S1[..., i], S2[..., i], m[..., i]


def exact_areas(lr, lam):
    """Exact rational S1, S2 (P2 Eq. 1 literally, m_1 = 0) for a short schedule."""
    lam = Fraction(lam)
    eta = [Fraction(float(v)) for v in lr]
    s1, s2, m, out1, out2 = Fraction(0), Fraction(0), Fraction(0), [], []
    prev = eta[0]
    for e in eta:
        m = lam * m + (prev - e)
        prev = e
        s1 += e
        s2 += m
        out1.append(s1)
        out2.append(s2)
    return np.array([float(v) for v in out1]), np.array([float(v) for v in out2])


def warmup_cosine(T, W, peak=PEAK, final=0.0):
    """Linear warmup over W steps, then cosine from peak to final over the T - W other steps."""
    t = np.arange(T)
    cos = final + (peak - final) * 0.5 * (1 + np.cos(np.pi * (t - W) / (T - W)))
    return np.where(t < W, peak * (t + 1) / W, cos)


def wsd(T, W, decay, peak=PEAK):
    t = np.arange(T)
    lr = np.full(T, peak)
    lr[:W] = peak * (t[:W] + 1) / W
    lr[T - decay:] = peak * (1 - (t[T - decay:] - (T - decay) + 1) / decay)
    return lr


def cyclic(T, cycles, peak=PEAK):
    """Cosine cycles with 10%-of-cycle linear re-warmups from 0.1*peak (P2 Fig. 3e style)."""
    n = T // cycles
    r = n // 10
    one = np.concatenate([
        np.linspace(0.1 * peak, peak, r, endpoint=False) + 0.09 * peak / r,
        0.1 * peak + 0.9 * peak * 0.5 * (1 + np.cos(np.pi * np.arange(n - r) / (n - r))),
    ])
    return np.tile(one, cycles)[:T]


SCHEDULES = {
    "cosine": (warmup_cosine(20_000, 500), 500),
    "wsd": (wsd(20_000, 500, 2_000), 500),
    "cyclic": (cyclic(20_000, 3), 0),
}


# ------------------------------------------------------------------------------------------------
# P2 Fig. 2 forward-model values


# P2 Fig. 2 parameters, S1/S2 computed independently of cptdyn (plain float64 sums, no data):
# lambda 0.999, 500 warmup steps counted as 2e-4, 20K steps, cosine 2e-4 -> 0 after warmup.
TABLE_8_1 = {
    # step: (constant S1, constant S2, cosine S1, cosine S2)
    5000: (1.000, 0.0, 0.962, 0.0166),
    10000: (2.000, 0.0, 1.670, 0.0804),
    15000: (3.000, 0.0, 1.998, 0.1562),
    20000: (4.000, 0.0, 2.050, 0.1975),
}


def test_table_8_1_areas():
    T, W = 20_000, 500
    steps = np.array(sorted(TABLE_8_1))
    const = np.where(np.arange(T) < W, PEAK * (np.arange(T) + 1) / W, PEAK)
    with x64_context():
        ac = areas(const, steps, warmup_steps=W)
        ak = areas(warmup_cosine(T, W), steps, warmup_steps=W)
    want = np.array([TABLE_8_1[s] for s in steps])
    # the table prints 3-4 significant digits: compare to half a unit of the last digit
    np.testing.assert_allclose(np.asarray(ac.S1), want[:, 0], atol=5e-4)
    np.testing.assert_allclose(np.asarray(ac.S2), want[:, 1], atol=1e-12)
    np.testing.assert_allclose(np.asarray(ak.S1), want[:, 2], atol=5e-4)
    np.testing.assert_allclose(np.asarray(ak.S2), want[:, 3], atol=5e-5)


def test_closed_form_identity():
    # closed form of P2's S2 (sum the m_i recursion): S2_s = [(eta_0 - eta_s) - lam * m_s] / (1 - lam)
    lr, W = SCHEDULES["cyclic"]
    with x64_context():
        a = areas(lr, None, lam=0.999, return_momentum=True)
        S2, m = np.asarray(a.S2), np.asarray(a.m)
    closed = ((lr[0] - lr) - 0.999 * m) / (1 - 0.999)
    np.testing.assert_allclose(S2, closed, rtol=0, atol=1e-9 * np.abs(S2).max())


# ------------------------------------------------------------------------------------------------
# float64 accuracy (<= 1e-9 relative)


def test_reference_is_exact_on_a_short_schedule():
    # the numpy reference itself against exact rational arithmetic
    rng = np.random.default_rng(0)
    lr = np.abs(rng.normal(size=300)) * 1e-4
    e1, e2 = exact_areas(lr, 0.99)
    r1, r2, _ = ref_areas(lr, lam=0.99, warmup="as-run")
    with x64_context():
        a = areas(lr, None, lam=0.99, warmup="as-run")
    for got in (r1, np.asarray(a.S1)):
        np.testing.assert_allclose(got, e1, rtol=1e-13)
    for got in (r2, np.asarray(a.S2)):
        np.testing.assert_allclose(got, e2, rtol=0, atol=1e-13 * np.abs(e2).max())


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("method", ["dense", "gather"])
def test_float64_matches_reference(name, method):
    lr, W = SCHEDULES[name]
    rng = np.random.default_rng(1)
    steps = rng.integers(1, lr.size + 1, size=257)  # unsorted, with repeats
    steps[:2] = [1, lr.size]
    for lam in (0.999, 0.99):
        with x64_context():
            a = areas(lr, steps, lam=lam, warmup_steps=W, method=method, return_momentum=True)
            assert a.S1.dtype == jnp.float64
        r1, r2, rm = ref_areas(lr, steps, lam=lam, warmup_steps=W)
        np.testing.assert_allclose(np.asarray(a.S1), r1, rtol=1e-9)
        scale = np.abs(ref_areas(lr, lam=lam, warmup_steps=W)[1]).max()
        np.testing.assert_allclose(np.asarray(a.S2), r2, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(np.asarray(a.m), rm, rtol=1e-9, atol=1e-9 * np.abs(rm).max())


@pytest.mark.parametrize("T, block", [(1, 32), (33, 32), (100, 1), (250, 12), (700, 100)])
def test_short_and_ragged_lengths(T, block):
    rng = np.random.default_rng(T)
    lr = np.abs(rng.normal(size=T)) * 1e-4
    e1, e2 = exact_areas(lr, 0.999)
    with x64_context():
        for method in ("dense", "gather"):
            a = areas(lr, None if method == "dense" else np.arange(1, T + 1), warmup="as-run",
                      block_size=block, method=method)
            np.testing.assert_allclose(np.asarray(a.S1), e1, rtol=1e-12)
            np.testing.assert_allclose(np.asarray(a.S2), e2, rtol=0,
                                       atol=1e-12 * max(np.abs(e2).max(), 1e-30))


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("block", [8, 32, 40])
def test_every_position_in_the_block(lam, block):
    # observed steps at every in-block / sub-block position (windows, their edges, block ends),
    # the momentum included; the gather and dense paths against the reference
    T = 1000
    lr = warmup_cosine(T, 1) * (1 + 0.3 * np.sin(np.arange(T) / 7.0))
    steps = np.arange(1, T + 1)
    r1, r2, rm = ref_areas(lr, steps, lam=lam, warmup="as-run")
    with x64_context():
        for method in ("gather", "dense"):
            a = areas(lr, steps, lam=lam, warmup="as-run", block_size=block, method=method,
                      return_momentum=True)
            np.testing.assert_allclose(np.asarray(a.S1), r1, rtol=1e-12)
            np.testing.assert_allclose(np.asarray(a.S2), r2, rtol=0,
                                       atol=1e-12 * np.abs(r2).max())
            np.testing.assert_allclose(np.asarray(a.m), rm, rtol=0, atol=1e-12 * np.abs(rm).max())


def test_steps_on_a_grid_end_blocks():
    # steps that are all multiples of 16..128 use that block length (the steps end blocks): same
    # values as the 32-step blocks with in-block sums, in any order, with repeats
    lr, W = SCHEDULES["wsd"]
    steps = np.array([20_000, 100, 5_000, 100, 12_300, 19_900])
    with x64_context():
        grid = areas(lr, steps, warmup_steps=W, return_momentum=True)
        ref = areas(lr, steps, warmup_steps=W, return_momentum=True, block_size=32,
                    method="gather")
    r = ref_areas(lr, steps, warmup_steps=W)
    for got, want, exact in zip(grid, ref, r, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-13, atol=1e-18)
        np.testing.assert_allclose(np.asarray(got), exact, rtol=1e-9,
                                   atol=1e-12 * np.abs(exact).max())


def test_batches_of_schedules():
    # a batch larger than one cache-sized group (the loop over groups of rows), batch shape kept
    T = 60_000
    base = [warmup_cosine(T, 500), wsd(T, 500, 6_000), cyclic(T, 5)]
    lrs = np.stack([b * (1 + 0.1 * k) for k in range(4) for b in base]).reshape(3, 4, T)
    steps = np.sort(np.random.default_rng(4).choice(np.arange(1, T + 1), 300, replace=False))
    r1, r2, _ = ref_areas(lrs, steps, warmup_steps=500)
    f1, f2, _ = ref_areas(lrs, warmup_steps=500)
    with x64_context():
        obs = areas(lrs, steps, warmup_steps=500)
        dense = areas(lrs, warmup_steps=500)
    assert obs.S1.shape == (3, 4, 300) and dense.S2.shape == (3, 4, T)
    for got, want in ((obs.S1, r1), (dense.S1, f1)):  # (the reference's own error is ~1e-12)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    for got, want in ((obs.S2, r2), (dense.S2, f2)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-10 * np.abs(f2).max())


def test_groups_with_a_remainder(monkeypatch):
    # 7 rows in groups of 3 (a loop over 2 groups, then the 1 remaining row)
    from cptdyn.dynamics import _areas

    T = 3000  # 94 blocks of 32, the last one ragged
    monkeypatch.setattr(_areas, "_GROUP_ELEMS", 3 * 3008)
    assert _areas._group_rows(7, 3008) == 3
    lrs = np.stack([cyclic(T, 2) * (1 + 0.1 * k) for k in range(7)])
    steps = np.array([1, 17, 640, 2999, 3000])
    r1, r2, _ = ref_areas(lrs, steps, lam=0.99, warmup="as-run")
    with x64_context():
        for method in ("gather", "dense"):
            a = areas(lrs, steps, lam=0.99, warmup="as-run", method=method)
            np.testing.assert_allclose(np.asarray(a.S1), r1, rtol=1e-12)
            np.testing.assert_allclose(np.asarray(a.S2), r2, rtol=0, atol=1e-12 * np.abs(r2).max())


# ------------------------------------------------------------------------------------------------
# float32: compensated / blocked summation, errors measured and asserted


def _naive_scan(x, lam=0.999):
    """Sequential float32 running sums (what a straightforward lax.scan gives)."""
    def body(c, xt):
        s1, m, s2, prev = c
        m = lam * m + (prev - xt)
        return (s1 + xt, m, s2 + m, xt), (s1 + xt, s2 + m)

    z = jnp.zeros((), x.dtype)
    return jax.lax.scan(body, (z, z, z, x[0]), x)[1]


# Measured on this implementation (T = 1e5, float32 input): S1 max relative error <= 8e-8
# (dense, gather and grid steps), S2 max error / max|S2| <= 1.5e-7; the naive float32 scan:
# 1e-5..6e-4.
@pytest.mark.parametrize("name", ["cosine", "wsd", "cyclic"])
def test_float32_error_is_a_few_ulps(name):
    T, W = 100_000, 1000
    lr = {"cosine": warmup_cosine(T, W), "wsd": wsd(T, W, 10_000), "cyclic": cyclic(T, 4)}[name]
    W = 0 if name == "cyclic" else W
    x32 = lr.astype(np.float32)
    r1, r2, _ = ref_areas(x32.astype(np.float64), warmup_steps=W)
    steps = np.arange(1, T + 1, 7)
    errs = {}
    for method, st in (("dense", None), ("gather", steps), ("grid", np.arange(100, T + 1, 100))):
        a = areas(x32, st, warmup_steps=W, method="auto" if method == "grid" else method)
        assert a.S1.dtype == jnp.float32
        i = slice(None) if st is None else st - 1
        errs[method] = (
            np.max(np.abs(np.asarray(a.S1, np.float64) - r1[i]) / r1[i]),
            np.max(np.abs(np.asarray(a.S2, np.float64) - r2[i])) / np.abs(r2).max(),
        )
    assert errs["dense"][0] <= 4e-7 and errs["gather"][0] <= 1.5e-7, errs
    assert errs["grid"][0] <= 1.5e-7, errs
    assert max(e[1] for e in errs.values()) <= 4e-7, errs
    xe = x32.copy()
    xe[:W] = x32[W]
    n1, n2 = _naive_scan(jnp.asarray(xe))
    naive1 = np.max(np.abs(np.asarray(n1, np.float64) - r1) / r1)
    naive2 = np.max(np.abs(np.asarray(n2, np.float64) - r2)) / np.abs(r2).max()
    assert naive1 > 20 * errs["dense"][0] and naive2 > 20 * max(errs["dense"][1], 1e-8)


# ------------------------------------------------------------------------------------------------
# warmup conventions and CPT splits


def test_warmup_conventions():
    T, W = 3000, 500
    lr = warmup_cosine(T, W)
    steps = np.arange(1, T + 1)
    with x64_context():
        peak = areas(lr, steps, warmup_steps=W, warmup="peak")
        run = areas(lr, steps, warmup_steps=W, warmup="as-run")
        x, eta0 = effective_lr(lr, warmup_steps=W)
    S1p, S2p = np.asarray(peak.S1), np.asarray(peak.S2)
    # P2 §3.4: warmup steps add eta_max each to S1 and nothing to S2
    np.testing.assert_allclose(S1p[:W], PEAK * np.arange(1, W + 1), rtol=1e-13)
    assert np.all(S2p[:W] == 0.0)
    assert float(eta0) == PEAK and np.all(np.asarray(x)[:W] == PEAK)
    # as run: the ramp is a re-warmup, S2 < 0 while the LR rises
    assert np.all(np.asarray(run.S2)[1:W] < 0)
    np.testing.assert_allclose(np.asarray(run.S1), np.cumsum(lr), rtol=1e-12)


@pytest.mark.parametrize("split", ["origin", "step"])
def test_cpt_split_sums_to_whole(split):
    pt = wsd(8000, 200, 1000)  # annealed to 0 at the transfer: a PT momentum tail exists
    cpt = np.concatenate([np.linspace(0, 0.5 * PEAK, 300), 0.5 * PEAK * np.ones(3700)])
    lr, Tp = np.concatenate([pt, cpt]), 8000
    steps = np.arange(1, lr.size + 1)
    with x64_context():
        c = cpt_areas(lr, steps, transfer_step=Tp, warmup_steps=200, split=split)
        whole = areas(lr, steps, warmup_steps=200, return_momentum=True)
    S1pt, S1cpt, S2pt, S2cpt = (np.asarray(v) for v in c)
    S1, S2, m = (np.asarray(v) for v in whole)
    np.testing.assert_allclose(S1pt + S1cpt, S1, rtol=1e-12)
    np.testing.assert_allclose(S2pt + S2cpt, S2, rtol=0, atol=1e-12 * np.abs(S2).max())
    assert np.all(S1cpt[:Tp] == 0) and np.all(S2cpt[:Tp] == 0)
    np.testing.assert_allclose(S1cpt[Tp:], np.cumsum(cpt), rtol=1e-12)
    if split == "step":  # S2pt frozen at the transfer
        assert np.all(S2pt[Tp:] == S2pt[Tp - 1])
    else:
        # origin split, closed form: S2cpt(t) = [(eta_pt_end - eta_t) - lam * m_cpt_t] / (1 - lam), where
        # m_cpt is the momentum of the CPT decrements only (transfer jump included)
        m_cpt = lfilter([1.0], [1.0, -0.999], np.concatenate([[pt[-1]], cpt[:-1]]) - cpt)
        closed = ((pt[-1] - cpt) - 0.999 * m_cpt) / (1 - 0.999)
        np.testing.assert_allclose(S2cpt[Tp:], closed, rtol=0, atol=1e-10)
        assert S2pt[-1] > S2pt[Tp - 1]  # the PT momentum keeps adding after the transfer
        # a re-warmup from 0 makes S2cpt negative (P1 §3.3)
        assert np.all(S2cpt[Tp + 1: Tp + 300] < 0)


def test_momentum_tail():
    m, lam = 1e-4, 0.999
    n = np.array([0, 1, 2, 10, 5000])
    want = [m * sum(lam**i for i in range(1, k + 1)) for k in n]
    with x64_context():
        got = np.asarray(momentum_tail(jnp.asarray(m), n, lam))
        got_t = np.asarray(jax.jit(momentum_tail)(jnp.asarray(m), n, jnp.asarray(lam)))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got_t, want, rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# jit, vmap, grad


def test_jit_vmap_batch_agree():
    lrs = np.stack([SCHEDULES["cosine"][0], SCHEDULES["wsd"][0]])
    steps = np.array([1, 499, 500, 501, 7777, 20_000])
    with x64_context():
        eager = areas(lrs, steps, warmup_steps=500)
        jitted = jax.jit(lambda a: areas(a, steps, warmup_steps=500))(lrs)
        vm = jax.vmap(lambda a: areas(a, steps, warmup_steps=500))(lrs)
        traced_steps = jax.jit(lambda a, s: areas(a, s, warmup_steps=500))(lrs, steps)
        rows = [areas(r, steps, warmup_steps=500) for r in lrs]
    for other in (jitted, vm, traced_steps):
        for k in (0, 1):
            # eager float64 goes through the NumPy path (sequential cumsum: ~T * 1e-16)
            np.testing.assert_allclose(np.asarray(other[k]), np.asarray(eager[k]), rtol=1e-12)
    for i, r in enumerate(rows):
        np.testing.assert_allclose(np.asarray(eager.S2[i]), np.asarray(r.S2), rtol=1e-14)
    assert forward_area(lrs, steps, warmup_steps=500).shape == (2, 6)
    assert annealing_area(lrs, steps, warmup_steps=500).shape == (2, 6)


def _fd_check(f, x, direction, eps):
    g = jax.grad(f)(x)
    fd = (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)
    return float(jnp.vdot(g, direction)), float(fd)


@pytest.mark.parametrize("method", ["dense", "gather"])
def test_grad_wrt_lr(method):
    lr = cyclic(3000, 3)
    steps = np.array([10, 700, 1500, 2999])
    w = np.array([0.3, -1.0, 2.0, 0.7])
    with x64_context():
        x = jnp.asarray(lr)
        v = jnp.asarray(np.random.default_rng(3).normal(size=lr.size)) * 1e-6

        def f(a):
            r = areas(a, steps, lam=0.995, warmup_steps=50, method=method)
            return jnp.sum(w * (r.S1**2 + 10 * r.S2))

        g = jax.jit(jax.grad(f))(x)
        f = jax.jit(f)
        fd = (f(x + v) - f(x - v)) / 2  # exact up to rounding: f is quadratic in lr
        assert abs(float(jnp.vdot(g, v)) - float(fd)) <= 1e-7 * abs(float(fd))


@pytest.mark.parametrize("method", ["dense", "gather"])
def test_grad_wrt_lam(method):
    lr = cyclic(3000, 3)
    steps = np.array([10, 700, 1500, 2999])
    w = np.array([0.3, -1.0, 2.0, 0.7])
    with x64_context():
        x = jnp.asarray(lr)

        def f(lam):
            return jnp.sum(w * areas(x, steps, lam=lam, method=method).S2)

        f_t = jax.jit(f)  # lam traced: weights computed in JAX, differentiable
        lam0 = jnp.asarray(0.995)
        g = jax.jit(jax.grad(f))(lam0)
        fd = (f_t(lam0 + 1e-6) - f_t(lam0 - 1e-6)) / 2e-6
        assert abs(float(g) - float(fd)) <= 1e-6 * abs(float(fd))
        # the traced-lam path gives the same values as the static (float64 weights) path
        np.testing.assert_allclose(float(f_t(lam0)), float(f(0.995)), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"warmup": "linear"}, r"warmup='linear' is not one of"),
        ({"lam": 1.0}, r"lam=1.0 is outside \[0, 1\)"),
        ({"warmup_steps": 11}, r"warmup_steps=11 must be in 0..10"),
        ({"block_size": 0}, r"block_size=0 must be >= 1"),
        ({"method": "fast"}, r"method='fast' is not one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        areas(np.ones(10), [1, 2], **kwargs)


def test_bad_steps_and_transfer():
    with pytest.raises(ValueError, match=r"steps contains 11, outside 1..10"):
        areas(np.ones(10), [1, 11])
    with pytest.raises(ValueError, match=r"steps contains 0"):
        areas(np.ones(10), [0])
    with pytest.raises(ValueError, match=r"transfer_step=10 must be in 1..9"):
        cpt_areas(np.ones(10), [1], transfer_step=10)
    with pytest.raises(ValueError, match=r"split='middle' is not one of"):
        cpt_areas(np.ones(10), [1], transfer_step=5, split="middle")


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.99, 0.999, 0.99999])
def test_numpy_path_matches_kernel(lam):
    # the float64 NumPy path (eager fitting features) agrees with the compiled kernel
    rng = np.random.default_rng(3)
    lr = np.abs(rng.normal(size=(2, 30_000))).cumsum(-1)[:, ::-1] * 1e-9 + 1e-5
    lr[:, 1000:1200] *= 1.5  # a re-warmup bump: negative decrements
    steps = np.sort(rng.choice(np.arange(1, 30_001), 200, replace=False))
    with x64_context():
        for kw in ({"warmup_steps": 300}, {"warmup_steps": 300, "warmup": "as-run"},
                   {"eta0": np.array([3e-5, 1e-5])}):
            a = areas(lr, steps, lam=lam, method="numpy", return_momentum=True, **kw)
            b = areas(lr, steps, lam=lam, method="gather", return_momentum=True, **kw)
            for u, v in zip(a, b, strict=True):
                u, v = np.asarray(u), np.asarray(v)
                assert u.shape == v.shape == (2, 200)
                assert np.max(np.abs(u - v)) <= 1e-12 * np.max(np.abs(v))
            # "auto" computes eager float64 calls with NumPy (no compilation)
            c = areas(lr, steps, lam=lam, return_momentum=True, **kw)
            assert all(np.array_equal(np.asarray(u), np.asarray(w)) for u, w in zip(a, c,
                                                                                   strict=True))
    # float32 and traced calls use the kernel; "numpy" refuses traced input
    assert areas(lr.astype(np.float32), steps, lam=lam).S1.dtype == jnp.float32
    with pytest.raises(ValueError, match="method='numpy' needs concrete"):
        jax.jit(lambda x: areas(x, steps, lam=lam, method="numpy").S1)(lr.astype(np.float32))
