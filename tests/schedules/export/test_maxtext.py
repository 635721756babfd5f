"""MaxText overrides against its schedule re-implemented with real optax as written in its source:
AI-Hypercomputer/maxtext ``src/maxtext/utils/maxtext_utils.py::create_learning_rate_schedule`` @
65dda9aeac1811345a0372709cc28a6f3c56cc91.
"""

import types

import jax.numpy as jnp
import optax
import pytest
import yaml

from cptdyn.schedules._core import Constant
from cptdyn.schedules._export import export

from .helpers import PEAK, T, W, assert_same_lrs, optax_lrs, planned, wsd


def maxtext_lrs(config):
    """maxtext_utils.create_learning_rate_schedule (65dda9a) built with real optax; update t
    uses schedule(t)."""
    c = types.SimpleNamespace(**config)

    def make_cos_schedule(init_lr, final_lr, len_steps):
        def schedule(step):
            pct = step / (len_steps - 1) if len_steps > 1 else 1.0
            a = 0.5 * (jnp.cos(jnp.pi * pct) + 1)
            return init_lr * a + final_lr * (1 - a)

        return schedule

    lr = c.learning_rate
    final_lr = lr * c.learning_rate_final_fraction
    warmup_steps = int(c.learning_rate_schedule_steps * c.warmup_steps_fraction)
    constant_zero_steps = c.steps - c.learning_rate_schedule_steps
    pieces, boundaries = [], []
    if warmup_steps > 0:
        pieces.append(optax.linear_schedule(init_value=0.0, end_value=lr,
                                            transition_steps=warmup_steps - 1))
        boundaries.append(warmup_steps)
    if c.lr_schedule_type == "cosine":
        cos_steps = c.learning_rate_schedule_steps - warmup_steps
        if cos_steps > 0:
            pieces.append(make_cos_schedule(lr, final_lr, cos_steps))
            boundaries.append(warmup_steps + cos_steps)
    else:
        decay_steps = int(c.learning_rate_schedule_steps * c.wsd_decay_steps_fraction)
        stable_steps = c.learning_rate_schedule_steps - warmup_steps - decay_steps
        if stable_steps > 0:
            pieces.append(optax.constant_schedule(lr))
            boundaries.append(warmup_steps + stable_steps)
        if decay_steps > 0:
            if c.wsd_decay_style == "linear":
                pieces.append(optax.linear_schedule(init_value=lr, end_value=final_lr,
                                                    transition_steps=decay_steps - 1))
            else:
                pieces.append(make_cos_schedule(lr, final_lr, decay_steps))
            boundaries.append(warmup_steps + stable_steps + decay_steps)
    if constant_zero_steps > 0:
        pieces.append(optax.constant_schedule(0.0))
        boundaries.append(c.learning_rate_schedule_steps)
    schedule = optax.join_schedules(pieces, boundaries)
    return optax_lrs(schedule, c.steps)


@pytest.mark.parametrize("s", [Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
                               Constant(T, PEAK), wsd("1-sqrt", warmup_init=0.0, final_lr=PEAK)])
def test_maxtext_overrides_reproduce_plan(s):
    res = export(s, "maxtext")
    assert res.native
    cfg = yaml.safe_load(res.files["maxtext_lr.yml"])
    assert cfg == res.payload
    assert_same_lrs(maxtext_lrs(cfg), planned(s))
