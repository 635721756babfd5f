"""The store of compiled programs (``cptdyn._programs``): a program compiled in one process runs
in the next without being traced, gives the same result as ``jax.jit``, and every way it could
go wrong falls back to ``jax.jit`` (each case in fresh processes, as the command line uses it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = r'''
import functools, json, os, sys
import jax, jax.numpy as jnp, numpy as np
from cptdyn import _programs
from cptdyn._pytree import x64_context

store, jax_cache, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if jax_cache != "-":
    jax.config.update("jax_compilation_cache_dir", jax_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
_programs.set_folder(None if store == "-" else store)
traced = []

@functools.partial(jax.jit, static_argnames=("n",))
def prog(a, b, *, n):
    traced.append(1)  # runs only when JAX traces the function
    # a loop around a LAPACK solve (a custom call) and fusions
    return jax.lax.fori_loop(0, n, lambda i, x: jnp.tanh(jnp.linalg.solve(a, x)) + b, b)

a = np.eye(3) * 2.0 + 0.1
b = np.arange(3.0)
with x64_context():
    out = _programs.call(prog, a, b, n=n)
print(json.dumps({"out": np.asarray(out).tolist(), "traced": len(traced)}))
'''


def _run(tmp: Path, store: str, jax_cache: str = "-", n: int = 4) -> dict:
    script = tmp / "prog.py"
    script.write_text(SCRIPT)
    p = subprocess.run([sys.executable, str(script), store, jax_cache, str(n)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_stored_program_runs_untraced_in_a_new_process(tmp_path):
    ref = _run(tmp_path, "-")  # plain jax.jit
    store = tmp_path / "programs"
    first = _run(tmp_path, str(store))
    files = list(store.glob("*.exe"))
    assert len(files) == 1 and first["traced"] == 1
    second = _run(tmp_path, str(store))
    assert second["traced"] == 0  # loaded, not traced
    assert second["out"] == ref["out"] == first["out"]  # bit for bit
    third = _run(tmp_path, str(store), n=5)  # another static argument: another program
    assert third["traced"] == 1 and len(list(store.glob("*.exe"))) == 2
    assert third["out"] != ref["out"]


def test_program_found_in_jax_cache_is_compiled_afresh_for_the_store(tmp_path):
    """An executable loaded from JAX's persistent cache does not serialise whole (it failed in
    a new process with "Function ...fusion not found"): the store compiles afresh instead."""
    jax_cache = str(tmp_path / "jax")
    ref = _run(tmp_path, "-", jax_cache)  # fills JAX's cache only
    assert any(Path(jax_cache).iterdir())
    store = str(tmp_path / "programs")
    _run(tmp_path, store, jax_cache)  # the store misses, JAX's cache would hit
    got = _run(tmp_path, store, jax_cache)
    assert got["traced"] == 0 and got["out"] == ref["out"]


def test_damaged_file_falls_back_and_is_rebuilt(tmp_path):
    ref = _run(tmp_path, "-")
    store = tmp_path / "programs"
    _run(tmp_path, str(store))
    (exe,) = store.glob("*.exe")
    exe.write_bytes(b"not a program")
    got = _run(tmp_path, str(store))
    assert got["traced"] == 1 and got["out"] == ref["out"]
    assert exe.stat().st_size > 1000  # written again
    assert _run(tmp_path, str(store))["traced"] == 0


def test_key_covers_shapes_dtypes_and_statics():
    import jax

    from cptdyn import _programs

    f = jax.jit(lambda x, *, k: x * k, static_argnames=("k",))
    keys = {_programs._call_key(f, (a,), {"k": k}) for a, k in [
        (np.ones(3), 2), (np.ones(4), 2), (np.ones(3, np.float32), 2), (np.ones(3), 3)]}
    assert len(keys) == 4
    assert _programs._call_key(f, (np.ones(3),), {"k": 2}) == _programs._call_key(
        f, (np.zeros(3),), {"k": 2})  # values are not part of the key
