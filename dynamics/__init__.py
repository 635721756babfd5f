"""Loss laws in JAX, runs (loading real loss curves) and fitting.

Laws (registered by name, see ``law_names()``): ``momentum`` (LR-annealing law, Tissue et al.
2024) and its ``momentum-lam`` / ``momentum-size`` variants; ``cpt`` (Wang et al. 2025) and its
``cpt-replay`` / ``cpt-size`` / ``cpt-open`` variants; ``mpl`` (Multi-Power Law, Luo et al. 2025);
``fsl`` (functional-scaling-law ansatz). Every law is a pytree of parameters with
``predict(run)`` and a pure-JAX prediction from an LR array; ``fit(law, runs)`` fits it.
"""

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
from ._cpt import P1_FIG3_DCPT as P1_FIG3_DCPT
from ._cpt import P1_FIG3_DPT as P1_FIG3_DPT
from ._cpt import P1_FIG11_DCPT as P1_FIG11_DCPT
from ._cpt import P1_FIG11_DPT as P1_FIG11_DPT
from ._cpt import P1_FIG15_DCPT as P1_FIG15_DCPT
from ._cpt import P1_FIG15_DPT as P1_FIG15_DPT
from ._cpt import P1_FIG18_MODEL1_DCPT as P1_FIG18_MODEL1_DCPT
from ._cpt import P1_FIG19_DCPT as P1_FIG19_DCPT
from ._cpt import P1_FIG19_DPT as P1_FIG19_DPT
from ._cpt import P1_OOD as P1_OOD
from ._cpt import CPTLaw as CPTLaw
from ._cpt import CPTOpenLaw as CPTOpenLaw
from ._cpt import CPTReplayLaw as CPTReplayLaw
from ._cpt import CPTSizeLaw as CPTSizeLaw
from ._cpt import critical_point as critical_point
from ._cpt import fit_ood_weights as fit_ood_weights
from ._cpt import loss_potential as loss_potential
from ._cpt import ood_loss as ood_loss
from ._cpt import turning_length as turning_length
from ._fit import Convergence as Convergence
from ._fit import Evaluation as Evaluation
from ._fit import FitError as FitError
from ._fit import FitResult as FitResult
from ._fit import block_average_lr as block_average_lr
from ._fit import evaluate as evaluate
from ._fit import fit as fit
from ._fit import fit_short_predict_long as fit_short_predict_long
from ._fit import leave_one_schedule_out as leave_one_schedule_out
from ._fsl import FSLLaw as FSLLaw
from ._law import Constraint as Constraint
from ._law import Law as Law
from ._law import concat_rows as concat_rows
from ._law import interval as interval
from ._law import law_class as law_class
from ._law import law_from_dict as law_from_dict
from ._law import law_names as law_names
from ._law import positive as positive
from ._law import real as real
from ._law import register_law as register_law
from ._metrics import METRIC_NAMES as METRIC_NAMES
from ._metrics import curve_metrics as curve_metrics
from ._metrics import final_error as final_error
from ._metrics import mae as mae
from ._metrics import mean_metrics as mean_metrics
from ._metrics import mse as mse
from ._metrics import pred_e as pred_e
from ._metrics import r2 as r2
from ._metrics import rmse as rmse
from ._metrics import worst_e as worst_e
from ._momentum import P2_FIG2 as P2_FIG2
from ._momentum import P2_FIG7B as P2_FIG7B
from ._momentum import MomentumLamLaw as MomentumLamLaw
from ._momentum import MomentumLaw as MomentumLaw
from ._momentum import MomentumSizeLaw as MomentumSizeLaw
from ._momentum import run_context as run_context
from ._momentum import simulate as simulate
from ._mpl import MPL_CONVENTIONS as MPL_CONVENTIONS
from ._mpl import PAPER_PARAMS as PAPER_PARAMS
from ._mpl import REPO_PARAMS as REPO_PARAMS
from ._mpl import MPLLaw as MPLLaw
from ._mpl import mpl_curve as mpl_curve
from ._run import Run as Run
from ._run import RunError as RunError
from ._runs import LOSS_ALIASES as LOSS_ALIASES
from ._runs import LR_ALIASES as LR_ALIASES
from ._runs import RUN_FORMATS as RUN_FORMATS
from ._runs import STEP_ALIASES as STEP_ALIASES
from ._runs import load_cooldown_sweep as load_cooldown_sweep
from ._runs import load_csv as load_csv
from ._runs import load_hf_trainer_state as load_hf_trainer_state
from ._runs import load_runs as load_runs
from ._runs import load_tensorboard as load_tensorboard
from ._runs import load_wandb_csv as load_wandb_csv
from ._runs import load_wandb_json as load_wandb_json
from ._runs import mpl_schedule as mpl_schedule
from ._runs import reconstruct_lr as reconstruct_lr
from ._runs import runs_from_frame as runs_from_frame
from ._runs import sniff_format as sniff_format
