"""Data parallelism over the local devices for batched (``vmap``-ed) programs.

A 1-D mesh over ``jax.local_devices()`` with axis name ``"batch"``; the leading (batch) axis of
the inputs is padded to a multiple of the device count (by repeating the last row, so the padding
evaluates a valid configuration and cannot produce NaN/inf side effects) and placed with
``NamedSharding(mesh, PartitionSpec("batch"))``; the jitted function gets the same sharding for
its inputs and outputs, so every device computes its slice of rows and nothing is gathered until
the caller reads the result. The caller strips the padding (``out[:n]``).

On a single device every helper is a no-op: the plain ``jax.jit`` and ``jnp.asarray`` are used,
so results are bitwise those of the unsharded code.

Multi-host: after ``jax.distributed.initialize()`` on every host, a global mesh would be built
over ``jax.devices()`` instead (``batch_mesh(jax.devices())``); the inputs must then be assembled
with ``jax.make_array_from_process_local_data``. Only the single-host path is used (and tested)
in cptdyn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["batch_mesh", "padded_size", "shard_rows", "batch_jit", "n_devices_of"]

AXIS = "batch"


def batch_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """1-D mesh (axis ``"batch"``) over ``devices`` (default: ``jax.local_devices()``)."""
    devs = list(jax.local_devices() if devices is None else devices)
    if not devs:
        raise ValueError("batch_mesh: no devices")
    return Mesh(np.array(devs, dtype=object), (AXIS,))


def _sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def padded_size(n: int, mesh: Mesh) -> int:
    """Smallest multiple of the device count that is >= ``n`` (and >= 1)."""
    d = int(mesh.size)
    return max(1, -(-int(n) // d)) * d


def shard_rows(x: Any, mesh: Mesh, size: int | None = None) -> jax.Array:
    """``x`` (host array, leading batch axis) padded to ``size`` rows (default: the next multiple
    of the device count) by repeating its last row, and placed row-sharded over ``mesh``."""
    a = np.asarray(x)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"shard_rows: needs a non-empty leading batch axis, got shape {a.shape}")
    target = padded_size(a.shape[0], mesh) if size is None else int(size)
    if target < a.shape[0] or target % int(mesh.size):
        raise ValueError(f"shard_rows: size={target} must be >= {a.shape[0]} rows and a multiple "
                         f"of the {mesh.size} devices")
    if target > a.shape[0]:
        a = np.concatenate([a, np.repeat(a[-1:], target - a.shape[0], axis=0)])
    if mesh.size == 1:
        return jnp.asarray(a)
    return jax.device_put(a, _sharding(mesh))


def batch_jit(fn: Callable[..., Any], mesh: Mesh, **jit_kwargs: Any) -> Callable[..., Any]:
    """``jax.jit(fn)`` whose (batched) positional inputs and every output leaf are row-sharded
    over ``mesh``; plain ``jax.jit`` on one device. Every output leaf must have the batch axis
    first (true of a ``jax.vmap``-ed function)."""
    if mesh.size == 1:
        return jax.jit(fn, **jit_kwargs)
    sh = _sharding(mesh)
    return jax.jit(fn, in_shardings=sh, out_shardings=sh, **jit_kwargs)


def n_devices_of(tree: Any) -> int:
    """Number of distinct devices holding the leaves of ``tree`` (jax arrays)."""
    devs: set[Any] = set()
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array):
            devs |= set(leaf.sharding.device_set)
    return len(devs)
