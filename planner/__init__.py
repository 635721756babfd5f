"""Schedule planning by gradient through the predicted loss.

* :func:`plan` / :class:`Problem`: tune schedule knobs (peak LR, final LR, decay fraction and
  power, total or CPT steps, re-warmup, replay ratio, loss potential) for an objective
  (:class:`Objective`: final loss, weighted PT/CPT loss, constrained domain loss), with baselines,
  flatness of the optimum and well-posedness diagnostics.
* :func:`plan_free_form`: the best non-increasing per-step schedule (MPL-style decrements).
* :func:`sweep` / :func:`pareto_front`: vmapped grids of configurations.
"""

from cptdyn.schedules._relaxed import FAMILIES as FAMILIES
from cptdyn.schedules._relaxed import relaxed_lr as relaxed_lr

from ._freeform import COLLAPSE_TOL as COLLAPSE_TOL
from ._freeform import FreeFormPlan as FreeFormPlan
from ._freeform import decay_summary as decay_summary
from ._freeform import plan_free_form as plan_free_form
from ._mixture import MixturePlan as MixturePlan
from ._mixture import plan_mixture as plan_mixture
from ._mixture import replay_ratio as replay_ratio
from ._plan import Knob as Knob
from ._plan import Objective as Objective
from ._plan import Plan as Plan
from ._plan import PlanError as PlanError
from ._plan import Problem as Problem
from ._plan import evaluate_schedule as evaluate_schedule
from ._plan import parse_objective as parse_objective
from ._plan import plan as plan
from ._predict import curve as curve
from ._predict import loss_at as loss_at
from ._sweep import pareto_front as pareto_front
from ._sweep import sweep as sweep

__all__ = [
    "FAMILIES",
    "relaxed_lr",
    "COLLAPSE_TOL",
    "FreeFormPlan",
    "decay_summary",
    "plan_free_form",
    "MixturePlan",
    "plan_mixture",
    "replay_ratio",
    "Knob",
    "Objective",
    "Plan",
    "PlanError",
    "Problem",
    "evaluate_schedule",
    "parse_objective",
    "plan",
    "curve",
    "loss_at",
    "pareto_front",
    "sweep",
]
