"""The command line's progress reporter: ``tqdm`` bars on stderr when it is a terminal,
one line per finished task with ``--verbose``, nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from cptdyn._progress import Reporter, ReporterTask


class _BarTask:
    def __init__(self, label: str, total: int | None, depth: int, stream: TextIO,
                 bars: bool, log: bool) -> None:
        self.label, self.total, self.depth = label, total, depth
        self.stream, self.log = stream, log
        self.done = 0
        self.t0 = time.perf_counter()
        self.bar: Any = None
        if bars:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=("  " * depth) + label, file=stream, leave=depth == 0,
                            position=depth, dynamic_ncols=True, mininterval=0.2, delay=1.0,
                            unit="step")

    def advance(self, n: int, note: str | None) -> None:
        self.done += n
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)

    def close(self, ok: bool) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.log:
            dt = time.perf_counter() - self.t0
            of = f"/{self.total}" if self.total is not None else ""
            state = "done" if ok else "stopped"
            print(f"cptdyn: {'  ' * self.depth}{self.label}: {state} ({self.done}{of} steps, "
                  f"{dt:.1f} s)", file=self.stream, flush=True)


class CLIReporter:
    """``Reporter`` for :func:`cptdyn._progress.reporting`."""

    def __init__(self, stream: TextIO, bars: bool, log: bool) -> None:
        self.stream, self.bars, self.log = stream, bars, log

    def start(self, label: str, total: int | None, depth: int) -> ReporterTask:
        return _BarTask(label, total, depth, self.stream, self.bars, self.log)


def make_reporter(quiet: bool, verbose: bool, stream: TextIO | None = None) -> Reporter | None:
    """Bars when ``stream`` (default stderr) is a terminal; finished-task lines with
    ``verbose``; ``None`` (silence) with ``quiet`` or when neither applies."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return None
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    if not tty and not verbose:
        return None
    return CLIReporter(stream, bars=tty, log=verbose)
