"""Loss laws in JAX, runs (loading real loss curves) and fitting.

The package is in four wings (see the README's Layout table):

* step-dynamics laws (``_laws/``): ``momentum`` (LR-annealing law, Tissue et al. 2024) and its
  ``momentum-lam`` / ``momentum-size`` variants; ``cpt`` (Wang et al. 2025) and its
  ``cpt-replay`` / ``cpt-size`` / ``cpt-open`` variants; ``mpl`` (Multi-Power Law, Luo et al.
  2025); ``fsl`` (functional-scaling-law ansatz). Every law implements the :class:`Law`
  protocol: ``features`` / ``predict_features`` (fitting), ``predict(run)`` and the pure-JAX
  ``predict_lr(lr, steps, **context)`` the planner differentiates;
* data-mixture and scale laws (``_mixture/``, public as :mod:`cptdyn.dynamics.mixture`);
* run readers (``_runs/``): CSV, W&B, TensorBoard, Hugging Face ``trainer_state.json`` and the
  MultiPowerLaw curve files, all into :class:`Run`;
* fitting (``_fitting/``): ``fit`` (the converged minimum of the Huber objective),
  ``fit_mpl_reference`` (the MPL authors' early-stopped procedure), law selection by
  cross-validation and prediction intervals.

Published parameter tables are in :mod:`cptdyn.dynamics.presets`.
"""

import importlib
import warnings
from typing import Any

