"""Frozen dataclasses registered as JAX pytrees.

Fields whose metadata says ``static=True`` are pytree *metadata* (hashable, part of the treedef:
step counts, shape names, conventions); all other fields are *leaves* (continuous parameters that
jit, vmap and grad may trace).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, TypeVar

import jax

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pragma: no cover - Python 3.10

    def dataclass_transform(**_: Any) -> Any:
        return lambda f: f

T = TypeVar("T")

__all__ = ["pytree_dataclass", "static_field", "is_traced", "concrete_or_none"]


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree metadata (not traced)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, static_field))
def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass and register it with JAX as a pytree."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)  # type: ignore[assignment]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in data)

    def flatten_with_keys(obj: Any) -> Any:
        children = tuple((k, getattr(obj, n)) for k, n in zip(keys, data, strict=True))
        return children, tuple(getattr(obj, n) for n in meta)

    def flatten(obj: Any) -> Any:
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def unflatten(aux: Any, children: Any) -> Any:
        # Bypass __init__/__post_init__: leaves may be tracers, cotangents or None placeholders,
        # which construction-time validation must not see.
        obj = object.__new__(cls)
        for n, v in zip(data, children, strict=True):
            object.__setattr__(obj, n, v)
        for n, v in zip(meta, aux, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
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
    fn: Any = getattr(jax, "enable_x64", None)
    if fn is None:  # jax < 0.5
        import jax.experimental as jexp

        fn = getattr(jexp, "enable_x64")  # noqa: B009 - absent from newer stubs
    return fn(True)
