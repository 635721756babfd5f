"""The protocol every loss law implements, and the registry of laws by name.

A law is a frozen dataclass registered as a pytree (``cptdyn._pytree.pytree_dataclass``):

* parameter fields are **leaves** (``L0``, ``A``, ``alpha`` ...): jit / vmap / grad trace them;
* option fields are **static** (``lam`` when fixed, ``warmup`` convention ...), declared with
  ``static_field``.

Prediction is split in two so that fitting can precompute everything that does not depend on the
fitted parameters once per run:

* ``law.features(run) -> pytree of arrays`` (uses only static options and the run; e.g. S1 and S2
  at the observed steps for a fixed lambda). Runs a float64 computation under a local x64 context
  and returns float64 numpy arrays.
* ``law.predict_features(features) -> Array`` (pure JAX, jit/vmap/grad friendly in the parameter
  leaves).
* ``law.predict(run)`` = ``predict_features(features(run))``.

Every registered law implements four abstract methods: ``features``, ``predict_features``,
``predict_lr`` and ``init_grid``. ``predict_lr(lr, steps=None, **context)`` is the prediction as a
pure-JAX function of a raw per-step LR array (differentiable in ``lr`` and the parameters, jit
friendly): the one entry point the planner uses, with the context keys of :func:`run_context`
(``warmup_steps``, ``transfer_step``, ``dataset``, ``replay_ratio``, ``model_size``).

Parameters are declared once, on the field, with their constraint::

    L0: Any = param(positive(), default=2.6)

``PARAMS`` (``{name: Constraint}``, in field order) is derived from those fields; every leaf of a
registered law must be a parameter, and every parameter a leaf (``register_law`` checks both).
Fitting works in an unconstrained space through ``Constraint.to_raw`` / ``from_raw`` (bounds by
reparameterization).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._io import to_plain

from ._run import Run

__all__ = [
    "Constraint",
    "positive",
    "real",
    "interval",
    "Law",
    "param",
    "register_law",
    "law_class",
    "law_names",
    "law_from_dict",
    "concat_rows",
]


@dataclasses.dataclass(frozen=True)
class Constraint:
    """Maps an unconstrained real ``raw`` to a constrained parameter value and back."""

    kind: str  # "real" | "positive" | "interval"
    lo: float = -math.inf
    hi: float = math.inf

    def from_raw(self, raw: jax.Array) -> jax.Array:
        if self.kind == "real":
            return raw
        if self.kind == "positive":
            return jnp.exp(raw)
        return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(raw)

    def value_of(self, raw: float) -> float:
        """``from_raw`` of one number in plain Python floats (no JAX operation: reading a fitted
        vector back costs no compilation)."""
        r = float(raw)
        if self.kind == "real":
            return r
        if self.kind == "positive":
            return math.exp(r) if r < 709.0 else math.inf
        if r >= 0:
            sig = 1.0 / (1.0 + math.exp(-r))
        else:
            e = math.exp(r)
            sig = e / (1.0 + e)
        return self.lo + (self.hi - self.lo) * sig

    def to_raw(self, value: Any) -> Any:
        v = np.asarray(value, dtype=np.float64)
        if self.kind == "real":
            return v
        if self.kind == "positive":
            return np.log(np.maximum(v, 1e-300))
        u = np.clip((v - self.lo) / (self.hi - self.lo), 1e-12, 1 - 1e-12)
        return np.log(u) - np.log1p(-u)

    def contains(self, value: float) -> bool:
        if self.kind == "real":
            return math.isfinite(value)
        if self.kind == "positive":
            return value > 0 and math.isfinite(value)
        return self.lo <= value <= self.hi


def positive() -> Constraint:
    """A parameter in ``(0, inf)``, fitted as its log."""
    return Constraint("positive", 0.0, math.inf)


def real() -> Constraint:
    """An unconstrained real parameter."""
    return Constraint("real")


def interval(lo: float, hi: float) -> Constraint:
    """A parameter in ``[lo, hi]``, fitted through a logistic map."""
    return Constraint("interval", lo, hi)


_CONSTRAINT = "cptdyn.constraint"


def param(constraint: Constraint, *, default: Any = dataclasses.MISSING) -> Any:
    """A law's parameter field: a pytree leaf carrying its constraint (``PARAMS`` derives from
    these fields)."""
    if not isinstance(constraint, Constraint):
        raise TypeError(f"param: constraint must be a Constraint, got {type(constraint).__name__}")
    return dataclasses.field(default=default, metadata={_CONSTRAINT: constraint})


def _declared_params(cls: type) -> dict[str, Constraint]:
    return {
        f.name: f.metadata[_CONSTRAINT]
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if _CONSTRAINT in f.metadata
    }


class Law(abc.ABC):
    """The protocol of the step-dynamics loss laws (subclasses are ``pytree_dataclass``es).

    Subclasses define:
      NAME: registry name (``"momentum"``, ``"cpt"``, ``"mpl"``, ``"fsl"`` ...).
      parameter fields declared with :func:`param` (``PARAMS`` is derived from them);
      option fields declared with ``static_field``;
      the four abstract methods below.
    """

    NAME: ClassVar[str] = ""
    PARAMS: ClassVar[Mapping[str, Constraint]] = {}

    # -- prediction -----------------------------------------------------------------------------
    @abc.abstractmethod
    def features(self, run: Run) -> Any:
        """Parameter-independent arrays for ``run`` (float64 NumPy, computed under local x64)."""

    @abc.abstractmethod
    def predict_features(self, feats: Any) -> jax.Array:
        """Predicted loss from ``features`` (pure JAX in the parameter leaves)."""

    @abc.abstractmethod
    def predict_lr(self, lr: Any, steps: Any = None, **context: Any) -> jax.Array:
        """Predicted loss after each of ``steps`` updates (default ``1..len(lr)``) of the raw LR
        array ``lr`` (pure JAX, differentiable in ``lr``). ``context``: ``warmup_steps``,
        ``transfer_step``, ``dataset``, ``replay_ratio``, ``model_size``; keys a law does not use
        are ignored."""

    def predict(self, run: Run) -> jax.Array:
        """Predicted loss at ``run.steps``."""
        return self.predict_features(self.features(run))

    # -- fitting support --------------------------------------------------------------------------
    @abc.abstractmethod
    def init_grid(self, runs: Sequence[Run]) -> list[dict[str, float]]:
        """Starting points for fitting (parameter dicts); static options come from ``self``."""

    def stack_features(self, feats: Sequence[Any]) -> Any | None:
        """Optional fitting fast path: one features pytree for several runs, or ``None``.

        When it returns a pytree, ``predict_features(stacked)`` must equal the concatenation of
        ``predict_features(f)`` over ``feats`` (in order); the fitter then evaluates the law once
        per objective instead of once per run (a much smaller compiled program). Laws whose
        features are per-observation rows can ``return concat_rows(feats)``.
        """
        return None

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.PARAMS}

    def _check_param_types(self) -> None:
        """Every parameter is a real number or a numeric array (tracers pass): a string, None or
        a boolean is refused here, naming the field, instead of failing later inside JAX."""
        name = type(self).__name__
        for k in self.PARAMS:
            v = getattr(self, k)
            if isinstance(v, jax.core.Tracer):
                continue
            kind = getattr(np.asarray(v) if not isinstance(v, (str, bytes)) else None,
                           "dtype", None)
            if (v is None or isinstance(v, (bool, np.bool_, str, bytes)) or kind is None
                    or kind.kind not in "iuf"):
                raise ValueError(f"{name}: {k}={v!r} must be a real number")

    def with_params(self, **values: Any) -> Law:
        return dataclasses.replace(self, **values)  # type: ignore[type-var]

    def options(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name not in self.PARAMS
        }

    # -- serialization ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.NAME,
            "params": {k: to_plain(v) for k, v in self.params().items()},
            "options": {k: to_plain(v) for k, v in self.options().items()},
        }


_REGISTRY: dict[str, type[Law]] = {}


def check_law_class(cls: type[Law]) -> None:
    """Derive ``cls.PARAMS`` from its :func:`param` fields and check it against the leaves.

    A class may instead spell ``PARAMS`` out (a hand-written law); either way every parameter
    must be a leaf field and every leaf a parameter, so a field cannot silently drift into being
    a traced "option".
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__}: decorate the law with @pytree_dataclass first")
    declared = _declared_params(cls)
    if declared:
        if "PARAMS" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: declare parameters with param(...) or PARAMS, not both"
            )
        cls.PARAMS = declared
    leaves = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static", False)]
    missing = [k for k in cls.PARAMS if k not in leaves]
    if missing:
        raise TypeError(f"{cls.__name__}: parameters {missing} are not leaf fields")
    stray = [k for k in leaves if k not in cls.PARAMS]
    if stray:
        raise TypeError(
            f"{cls.__name__}: leaf fields {stray} are not parameters (declare them with param() "
            "or make them static_field options)"
        )


