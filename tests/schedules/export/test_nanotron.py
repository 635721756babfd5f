"""nanotron YAML against its scheduler re-implemented as written in its source:
huggingface/nanotron ``src/nanotron/helpers.py::lr_scheduler_builder`` @
31aa4c4468e3ed6820010bc4a5c2933a314e1d19 plus its later ``1-sqrt`` branch (per-group
``initial_lr`` version).
"""

import math
import types

import numpy as np
import pytest
import yaml

from cptdyn.schedules._core import Constant, ConstantThenDecay, Cosine, Linear
from cptdyn.schedules._export import export

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, planned, wsd


def nanotron_lrs(doc, n):
    """nanotron helpers.py lr_scheduler_builder (LambdaLR; update t uses lambda(t) * lr)."""
    a = types.SimpleNamespace(**doc["optimizer"]["learning_rate_scheduler"])
    total_training_steps = doc["tokens"]["train_steps"]
    assert a.lr_warmup_style in ["linear", "constant"]
    assert a.lr_decay_style in ["linear", "cosine", "1-sqrt"]
    if a.lr_decay_steps is None:
        lr_decay_steps = total_training_steps
        if a.lr_warmup_steps is not None:
            lr_decay_steps -= a.lr_warmup_steps
        if a.lr_decay_starting_step is not None:
            lr_decay_steps -= a.lr_decay_starting_step
    else:
        lr_decay_steps = a.lr_decay_steps
    if a.lr_decay_starting_step is None:
        lr_decay_starting_step = a.lr_warmup_steps if a.lr_warmup_steps is not None else 0
    else:
        lr_decay_starting_step = a.lr_decay_starting_step
    initial_lr = a.learning_rate

    def lr_lambda(current_step):
        if a.lr_warmup_steps == 0 and lr_decay_steps == 0:
            return initial_lr
        elif a.lr_warmup_style is not None and current_step <= a.lr_warmup_steps:
            if a.lr_warmup_style == "linear":
                lmbda = initial_lr * current_step / max(a.lr_warmup_steps, 1)
            elif a.lr_warmup_style == "constant":
                lmbda = a.learning_rate
        elif current_step < lr_decay_starting_step:
            lmbda = initial_lr
        elif a.lr_decay_style is not None and current_step < lr_decay_starting_step + lr_decay_steps:
            if a.lr_decay_style == "cosine":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    1 + math.cos(math.pi * (current_step - lr_decay_starting_step) / lr_decay_steps)
                ) / 2
            elif a.lr_decay_style == "linear":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    lr_decay_steps - (current_step - lr_decay_starting_step)) / lr_decay_steps
            elif a.lr_decay_style == "1-sqrt":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    1 - math.sqrt((current_step - lr_decay_starting_step) / lr_decay_steps))
        else:
            lmbda = a.min_decay_lr
        lmbda /= initial_lr
        return lmbda

    return np.array([a.learning_rate * lr_lambda(t) for t in range(n)])


NANOTRON = [
    HEADLINE["wsd-1-sqrt"],
    HEADLINE["cosine"],
    wsd("linear", warmup_init=0.0),
    Linear(T, PEAK, 0.0, warmup_steps=W, warmup_init=0.0),
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
    ConstantThenDecay(T, PEAK, 1e-5, decay_fraction=0.25, decay_shape="cosine"),
    Cosine(T, PEAK, 3e-5),
]


@pytest.mark.parametrize("i", range(len(NANOTRON)))
def test_nanotron_yaml_reproduces_plan(i):
    s = NANOTRON[i]
    res = export(s, "nanotron")
    assert res.native
    doc = yaml.safe_load(res.files["nanotron_lr_scheduler.yaml"])
    assert doc == res.payload
    assert_same_lrs(nanotron_lrs(doc, T), planned(s))
