"""``bfgs_pool`` (starts queued for a few slots, run in pieces) ends every start exactly where
the uninterrupted vmapped ``bfgs`` does: same trips, only cut into pieces."""

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._optim import RUNNING, bfgs, bfgs_pool, bfgs_trips
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
