"""Load observed loss curves as ``Run`` objects (with the full per-step LR) from common log formats.

One entry point, ``load_runs(source, format=None, **options)``; formats:

* ``"csv"`` -- a table with a step, a loss and (optionally) an LR column; several runs in one file
  are keyed by a run column (``.csv``, ``.tsv``, ``.csv.gz``). The MultiPowerLaw repository files
  (``constant_T``, ``cosine_T``, ``wsd_A_T``, ``wsdld_A_T``, ``wsdcon_X``) are recognised by name
  and their per-step LR is rebuilt exactly as the repository's data loader does.
* ``"wandb-json"`` -- W&B run histories exported as JSON (``{"config", "summary", "history":
  {"val": {...}, "train": {...}}}``, as in the 124M cooldown sweep), or a JSON list of history rows.
  W&B history rows (a JSON list, or ``{"config", "history": [rows]}``) are read as a table on the
  trainer's own step column (``train/global_step`` ... before W&B's ``_step``).
* ``"wandb-csv"`` -- a W&B panel export (``Step``, ``<run> - <metric>``; ``__MIN``/``__MAX``
  ignored).
* ``load_wandb("ENTITY/PROJECT/RUN")`` -- straight from the W&B API (optional ``wandb``).
* ``"tensorboard"`` -- event files (a file or a log directory; sub-directories are runs), read with
  ``tbparse`` or ``tensorboard`` (optional dependency: ``pip install 'cptdyn[tensorboard]'``).
* ``"hf"`` -- a Hugging Face ``trainer_state.json`` (``log_history``).
* a pandas ``DataFrame`` (long: one row per step, run column optional).

Column options (every format): ``step_col``, ``loss_col``, ``lr_col``, ``run_col``. Left ``None``,
the usual names are tried (``STEP_ALIASES``, ``LOSS_ALIASES``, ``LR_ALIASES``; a column named
``run``/``run_id``/``run_name`` keys runs). ``loss_col`` may be a list or a ``{column: dataset}``
mapping: each loss column becomes one Run sharing the LR (CPT: ``loss_pt``, ``loss_cpt`` ->
datasets ``"pt"`` and ``"cpt"``; columns named ``loss_<name>`` are picked up automatically when no
plain loss column exists), with ``transfer_step`` the number of PT updates.

Step convention (``_run.py``): a loss logged at step ``s`` was measured after ``s`` updates;
``lr[t]`` is the LR of update ``t``. A logged LR at step ``s`` is read as ``lr[s]``
(``lr_at="next"``: trainers that log after ``scheduler.step()``, e.g. the Hägele et al. code
behind the 124M sweep and the Hugging Face Trainer) or as ``lr[s - 1]`` (``lr_at="last"``: the
LR of the update that produced the logged loss, e.g. the MultiPowerLaw CSVs). When only a logged
LR exists, the per-step LR is rebuilt by the rule of ``reconstruct_lr`` (``_columns.py``); pass
``schedule=`` to give the exact one.

``run_config`` (a Hugging Face ``TrainingArguments``-shaped dict or JSON/YAML file: learning_rate,
lr_scheduler_type, warmup_steps/warmup_ratio, max_steps, lr_scheduler_kwargs) gives the exact
per-step LR (``_hf_config``) and, by its ``transformers_version``, the Trainer's LR-logging
convention (``lr[s]`` before 4.51, ``lr[s - 1]`` from 4.51 on).

Guesses (columns picked by name, an assumed logging convention, an LR rebuilt from a file name)
are listed in ``run.meta["guesses"]``; doubtful ones raise a ``RunReadWarning``. Columns
``transfer_step``/``replay_ratio``/``seed`` set each run's values (CPT lab files).

Loss observations at step 0 (before any update) are dropped (``meta["dropped_steps"]``).

Bad input raises ``RunError`` with one line naming the file, the row and the column, e.g.
``runs.csv row 17 column 'loss': 'nan' is not a finite number``; in text files "row" is the line
number (the header is row 1).

Layout: ``_load`` (``load_runs``, ``sniff_format``), ``_table`` (table -> Runs, shared options,
``runs_from_frame``), ``_columns`` (names, cells, per-step LR), ``_files`` (opening files), and one
reader per format: ``_csv``, ``_mpl_files``, ``_wandb`` (JSON and panel CSV), ``_sweep`` (the
compact 124M cooldown sweep), ``_tensorboard``, ``_hf``.
"""

from ._columns import LOSS_ALIASES as LOSS_ALIASES
from ._columns import LR_ALIASES as LR_ALIASES
from ._columns import STEP_ALIASES as STEP_ALIASES
from ._columns import reconstruct_lr as reconstruct_lr
from ._csv import load_csv as load_csv
from ._guess import RunReadWarning as RunReadWarning
from ._hf import load_hf_trainer_state as load_hf_trainer_state
from ._hf_config import hf_schedule as hf_schedule
from ._load import RUN_FORMATS as RUN_FORMATS
from ._load import load_runs as load_runs
from ._load import sniff_format as sniff_format
from ._mpl_files import mpl_schedule as mpl_schedule
from ._sweep import load_cooldown_sweep as load_cooldown_sweep
from ._table import runs_from_frame as runs_from_frame
from ._tensorboard import load_tensorboard as load_tensorboard
from ._wandb import load_wandb_csv as load_wandb_csv
from ._wandb import load_wandb_json as load_wandb_json
from ._wandb_api import load_wandb as load_wandb

__all__ = [
    "RUN_FORMATS",
    "STEP_ALIASES",
    "LOSS_ALIASES",
    "LR_ALIASES",
    "load_runs",
    "runs_from_frame",
    "load_csv",
    "load_wandb_json",
    "load_wandb_csv",
    "load_wandb",
    "RunReadWarning",
    "hf_schedule",
    "load_tensorboard",
    "load_hf_trainer_state",
    "load_cooldown_sweep",
    "mpl_schedule",
    "reconstruct_lr",
    "sniff_format",
]
