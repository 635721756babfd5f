"""Relaxed (continuous-length) schedules equal the exact schedule classes at whole steps."""

import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.schedules import WSD, Constant, ConstantThenDecay, Cosine, Linear
from cptdyn.schedules._relaxed import relaxed_lr


@pytest.mark.parametrize(
    "fam,sched,extra",
    [
        ("constant", Constant(1000, 3e-4, warmup_steps=37), {}),
        ("cosine", Cosine(1000, 3e-4, 3e-5, warmup_steps=37, warmup_init=0.0), {"warmup_init": 0.0}),
        ("linear", Linear(1000, 3e-4, 0.0, warmup_steps=50), {}),
        ("wsd", WSD(1000, 3e-4, 0.0, 0.23, "1-sqrt", warmup_steps=40), {"decay_shape": "1-sqrt"}),
        ("wsd", WSD(1000, 3e-4, 3e-5, 0.3, "exponential", warmup_steps=40),
         {"decay_shape": "exponential"}),
        ("constant-then-decay", ConstantThenDecay(1000, 3e-4, 0.0, 0.4, "cosine"),
         {"decay_shape": "cosine"}),
    ],
)
def test_relaxed_equals_schedule_at_whole_steps(fam, sched, extra):
    p = {"total_steps": 1000.0, "warmup_steps": float(getattr(sched, "warmup_steps", 0))}
    for k in ("peak_lr", "final_lr", "decay_fraction"):
        if hasattr(sched, k):
            p[k] = float(getattr(sched, k))
    with x64_context():
        a = np.asarray(relaxed_lr(fam, p, 1200, **extra))
        ref = np.asarray(sched.array())
    np.testing.assert_allclose(a[:1000], ref, rtol=1e-12, atol=1e-18)
    assert np.all(a[1000:] == a[999])  # held past the end