def register_law(cls: type[Law]) -> type[Law]:
    """Class decorator: check the law (see :func:`check_law_class`) and register it by ``NAME``."""
    if not cls.NAME:
        raise TypeError(f"{cls.__name__} has no NAME")
    check_law_class(cls)
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TypeError(f"{cls.__name__} does not implement the Law protocol: {missing}")
    _REGISTRY[cls.NAME] = cls
    return cls


def laws_from_document(doc: Any) -> dict[str, Law]:
    """``{validation set: Law}`` from a params document: one law (``law_from_dict``'s form, its
    set from ``"dataset"``, default ``"val"``) or ``{"laws": {set: law document}}``. ValueError
    naming the bad field."""
    if isinstance(doc, Mapping) and "laws" in doc:
        laws = doc["laws"]
        if not isinstance(laws, Mapping) or not laws:
            raise ValueError("field 'laws' must map validation sets to laws")
        return {str(k): law_from_dict(v) for k, v in laws.items()}
    if not isinstance(doc, Mapping):
        raise ValueError("a params document is a JSON object")
    return {str(doc.get("dataset", "val")): law_from_dict(doc)}


def check_lr_array(lr: Any, where: str) -> None:
    """A concrete per-step LR array must be finite and non-negative (tracers pass): one-line
    ValueError naming the first bad update, so no law returns NaN for a bad schedule."""
    if isinstance(lr, jax.core.Tracer) or any(
            isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(lr)):
        return
    a = np.asarray(lr)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{where}: lr must be an array of numbers, got dtype {a.dtype}")
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), a.shape)
        at = ", ".join(str(int(k)) for k in i)
        raise ValueError(f"{where}: lr[{at}] = {float(a[i]):g} must be a finite, non-negative "
                         "learning rate")


