"""The ``cptdyn`` command line.

Every user error ends with exit status 2 and one line on stderr (``cptdyn: error: ...``) naming the
bad field; nothing is half-written (outputs go through a temporary file and a rename). Set
``CPTDYN_DEBUG=1`` to get the Python traceback of an unexpected failure.

Modules, each importing only :mod:`._common` and :mod:`._report` from this package:

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

__all__ = ["main", "build_parser"]


def _version() -> str:
    from cptdyn import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``cptdyn`` argument parser with every command registered."""
    p = Parser(prog="cptdyn", description="Predict and plan LLM loss curves under LR schedules.")
    p.add_argument("--version", action="version", version=f"cptdyn {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _schedule.add_commands(sub)
    _dynamics.add_commands(sub)
    _demo.add_commands(sub)
    _mixture.add_commands(sub)
    _report.add_commands(sub)
    return p


def _enable_compilation_cache() -> None:
    """Keep compiled XLA programs between command-line runs (JAX's persistent cache), so that a
    second `cptdyn fit/plan/simulate` skips most compilation. Folder: ``$CPTDYN_CACHE_DIR`` or
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
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never an error
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cptdyn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        parser = build_parser()
        apply_config(parser, args_list)  # plan/fit --config FILE: the file's options as defaults
        args = parser.parse_args(args_list)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        _enable_compilation_cache()
        return int(args.func(args) or 0)

    return run_guarded(run)
