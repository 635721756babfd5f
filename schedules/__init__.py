"""LR schedules as pytrees, their JSON specs and their exports to trainers.

Every schedule is a frozen dataclass registered as a JAX pytree: ``lr(step)``, ``array()``
(length ``total_steps``), ``to_spec()``; continuous parameters can be traced (jit, vmap, grad).
``export`` writes them for a trainer and ``import_schedule`` reads a trainer's settings back.
"""

from ._core import DECAY_SHAPES as DECAY_SHAPES
from ._core import FIELD_ALIASES as FIELD_ALIASES
from ._core import KIND_ALIASES as KIND_ALIASES
from ._core import SPEC_VERSION as SPEC_VERSION
from ._core import WARMUP_STYLES as WARMUP_STYLES
from ._core import WSD as WSD
from ._core import ArraySchedule as ArraySchedule
from ._core import Constant as Constant
from ._core import ConstantThenDecay as ConstantThenDecay
from ._core import Cosine as Cosine
from ._core import CPTSchedule as CPTSchedule
from ._core import CyclicCosine as CyclicCosine
from ._core import InverseSqrt as InverseSqrt
from ._core import Linear as Linear
from ._core import MultiStep as MultiStep
from ._core import Polyline as Polyline
from ._core import Schedule as Schedule
from ._core import TwoStage as TwoStage
from ._core import make_schedule as make_schedule
from ._core import schedule_from_spec as schedule_from_spec
from ._core import schedule_kinds as schedule_kinds
from ._core import stack as stack
from ._export import EXPORT_TARGETS as EXPORT_TARGETS
from ._export import ExportError as ExportError
from ._export import ExportResult as ExportResult
from ._export import export as export
from ._export import write as write
from ._import import IMPORT_SOURCES as IMPORT_SOURCES
from ._import import ImportResult as ImportResult
from ._import import ScheduleImportError as ScheduleImportError
from ._import import import_schedule as import_schedule

__all__ = [
    "DECAY_SHAPES",
    "SPEC_VERSION",
    "WARMUP_STYLES",
    "KIND_ALIASES",
    "FIELD_ALIASES",
    "WSD",
    "ArraySchedule",
    "Constant",
    "ConstantThenDecay",
    "Cosine",
    "CPTSchedule",
    "CyclicCosine",
    "InverseSqrt",
    "Linear",
    "MultiStep",
    "Polyline",
    "Schedule",
    "TwoStage",
    "make_schedule",
    "schedule_from_spec",
    "schedule_kinds",
    "stack",
    "EXPORT_TARGETS",
    "ExportError",
    "ExportResult",
    "export",
    "write",
    "IMPORT_SOURCES",
    "ImportResult",
    "ScheduleImportError",
    "import_schedule",
]
