"""``bfgs_pool`` (starts queued for a few slots, run in pieces) ends every start exactly where
the uninterrupted vmapped ``bfgs`` does: same trips, only cut into pieces."""

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._optim import RUNNING, bfgs, bfgs_init, bfgs_pool, bfgs_trips
from cptdyn._pytree import x64_context


def _vg(x):
    # Rosenbrock in 3-D: starts need very different iteration counts (a real queue)
    def f(z):
        return jnp.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2)

    val, g = jax.value_and_grad(f)(x)
    return val, g, x  # "predictions": the point itself (n_pred = 3)


def test_pool_equals_uninterrupted_bfgs():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(7, 3)) * np.array([[0.5], [2.0], [1.0], [3.0], [0.1], [1.5], [2.5]])
    with x64_context():
        args = (jnp.asarray(200), jnp.asarray(1e-9), jnp.asarray(1e-14))
        ref = jax.vmap(lambda x: bfgs(_vg, x, 3, *args))(jnp.asarray(x0))
        trips = jax.jit(jax.vmap(lambda c, k: bfgs_trips(_vg, c, k, *args)))
        calls = []

        def step(state, rows, k_stop):
            calls.append(rows.copy())
            return trips(state, jnp.asarray(k_stop))

        got = bfgs_pool(step, x0, 3, 200, slots=3, piece=5)
    ref = [np.asarray(a) for a in ref]
    assert len(calls) > 3 and any(set(c) != set(calls[0]) for c in calls)  # slots were reused
    its = ref[4]
    assert its.max() >= 1.5 * its.min()  # the starts really differ in length (26..51 here)
    assert not np.any(ref[5] == RUNNING)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(np.asarray(b), a)


def _vg_two_minima(x):
    # f(z) = (z0^2 - 1)^2 + 0.3 z0 + z1^2: a lower minimum near z0 = -1, a higher one near z0 = +1
    def f(z):
        return (z[0] ** 2 - 1.0) ** 2 + 0.3 * z[0] + z[1] ** 2

    val, g = jax.value_and_grad(f)(x)
    return val, g, x[:1]


def _pool(x0, **kw):
    args = (jnp.asarray(200), jnp.asarray(1e-10), jnp.asarray(1e-15))
    trips = jax.jit(jax.vmap(lambda c, k: bfgs_trips(_vg_two_minima, c, k, *args)))
    return bfgs_pool(lambda s, rows, k: trips(s, jnp.asarray(k)), x0, 1, 200, slots=2, piece=3, **kw)


def test_agreement_stop_skips_restarts_and_keeps_each_groups_best():
    """Two problems (groups) of 6 restarts each: once two restarts of a group agree on a minimum
    with none lower, that group's queued restarts are skipped (SKIPPED, f = inf), and the best
    of every group is the one running all restarts finds."""
    from cptdyn._optim import CONVERGED, SKIPPED

    # group 0: its first two starts go to the lower minimum (z0 ~ -1) -> the rest are skipped;
    # group 1: its first two starts find the higher one, a later start finds the lower one
    x0 = np.array([[-1.2, 0.5], [-0.8, -0.3], [1.5, 1.0], [0.7, 0.2], [-2.0, 1.0], [1.1, 0.0],
                   [1.2, 0.5], [0.8, -0.3], [-1.5, 1.0], [-0.7, 0.2], [2.0, 1.0], [-1.1, 0.0]])
    groups = np.repeat([0, 1], 6)
    with x64_context():
        full = _pool(x0)
        got = _pool(x0, groups=groups, agree_rtol=1e-8)
    f_full, f_got, st = np.asarray(full[1]), np.asarray(got[1]), np.asarray(got[5])
    assert np.all(np.isin(np.asarray(full[5]), CONVERGED))
    assert np.sum(st == SKIPPED) >= 3  # group 0's queued restarts never ran
    assert np.all(np.isinf(f_got[(st == SKIPPED) & (np.asarray(got[4]) == 0)]))
    for g in (0, 1):
        rows = groups == g
        assert f_got[rows].min() == f_full[rows].min()  # same best row, bit for bit
    # group 1's lower minimum was only found by a later restart: it was not stopped early
    assert f_got[groups == 1].min() < -0.2


