"""Shared harness of the fuzz suite: in-process command runs, the refusal contract, and the
count of cases per class (printed at the end of the session and written to
``$CPTDYN_FUZZ_COUNTS`` when set)."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

COUNTS: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()

_NAN = re.compile(r"(?<![A-Za-z_])(nan|-?inf(inity)?)(?![A-Za-z_])", re.IGNORECASE)


@dataclass
class Result:
    rc: int
    out: str
    err: str


def cli(argv: list[str], cwd: Path | None = None) -> Result:
    """``cptdyn argv`` in this process (stdout/stderr captured, SystemExit turned into a code)."""
    from cptdyn.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:  # must not happen: main returns its status
                rc = 1000 + int(e.code or 0)
    finally:
        os.chdir(old)
    return Result(rc, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> set[str]:
    """Every path under ``folder`` (hidden temporary files included)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def no_nan(text: str) -> bool:
    return _NAN.search(text) is None


def count(cls: str, outcome: str) -> None:
    COUNTS[cls] += 1
    OUTCOMES[f"{cls}: {outcome}"] += 1


def check(cls: str, r: Result, before: set[str], after: set[str], *,
          needles: tuple[str, ...] = (), must_fail: bool = False, json_out: bool = False) -> None:
    """The contract for one case: exit 0 (success: no NaN/inf printed as a result) or exit 2
    (one line ``cptdyn: error: ...`` naming one of ``needles`` when given, nothing written);
    never a traceback, an internal error (1) or another code."""
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    assert r.rc in (0, 2, 3), (r.rc, r.out, r.err)
    if json_out:
        doc = json.loads(r.out, parse_constant=lambda c: (_ for _ in ()).throw(
            AssertionError(f"bare {c} in --json output")))
        assert doc["exit_code"] == r.rc
    if r.rc == 2:
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cptdyn: error: "), r.err
        msg = lines[0]
        assert msg.count("cptdyn:") == 1, msg
        if needles:
            assert any(n.lower() in msg.lower() for n in needles), (needles, msg)
        new = after - before
        assert not new, f"left behind on failure: {sorted(new)} ({msg})"
        count(cls, "refused")
    else:
        assert not must_fail, f"accepted (exit {r.rc}) but must be refused: {r.out} {r.err}"
        if not json_out:
            assert no_nan(r.out), r.out
        count(cls, "accepted")


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if not COUNTS:
        return
    tr = terminalreporter
    tr.section("cptdyn fuzz cases per class")
    for k in sorted(COUNTS):
        tr.write_line(f"{k:<28} {COUNTS[k]:>6}   " + ", ".join(
            f"{o.split(': ', 1)[1]} {n}" for o, n in sorted(OUTCOMES.items())
            if o.startswith(k + ": ")))
    tr.write_line(f"{'total':<28} {sum(COUNTS.values()):>6}")
    path = os.environ.get("CPTDYN_FUZZ_COUNTS")
    if path:
        Path(path).write_text(json.dumps({"classes": dict(COUNTS), "outcomes": dict(OUTCOMES),
                                          "total": sum(COUNTS.values())}, indent=2))


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
