"""Frozen dataclasses registered as JAX pytrees.

Fields whose metadata says ``static=True`` are pytree *metadata* (hashable, part of the treedef:
step counts, shape names, conventions); all other fields are *leaves* (continuous parameters that
jit, vmap and grad may trace).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax

T = TypeVar("T")

__all__ = ["pytree_dataclass", "static_field", "is_traced", "concrete_or_none"]


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree metadata (not traced)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass and register it with JAX as a pytree."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)  # type: ignore[assignment]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
    return cls


def is_traced(x: Any) -> bool:
    """True when ``x`` is (or contains) a JAX tracer: validation of its value must be skipped."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def concrete_or_none(x: Any) -> float | None:
    """``float(x)`` for concrete scalars, ``None`` for tracers or non-scalars."""
    if x is None or is_traced(x):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def x64_context() -> Any:
    """Context manager enabling float64 locally (``jax.enable_x64`` or its older location)."""
    fn = getattr(jax, "enable_x64", None)
    if fn is None:  # jax < 0.5
        from jax.experimental import enable_x64 as fn  # type: ignore[no-redef]
    return fn(True)
