r"""PyTorch: a per-step table plus a standalone ``LambdaLR`` loader (always exact).

Step indexing: ``LambdaLR`` construction sets ``lr = base_lr * lambda(0)``; ``scheduler.step()``
is called after ``optimizer.step()``, so update ``t`` uses ``base_lr * lambda(t)``. The loader
(``_torch_loader_template.py``, beside this file, written out as ``cptdyn_lr_scheduler.py``) sets
``lambda(t) = lrs[t] / base_lr``.

Source checked (read, not copied): torch 2.13.0 (installed): ``torch/optim/lr_scheduler.py``
(``LRScheduler``, ``LambdaLR``). The tests drive real SGD and AdamW updates
(``tests/schedules/export/test_torch.py``).
"""

from .._core import Schedule
from ._common import ExportResult, lr_table, to_schedule, torch_bundle

__all__ = ["export_torch"]


def export_torch(schedule: Schedule, *, base_lr: float | None = None, past_end: str = "hold",
                 table_format: str = "json") -> ExportResult:
    """A per-step table plus a standalone loader building a ``torch.optim.lr_scheduler.LambdaLR``.

    Files: ``lr_table.json`` (or ``lr_table.csv``) and ``cptdyn_lr_scheduler.py``, which needs only
    torch and the standard library: ``build_scheduler(optimizer)`` makes update ``t`` run at
    ``lrs[t]`` (multiplier ``lrs[t] / base_lr``; past the end: ``past_end``), state_dict-safe.
    ``payload`` is ``{"lrs", "base_lr", "past_end"}`` (also accepted by ``build_scheduler``).
    """
    s = to_schedule(schedule)
    lrs = lr_table(s)
    files, payload = torch_bundle(s, lrs, base_lr, past_end, table_format)
    note = (
        f"torch: per-step route (LambdaLR over a {s.total_steps}-step table, multiplier "
        f"lrs[t]/base_lr with base_lr={payload['base_lr']:g}); exact at every step. Past the end "
        f"of the table: {'the last LR is held' if past_end == 'hold' else 'LR 0'}. Call "
        "scheduler.step() after optimizer.step(); update t runs at lrs[t]."
    )
    return ExportResult("torch", False, note, payload, files, 0.0, s.total_steps)
