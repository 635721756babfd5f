"""How every command talks to the user and to scripts.

* ``--json``: one JSON object on stdout (``{"command", "ok", "exit_code", ...}``; on failure
  ``"error"`` holds the one-line message); the human text goes to stderr.
* ``--quiet``: no human text and no progress (errors still print one line on stderr);
  ``--verbose``: one line per finished long task (fits, folds, sweeps) even when stderr is not a
  terminal. Progress bars (``tqdm``) show only when stderr is a terminal.
* Exit status: see :data:`EXIT_CODES` (also in ``cptdyn --help``).
* Output flags that name an input file (or each other) are refused before anything runs, and
  every file is written only once the whole command has succeeded
  (:func:`cptdyn._io.deferred_writes`).
* Ctrl-C: exit 130 with ``cptdyn: interrupted``; nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from cptdyn._errors import CLIError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_PLAN = 3
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_INTERNAL, "internal error (a bug; CPTDYN_DEBUG=1 prints the traceback)"),
    (EXIT_USAGE, "bad input: usage, a missing/malformed file or value, an output\n"
                 "       naming an input (one line on stderr: flag/field and value)"),
    (EXIT_NO_PLAN, "plan: no valid plan (plan.json still holds status/diagnostics)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); nothing is written"),
)

EPILOG = (
    "exit status:\n" + "".join(f"  {c:<4} {t}\n" for c, t in EXIT_CODES)
    + "\nenvironment:\n"
    "  CPTDYN_DEBUG=1     print the Python traceback of a failure\n"
    "  CPTDYN_CACHE_DIR   JAX compilation cache (default ~/.cache/cptdyn/jax)\n"
    "  CPTDYN_NO_CACHE=1  no compilation cache\n"
    "\nevery command takes --json (one JSON object on stdout, text on stderr),\n"
    "--quiet and --verbose."
)

#: Argument destinations holding input paths, and output paths (the flag spelled for errors).
INPUT_DESTS = {"runs": "RUN", "spec": "SPEC", "pt": "--pt", "cpt": "--cpt", "params": "--params",
               "schedule": "--schedule", "run_schedule": "--schedule-spec", "values": "--values",
               "data": "--data", "run_config": "--run-config"}
OUTPUT_DESTS = {"out": "--out", "plot": "--plot", "report": "--report",
                "save_params": "--save-params"}


# ------------------------------------------------------------------------------------ options
def add_output_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``--json``, ``--quiet``, ``--verbose`` on ``p``. On sub-commands their default is
    ``SUPPRESS`` so that a flag given before the command name is kept."""
    d: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout "
                   "(human text goes to stderr)", **({"default": False} if top else d))
    q = g.add_mutually_exclusive_group()
    q.add_argument("-q", "--quiet", action="store_true", help="no text and no progress "
                   "(errors still print)", **({"default": False} if top else d))
    q.add_argument("-v", "--verbose", action="store_true", help="a line per finished long "
                   "task (fits, folds, sweeps), also when stderr is not a terminal",
                   **({"default": False} if top else d))


# ------------------------------------------------------------------------------- value types
def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan``/``inf`` refused at the door)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def whole_number(text: str) -> int:
    """argparse type: a whole number within the step resource limit."""
    from cptdyn._validate import MAX_STEPS

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if abs(v) > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"{text} exceeds the limit of {MAX_STEPS} (resource "
                                         "limit; a typo?)")
    return v


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    v = finite_float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1]")
    return v


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    v = finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return v


def model_size(text: str) -> float:
    """argparse type: a model size in millions of parameters, in (0, 1e7] (up to 10^13)."""
    v = positive(text)
    if v > 1e7:
        raise argparse.ArgumentTypeError(f"{text!r} millions of parameters is implausible "
                                         "(limit 1e7, i.e. 10^13 parameters)")
    return v


#: value types by destination, applied to every command (see :func:`harden_types`)
_TYPES_BY_DEST: dict[str, Callable[[str], Any]] = {
    "replay_ratio": fraction, "model_size": model_size, "warmup_init": fraction,
    "tolerance": positive, "general_weight": fraction, "ratio_min": fraction,
    "ratio_max": fraction,
}


def harden_types(p: argparse.ArgumentParser) -> None:
    """Every ``float`` flag of ``p`` becomes :func:`finite_float`, every ``int`` flag
    :func:`whole_number`, and flags with a known range get their own type."""
    for a in p._actions:
        if a.dest in _TYPES_BY_DEST and a.type in (float, int, None) and a.nargs is None \
                and a.option_strings and a.type is not None:
            a.type = _TYPES_BY_DEST[a.dest]
        elif a.type is float:
            a.type = finite_float
        elif a.type is int:
            a.type = whole_number


# ------------------------------------------------------------------------------------- result
class _State:
    def __init__(self) -> None:
        self.result: dict[str, Any] | None = None
        self.data_out: TextIO = sys.stdout


_state = _State()


def set_result(doc: Mapping[str, Any]) -> None:
    """The command's JSON object (printed with ``--json``); keys are merged."""
    if _state.result is None:
        _state.result = {}
    _state.result.update(doc)


def data_stream() -> TextIO:
    """The real stdout, for data a command prints on purpose (``export`` without ``--out``)."""
    return _state.data_out


