"""Shared by the export tests: the float64 plan, the comparison, real optax updates, and the
schedules several trainers are checked on.

Every check compares the LR each trainer would use at every optimizer update with
``schedule.array()`` computed in float64 (relative error <= 1e-6; absolute floor 1e-12 * peak).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cptdyn._pytree import x64_context
from cptdyn.schedules._core import WSD, Cosine, schedule_from_spec

T, W, PEAK = 240, 24, 3e-4


def planned(s):
    """schedule.array() in float64."""
    with x64_context():
        return np.asarray(schedule_from_spec(s.to_spec()).array(), dtype=np.float64)


def assert_same_lrs(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 * np.max(np.abs(want)))


def optax_lrs(fn, n, tx=None):
    """LR of each of ``n`` real optax.sgd updates (count 0, 1, ...): update = -lr * grad."""
    with x64_context():
        tx = optax.sgd(fn) if tx is None else tx
        params = jnp.zeros(1)
        state = tx.init(params)
        step = jax.jit(tx.update)
        used = []
        for _ in range(n):
            upd, state = step(jnp.ones(1), state, params)
            used.append(-float(upd[0]))
    return np.array(used)


def wsd(shape, **kw):
    kw.setdefault("warmup_steps", W)
    return WSD(T, PEAK, kw.pop("final_lr", 3e-5), decay_fraction=0.25, decay_shape=shape, **kw)


HEADLINE = {
    "wsd-1-sqrt": WSD(T, PEAK, 0.0, decay_fraction=0.25, decay_shape="1-sqrt", warmup_steps=W,
                      warmup_init=0.0),
    "cosine": Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0),
}
