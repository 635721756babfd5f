"""One numeric prediction entry point for every law: a loss curve from an LR array, in float64.

``simulate(law, lr, steps, **context)`` builds a :class:`Run` and calls ``law.predict`` under a
local x64 context; ``run_context(run)`` is the keyword context of ``Law.predict_lr`` that a run
carries. (The pure-JAX, differentiable entry point is ``law.predict_lr``.)
"""

from typing import Any

import numpy as np

from cptdyn._pytree import x64_context

from ._law import Law
from ._run import Run

__all__ = ["run_context", "simulate"]


def run_context(run: Run) -> dict[str, Any]:
    """The keyword arguments of ``Law.predict_lr`` that a ``Run`` carries besides ``lr``/``steps``.

    ``law.predict_lr(run.lr, run.steps, **run_context(run))`` equals ``law.predict(run)``.
    """
    return {
        "warmup_steps": run.warmup_steps,
        "transfer_step": run.transfer_step,
        "dataset": run.dataset,
        "replay_ratio": run.replay_ratio,
        "model_size": run.model_size,
    }


def simulate(
    law: Law,
    lr: Any,
    steps: Any = None,
    *,
    warmup_steps: int = 0,
    transfer_step: int | None = None,
    dataset: str = "val",
    replay_ratio: float | None = None,
    model_size: float | None = None,
) -> np.ndarray:
    """Predicted loss (float64 numpy) at ``steps`` (default: every step ``1..len(lr)``).

    Works with any ``Law`` (it builds a ``Run`` and calls ``law.predict`` under a local x64
    context). Arguments as in ``Run``.
    """
    lr = np.asarray(lr, dtype=np.float64)
    if steps is None:
        steps = np.arange(1, lr.shape[-1] + 1)
    run = Run(
        "simulate", lr, np.asarray(steps), None, warmup_steps=warmup_steps,
        transfer_step=transfer_step, dataset=dataset, replay_ratio=replay_ratio,
        model_size=model_size,
    )
    with x64_context():
        return np.asarray(law.predict(run), dtype=np.float64)
