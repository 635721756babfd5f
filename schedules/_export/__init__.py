r"""Export a schedule to trainers: optax, PyTorch, Hugging Face, Megatron-LM, torchtitan, nanotron,
OLMo-core, MaxText, levanter, plus CSV and JSON.

Every exporter returns an :class:`ExportResult`: the ``payload`` (a Python object: an optax
callable, a dict of TrainingArguments fields, a list of CLI flags, a config dict ...), the
``files`` :func:`write` puts on disk, ``native`` and a human ``note``. ``native=True`` means the
trainer rebuilds the LR curve from its own configuration; it is only claimed after the trainer's
formula (as written in its source) has been evaluated at *every* step and matches
``schedule.array()`` (computed in float64) to a relative error of 1e-9. Otherwise optax, PyTorch and
Hugging Face use the per-step route (a lookup table, said so in the note, with the reason), and the
config-only trainers raise :class:`ExportError` with a one-line reason.

Step indexing: cptdyn steps are 0-based optimizer updates; ``array()[t]`` is the LR of update
``t``. Each trainer module states how its trainer indexes steps (and which LR its first update
uses) and the source commit its formula was read from.

Layout (one file per trainer, each holding the trainer's formula, its candidate configs and its
``export_<trainer>``; all of them import only :mod:`._common` and the schedule classes):

* ``_common.py`` -- :class:`ExportResult`, :func:`lr_table`, the candidate search, the per-step
  table route, YAML / TOML / comment writers;
* ``_optax.py``, ``_torch.py`` (+ ``_torch_loader_template.py``), ``_hf.py``, ``_megatron.py``,
  ``_torchtitan.py``, ``_nanotron.py``, ``_olmo_core.py``, ``_maxtext.py``, ``_levanter.py``,
  ``_files.py`` (csv, json);
* this ``__init__``: :func:`export` (dispatch by target name) and :func:`write`.
"""

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cptdyn._errors import ExportError
from cptdyn._io import atomic_write, atomic_write_files

from .._core import CPTSchedule, Schedule
from ._common import ExportResult as ExportResult
from ._common import lr_table as lr_table
from ._common import resolved_cpt, to_schedule
from ._files import export_csv as export_csv
from ._files import export_json as export_json
from ._hf import export_hf as export_hf
from ._levanter import export_levanter as export_levanter
from ._maxtext import export_maxtext as export_maxtext
from ._megatron import export_megatron as export_megatron
from ._nanotron import export_nanotron as export_nanotron
from ._olmo_core import export_olmo_core as export_olmo_core
from ._optax import ArrayLookupSchedule as ArrayLookupSchedule
from ._optax import FloatCountSchedule as FloatCountSchedule
from ._optax import export_optax as export_optax
from ._torch import export_torch as export_torch
from ._torchtitan import export_torchtitan as export_torchtitan

__all__ = [
    "EXPORT_TARGETS",
    "ExportError",
    "ExportResult",
    "ArrayLookupSchedule",
    "FloatCountSchedule",
    "export",
    "export_csv",
    "export_hf",
    "export_json",
    "export_levanter",
    "export_maxtext",
    "export_megatron",
    "export_nanotron",
    "export_olmo_core",
    "export_optax",
    "export_torch",
    "export_torchtitan",
    "lr_table",
    "write",
]


EXPORT_TARGETS = (
    "optax",
    "torch",
    "hf",
    "megatron",
    "torchtitan",
    "nanotron",
    "olmo-core",
    "maxtext",
    "levanter",
    "csv",
    "json",
)


_EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "optax": export_optax,
    "torch": export_torch,
    "hf": export_hf,
    "megatron": export_megatron,
    "torchtitan": export_torchtitan,
    "nanotron": export_nanotron,
    "olmo-core": export_olmo_core,
    "maxtext": export_maxtext,
    "levanter": export_levanter,
    "csv": export_csv,
    "json": export_json,
}


def export(schedule: Schedule | Mapping[str, Any], target: str, *, part: str | None = None,
           **opts: Any) -> ExportResult:
    """Export ``schedule`` (a Schedule or a JSON spec dict) to ``target``.

    Args:
        schedule: the schedule, or its spec (``{"version": 1, "kind": ...}``).
        target: one of :data:`EXPORT_TARGETS`.
        part: for a ``cpt`` schedule, ``"pt"`` or ``"cpt"`` exports that phase alone (a CPT run
            is a new trainer run that starts at step 0 of the CPT phase); default: the whole run.
        **opts: target options: ``require_native`` (optax, hf); ``base_lr``, ``past_end``
            (``"hold"``/``"zero"``), ``table_format`` (``"json"``/``"csv"``) (torch, hf);
            ``mode`` (``"spec"``/``"array"``) (json).

    Raises:
        ExportError: the target cannot express the schedule exactly (one line saying why), or an
            option is invalid.
    """
    if target not in _EXPORTERS:
        choices = ", ".join(EXPORT_TARGETS)
        raise ExportError(f"target={target!r} is unknown; choose one of {choices}")
    s = to_schedule(schedule)
    if part is not None:
        if not isinstance(s, CPTSchedule):
            raise ExportError(f"part={part!r} needs a 'cpt' schedule, got kind={s.KIND!r}")
        if part == "pt":
            s = s.pt
        elif part == "cpt":
            s = resolved_cpt(s)
        else:
            raise ExportError(f"part={part!r} must be 'pt' or 'cpt'")
    fn = _EXPORTERS[target]
    try:
        return fn(s, **opts)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            bad = str(e).split("'")[1] if "'" in str(e) else str(e)
            raise ExportError(f"{target}: option {bad!r} is not supported") from None
        raise


def write(result: ExportResult, out_path: str | os.PathLike[str]) -> list[Path]:
    """Write ``result.files`` atomically (:func:`cptdyn._io.atomic_write` /
    :func:`~cptdyn._io.atomic_write_files`); returns the paths written.

    One file: ``out_path`` is the file (or an existing directory, which receives the file under
    its default name). Several files (torch, hf per-step route): ``out_path`` is a directory,
    created if needed (a path with a suffix such as ``x.json`` is refused). Files are written to
    temporary names in the destination directory and renamed into place, so an error never leaves
    a half-written file.
    """
    out = Path(out_path)
    files = dict(result.files)
    if not files:  # pragma: no cover
        raise ExportError(f"{result.target}: nothing to write")
    if len(files) == 1 and not out.is_dir():
        (text,) = files.values()
        if not out.parent.exists():
            raise ExportError(f"write: directory {str(out.parent)!r} does not exist")
        atomic_write(out, text)
        return [out]
    if (out.exists() and not out.is_dir()) or (not out.exists() and out.suffix):
        raise ExportError(
            f"write: {str(out)!r} looks like a file but {result.target} writes {len(files)} "
            f"files ({', '.join(files)}); give a directory"
        )
    if not out.exists() and not out.parent.exists():
        raise ExportError(f"write: directory {str(out.parent)!r} does not exist")
    return atomic_write_files(out, files)