from . import mixture as mixture
from . import presets as presets
from ._areas import S2_SPLITS as S2_SPLITS
from ._areas import WARMUP_CONVENTIONS as WARMUP_CONVENTIONS
from ._areas import Areas as Areas
from ._areas import CPTAreas as CPTAreas
from ._areas import annealing_area as annealing_area
from ._areas import areas as areas
from ._areas import cpt_areas as cpt_areas
from ._areas import effective_lr as effective_lr
from ._areas import forward_area as forward_area
from ._areas import momentum_tail as momentum_tail
from ._fitting._band import LaplacePosterior as LaplacePosterior
from ._fitting._band import cv_model_error as cv_model_error
from ._fitting._band import cv_relative_error as cv_relative_error
from ._fitting._band import laplace_posterior as laplace_posterior
from ._fitting._band import lr_response_variance as lr_response_variance
from ._fitting._band import posterior_band as posterior_band
from ._fitting._band import prediction_band as prediction_band
from ._fitting._fit import Convergence as Convergence
from ._fitting._fit import Evaluation as Evaluation
from ._fitting._fit import FitError as FitError
from ._fitting._fit import FitResult as FitResult
from ._fitting._fit import bin_observations as bin_observations
from ._fitting._fit import block_average_lr as block_average_lr
from ._fitting._fit import evaluate as evaluate
from ._fitting._fit import fit as fit
from ._fitting._fit import fit_short_predict_long as fit_short_predict_long
from ._fitting._fit import leave_one_schedule_out as leave_one_schedule_out
from ._fitting._learn import learn_prior as learn_prior
from ._fitting._metrics import METRIC_NAMES as METRIC_NAMES
from ._fitting._metrics import curve_metrics as curve_metrics
from ._fitting._metrics import final_error as final_error
from ._fitting._metrics import mae as mae
from ._fitting._metrics import mean_metrics as mean_metrics
from ._fitting._metrics import mse as mse
from ._fitting._metrics import pred_e as pred_e
from ._fitting._metrics import r2 as r2
from ._fitting._metrics import rmse as rmse
from ._fitting._metrics import worst_e as worst_e
from ._fitting._mpl_reference import fit_mpl_reference as fit_mpl_reference
from ._fitting._priors import LearnedPrior as LearnedPrior
from ._fitting._priors import default_prior as default_prior
from ._fitting._select import DEFAULT_CANDIDATES as DEFAULT_CANDIDATES
from ._fitting._select import cv_score as cv_score
from ._fitting._select import format_table as format_selection_table  # noqa: F401
from ._fitting._select import law_fit_options as law_fit_options
from ._fitting._select import law_template as law_template
from ._fitting._select import select_law as select_law
from ._fitting._uncertainty import bootstrap_samples as bootstrap_samples
from ._fitting._uncertainty import bootstrap_weights as bootstrap_weights
from ._fitting._uncertainty import interval_samples as interval_samples
from ._fitting._uncertainty import jackknife_samples as jackknife_samples
from ._fitting._uncertainty import predict_interval as predict_interval
from ._fitting._uncertainty import samples_from_doc as samples_from_doc
from ._fitting._uncertainty import samples_to_doc as samples_to_doc
from ._law import Constraint as Constraint
from ._law import Law as Law
from ._law import concat_rows as concat_rows
from ._law import interval as interval
from ._law import law_class as law_class
from ._law import law_from_dict as law_from_dict
from ._law import law_names as law_names
from ._law import param as param
from ._law import positive as positive
from ._law import real as real
from ._law import register_law as register_law
from ._laws._cpt import CPTLaw as CPTLaw
from ._laws._cpt import CPTOpenLaw as CPTOpenLaw
from ._laws._cpt import CPTReplayCurveLaw as CPTReplayCurveLaw
from ._laws._cpt import CPTReplayLaw as CPTReplayLaw
from ._laws._cpt import CPTSizeLaw as CPTSizeLaw
from ._laws._cpt import critical_point as critical_point
from ._laws._cpt import fit_ood_weights as fit_ood_weights
from ._laws._cpt import loss_potential as loss_potential
from ._laws._cpt import ood_loss as ood_loss
from ._laws._cpt import turning_length as turning_length
from ._laws._fsl import FSLLaw as FSLLaw
from ._laws._momentum import MomentumLamLaw as MomentumLamLaw
from ._laws._momentum import MomentumLaw as MomentumLaw
from ._laws._momentum import MomentumLRLaw as MomentumLRLaw
from ._laws._momentum import MomentumSizeLaw as MomentumSizeLaw
from ._laws._mpl import MPL_CONVENTIONS as MPL_CONVENTIONS
from ._laws._mpl import MPLLaw as MPLLaw
from ._laws._mpl import mpl_curve as mpl_curve
from ._run import Run as Run
from ._run import RunError as RunError
from ._runs import LOSS_ALIASES as LOSS_ALIASES
from ._runs import LR_ALIASES as LR_ALIASES
from ._runs import RUN_FORMATS as RUN_FORMATS
from ._runs import STEP_ALIASES as STEP_ALIASES
from ._runs import RunReadWarning as RunReadWarning
from ._runs import load_cooldown_sweep as load_cooldown_sweep
from ._runs import load_csv as load_csv
from ._runs import load_hf_trainer_state as load_hf_trainer_state
from ._runs import load_runs as load_runs
from ._runs import load_tensorboard as load_tensorboard
from ._runs import load_wandb as load_wandb
from ._runs import load_wandb_csv as load_wandb_csv
from ._runs import load_wandb_json as load_wandb_json
from ._runs import mpl_schedule as mpl_schedule
from ._runs import reconstruct_lr as reconstruct_lr
from ._runs import runs_from_frame as runs_from_frame
from ._runs import sniff_format as sniff_format
from ._simulate import run_context as run_context
from ._simulate import simulate as simulate

