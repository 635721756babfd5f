"""What a reader had to guess, and the warning that says so.

Every reader records its choices in ``run.meta["guesses"]`` (a list of one-line notes: which
column was taken as the step, the loss or the LR when none was named, which LR-logging convention
was assumed, where the per-step LR came from when the file has none). Choices that could be wrong
(two or more candidate columns, an assumed logging convention, an LR rebuilt from a file name) are
also emitted once per source as a ``RunReadWarning``; name the column or pass the option to
silence it.
"""

from __future__ import annotations

import dataclasses
import warnings

__all__ = ["RunReadWarning", "Guesses"]


class RunReadWarning(UserWarning):
    """A run reader had to guess (a column, a logging convention, the LR source); the guesses are
    listed in the message and in ``run.meta["guesses"]``."""


#: Fallback names: taken only when nothing better is there.
_FALLBACK = {
    "step": ("_step", "Step"),
    "loss": ("loss", "train_loss", "train/loss", "lm loss", "lm_loss",
             "loss_metrics/global_avg_loss", "train/CE loss", "learning/loss"),
}


def _rank(role: str, col: str) -> int:
    return 1 if col in _FALLBACK.get(role, ()) else 0


@dataclasses.dataclass
class Guesses:
    """Notes of one source: ``notes`` all go to ``meta["guesses"]``, ``doubtful`` ones are also
    warned about."""

    src: str
    notes: list[str] = dataclasses.field(default_factory=list)
    doubtful: list[str] = dataclasses.field(default_factory=list)

    def add(self, note: str, *, doubtful: bool = False) -> None:
        if note not in self.notes:
            self.notes.append(note)
        if doubtful and note not in self.doubtful:
            self.doubtful.append(note)

    def column(self, role: str, picked: str, candidates: list[str]) -> None:
        """Record that ``picked`` was taken as the ``role`` column among ``candidates``; doubtful
        when another candidate of the same rank was there (a fallback -- W&B's ``_step`` beside a
        trainer step, a training loss beside an eval loss -- does not make it doubtful)."""
        others = [c for c in candidates if c != picked]
        if not others:
            self.add(f"{role} column {picked!r} (by its name)")
            return
        rival = [c for c in others if _rank(role, c) <= _rank(role, picked)]
        self.add(f"{role} column {picked!r} (also present: {', '.join(map(repr, others))}; "
                 f"name it with {role}_col / --{role}-col)", doubtful=bool(rival))

    def warn(self, stacklevel: int = 4) -> None:
        """One ``RunReadWarning`` listing the doubtful guesses (none: no warning)."""
        if self.doubtful:
            warnings.warn(f"{self.src}: guessed {'; '.join(self.doubtful)}", RunReadWarning,
                          stacklevel=stacklevel)
