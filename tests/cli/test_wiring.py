"""How the command line is put together: every command registered unconditionally, a cold start
without JAX, and the literal name lists (kept for that cold start) equal to the registries."""

import os
import subprocess
import sys

import pytest

from cptdyn.cli import build_parser, main
from cptdyn.cli._common import EXPORT_TARGETS, SCHEDULE_KINDS
from cptdyn.cli._dynamics import FIT_LAWS

COMMANDS = ["schedule", "cpt", "import", "export", "fit", "evaluate", "simulate", "plan", "demo",
            "plan-mixture", "report"]


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return list(sub.choices)


def test_every_command_is_registered_in_order():
    assert _commands() == COMMANDS


def test_old_entry_point_still_works():
    from cptdyn._cli import main as old_main

    assert old_main is main


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["schedule", "--help"],
                                  ["plan", "--help"]])
def test_cold_start_does_not_import_jax(argv, tmp_path):
    code = (
        "import sys\n"
        "from cptdyn.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "assert rc == 0, rc\n"
        "bad = sorted(m for m in ('jax', 'jaxlib', 'cptdyn.schedules', 'cptdyn.dynamics',\n"
        "             'cptdyn.planner', 'pandas', 'plotly') if m in sys.modules)\n"
        "print('loaded:', bad)\n"
        "assert 'jax' not in sys.modules, bad\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CPTDYN_NO_CACHE"}
    env["CPTDYN_CACHE_DIR"] = str(tmp_path / "cache")  # the cache (if ever reached) stays here
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (tmp_path / "cache").exists()


def test_fit_laws_equal_the_law_registry():
    from cptdyn.dynamics import law_names

    assert len(set(FIT_LAWS)) == len(FIT_LAWS)
    assert set(FIT_LAWS) == set(law_names())


def test_schedule_kinds_equal_the_schedule_registry():
    from cptdyn.schedules import schedule_kinds

    assert list(SCHEDULE_KINDS) == [k for k in schedule_kinds() if k != "cpt"]


def test_export_targets_equal_the_exporters():
    from cptdyn.schedules import EXPORT_TARGETS as targets

    assert tuple(EXPORT_TARGETS) == tuple(targets)