__all__ = [
    "Areas",
    "CPTAreas",
    "S2_SPLITS",
    "WARMUP_CONVENTIONS",
    "annealing_area",
    "areas",
    "cpt_areas",
    "effective_lr",
    "forward_area",
    "momentum_tail",
    "Convergence",
    "Evaluation",
    "FitError",
    "FitResult",
    "block_average_lr",
    "bin_observations",
    "evaluate",
    "fit",
    "fit_short_predict_long",
    "leave_one_schedule_out",
    "METRIC_NAMES",
    "curve_metrics",
    "final_error",
    "mae",
    "mean_metrics",
    "mse",
    "pred_e",
    "r2",
    "rmse",
    "worst_e",
    "fit_mpl_reference",
    "DEFAULT_CANDIDATES",
    "cv_score",
    "format_selection_table",
    "law_fit_options",
    "law_template",
    "select_law",
    "bootstrap_samples",
    "default_prior",
    "learn_prior",
    "LearnedPrior",
    "prediction_band",
    "lr_response_variance",
    "cv_model_error",
    "cv_relative_error",
    "LaplacePosterior",
    "laplace_posterior",
    "posterior_band",
    "bootstrap_weights",
    "interval_samples",
    "jackknife_samples",
    "predict_interval",
    "samples_from_doc",
    "samples_to_doc",
    "Constraint",
    "Law",
    "concat_rows",
    "interval",
    "law_class",
    "law_from_dict",
    "law_names",
    "param",
    "positive",
    "real",
    "register_law",
    "CPTLaw",
    "CPTOpenLaw",
    "CPTReplayLaw",
    "CPTReplayCurveLaw",
    "CPTSizeLaw",
    "critical_point",
    "fit_ood_weights",
    "loss_potential",
    "ood_loss",
    "turning_length",
    "FSLLaw",
    "MomentumLamLaw",
    "MomentumLRLaw",
    "MomentumLaw",
    "MomentumSizeLaw",
    "MPLLaw",
    "MPL_CONVENTIONS",
    "mpl_curve",
    "Run",
    "RunError",
    "LOSS_ALIASES",
    "LR_ALIASES",
    "RUN_FORMATS",
    "STEP_ALIASES",
    "load_cooldown_sweep",
    "load_csv",
    "load_hf_trainer_state",
    "load_runs",
    "load_tensorboard",
    "load_wandb",
    "RunReadWarning",
    "load_wandb_csv",
    "load_wandb_json",
    "mpl_schedule",
    "reconstruct_lr",
    "runs_from_frame",
    "sniff_format",
    "run_context",
    "simulate",
    "mixture",
    "presets",
]

# Names that moved in 0.2: the published tables to ``presets``, the mixture laws to ``mixture``.
# They still resolve here for one release, with a DeprecationWarning.
_MOVED = {
    "P1_FIG3_DPT": "presets",
    "P1_FIG3_DCPT": "presets",
    "P1_FIG11_DPT": "presets",
    "P1_FIG11_DCPT": "presets",
    "P1_FIG15_DPT": "presets",
    "P1_FIG15_DCPT": "presets",
    "P1_FIG18_MODEL1_DCPT": "presets",
    "P1_FIG19_DPT": "presets",
    "P1_FIG19_DCPT": "presets",
    "P1_OOD": "presets",
    "P2_FIG2": "presets",
    "P2_FIG7B": "presets",
    "REPO_PARAMS": "presets",
    "PAPER_PARAMS": "presets",
    "DCPT_TABLE1": "presets",
    "ZHENG_CPT": "presets",
    "ZHENG_SCRATCH": "presets",
    "DCPT_FORMS": "mixture",
    "Allocation": "mixture",
    "CrossDomainDCPTLaw": "mixture",
    "CrossLingualLaw": "mixture",
    "DCPTLaw": "mixture",
    "MonotoneReport": "mixture",
    "TableFit": "mixture",
    "allocation": "mixture",
    "best_ratio_limited_data": "mixture",
    "check_monotone": "mixture",
    "chinchilla_allocation": "mixture",
    "dcpt_compute_optimal": "mixture",
    "dcpt_from_dict": "mixture",
    "dlc": "mixture",
    "domain_coefficients": "mixture",
    "fit_cross_domain": "mixture",
    "fit_cross_lingual": "mixture",
    "fit_dcpt": "mixture",
    "max_domain_ratio": "mixture",
    "monotone_min_tokens": "mixture",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'cptdyn.dynamics' has no attribute {name!r}")
    warnings.warn(
        f"cptdyn.dynamics.{name} moved to cptdyn.dynamics.{home}.{name}; the old name goes "
        "in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
