"""``load_wandb``: runs read straight from the W&B API (optional dependency ``wandb``:
``pip install 'cptdyn[wandb]'``).

``load_wandb("ENTITY/PROJECT/RUN_ID")`` (a run page URL ``https://wandb.ai/ENTITY/PROJECT/runs/
RUN_ID`` too) fetches every logged row with ``run.scan_history()`` (unsampled; ``run.history()``
samples 500 rows) and the run's config, then reads them as W&B history rows (``history_runs``):
the trainer's own step counter, train and eval rows of a step merged, the LR-logging convention
and (when no LR is logged) the per-step LR from a Hugging Face ``TrainingArguments`` config.
``save=PATH`` also writes what was fetched as ``{"name", "config", "history"}`` JSON, which
``load_runs(PATH)`` reads again offline.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from typing import Any

from cptdyn._errors import RunError
from cptdyn._io import atomic_write

from .._run import Run
from ._table import check_options
from ._wandb import history_runs

__all__ = ["load_wandb", "wandb_run_path"]


def wandb_run_path(path: str) -> str:
    """``ENTITY/PROJECT/RUN_ID`` from that text or a run page URL; RunError otherwise."""
    text = str(path).strip()
    m = re.fullmatch(r"(?:https?://[^/]+/)?([^/\s]+)/([^/\s]+)/(?:runs/)?([^/\s?#]+)/?(?:[?#].*)?",
                     text)
    if not m:
        raise RunError(f"--wandb {path!r}: expected ENTITY/PROJECT/RUN_ID (or a run page URL)")
    return "/".join(m.groups())


def _plain(v: Any) -> Any:
    """JSON-able copy (NaN/inf kept as floats: ``json.dumps`` writes NaN/Infinity, which the
    reader refuses where the column is used)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return int(f) if f.is_integer() and not isinstance(v, float) and math.isfinite(f) else f


def load_wandb(path: str | Sequence[str], *, api: Any = None, save: str | os.PathLike[str] |
               None = None, **options: Any) -> list[Run]:
    """Runs of one or more W&B runs read through the API (``wandb.Api()`` unless ``api`` is
    given); options as ``load_runs``. ``save`` (one run only) writes the fetched rows and config
    as JSON for offline use."""
    check_options(options, "wandb-json")
    if not isinstance(path, str):
        paths = list(path)
        if save is not None and len(paths) != 1:
            raise ValueError("load_wandb: save= needs exactly one run")
        return [r for p in paths for r in load_wandb(p, api=api, save=save, **options)]
    rp = wandb_run_path(path)
    if api is None:
        try:
            import wandb
        except ImportError:
            raise RunError("reading runs from W&B needs the optional dependency wandb "
                           "(pip install 'cptdyn[wandb]')") from None
        api = wandb.Api()
    try:
        run = api.run(rp)
        rows = [dict(r) for r in run.scan_history()]
        config = dict(run.config or {})
    except Exception as e:  # noqa: BLE001 - network, auth, missing run: one line
        raise RunError(f"wandb run {rp!r}: {type(e).__name__}: {' '.join(str(e).split())}") \
            from None
    name = str(getattr(run, "name", None) or rp.rsplit("/", 1)[-1])
    if save is not None:
        atomic_write(save, json.dumps({"name": name, "path": rp, "config": _plain(config),
                                       "history": _plain(rows)}, indent=1) + "\n")
    return history_runs(rows, config, name=name, src=f"wandb:{rp}", **options)
