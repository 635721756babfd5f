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

__all__ = ["Reporter", "Task", "task", "start_task", "reporting", "checkpoint", "request_interrupt",
           "interrupt_requested", "clear_interrupt", "in_task"]


class Task(Protocol):
    """A running piece of work (what :func:`task` yields)."""

    def advance(self, n: int = 1, note: str | None = None) -> None: ...

    def close(self, ok: bool = True) -> None: ...


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


def in_task() -> bool:
    """Whether long work marked with :func:`task` / :func:`start_task` is running (its
    ``advance`` calls are then the points where an interrupt is raised)."""
    return _depth.get() > 0


def checkpoint() -> None:
    """Raise :class:`KeyboardInterrupt` if an interrupt was requested (a safe point)."""
    if _interrupt.is_set():
        raise KeyboardInterrupt


class _Handle:
    def __init__(self, inner: ReporterTask | None, total: int | None = None,
                 depth: int | None = None) -> None:
        self._inner = inner
        self._total = total
        self._done = 0
        self._depth = depth  # restored on close (start_task handles)
        self._closed = False
        if inner is not None:
            _open.add(self)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self._done += int(n)
        if self._inner is not None and not self._closed:
            self._inner.advance(int(n), note)
        if self._depth is not None and self._total is not None and self._done >= self._total:
            self.close(True)
        checkpoint()

    def close(self, ok: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        _open.discard(self)
        if self._depth is not None:
            _depth.set(self._depth)
        if self._inner is not None:
            self._inner.close(ok)


_open: set[_Handle] = set()


def start_task(label: str, total: int | None = None) -> Task:
    """Like :func:`task` without a ``with`` block: the task closes itself once ``total``
    steps have advanced, on ``close()``, or when the reporter is removed (after an error)."""
    checkpoint()
    rep = _reporter.get()
    depth = _depth.get()
    inner = rep.start(label, total, depth) if rep is not None else None
    _depth.set(depth + 1)
    return _Handle(inner, total, depth)


@contextlib.contextmanager
def task(label: str, total: int | None = None) -> Iterator[Task]:
    """A unit of long work; ``total`` steps when known. Nested tasks are shown indented."""
    checkpoint()
    rep = _reporter.get()
    depth = _depth.get()
    inner = rep.start(label, total, depth) if rep is not None else None
    token = _depth.set(depth + 1)
    handle = _Handle(inner)
    ok = False
    try:
        yield handle
        ok = True
    finally:
        with contextlib.suppress(ValueError):
            _depth.reset(token)
        handle.close(ok)
    checkpoint()


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for the work done inside the block (``None``: silence)."""
    token = _reporter.set(reporter)
    depth = _depth.set(0)
    try:
        yield
    finally:
        for h in list(_open):  # tasks left open by an exception
            h.close(False)
        _reporter.reset(token)
        with contextlib.suppress(ValueError):
            _depth.reset(depth)
