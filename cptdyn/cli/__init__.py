"""The ``cptdyn`` command line.

Every user error ends with exit status 2 and one line on stderr (``cptdyn: error: ...``) naming the
bad field; nothing is half-written (outputs go through a temporary file and a rename). Set
``CPTDYN_DEBUG=1`` to get the Python traceback of an unexpected failure.

Shared modules: :mod:`._common` (options, readers, tables), :mod:`._report`, :mod:`._output`
(``--json``/``--quiet``/``--verbose``, exit statuses, output-path checks, Ctrl-C) and
:mod:`._progress` (the ``tqdm`` reporter). Command modules, each importing only those:

- :mod:`._schedule`: ``schedule``, ``cpt``, ``export``;
- :mod:`._dynamics`: ``fit``, ``evaluate``, ``simulate``, ``plan``;
- :mod:`._demo`: ``demo``;
- :mod:`._mixture`: ``plan-mixture``;
- :mod:`._report`: ``report``, and the output checks and rendering of every ``--report``.

The layers (schedules, dynamics, planner) are imported inside the command handlers, so that
``cptdyn --help`` and ``cptdyn --version`` start without importing JAX.
"""

import argparse
import os
import sys
from collections.abc import Sequence

from . import _demo, _dynamics, _mixture, _report, _schedule
from ._common import EXIT_USAGE, Parser, run_guarded
from ._config import apply_config
from ._output import EPILOG, add_output_options, harden_types, run_command, sigint_flag

__all__ = ["main", "build_parser"]


def _version() -> str:
    from cptdyn import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``cptdyn`` argument parser with every command registered."""
    p = Parser(prog="cptdyn", description="Predict and plan LLM loss curves under LR schedules.",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"cptdyn {_version()}")
    add_output_options(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _schedule.add_commands(sub)
    _dynamics.add_commands(sub)
    _demo.add_commands(sub)
    _mixture.add_commands(sub)
    _report.add_commands(sub)
    for sp in sub.choices.values():  # the output options and the exit-code table everywhere
        add_output_options(sp)
        harden_types(sp)  # nan/inf and absurd counts refused by every flag
        if not sp.epilog:
            sp.epilog = EPILOG.split("\nevery command")[0]
            sp.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def _enable_compilation_cache() -> None:
    """Keep compiled XLA programs between command-line runs (JAX's persistent cache), so that a
    second `cptdyn fit/plan/simulate` skips most compilation; the fitting programs are also kept
    whole (``cptdyn._programs``: no tracing either). Folder: ``$CPTDYN_CACHE_DIR`` or
    ``~/.cache/cptdyn/jax``; ``CPTDYN_NO_CACHE=1`` turns it off. Failures are ignored. Called once
    a command is about to run (``--help``/``--version`` never import JAX)."""
    if os.environ.get("CPTDYN_NO_CACHE"):
        return
    try:
        import jax

        path = os.environ.get("CPTDYN_CACHE_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "cptdyn", "jax")
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        from cptdyn import _programs

        _programs.set_folder(os.path.join(path, "programs"))  # the fitting programs, traced
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never an error
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cptdyn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from cptdyn._progress import clear_interrupt

    with sigint_flag(hard_exit=argv is None):
        try:
            rc = _main(list(sys.argv[1:] if argv is None else argv), argv is None)
        finally:
            clear_interrupt()
    if argv is None and rc == 130:
        # A real process stopped by Ctrl-C: leave without interpreter teardown, which can crash
        # while XLA's worker threads are still running (seen as "Segmentation fault", exit 139).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def _main(args_list: list[str], hard_exit: bool) -> int:
    parsed: list[argparse.Namespace] = []

    def parse() -> int:
        parser = build_parser()
        apply_config(parser, args_list)  # plan/fit --config FILE: the file's options as defaults
        args = parser.parse_args(args_list)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        parsed.append(args)
        return 0

    rc = run_guarded(parse)
    if not parsed:
        if rc == EXIT_USAGE and "--json" in args_list:  # a usage error, still one JSON object
            import json

            print(json.dumps({"command": None, "ok": False, "exit_code": rc,
                              "error": "usage error (see stderr)"}))
        return rc

    def call(a: argparse.Namespace) -> int:
        from cptdyn._progress import checkpoint

        _enable_compilation_cache()
        checkpoint()  # Ctrl-C during the imports
        return int(a.func(a) or 0)

    args = parsed[0]
    return run_command(call, args, str(args.command), hard_exit=hard_exit)
