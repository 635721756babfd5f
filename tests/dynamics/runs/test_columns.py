"""The LR reconstruction rule."""

import numpy as np
import pytest

from cptdyn.dynamics._runs import reconstruct_lr


def test_reconstruct_lr_rule():
    lr = reconstruct_lr([10, 20], [1.0, 0.5], 30, warmup_steps=4)
    # the warmup convention of cptdyn's schedules (and HF, optax, Megatron): 0 at update 0,
    # the first logged value first reached at min(W, u0)
    np.testing.assert_allclose(lr[:6], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    assert lr[15] == pytest.approx(0.75) and lr[29] == 0.5
    lr = reconstruct_lr([2, 20], [1.0, 0.5], 30, warmup_steps=100)  # first point inside warmup
    np.testing.assert_allclose(lr[:3], [0.0, 0.5, 1.0])
