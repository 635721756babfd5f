r"""Plain files: ``step,lr`` CSV and JSON (the schedule spec, or the per-step array).

Step indexing: ``lr[t]`` is the LR of optimizer update ``t`` (0-based), float64, written in the
shortest repr that round-trips exactly.
"""

import json

from cptdyn._errors import ExportError

from .._core import Schedule
from ._common import STEP_CONVENTION, ExportResult, lr_table, table_csv, to_schedule

__all__ = ["export_csv", "export_json"]


def export_csv(schedule: Schedule) -> ExportResult:
    """``step,lr`` CSV (float64, shortest round-trip repr), one row per optimizer update."""
    s = to_schedule(schedule)
    lrs = lr_table(s)
    text = table_csv(lrs)
    note = (f"csv: per-step table, {s.total_steps} rows 'step,lr'; {STEP_CONVENTION}; "
            "values are float64 and round-trip exactly.")
    return ExportResult("csv", False, note, text, {"lr.csv": text}, 0.0, s.total_steps)


def export_json(schedule: Schedule, *, mode: str = "spec") -> ExportResult:
    """JSON: the schedule spec (``mode="spec"``, exact and small) or the per-step array."""
    s = to_schedule(schedule)
    if mode == "spec":
        lr_table(s)  # validates that it evaluates
        doc = s.to_spec()
        text = json.dumps(doc, indent=2) + "\n"
        note = ("json: the schedule spec (cptdyn.schedules.schedule_from_spec rebuilds it "
                "exactly).")
        return ExportResult("json", True, note, doc, {"schedule.json": text}, 0.0, s.total_steps)
    if mode == "array":
        lrs = lr_table(s)
        doc = {"step_convention": STEP_CONVENTION, "total_steps": s.total_steps,
               "schedule": s.to_spec(), "lr": [float(x) for x in lrs]}
        text = json.dumps(doc) + "\n"
        note = f"json: per-step array of {s.total_steps} float64 LRs; {STEP_CONVENTION}."
        return ExportResult("json", False, note, doc, {"lr.json": text}, 0.0, s.total_steps)
    raise ExportError(f"json: mode={mode!r} must be 'spec' or 'array'")
