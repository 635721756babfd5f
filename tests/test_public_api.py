"""The public surface: every ``__all__`` name imports, callables and classes are documented,
moved names still resolve (with a DeprecationWarning), and the Law protocol is enforced."""

import dataclasses
import importlib
import inspect
import warnings
from typing import Any, ClassVar

import pytest

MODULES = [
    "cptdyn",
    "cptdyn.schedules",
    "cptdyn.dynamics",
    "cptdyn.dynamics.mixture",
    "cptdyn.dynamics.presets",
    "cptdyn.planner",
    "cptdyn.report",
    "cptdyn.cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_import_and_are_documented(name: str) -> None:
    mod = importlib.import_module(name)
    assert mod.__doc__, name
    assert isinstance(mod.__all__, list) and len(set(mod.__all__)) == len(mod.__all__)
    undocumented = []
    for attr in mod.__all__:
        obj = getattr(mod, attr)  # raises if missing
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            undocumented.append(attr)
    assert not undocumented, f"{name}: no docstring: {undocumented}"


def test_moved_names_warn_and_resolve() -> None:
    import cptdyn.dynamics as d
    from cptdyn.dynamics import mixture, presets

    with pytest.warns(DeprecationWarning, match=r"cptdyn\.dynamics\.presets\.P2_FIG2"):
        assert d.P2_FIG2 is presets.P2_FIG2
    with pytest.warns(DeprecationWarning, match=r"cptdyn\.dynamics\.mixture\.fit_dcpt"):
        assert d.fit_dcpt is mixture.fit_dcpt
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        d.nope  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from cptdyn.dynamics import MomentumLaw, fit  # noqa: F401  (current names: no warning)


def test_every_error_derives_from_the_base() -> None:
    import cptdyn
    from cptdyn.dynamics import FitError, RunError
    from cptdyn.planner import PlanError
    from cptdyn.schedules import ExportError

    for cls in (FitError, RunError, PlanError, ExportError, cptdyn.CLIError):
        assert issubclass(cls, cptdyn.CptdynError) and issubclass(cls, ValueError)
    assert issubclass(FitError, RuntimeError)  # as in 0.1


def test_register_law_checks_parameters_against_leaves() -> None:
    from cptdyn._pytree import pytree_dataclass, static_field
    from cptdyn.dynamics import Law, law_names, param, positive, register_law

    class _Base(Law):
        def features(self, run: Any) -> Any:
            return {}

        def predict_features(self, feats: Any) -> Any:
            return 0.0

        def predict_lr(self, lr: Any, steps: Any = None, **context: Any) -> Any:
            return 0.0

        def init_grid(self, runs: Any) -> list[dict[str, float]]:
            return []

    @pytree_dataclass
    class Stray(_Base):
        NAME: ClassVar[str] = "test-stray"
        L0: Any = param(positive(), default=1.0)
        forgotten: Any = 0.5  # a leaf that is not a parameter

    with pytest.raises(TypeError, match=r"leaf fields \['forgotten'\] are not parameters"):
        register_law(Stray)

    @pytree_dataclass
    class Good(_Base):
        NAME: ClassVar[str] = "test-good"
        L0: Any = param(positive(), default=1.0)
        A: Any = param(positive(), default=2.0)
        lam: float = static_field(default=0.9)

    register_law(Good)
    try:
        assert list(Good.PARAMS) == ["L0", "A"] and "test-good" in law_names()
        assert Good().params() == {"L0": 1.0, "A": 2.0}
    finally:
        from cptdyn.dynamics import _law

        _law._REGISTRY.pop("test-good", None)

    @pytree_dataclass
    class Incomplete(Law):  # no predict_lr: not a Law
        NAME: ClassVar[str] = "test-incomplete"
        L0: Any = param(positive(), default=1.0)

        def features(self, run: Any) -> Any:
            return {}

        def predict_features(self, feats: Any) -> Any:
            return 0.0

        def init_grid(self, runs: Any) -> list[dict[str, float]]:
            return []

    with pytest.raises(TypeError, match="does not implement the Law protocol: predict_lr"):
        register_law(Incomplete)


def test_every_registered_law_implements_the_protocol() -> None:
    from cptdyn.dynamics import Law, law_class, law_names

    for name in law_names():
        cls = law_class(name)
        assert issubclass(cls, Law) and not inspect.isabstract(cls), name
        leaves = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static")]
        assert list(cls.PARAMS) == leaves, name
