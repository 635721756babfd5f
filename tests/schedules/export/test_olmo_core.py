"""OLMo-core scheduler snippet against its schedulers re-implemented as written in their source:
allenai/OLMo-core ``src/olmo_core/optim/scheduler.py`` @ 014c4c6200ac7bad0f687719d6f1df298de0596b
(``warmup``/``decay`` field names of the later version) and
``src/olmo_core/train/trainer.py::_fit_epoch`` (``global_step += 1`` before
``train_module.optim_step()``, which calls ``scheduler.set_lr(group, trainer)``).
"""

import ast
import math

import numpy as np
import pytest

from cptdyn.schedules._core import Constant, ConstantThenDecay, Cosine, InverseSqrt, Linear
from cptdyn.schedules._export import export

from .helpers import PEAK, T, W, assert_same_lrs, planned, wsd


def parse_olmo(text):
    """The scheduler class and keyword arguments from the emitted Python snippet."""
    tree = ast.parse(text)
    call = next(n.value for n in tree.body if isinstance(n, ast.Assign))
    return call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def olmo_lrs(cls, kw, initial_lr, max_steps):
    """olmo_core/optim/scheduler.py get_lr; the Trainer increments global_step before the batch,
    so update t calls get_lr(initial_lr, current=t + 1, t_max=max_steps)."""

    def _linear_warmup(initial_lr, current, warmup, warmup_min_lr=0.0):
        assert 0 <= warmup_min_lr < initial_lr
        return warmup_min_lr + (initial_lr - warmup_min_lr) * min(current, warmup) / warmup

    def _linear_decay(initial_lr, step_from_end, decay, decay_min_lr=0.0):
        assert 0 <= decay_min_lr < initial_lr
        return decay_min_lr + (initial_lr - decay_min_lr) * min(step_from_end, decay) / decay

    def get_lr(current, t_max):
        warmup = kw.get("warmup")
        m = kw.get("warmup_min_lr", 0.0)
        if cls == "ConstantScheduler":
            return initial_lr
        if cls == "ConstantWithWarmup":
            if current <= warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            return initial_lr
        if cls == "WSD":
            if current <= warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            decay = kw["decay"]
            if current >= t_max - decay:
                return _linear_decay(initial_lr, t_max - current, decay, kw["decay_min_lr"])
            return initial_lr
        if cls in ("CosWithWarmup", "LinearWithWarmup"):
            t_max = t_max if kw.get("t_max") is None else kw["t_max"]
            eta_min = initial_lr * kw["alpha_f"]
            if current < warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            elif current >= t_max:
                return eta_min
            current = current - warmup
            t_max = t_max - warmup
            if cls == "CosWithWarmup":
                return eta_min + (initial_lr - eta_min) * (1 + math.cos(math.pi * current / t_max)) / 2
            return initial_lr - (initial_lr - eta_min) * (current / t_max)
        if cls == "InvSqrtWithWarmup":
            if current < warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            eta_min = initial_lr * kw["alpha_f"]
            return eta_min + (initial_lr - eta_min) * math.sqrt(warmup / current)
        raise AssertionError(cls)

    return np.array([get_lr(t + 1, max_steps) for t in range(max_steps)])


OLMO = [
    Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.05),
    Cosine(T, PEAK, 0.0),
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.1),
    Constant(T, PEAK, warmup_steps=W, warmup_init=None),  # (t+1)/W: OLMo-core's warmup=W
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.2),
    wsd("linear", warmup_init=None),
    wsd("linear", warmup_init=0.1),
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=0.25),
    InverseSqrt(T, PEAK),
]


@pytest.mark.parametrize("i", range(len(OLMO)))
def test_olmo_core_scheduler_reproduces_plan(i):
    s = OLMO[i]
    res = export(s, "olmo-core")
    assert res.native
    cls, kw = parse_olmo(res.files["olmo_core_scheduler.py"])
    assert (cls, kw) == (res.payload["class"], res.payload["kwargs"])
    assert_same_lrs(olmo_lrs(cls, kw, res.payload["lr"], res.payload["max_steps"]), planned(s))
