"""Reports: what a fit, an evaluation, a simulation or a plan looks like, as plotly figures (for
notebooks) and as one self-contained offline HTML page per command (plotly.js embedded once).

Builders (each returns a :class:`Report`; ``report.figures`` holds the plotly ``Figure`` objects):

- :func:`fit_report`: observed vs predicted loss per run (one colour per run: observed markers,
  prediction a line), residuals, schedules, the law's terms, metrics;
- :func:`simulate_report`: predicted curves with shaded bands and a zoom on the tail, the schedule,
  the terms, the numbers;
- :func:`plan_report`: the plan against every baseline, Δ per baseline, the Pareto front of two
  validation sets, the tuned knobs.

Figure functions (plain arrays in, a ``Figure`` out): :func:`runs_figure`,
:func:`prediction_figure`, :func:`schedule_figure`, :func:`terms_figure`, :func:`pareto_figure`,
:func:`bars_figure`. Static pictures: :meth:`Report.write_image` / :func:`write_image` (PNG, SVG,
PDF; ``pip install 'cptdyn[images]'``).

This layer sits on top of schedules, dynamics and planner (imported lazily) and below the
command line.
"""

from ._build import (
    bands_from_doc,
    doc_kind,
    fit_docs_of,
    fit_report,
    laws_from_doc,
    plan_report,
    simulate_report,
)
from ._figures import (
    Curve,
    bars_figure,
    pareto_figure,
    pareto_front,
    prediction_figure,
    runs_figure,
    schedule_figure,
    terms_figure,
)
from ._page import IMAGE_FORMATS, Report, ReportError, Table, image_format, write_image
from ._style import PALETTE, set_label

__all__ = [
    "IMAGE_FORMATS",
    "PALETTE",
    "Curve",
    "Report",
    "ReportError",
    "Table",
    "bands_from_doc",
    "bars_figure",
    "doc_kind",
    "fit_docs_of",
    "fit_report",
    "image_format",
    "laws_from_doc",
    "pareto_figure",
    "pareto_front",
    "plan_report",
    "prediction_figure",
    "runs_figure",
    "schedule_figure",
    "set_label",
    "simulate_report",
    "terms_figure",
    "write_image",
]
