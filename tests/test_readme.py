"""Every ```bash block of the README runs as pasted, in order, in an empty folder where `data/` and
`tests/` are the repository's: each exits 0 and writes the files it names, and no two blocks write the same file.

A block may be skipped only with a marker on the line before it, saying why:
``<!-- readme-test: skip (reason) -->``. The blocks are run by ``bash -e`` with ``cptdyn`` on the
PATH (this Python, ``-m cptdyn``, this checkout first on ``PYTHONPATH``).
"""

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->")
# options whose value is a file or folder the command writes
OUTPUT_FLAGS = ("--out", "--out-dir", "--save-params", "--report", "--plot")


def bash_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) of every ```bash block."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start = i
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
            m = SKIP.search(prev)
            out.append((start + 1, "\n".join(lines[start + 1:j]) + "\n",
                        m.group(1) if m else None))
            i = j + 1
        else:
            i += 1
    return out


def named_outputs(code: str) -> list[str]:
    """Files and folders a block says it writes (``--out X`` ..., ``cat > X``)."""
    joined = re.sub(r"\\\n", " ", code)
    out: list[str] = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0]
        if line.lstrip().startswith("#"):
            continue
        m = re.match(r"\s*cat\s*>\s*(\S+)", line)
        if m:
            out.append(m.group(1))
            continue
        try:
            toks = shlex.split(line)
        except ValueError:
            continue
        for k, tok in enumerate(toks[:-1]):
            if tok in OUTPUT_FLAGS:
                out.append(toks[k + 1])
    return out


def test_blocks_are_found_and_skips_say_why():
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    for line, _code, reason in blocks:
        assert reason is None or reason.strip(), f"README line {line}: skip without a reason"


def test_no_two_blocks_write_the_same_file():
    seen: dict[str, int] = {}
    for line, code, reason in bash_blocks(README.read_text(encoding="utf-8")):
        if reason is not None:
            continue
        for f in named_outputs(code):
            key = f.rstrip("/")
            assert key not in seen, f"README lines {seen[key]} and {line} both write {f}"
            seen[key] = line


@pytest.mark.readme
def test_readme_bash_blocks_run_in_order(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("data", "tests"):  # shipped data and the run-reader fixtures the README uses
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "cptdyn"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cptdyn "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ)
    env.pop("CPTDYN_NO_CACHE", None)  # a compilation cache inside the temporary folder
    env.update({
        "PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "CPTDYN_CACHE_DIR": str(tmp_path / "jax_cache"),
        "JAX_PLATFORMS": env.get("JAX_PLATFORMS", "cpu"),
        "MPLBACKEND": "Agg",
    })
    ran = 0
    for line, code, reason in bash_blocks(README.read_text(encoding="utf-8")):
        if reason is not None:
            continue
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (
            f"README block at line {line} exited {proc.returncode}\n--- block\n{code}"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
        for f in named_outputs(code):
            assert (work / f).exists(), f"README block at line {line} did not write {f}"
        ran += 1
    assert ran >= 8
