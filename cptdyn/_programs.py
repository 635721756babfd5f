"""Compiled programs kept between processes, so that a second command skips tracing them.

JAX's persistent compilation cache (which the command line turns on) saves the XLA compile, but
a new process still traces and lowers every program to find it in that cache: for ``cptdyn fit
--law auto`` about a second of its warm run. :func:`call` keeps the compiled executable itself
(``jax.experimental.serialize_executable``) in a folder, under a key made of everything that
decides the program:

* the function (module and name) and its static arguments (``repr``);
* the structure of the arguments (pytree definition, with the static options of law templates)
  and every leaf's shape, dtype and weak type;
* the sources of the cptdyn package (a digest of its ``.py`` files: any code change is a new
  key), the versions of jax and jaxlib, the backend and its version, the device count, the JAX
  options that change tracing (``jax_enable_x64`` and the numpy promotion rules), ``XLA_FLAGS``
  and the CPU (machine type and feature flags: a folder shared between machines never hands an
  executable to a CPU it was not built for).

Off until :func:`set_folder` names a folder (the command line: ``programs`` inside its JAX cache
folder, off with ``CPTDYN_NO_CACHE=1``), and with more than one device (sharded programs go
through ``jax.jit`` as usual). A program that cannot be stored, loaded or called (an argument that
does not match its compiled signature) falls back to the plain ``jax.jit`` call, so the store
never changes a result, only the time to reach it (a loaded program's first run is checked:
if it fails, the file is removed and ``jax.jit`` runs it). Programs with custom calls other than
LAPACK's (which :func:`_load` initialises, as lowering would) are not stored. The folder keeps
at most :data:`MAX_FILES` programs (the least recently used go first). The files are
executables: like JAX's own cache, the folder must be the user's own (never load one from an
untrusted source).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["MAX_FILES", "call", "folder", "program", "set_folder"]

#: programs kept in the folder (least recently used removed beyond this)
MAX_FILES = 256

_lock = threading.Lock()
_load_lock = threading.Lock()
_folder: Path | None = None
_memory: dict[str, Any] = {}  # key -> loaded executable (this process)
_globals: str | None = None  # the part of the key that does not depend on the call


def set_folder(path: str | os.PathLike[str] | None) -> None:
    """Keep compiled programs in ``path`` (created when needed); None turns the store off."""
    global _folder
    _folder = None if path is None else Path(path)


def folder() -> Path | None:
    """The folder of the store, or None when it is off."""
    return _folder


def _sources_digest() -> str:
    """Digest of the ``.py`` files of every cptdyn package folder (any code change = new keys).
    The folders are found from the import system's specs (no import of the upper layers)."""
    import importlib.util

    h = hashlib.sha256()
    roots = {Path(__file__).resolve().parent}  # cptdyn (its __path__ may also name the repo)
    for name in ("cptdyn.dynamics", "cptdyn.planner", "cptdyn.schedules"):
        spec = importlib.util.find_spec(name)
        locs = list(spec.submodule_search_locations or []) if spec else []
        if locs:
            roots.add(Path(locs[0]).resolve())
    for root in sorted(roots):
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _cpu() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = line
                    break
    except OSError:
        pass
    digest = hashlib.sha256(flags.encode()).hexdigest()
    return f"{platform.machine()} {platform.processor()} {digest}"


def _config(name: str) -> Any:
    """A JAX option's value (in this thread: ``jax_enable_x64`` may be set by a context)."""
    return getattr(jax.config, name, None)


def _global_key() -> str:
    global _globals
    if _globals is None:
        import jaxlib

        dev = jax.devices()[0]
        _globals = "|".join([
            _sources_digest(), jax.__version__, jaxlib.__version__, dev.platform,
            dev.client.platform_version, str(jax.device_count()), _cpu(),
            os.environ.get("XLA_FLAGS", ""),
            *(str(_config(k)) for k in ("jax_numpy_rank_promotion", "jax_numpy_dtype_promotion",
                                         "jax_default_matmul_precision")),
        ])
    return _globals


def _leaf(x: Any) -> str:
    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        return f"{x.shape}{x.dtype}{bool(getattr(x, 'weak_type', False))}"
    return type(x).__name__  # a Python scalar: weakly typed


def _call_key(fn: Callable[..., Any], args: tuple[Any, ...], statics: dict[str, Any]) -> str:
    leaves, tree = jax.tree_util.tree_flatten((args, {}))
    f = getattr(fn, "__wrapped__", fn)
    text = "|".join([
        f"{f.__module__}.{f.__qualname__}", str(tree), ";".join(map(_leaf, leaves)),
        repr(sorted(statics.items())), str(bool(_config("jax_enable_x64"))),
    ])
    return hashlib.sha256(text.encode()).hexdigest()


def _load(path: Path) -> Any:
    import pickle

    from jax.experimental.serialize_executable import deserialize_and_load

    with open(path, "rb") as fh:
        payload, in_tree, out_tree, lapack = pickle.load(fh)
    if lapack:
        # LAPACK custom calls find their routines once JAX has initialised them, which
        # lowering does and loading does not: without this, running the program crashes
        from jax._src.lax.linalg import initialize_lapack

        initialize_lapack()
    os.utime(path)  # recently used
    return deserialize_and_load(payload, in_tree, out_tree)


