"""cptdyn: predict and plan LLM loss curves under learning-rate schedules.

The root package holds what every layer shares (pytree helpers, argument checks, the error
base, atomic file output) and the command line (:mod:`cptdyn.cli`). The three layers are
subpackages, bound on first use so that ``import cptdyn`` (and ``cptdyn --help``) does not
import JAX:

- :mod:`cptdyn.schedules`: LR schedules as pytrees, their JSON specs and trainer exports;
- :mod:`cptdyn.dynamics`: loss laws, run readers, fitting (consumes LR arrays only);
- :mod:`cptdyn.planner`: schedule planning on top of both.
"""

import importlib
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

from ._errors import CLIError as CLIError
from ._errors import CptdynError as CptdynError
from ._errors import ExportError as ExportError
from ._errors import FitError as FitError
from ._errors import PlanError as PlanError
from ._errors import RunError as RunError

try:
    __version__ = _version("cptdyn")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "CptdynError",
    "CLIError",
    "ExportError",
    "FitError",
    "PlanError",
    "RunError",
    "x64_context",
    "schedules",
    "dynamics",
    "planner",
]

_SUBPACKAGES = ("schedules", "dynamics", "planner", "cli")

# In the source tree the layers sit beside this folder (``schedules/`` next to ``cptdyn/``; see
# the README's Layout table) and setuptools maps them to ``cptdyn.schedules`` etc. on install.
# When Python finds this folder before the installed package (running from the repository
# root puts it first on sys.path), let the package path include the repository root so that
# ``cptdyn.schedules`` still resolves to the same files.
_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)
if not os.path.isdir(os.path.join(_here, "schedules")) and os.path.isfile(
    os.path.join(_root, "schedules", "__init__.py")
):
    __path__.append(_root)

if TYPE_CHECKING:  # pragma: no cover
    from . import dynamics as dynamics
    from . import planner as planner
    from . import schedules as schedules
    from ._pytree import x64_context as x64_context


def __getattr__(name: str) -> Any:
    # PEP 562: subpackages and the JAX-backed helpers load on first use.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "x64_context":
        from ._pytree import x64_context

        return x64_context
    raise AttributeError(f"module 'cptdyn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