def json_safe(v: Any) -> Any:
    """``v`` with non-finite floats as ``None`` and NumPy/JAX values as plain Python."""
    from cptdyn._io import to_plain

    v = to_plain(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    return v


def dumps(doc: Any) -> str:
    """Strict JSON (never a bare ``NaN``)."""
    return json.dumps(json_safe(doc), indent=2, allow_nan=False)


# ------------------------------------------------------------------------------------- errors
def one_line(e: BaseException | str) -> str:
    """The message on one line, each part said once: whitespace runs collapsed, a leading
    ``cptdyn:`` / ``error:`` dropped, and a ``": "``-separated part dropped when the next one
    repeats it (``--pt 'a.json': --pt 'a.json' does not exist``)."""
    text = " ".join(str(e).split())
    parts = text.split(": ")
    while parts and parts[0] in ("cptdyn", "error", "cptdyn error") and len(parts) > 1:
        parts = parts[1:]
    out: list[str] = []
    for part in parts:
        if out and (part == out[-1] or part.startswith(out[-1] + " ")
                    or part.startswith(out[-1] + ":")):
            out[-1] = part
        else:
            out.append(part)
    return ": ".join(out)


def check_paths(args: argparse.Namespace) -> None:
    """Refuse an output flag that names an input file or another output (before any work)."""
    inputs: list[tuple[str, Path]] = []
    for dest, flag in INPUT_DESTS.items():
        v = getattr(args, dest, None)
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, str) and item:
                inputs.append((flag, Path(item)))
    seen: list[tuple[str, Path]] = []
    for dest, flag in OUTPUT_DESTS.items():
        v = getattr(args, dest, None)
        if not isinstance(v, str):
            continue
        if not v.strip():
            raise CLIError(f"{flag} '': empty file name")
        out = Path(v)
        parent = out.parent if str(out.parent) else Path(".")
        if not parent.is_dir():
            what = "is a file" if parent.exists() else "does not exist"
            raise CLIError(f"{flag} {v!r}: folder {str(parent)!r} {what}")
        if out.is_dir() and getattr(args, "command", None) != "export":
            raise CLIError(f"{flag} {v!r} is a folder, not a file")
        for iflag, ip in inputs:
            if _same(out, ip):
                raise CLIError(f"{flag} {v!r} is also the input {iflag} {str(ip)!r}: refusing to "
                               "overwrite an input; choose another output file")
            if ip.is_dir() and _inside(out, ip) and iflag == "RUN":
                continue
        for oflag, op in seen:
            if _same(out, op):
                raise CLIError(f"{flag} {v!r} is also {oflag}: give each output its own file")
        seen.append((flag, out))


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return os.path.abspath(a) == os.path.abspath(b)


def _inside(a: Path, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(a), os.path.abspath(folder)]) == \
            os.path.abspath(folder)
    except ValueError:
        return False


# --------------------------------------------------------------------------------------- main
@contextlib.contextmanager
def sigint_flag(hard_exit: bool) -> Iterator[None]:
    """Ctrl-C handling. The first SIGINT only sets the interrupt flag of
    :mod:`cptdyn._progress`; the next safe point (between two fits, batches, folds or
    iterations, and after the imports) raises ``KeyboardInterrupt``, never inside a running XLA
    program, an import or a garbage-collector callback (raising there crashed the interpreter at
    exit: "Segmentation fault", exit 139). A second SIGINT ends a real process at once (exit
    130; nothing was written, as files are written only at the end), or raises in-process."""
    if not _is_main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield  # not the main thread, or SIGINT ignored on purpose (nohup, a background job)
        return

    def handler(signum: int, frame: Any) -> None:
        from cptdyn._progress import interrupt_requested, request_interrupt

        if interrupt_requested():
            if hard_exit:
                print("cptdyn: interrupted", file=sys.__stderr__, flush=True)
                os._exit(EXIT_INTERRUPTED)
            raise KeyboardInterrupt
        request_interrupt()

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread of the main interpreter
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, old)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_command(call: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                command: str, hard_exit: bool = False) -> int:
    """Run a parsed command under the output and exit-status contract (``hard_exit``: a real
    process, which a second Ctrl-C may end at once)."""
    from cptdyn._io import deferred_writes
    from cptdyn._progress import checkpoint, clear_interrupt, reporting

    from ._progress import make_reporter

    as_json = bool(getattr(args, "json", False))
    quiet = bool(getattr(args, "quiet", False))
    verbose = bool(getattr(args, "verbose", False))
    real_out, real_err = sys.stdout, sys.stderr
    human: TextIO = io.StringIO() if quiet else (real_err if as_json else real_out)
    _state.result, _state.data_out = None, real_out
    rc = EXIT_INTERNAL
    error: str | None = None
    debug = bool(os.environ.get("CPTDYN_DEBUG"))
    try:
        with contextlib.redirect_stdout(human):
            checkpoint()
            check_paths(args)
            with reporting(make_reporter(quiet, verbose, real_err)), deferred_writes():
                rc = int(call(args) or 0)
                checkpoint()  # an interrupt during the last stretch: still write nothing
    except KeyboardInterrupt:
        rc, error = EXIT_INTERRUPTED, "interrupted"
        print("cptdyn: interrupted", file=real_err, flush=True)
    except (CLIError, ValueError, OSError) as e:
        if debug:
            raise
        rc, error = EXIT_USAGE, one_line(e) or type(e).__name__
        print(f"cptdyn: error: {error}", file=real_err, flush=True)
    except Exception as e:  # noqa: BLE001 - never a traceback for users
        if debug:
            raise
        rc, error = EXIT_INTERNAL, f"internal error: {type(e).__name__}: {one_line(e)}"
        print(f"cptdyn: {error} (set CPTDYN_DEBUG=1 for a traceback)", file=real_err, flush=True)
    finally:
        clear_interrupt()
    if as_json:
        doc: dict[str, Any] = {"command": command, "ok": rc == EXIT_OK, "exit_code": rc}
        if error is not None:
            doc["error"] = error
        elif _state.result:
            doc.update(_state.result)
        real_out.write(dumps(doc) + "\n")
        real_out.flush()
    _state.result = None
    return rc
