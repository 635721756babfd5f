"""Uniform prediction entry points and the direct O(T) Multi-Power-Law final loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.dynamics import MomentumLaw, MPLLaw
from cptdyn.dynamics.presets import P2_FIG2
from cptdyn.planner import curve, loss_at
from cptdyn.schedules import WSD, Cosine


@pytest.mark.parametrize("conv", ["paper", "repo"])
def test_direct_final_loss_matches_quadrature(conv):
    law = MPLLaw.released("400M", "repo", warmup=conv)
    with x64_context():
        for s in (Cosine(24_000, 3e-4, 3e-5, warmup_steps=2160, warmup_init=0.0),
                  WSD(24_000, 3e-4, 3e-5, 0.2, "exponential", warmup_steps=2160, warmup_init=0.0)):
            lr = jnp.asarray(s.array())
            a = float(law.final_loss_direct(lr, 2160))
            assert a == pytest.approx(float(law.final_loss(lr, 2160)), rel=1e-12)
            assert a == pytest.approx(float(curve(law, lr, warmup_steps=2160)[-1]), rel=1e-12)
    # the MPL repository's code (8da9f19) run on it: cosine -> 3e-5 predicts 2.6016 (paper
    # convention) and 2.7571 (repository convention) with the 400M released parameters
    assert a is not None
    with x64_context():
        lr = jnp.asarray(Cosine(24_000, 3e-4, 3e-5, warmup_steps=2160, warmup_init=0.0).array())
        v = float(law.final_loss_direct(lr, 2160))
    assert v == pytest.approx({"paper": 2.6016, "repo": 2.7571}[conv], abs=2e-4)


def test_drop_to_exact_zero_is_not_a_free_lunch():
    # G(x) with x = C eta^-gamma S_k tends to 0 as eta -> 0 with no LR area after the drop; the
    # loss must be continuous as a tail LR goes to 0 (it once credited the drop fully at 0)
    law = MPLLaw.released("400M", "repo", warmup="paper")
    with x64_context():
        w = 3e-4 * np.arange(2160) / 2160
        vals = []
        for tail in (1e-5, 1e-9, 1e-15, 0.0):
            lr = jnp.asarray(np.concatenate([w, np.full(20000, 3e-4), np.full(1840, tail)]))
            vals.append((float(law.final_loss_direct(lr, 2160)), float(law.final_loss(lr, 2160)),
                         float(law.curve(lr, 2160)[-1])))
    for d, q, c in vals:
        # (the quadrature is good to ~1e-7 at an extreme eta of 1e-15)
        assert d == pytest.approx(q, rel=1e-6) and d == pytest.approx(c, rel=1e-6)
    direct = [v[0] for v in vals]
    assert direct == sorted(direct)  # a lower tail LR helps less and less ...
    assert direct[-1] - direct[-2] < 0.02  # ... and exactly 0 is its limit, not a jump down


def test_loss_at_and_gradient():
    law = MomentumLaw(**P2_FIG2)
    with x64_context():
        lr = jnp.asarray(Cosine(20_000, 2e-4, 0.0, warmup_steps=500).array())
        full = curve(law, lr, warmup_steps=500)
        at = loss_at(law, lr, [5000, 20000], warmup_steps=500)
        np.testing.assert_allclose(np.asarray(at), np.asarray(full)[[4999, 19999]], rtol=1e-12)
        # P2 Fig. 2 parameters evaluated independently: cosine at 20k steps predicts 2.8359
        assert float(at[1]) == pytest.approx(2.8359, abs=1e-4)
        g = jax.grad(lambda x: loss_at(law, x, [20000], warmup_steps=500)[0])(lr)
        assert np.all(np.isfinite(np.asarray(g)))


def test_zero_tail_after_irregular_decay_counts_nothing():
    # the LR area after a drop to exactly 0 must be exactly 0 (a reverse cumulative sum; the
    # difference total - prefix left rounding residues that credited the drop fully)
    law = MPLLaw.released("400M", "repo", warmup="paper")
    rng = np.random.default_rng(0)
    with x64_context():
        w = 3e-4 * np.arange(2160) / 2160
        body = np.sort(rng.uniform(1e-4, 3e-4, 20000))[::-1]  # then a drop of >= 1e-4 to 0
        base = np.concatenate([w, body, np.full(1840, 1e-30)])
        zero = np.concatenate([w, body, np.zeros(1840)])
        a, b = (float(law.final_loss_direct(jnp.asarray(x), 2160)) for x in (base, zero))
        c = float(law.final_loss(jnp.asarray(zero), 2160))
    assert b == pytest.approx(c, abs=1e-6)
    assert abs(a - b) < 1e-4  # 0 is the limit of a vanishing tail LR (credited fully: -0.05)
