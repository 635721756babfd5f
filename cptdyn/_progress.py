"""Progress hooks for long work, with no dependency and no output of their own.

The library marks its long loops (fit starts, law selection per law and fold, sweeps, free-form
plan iterations) with :func:`task`::

    with task("fit momentum", total=n_starts) as t:
        for ...:
            ...
            t.advance()

Nothing is shown unless a *reporter* is installed with :func:`reporting` (the command line
installs a ``tqdm`` one on a terminal; a notebook may install its own). Every ``advance`` is also
a safe point for Ctrl-C: :func:`checkpoint` raises a pending :class:`KeyboardInterrupt` there
(see :func:`request_interrupt`), so that a long computation stops between two steps rather than
inside a running XLA program.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Protocol

__all__ = ["Reporter", "Task", "task", "reporting", "checkpoint", "request_interrupt",
           "interrupt_requested", "clear_interrupt"]


class Task(Protocol):
    """A running piece of work (what :func:`task` yields)."""

    def advance(self, n: int = 1, note: str | None = None) -> None: ...


class Reporter(Protocol):
    """What renders progress: ``start`` returns a handle with ``advance`` and ``close``."""

    def start(self, label: str, total: int | None, depth: int) -> ReporterTask: ...


class ReporterTask(Protocol):
    def advance(self, n: int, note: str | None) -> None: ...

    def close(self, ok: bool) -> None: ...


_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "cptdyn_progress_reporter", default=None)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("cptdyn_progress_depth", default=0)
_interrupt = threading.Event()


def request_interrupt() -> None:
    """Ask the running work to stop at its next :func:`checkpoint` (signal-handler safe)."""
    _interrupt.set()


def interrupt_requested() -> bool:
    return _interrupt.is_set()


def clear_interrupt() -> None:
    _interrupt.clear()


def checkpoint() -> None:
    """Raise :class:`KeyboardInterrupt` if an interrupt was requested (a safe point)."""
    if _interrupt.is_set():
        raise KeyboardInterrupt


class _Handle:
    def __init__(self, inner: ReporterTask | None) -> None:
        self._inner = inner

    def advance(self, n: int = 1, note: str | None = None) -> None:
        if self._inner is not None:
            self._inner.advance(int(n), note)
        checkpoint()


@contextlib.contextmanager
def task(label: str, total: int | None = None) -> Iterator[Task]:
    """A unit of long work; ``total`` steps when known. Nested tasks are shown indented."""
    checkpoint()
    rep = _reporter.get()
    depth = _depth.get()
    inner = rep.start(label, total, depth) if rep is not None else None
    token = _depth.set(depth + 1)
    ok = False
    try:
        yield _Handle(inner)
        ok = True
    finally:
        _depth.reset(token)
        if inner is not None:
            inner.close(ok)
    checkpoint()


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for the work done inside the block (``None``: silence)."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
