"""Megatron-LM flags against ``OptimizerParamScheduler`` re-implemented as written in its source:
NVIDIA/Megatron-LM ``megatron/core/optimizer_param_scheduler.py`` (``OptimizerParamScheduler.get_lr``
/ ``step``) @ 00caa53af30912914981c86f39db123961678bbd; ``megatron/training/training.py`` calls
``opt_param_scheduler.step(increment=global batch)`` after each successful ``optimizer.step()``.
"""

import math

import numpy as np
import pytest

from cptdyn.schedules._core import Constant, ConstantThenDecay, InverseSqrt, Linear
from cptdyn.schedules._export import export

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, planned, wsd


def parse_megatron_flags(text):
    toks = " ".join(line for line in text.splitlines() if not line.startswith("#"))
    toks = toks.replace("\\", " ").split()
    return {toks[i]: toks[i + 1] for i in range(0, len(toks), 2)}


def megatron_lrs(flags, n_iters, global_batch=4):
    """OptimizerParamScheduler (Megatron-LM 00caa53): num_steps counts samples; step(0) at init,
    then step(increment=global_batch) after each successful update, so update n uses get_lr() at
    num_steps = n * global_batch."""
    max_lr, min_lr = float(flags["--lr"]), float(flags["--min-lr"])
    init_lr = float(flags.get("--lr-warmup-init", 0.0))
    lr_warmup_steps = int(flags.get("--lr-warmup-iters", 0)) * global_batch
    lr_decay_steps = int(flags["--lr-decay-iters"]) * global_batch
    style = flags["--lr-decay-style"]
    wsd_decay_steps = int(flags.get("--lr-wsd-decay-iters", 0)) * global_batch
    wsd_style = flags.get("--lr-wsd-decay-style", "exponential")
    assert lr_warmup_steps < lr_decay_steps and init_lr <= max_lr and max_lr >= min_lr

    def get_lr(num_steps):
        if lr_warmup_steps > 0 and num_steps <= lr_warmup_steps:
            return init_lr + ((max_lr - init_lr) * float(num_steps) / float(lr_warmup_steps))
        if style == "constant":
            return max_lr
        if num_steps > lr_decay_steps:
            return min_lr
        if style == "inverse-square-root":
            warmup_steps = max(lr_warmup_steps, 1)
            ns = max(num_steps, 1)
            lr = max_lr * warmup_steps**0.5 / (ns**0.5)
            return max(min_lr, lr)
        num_steps_ = num_steps - lr_warmup_steps
        decay_steps_ = lr_decay_steps - lr_warmup_steps
        decay_ratio = float(num_steps_) / float(decay_steps_)
        assert 0.0 <= decay_ratio <= 1.0
        delta_lr = max_lr - min_lr
        if style == "linear":
            coeff = 1.0 - decay_ratio
        elif style == "cosine":
            coeff = 0.5 * (math.cos(math.pi * decay_ratio) + 1.0)
        elif style == "WSD":
            wsd_anneal_start_ = lr_decay_steps - wsd_decay_steps
            if num_steps <= wsd_anneal_start_:
                coeff = 1.0
            else:
                wsd_steps = num_steps - wsd_anneal_start_
                wsd_decay_ratio = float(wsd_steps) / float(wsd_decay_steps)
                if wsd_style == "linear":
                    coeff = 1.0 - wsd_decay_ratio
                elif wsd_style == "cosine":
                    coeff = 0.5 * (math.cos(math.pi * wsd_decay_ratio) + 1.0)
                elif wsd_style == "exponential":
                    coeff = (2.0 * math.pow(0.5, wsd_decay_ratio)) - 1.0
                elif wsd_style == "minus_sqrt":
                    coeff = 1.0 - math.sqrt(wsd_decay_ratio)
        return min_lr + coeff * delta_lr

    return np.array([get_lr(n * global_batch) for n in range(n_iters)])


MEGATRON = [
    HEADLINE["wsd-1-sqrt"],
    HEADLINE["cosine"],
    wsd("linear", warmup_init=0.0),
    wsd("cosine"),  # warmup_init=None: a W-1 iteration warmup from peak/W
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.05),
    Constant(T, PEAK, warmup_steps=W),
    InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0),
    ConstantThenDecay(T, PEAK, 1e-5, decay_fraction=0.25, decay_shape="cosine"),
]


@pytest.mark.parametrize("i", range(len(MEGATRON)))
def test_megatron_flags_reproduce_plan(i):
    s = MEGATRON[i]
    res = export(s, "megatron")
    assert res.native
    flags = parse_megatron_flags(res.files["megatron_lr_flags.txt"])
    assert flags == dict(zip(res.payload[::2], res.payload[1::2], strict=True))
    assert flags["--train-iters"] == str(T)
    assert_same_lrs(megatron_lrs(flags, T), planned(s))
