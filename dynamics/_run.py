"""`Run`: one observed (or to-be-predicted) loss curve with its full per-step LR schedule.

Step convention (the whole library uses it):

* ``lr[t]`` is the learning rate used by update ``t`` (``t = 0 .. T-1``, absolute units).
* A loss observed "at step ``s``" was measured after ``s`` updates, i.e. after updates
  ``0 .. s-1``; so ``S1(s) = sum(lr[:s])``. ``steps`` must satisfy ``1 <= s <= len(lr)``.
* ``warmup_steps`` is the length of the (re-)warmup at the very start of ``lr``; laws that count
  warmup at peak LR (the annealing law, paper convention) read it from here.
* For continual pre-training, ``transfer_step`` is the number of PT updates: ``lr[:transfer_step]``
  is the PT schedule and ``lr[transfer_step:]`` the CPT schedule. ``dataset`` names the validation
  set the loss was measured on (``"pt"`` = general D_pt, ``"cpt"`` = downstream D_cpt, or any name).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cptdyn._errors import RunError

__all__ = ["Run", "RunError"]


def _as_1d_float(name: str, value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise RunError(f"{where}: {name} must be an array of numbers, got "
                       f"{type(value).__name__}") from None
    if arr.ndim != 1:
        raise RunError(f"{where}: {name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _whole(value: Any, name: str, where: str) -> int:
    """``value`` as an int; RunError naming the field for anything but a whole number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) or (
            not float(value).is_integer()):
        raise RunError(f"{where}: {name}={value!r} must be a whole number")
    return int(value)


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """One loss curve and the per-step LR schedule that produced it.

    Args:
      name: label used in tables and error messages.
      lr: per-step learning rates, absolute, length ``T`` (the whole run incl. warmup).
      steps: observed steps (number of updates done), strictly increasing, ``1 <= s <= T``.
      loss: observed loss at ``steps`` (natural-log cross-entropy); may be ``None`` for a run that
        is only to be predicted.
      warmup_steps: length of the warmup at the start of ``lr`` (0 if none).
      transfer_step: PT length for CPT runs (``None`` for plain pre-training).
      dataset: validation set name (``"pt"``/``"cpt"`` for the CPT law; free otherwise).
      replay_ratio: fraction of PT data replayed during CPT (``r_pt`` of the CPT law), or ``None``.
      model_size: non-embedding parameters in millions (for model-size law forms), or ``None``.
      meta: free-form metadata (source file, schedule spec, ...).
    """

    name: str
    lr: np.ndarray
    steps: np.ndarray
    loss: np.ndarray | None = None
    warmup_steps: int = 0
    transfer_step: int | None = None
    dataset: str = "val"
    replay_ratio: float | None = None
    model_size: float | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"run {self.name!r}"
        lr = _as_1d_float("lr", self.lr, where)
        if lr.size == 0:
            raise RunError(f"{where}: lr is empty")
        bad = ~np.isfinite(lr)
        if bad.any():
            i = int(np.argmax(bad))
            raise RunError(f"{where}: lr[{i}] is {lr[i]} (must be finite)")
        if (lr < 0).any():
            i = int(np.argmax(lr < 0))
            raise RunError(f"{where}: lr[{i}] = {lr[i]:g} is negative")
        from cptdyn._validate import MAX_LR

        if (lr > MAX_LR).any():
            i = int(np.argmax(lr > MAX_LR))
            raise RunError(f"{where}: lr[{i}] = {lr[i]:g} is not a plausible learning rate "
                           f"(limit {MAX_LR:g})")
        steps_f = np.asarray(self.steps)
        if steps_f.ndim != 1:
            raise RunError(f"{where}: steps must be one-dimensional, got shape {steps_f.shape}")
        if steps_f.size and not np.all(np.isfinite(steps_f.astype(np.float64))):
            i = int(np.argmax(~np.isfinite(steps_f.astype(np.float64))))
            raise RunError(f"{where}: steps[{i}] is {steps_f[i]} (must be finite)")
        steps = steps_f.astype(np.int64)
        if steps.size and not np.array_equal(steps, steps_f):
            raise RunError(f"{where}: steps must be whole numbers")
        if steps.size and np.any(np.diff(steps) <= 0):
            i = int(np.argmax(np.diff(steps) <= 0)) + 1
            raise RunError(
                f"{where}: steps must be strictly increasing, steps[{i}] = {steps[i]} "
                f"follows {steps[i - 1]}"
            )
        if steps.size and (steps[0] < 1 or steps[-1] > lr.size):
            bad_s = steps[0] if steps[0] < 1 else steps[-1]
            raise RunError(
                f"{where}: observed step {bad_s} is outside 1..{lr.size} "
                "(a loss at step s is measured after s updates)"
            )
        loss = None
        if self.loss is not None:
            loss = _as_1d_float("loss", self.loss, where)
            if loss.shape != steps.shape:
                raise RunError(f"{where}: loss has {loss.size} values but steps has {steps.size}")
            bad = ~np.isfinite(loss) | (loss <= 0)
            if bad.any():
                i = int(np.argmax(bad))
                raise RunError(
                    f"{where}: loss[{i}] = {loss[i]} at step {steps[i]} (must be finite and > 0)"
                )
        w = _whole(self.warmup_steps, "warmup_steps", where)
        if w < 0 or w > lr.size:
            raise RunError(f"{where}: warmup_steps={self.warmup_steps} is outside 0..{lr.size}")
        ts = self.transfer_step
        if ts is not None:
            ts = _whole(ts, "transfer_step", where)
            if ts < 1 or ts >= lr.size:
                raise RunError(
                    f"{where}: transfer_step={self.transfer_step} is outside 1..{lr.size - 1}"
                )
        rr = self.replay_ratio
        for fname, v in (("replay_ratio", rr), ("model_size", self.model_size)):
            if v is not None and (isinstance(v, (bool, np.bool_))
                                  or not isinstance(v, (int, float, np.number))):
                raise RunError(f"{where}: {fname}={v!r} must be a number")
        if rr is not None and not (0.0 <= float(rr) <= 1.0 and math.isfinite(float(rr))):
            raise RunError(f"{where}: replay_ratio={rr} is outside [0, 1]")
        ms = self.model_size
        if ms is not None and not (math.isfinite(float(ms)) and float(ms) > 0):
            raise RunError(f"{where}: model_size={ms} must be a positive number (millions)")
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "warmup_steps", w)
        object.__setattr__(self, "transfer_step", ts)
        object.__setattr__(self, "meta", dict(self.meta))

    # ------------------------------------------------------------------ conveniences
    @property
    def total_steps(self) -> int:
        return int(self.lr.size)

    @property
    def peak_lr(self) -> float:
        return float(self.lr.max())

    def replace(self, **changes: Any) -> Run:
        return dataclasses.replace(self, **changes)

    def truncated(self, max_step: int) -> Run:
        """The same run observed only up to ``max_step`` (inclusive); the LR array is kept."""
        keep = self.steps <= max_step
        return self.replace(
            steps=self.steps[keep], loss=None if self.loss is None else self.loss[keep]
        )

    def __repr__(self) -> str:  # short: arrays are long
        extra = "" if self.transfer_step is None else f", transfer_step={self.transfer_step}"
        return (
            f"Run({self.name!r}, T={self.total_steps}, n_obs={self.steps.size}, "
            f"warmup={self.warmup_steps}, dataset={self.dataset!r}{extra})"
        )


def stack_names(runs: Sequence[Run]) -> list[str]:
    return [r.name for r in runs]
