"""torchtitan TOML against its scheduler re-implemented as written in its source:
pytorch/torchtitan ``torchtitan/components/optimizer/lr_scheduler.py``
(``LRSchedulersContainer.Config.build``) @ 26291926f92b594c8d1415f059f749b6f686ae65.
"""

import math

import numpy as np
import pytest

from cptdyn.schedules._core import Constant, ConstantThenDecay, Cosine, Linear
from cptdyn.schedules._export import export

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, planned, wsd

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None


def torchtitan_lrs(cfg, training_steps):
    """torchtitan 2629192 LRSchedulersContainer.Config.build + LambdaLR (update t uses lambda(t))."""
    sc = cfg["lr_scheduler"]
    total_steps = sc.get("total_steps") or training_steps
    warmup_steps = int(sc.get("warmup_steps", 200))
    if warmup_steps > total_steps:
        warmup_steps = total_steps
    if sc.get("decay_ratio") is not None:
        decay_steps = round(total_steps * sc["decay_ratio"])
        if warmup_steps + decay_steps > total_steps:
            decay_steps = total_steps - warmup_steps
    else:
        decay_steps = total_steps - warmup_steps
    stable_steps = total_steps + 1 - warmup_steps - decay_steps
    lr_decay_type = sc.get("decay_type", "linear")
    min_lr_factor = sc.get("min_lr_factor", 0.0)

    def linear_warmup_stable_decay(current_step):
        warmup_stable_steps = warmup_steps + stable_steps
        if current_step < warmup_steps:
            current_step += 1
            assert warmup_steps != 0
            curr_adjustment = float(current_step / warmup_steps)
        elif current_step < warmup_stable_steps:
            curr_adjustment = 1.0
        else:
            current_step += 1
            assert decay_steps != 0
            progress = float(current_step - warmup_stable_steps) / decay_steps
            if lr_decay_type == "linear":
                curr_adjustment = 1 - progress
            elif lr_decay_type == "sqrt":
                curr_adjustment = 1 - math.sqrt(progress)
            elif lr_decay_type == "cosine":
                curr_adjustment = 0.5 * (1.0 + math.cos(math.pi * progress))
            curr_adjustment = min_lr_factor + (1 - min_lr_factor) * curr_adjustment
        return curr_adjustment

    lr = cfg["optimizer"]["lr"]
    return np.array([lr * linear_warmup_stable_decay(t) for t in range(training_steps)])


TORCHTITAN = [
    HEADLINE["wsd-1-sqrt"].replace(warmup_init=None),
    HEADLINE["cosine"].replace(warmup_init=None),
    # torchtitan warms up as (t+1)/W: cptdyn's warmup_init=None (warmup_style="torchtitan")
    wsd("linear", warmup_init=None),
    wsd("cosine", final_lr=0.0, warmup_init=None),
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=None),
    Constant(T, PEAK, warmup_steps=W, warmup_init=None),
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=0.25, decay_shape="1-sqrt"),
    Cosine(T, PEAK, 0.0),
]


@pytest.mark.parametrize("i", range(len(TORCHTITAN)))
def test_torchtitan_toml_reproduces_plan(i):
    if tomllib is None:  # pragma: no cover
        pytest.skip("tomllib needs Python >= 3.11")
    s = TORCHTITAN[i]
    res = export(s, "torchtitan")
    assert res.native
    cfg = tomllib.loads(res.files["torchtitan_lr_scheduler.toml"])
    assert cfg["training"]["steps"] == T
    assert "LRSchedulersContainer.Config(" in res.files["torchtitan_lr_scheduler.toml"]
    got = torchtitan_lrs(cfg, cfg["training"]["steps"])
    assert got[0] == pytest.approx(planned(s)[0])  # first update: lr/warmup_steps (or lr)
    assert_same_lrs(got, planned(s))
