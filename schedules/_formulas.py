r"""The schedule formulas, written once: the warmup ramp, the post-warmup progress and the decay
shapes. The schedule classes (:mod:`cptdyn.schedules._core`, whole step counts) and the relaxed
forms (:mod:`cptdyn.schedules._relaxed`, continuous step counts) both call these, so at whole step
counts the two agree to the last bit of the formula.

With step ``s``, peak ``p``, final LR ``f``, warmup length ``W`` and warmup start ``r``:

* warmup ramp (``s < W``): ``p * (r + (1 - r) * s / W)`` (step 0 at ``r * p``, peak first
  reached at step ``W``: the schedules' default, ``r = 0``); ``p * (s + 1) / W`` when ``r`` is
  ``None`` (torchtitan: the first update is already non-zero, step ``W - 1`` runs at peak);
* progress: ``x = clip((s - start) / length, 0, 1)``; the cosine and linear families use
  ``start = W``, ``length = T - W``; WSD uses ``start = T - D``, ``length = D`` (``tau``);
* decay shapes, ``f + (p - f) * c(tau)``: ``linear`` ``1 - tau``; ``cosine``
  ``(1 + cos(pi tau)) / 2``; ``1-sqrt`` ``1 - sqrt(tau)``; ``square`` ``1 - tau^2``;
  ``mirror-cosine`` ``2 (1 - tau) - (1 + cos(pi tau)) / 2``; ``power`` ``(1 - tau)^q``; and
  ``exponential`` ``p^(1 - tau) * f^tau`` (geometric, not of the ``f + (p - f) c`` form).

Every function is pure ``jax.numpy``: traced peaks, final LRs, fractions and (in the relaxed forms)
step counts all work under ``jit``, ``vmap`` and ``grad``. Callers pass denominators already made
safe (``max(W, 1)``, ``max(T - W, 1)``, ``max(D, TINY)``), since the exact and the relaxed forms
guard them differently (Python ints against traced floats).
"""

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["TINY", "constant_body", "decay_shape", "progress", "warmup_ramp", "wsd_body"]

#: Floor for denominators and for ``(1 - tau)`` under a fractional power.
TINY = 1e-30


def warmup_ramp(s: jax.Array, peak: Any, w: Any, warmup_init: Any) -> jax.Array:
    """LR of warmup step ``s`` with ramp length ``w`` (> 0): ``peak * (s + 1) / w`` when
    ``warmup_init`` is ``None``, else ``peak * (r + (1 - r) * s / w)`` with ``r = warmup_init``."""
    if warmup_init is None:
        return peak * (s + 1.0) / w
    r = warmup_init
    return peak * (r + (1.0 - r) * s / w)


def progress(s: jax.Array, start: Any, length: Any) -> jax.Array:
    """Fraction of a phase of ``length`` (> 0) steps done at step ``s``:
    ``clip((s - start) / length, 0, 1)``."""
    return jnp.clip((s - start) / length, 0.0, 1.0)


def constant_body(s: jax.Array, peak: Any) -> jax.Array:
    """``peak`` at every step, shaped like ``s``."""
    return jnp.full_like(s, 1.0) * peak


def decay_shape(shape: str, tau: jax.Array, peak: Any, final: Any, power: Any) -> jax.Array:
    """LR at decay progress ``tau`` in [0, 1] for a decay shape (``power`` is read by ``power``
    only): ``final + (peak - final) * c(tau)``, or ``peak^(1 - tau) * final^tau``."""
    if shape == "linear":
        c = 1.0 - tau
    elif shape == "cosine":
        c = 0.5 * (1.0 + jnp.cos(jnp.pi * tau))
    elif shape == "1-sqrt":
        # double where: exact 1 at tau = 0 and a finite gradient there
        pos = tau > 0
        c = jnp.where(pos, 1.0 - jnp.sqrt(jnp.where(pos, tau, 1.0)), 1.0)
    elif shape == "square":
        c = 1.0 - tau**2
    elif shape == "mirror-cosine":
        c = 2.0 * (1.0 - tau) - 0.5 * (1.0 + jnp.cos(jnp.pi * tau))
    elif shape == "power":
        c = jnp.maximum(1.0 - tau, TINY) ** power
    elif shape == "exponential":
        return jnp.exp((1.0 - tau) * jnp.log(peak) + tau * jnp.log(final))
    else:  # pragma: no cover - validated at construction
        raise ValueError(f"decay_shape={shape!r} is unknown")
    return final + (peak - final) * c


def wsd_body(
    shape: str, s: jax.Array, total: Any, decay: Any, peak: Any, final: Any, power: Any
) -> jax.Array:
    """Warmup-stable-decay after warmup: ``peak`` until ``T - D``, then ``shape`` over the last
    ``D = decay`` steps, with ``tau = clip((s - (T - D)) / max(D, TINY), 0, 1)``."""
    tau = progress(s, total - decay, jnp.maximum(decay, TINY))
    return decay_shape(shape, tau, peak, final, power)