def _save(path: Path, compiled: Any) -> None:
    import pickle

    from jax.experimental.serialize_executable import serialize

    targets = set(re.findall(r'custom_call_target="([^"]+)"', compiled.as_text() or ""))
    if any(not t.startswith("lapack_") for t in targets):
        return  # other custom calls may need set-up that only lowering does: not stored
    payload, in_tree, out_tree = serialize(compiled)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((payload, in_tree, out_tree, bool(targets)), fh)
        os.replace(tmp, path)  # readers see a whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    files = sorted(path.parent.glob("*.exe"), key=lambda p: p.stat().st_mtime)
    for old in files[:-MAX_FILES]:
        old.unlink(missing_ok=True)


class _NoPersistentCache:
    """Compiles in this block neither read nor write JAX's persistent cache. An executable
    loaded from that cache does not serialise whole (loaded back in a new process it fails at
    run time: "Function ...fusion not found"), so the store only keeps fresh compiles. Uses
    JAX's private switch (``compilation_cache._cache_used``, read on every compile); ``ok`` is
    False where it does not exist, and then nothing is stored. Nested and threaded uses count
    (the last one out restores the switch)."""

    depth = 0
    saved: Any = None
    guard = threading.Lock()

    def __init__(self) -> None:
        try:
            from jax._src import compilation_cache as cc

            cc.is_cache_used(jax.devices()[0].client)  # settle the switch before flipping it
            self.cc: Any = cc if hasattr(cc, "_cache_used") else None
        except Exception:  # noqa: BLE001 - another JAX: store nothing
            self.cc = None
        self.ok = self.cc is not None

    def __enter__(self) -> _NoPersistentCache:
        if self.ok:
            with self.guard:
                if type(self).depth == 0:
                    type(self).saved = self.cc._cache_used
                    self.cc._cache_used = False
                type(self).depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ok:
            with self.guard:
                type(self).depth -= 1
                if type(self).depth == 0:
                    self.cc._cache_used = type(self).saved


def call(fn: Callable[..., Any], *args: Any, **statics: Any) -> Any:
    """``fn(*args, **statics)`` for a ``jax.jit`` function ``fn`` whose keyword arguments are
    all static: through the stored executable when the store is on (module docstring)."""
    return program(fn, *args, **statics)(*args)


def program(fn: Callable[..., Any], *args: Any, **statics: Any) -> Callable[..., Any]:
    """The program that runs ``fn(*args, **statics)``, found (loaded or compiled) once: call
    it with the dynamic arguments, ``args`` or others of the same shapes, as often as needed
    (a loop of calls pays for the lookup once). ``functools.partial(fn, **statics)`` when the
    store is off."""
    plain = functools.partial(fn, **statics)
    if _folder is None or jax.device_count() != 1:
        return plain
    try:
        key = _call_key(fn, args, statics)
        with _lock:
            exe = _memory.get(key)
        if exe is not None:
            return _Program(plain, exe, key, None)
        path = _folder / f"{hashlib.sha256((_global_key() + key).encode()).hexdigest()}.exe"
        if path.exists():
            try:
                with _load_lock:  # one at a time: loading is not documented thread-safe
                    exe = _load(path)
            except Exception:  # noqa: BLE001 - a damaged or foreign file: build it again
                exe = None
        loaded = exe is not None
        if exe is None:
            with _NoPersistentCache() as fresh:
                exe = fn.lower(*args, **statics).compile()  # type: ignore[attr-defined]
            if fresh.ok:
                try:
                    _save(path, exe)
                except Exception:  # noqa: BLE001 - a store is an optimisation, not an error
                    pass
        with _lock:
            _memory[key] = exe
    except (TypeError, ValueError):  # errors of the function itself, at trace time
        return plain
    return _Program(plain, exe, key, path if loaded else None)


class _Program:
    """A stored or compiled executable with ``jax.jit``'s call as the fallback. The first run
    of a program loaded from a file is checked: if it fails, the file is removed and ``jax.jit``
    runs it from then on; arguments that do not match the executable run through ``jax.jit``."""

    def __init__(self, plain: Callable[..., Any], exe: Any, key: str,
                 unchecked: Path | None) -> None:
        self.plain, self.exe, self.key, self.unchecked = plain, exe, key, unchecked

    def __call__(self, *args: Any) -> Any:
        if self.exe is None:
            return self.plain(*args)
        try:
            out = self.exe(*args)
            if self.unchecked is not None:
                jax.block_until_ready(out)
                self.unchecked = None
            return out
        except Exception:  # noqa: BLE001 - arguments that do not match, a program that fails
            if self.unchecked is not None:
                with _lock:
                    _memory.pop(self.key, None)
                self.unchecked.unlink(missing_ok=True)
                self.unchecked, self.exe = None, None
            return self.plain(*args)