def test_negative_group_is_exempt_from_the_agreement_stop():
    """A problem given a negative group index runs every restart to its end (``fit_many``'s
    ``every_start``, used for the fit ``select_law`` returns), while the others still stop."""
    from cptdyn._optim import SKIPPED

    x0 = np.array([[-1.2, 0.5], [-0.8, -0.3], [1.5, 1.0], [0.7, 0.2], [-2.0, 1.0], [1.1, 0.0]] * 2)
    with x64_context():
        full = _pool(x0)
        got = _pool(x0, groups=np.repeat([0, -2], 6), agree_rtol=1e-8)
    st = np.asarray(got[5])
    assert np.sum(st[:6] == SKIPPED) >= 3 and not np.any(st[6:] == SKIPPED)
    for u, v in zip(full, got, strict=True):  # the exempt rows: exactly as without the stop
        np.testing.assert_array_equal(np.asarray(u)[6:], np.asarray(v)[6:])


def test_agreement_stop_off_runs_every_row():
    x0 = np.array([[-1.2, 0.5], [-0.8, -0.3], [1.5, 1.0], [0.7, 0.2]])
    with x64_context():
        a = _pool(x0)
        b = _pool(x0, groups=np.zeros(4, int), agree_rtol=None)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_host_init_equals_bfgs_init():
    from cptdyn._optim import _init_np, bfgs_init

    for x64 in (True, False):
        x = np.array([0.5, -1.0, 2.0], np.float64 if x64 else np.float32)
        if x64:
            with x64_context():
                ref = bfgs_init(jnp.asarray(x), 4)
                got = _init_np(x, 4)
        else:
            ref = bfgs_init(jnp.asarray(x), 4)
            got = _init_np(x, 4)
        assert set(ref) == set(got)
        for k in ref:
            assert got[k].dtype == ref[k].dtype, k
            np.testing.assert_array_equal(got[k], np.asarray(ref[k]), err_msg=k)


def _vgh_rosenbrock(x):
    # Rosenbrock as residuals r = (10 (z1 - z0^2), 1 - z0), f = 0.5 |r|^2: Gauss-Newton H = J^T J
    def res(z):
        return jnp.stack([10.0 * (z[1] - z[0] ** 2), 1.0 - z[0]])

    r = res(x)
    j = jax.jacfwd(res)(x)
    return 0.5 * r @ r, j.T @ r, j.T @ j, x


def test_lm_trips_solves_least_squares_and_runs_in_the_pool():
    from cptdyn._optim import CONVERGED, lm_trips

    x0 = np.array([[-1.2, 1.0], [3.0, -2.0], [0.0, 0.0], [-2.0, 4.0], [1.5, 0.5]])
    with x64_context():
        args = (jnp.asarray(200), jnp.asarray(1e-12), jnp.asarray(1e-15))
        trips = jax.jit(jax.vmap(lambda c, k: lm_trips(_vgh_rosenbrock, c, k, *args)))
        x, f, g, pred, it, status = bfgs_pool(lambda s, rows, k: trips(s, jnp.asarray(k)),
                                              x0, 2, 200, slots=2, piece=4)
    np.testing.assert_allclose(x, 1.0, atol=1e-6)  # the minimum (1, 1), f = 0
    assert np.all(f < 1e-12) and all(int(s) in CONVERGED for s in status)
    np.testing.assert_allclose(pred, x)  # predictions of the accepted point
    assert int(np.max(it)) < 40  # Gauss-Newton on a zero-residual problem: a few steps


def test_lm_trips_non_finite_start():
    from cptdyn._optim import NONFINITE, lm_trips

    def vgh(x):
        return jnp.inf, jnp.zeros_like(x), jnp.zeros((2, 2)), x

    with x64_context():
        args = (jnp.asarray(50), jnp.asarray(1e-9), jnp.asarray(1e-12))
        c = lm_trips(vgh, bfgs_init(jnp.zeros(2), 2), jnp.asarray(10_000), *args)
    assert int(c["status"]) == NONFINITE


def test_spd_solve_matches_numpy():
    from cptdyn._optim import spd_solve

    rng = np.random.default_rng(1)
    with x64_context():
        for n in (1, 2, 5, 7):
            m = rng.normal(size=(n, n))
            a = m @ m.T + 0.1 * np.eye(n)
            b = rng.normal(size=n)
            got = np.asarray(spd_solve(jnp.asarray(a), jnp.asarray(b)))
            np.testing.assert_allclose(got, np.linalg.solve(a, b), rtol=1e-10, atol=1e-12)
        # singular: finite, no NaN (the LM step then falls back on its damping)
        assert np.all(np.isfinite(np.asarray(spd_solve(jnp.zeros((3, 3)), jnp.ones(3)))))
