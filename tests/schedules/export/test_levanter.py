"""levanter YAML against its schedule re-implemented with real optax as written in its source:
marin-community/levanter ``src/levanter/optim/config.py::OptimizerConfig.lr_scheduler`` @
928e69f0ffa81afb474852f756f7528a702cada6.
"""

import types

import optax
import pytest
import yaml

from cptdyn.schedules._core import Constant, ConstantThenDecay, Cosine, Linear
from cptdyn.schedules._export import export

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, optax_lrs, planned, wsd


def levanter_lrs(doc):
    """levanter OptimizerConfig.lr_scheduler (928e69f) with real optax, one cycle; levanter wraps
    it in optax.inject_hyperparams, so update t uses schedule(t)."""
    o = types.SimpleNamespace(**{"decay": None, "rewarmup": 0.0, **doc["optimizer"]})
    num_train_steps = doc["trainer"]["num_train_steps"]

    def _convert_frac_or_steps(frac_or_steps, num_train_steps):
        if frac_or_steps < 0.0 or (frac_or_steps > 1.0 and frac_or_steps % 1 != 0):
            raise ValueError(f"Invalid fraction {frac_or_steps}.")
        if frac_or_steps <= 1.0:
            return int(frac_or_steps * num_train_steps)
        return int(frac_or_steps)

    cooldown_points = [0, num_train_steps]
    learning_rate = o.learning_rate
    min_lr = learning_rate * o.min_lr_ratio
    schedules, boundaries = [], []
    previous_end = 0.0
    for cycle, (start, end) in enumerate(zip(cooldown_points[:-1], cooldown_points[1:], strict=True)):
        cycle_steps = end - start
        if cycle == 0:
            warmup_steps = _convert_frac_or_steps(o.warmup, cycle_steps)
        else:
            warmup_steps = _convert_frac_or_steps(o.rewarmup, cycle_steps)
        if warmup_steps != 0:
            schedules.append(optax.linear_schedule(previous_end, learning_rate, warmup_steps))
            boundaries.append(start + warmup_steps)
        lr_decay_steps = (_convert_frac_or_steps(o.decay, cycle_steps) if o.decay is not None
                          else cycle_steps - warmup_steps)
        stable_steps = cycle_steps - warmup_steps - lr_decay_steps
        if stable_steps != 0:
            schedules.append(optax.constant_schedule(learning_rate))
            boundaries.append(start + warmup_steps + stable_steps)
        if o.lr_schedule == "constant":
            schedule = optax.constant_schedule(learning_rate)
        elif o.lr_schedule == "cosine":
            schedule = optax.cosine_decay_schedule(learning_rate, lr_decay_steps, o.min_lr_ratio)
        elif o.lr_schedule == "linear":
            schedule = optax.linear_schedule(learning_rate, min_lr, lr_decay_steps)
        previous_end = schedule(lr_decay_steps)
        schedules.append(schedule)
        boundaries.append(end)
    schedule = optax.join_schedules(schedules, boundaries) if len(schedules) > 1 else schedules[0]
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    return optax_lrs(None, num_train_steps, tx=tx)


LEVANTER = [
    HEADLINE["cosine"],
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0),
    wsd("linear", warmup_init=0.0),
    wsd("cosine", warmup_init=0.0, final_lr=0.0),
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
    Cosine(T, PEAK, 3e-5, warmup_steps=1, warmup_init=0.0),  # 1 step: written as a fraction
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=1 / T),  # 1-step decay: a fraction too
]


@pytest.mark.parametrize("i", range(len(LEVANTER)))
def test_levanter_yaml_reproduces_plan(i):
    s = LEVANTER[i]
    res = export(s, "levanter")
    assert res.native
    doc = yaml.safe_load(res.files["levanter_optimizer.yaml"])
    assert doc == res.payload
    assert_same_lrs(levanter_lrs(doc), planned(s))