def law_names() -> list[str]:
    """Names of the registered laws, sorted."""
    return sorted(_REGISTRY)


def law_class(name: str) -> type[Law]:
    """The registered law class called ``name`` (one-line error listing the known names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown law {name!r}; known laws: {', '.join(law_names())}") from None


def law_from_dict(doc: Mapping[str, Any]) -> Law:
    """Inverse of ``Law.to_dict``; raises ValueError naming the bad field.

    Every parameter must be present (no silent defaults), a real number (not a string or a
    boolean), finite, inside its constraint (``C > 0`` ...) and of magnitude at most
    ``cptdyn._validate.MAX_MAGNITUDE``; options must have the type of their default."""
    from cptdyn._validate import MAX_MAGNITUDE, check_int

    if not isinstance(doc, Mapping) or "law" not in doc:
        raise ValueError("params document: missing field 'law'")
    if not isinstance(doc["law"], str):
        raise ValueError(f"params document: law={doc['law']!r} must be a law name")
    cls = law_class(doc["law"])
    raw_params = doc.get("params", {})
    raw_options = doc.get("options", {})
    for field, v in (("params", raw_params), ("options", raw_options)):
        if not isinstance(v, Mapping):
            raise ValueError(f"params document: field {field!r} must be an object, got "
                             f"{type(v).__name__}")
    params = dict(raw_params)
    options = dict(raw_options)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for k in list(params) + list(options):
        if k not in fields:
            raise ValueError(f"params document: law {cls.NAME!r} has no field {k!r}")
    for k in options:
        if k in cls.PARAMS:
            raise ValueError(f"params document: {k!r} is a parameter of law {cls.NAME!r}; "
                             "give it under 'params'")
    for k, v in params.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise ValueError(f"params document: params.{k} = {v!r} must be a number")
        fv = float(v)
        if not math.isfinite(fv):
            raise ValueError(f"params document: params.{k} = {v!r} is not a finite number")
        if abs(fv) > MAX_MAGNITUDE:
            raise ValueError(f"params document: params.{k} = {v!r} is implausibly large "
                             f"(|value| > {MAX_MAGNITUDE:g})")
        c = cls.PARAMS.get(k)
        if c is not None and not c.contains(fv):
            rng = {"positive": "> 0", "real": "finite"}.get(c.kind, f"in [{c.lo:g}, {c.hi:g}]")
            raise ValueError(f"params document: params.{k} = {v!r} must be {rng}")
        params[k] = fv
    missing = [k for k in cls.PARAMS if k not in params]
    if missing:
        raise ValueError(f"params document: law {cls.NAME!r} needs params."
                         f"{missing[0]} (missing; no default is assumed)")
    for k, v in options.items():
        default = fields[k].default
        if isinstance(v, list):
            options[k] = v = tuple(v)
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ValueError(f"params document: options.{k} = {v!r} must be true or false")
        elif isinstance(default, int):
            options[k] = check_int("params document", f"options.{k}", v, lo=0)
        elif isinstance(default, float):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"params document: options.{k} = {v!r} must be a finite number")
        elif isinstance(default, str) and not isinstance(v, str):
            raise ValueError(f"params document: options.{k} = {v!r} must be a string")
    try:
        return cls(**params, **options)  # type: ignore[call-arg]
    except TypeError as e:
        raise ValueError(f"params document: law {cls.NAME!r}: {e}") from None


def concat_rows(feats: Sequence[Any]) -> Any:
    """Concatenate per-run feature pytrees along axis 0 (for row-wise laws' ``stack_features``).

    Valid when every leaf has the observation axis first and ``predict_features`` maps row ``i``
    of the leaves to prediction ``i`` alone.
    """
    return jax.tree_util.tree_map(lambda *a: np.concatenate([np.asarray(x) for x in a]), *feats)
