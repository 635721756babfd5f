"""Atomic file output and JSON input with one-line errors, shared by every layer.

Nothing is ever half-written: text goes to a temporary file in the destination folder (fsynced,
with the final permissions: the replaced file's mode, else 0o666 minus the umask) and is renamed
into place. A set of files goes to a temporary folder that is renamed into place, or, into an
existing folder, every file is staged before any is renamed.
"""

import contextlib
import contextvars
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import CLIError

__all__ = ["atomic_write", "atomic_write_files", "read_json", "to_plain", "deferred_writes",
           "output_paths"]

#: Writes queued by :func:`deferred_writes` (``None``: write at once).
_pending: contextvars.ContextVar[list[tuple[str, Path, Any, str]] | None] = \
    contextvars.ContextVar("cptdyn_pending_writes", default=None)


@contextlib.contextmanager
def deferred_writes() -> Any:
    """Queue every :func:`atomic_write` / :func:`atomic_write_files` of the block and perform
    them only when the block ends without an exception: a command that fails (bad input,
    Ctrl-C) writes nothing. The files are all staged before any is renamed into place."""
    queue: list[tuple[str, Path, Any, str]] = []
    token = _pending.set(queue)
    try:
        yield queue
    finally:
        _pending.reset(token)
    _commit(queue)


def output_paths() -> list[str]:
    """The paths queued so far in the enclosing :func:`deferred_writes` block."""
    q = _pending.get()
    return [str(p) for _k, p, _d, _w in q] if q else []


def _commit(queue: list[tuple[str, Path, Any, str]]) -> None:
    singles = [(p, d, w) for k, p, d, w in queue if k == "file"]
    staged: list[tuple[Path, Path]] = []
    try:
        for p, data, what in singles:
            parent = p.parent if str(p.parent) else Path(".")
            staged.append((_stage(parent, p.name, data, what=what, dest=p), p))
        for tmp, p in staged:
            os.replace(tmp, p)
    except BaseException:
        for tmp, _p in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for k, p, files, _w in queue:
        if k == "files":
            atomic_write_files(p, files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_mode(path: Path) -> int:
    """Mode for a new file at ``path``: the existing file's, else 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _stage(directory: Path, name: str, data: str | bytes, what: str = "--out",
           dest: Path | None = None) -> Path:
    """Write ``data`` to a temporary file in ``directory`` (fsynced, final permissions)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    except OSError as e:
        where = str(dest if dest is not None else directory / name)
        raise CLIError(f"{what} {where!r}: cannot write there ({e.strerror or e})") from None
    try:
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fb:
                fb.write(data)
                fb.flush()
                os.fsync(fb.fileno())
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(directory / name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write(
    path: str | os.PathLike[str], data: str | bytes, *, what: str = "--out"
) -> None:
    """Write ``data`` to ``path`` atomically. ``what`` names the option in the error when the
    folder is missing."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"{what} {str(path)!r}: folder {str(parent)!r} does not exist")
    if p.is_dir():
        raise CLIError(f"{what} {str(path)!r} is a folder, not a file")
    queue = _pending.get()
    if queue is not None:
        queue.append(("file", p, data, what))
        return
    tmp = _stage(parent, p.name, data, what=what, dest=p)
    try:
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_files(out: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write several files into folder ``out`` (created if missing) so that either all of them
    land or none does (a new folder is renamed into place whole)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} exists and is not a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"--out {str(out)!r}: folder {str(parent)!r} does not exist")
    queue = _pending.get()
    if queue is not None:
        queue.append(("files", out, dict(files), "--out"))
        return [out / name for name in files]
    if not out.exists():
        tmpdir = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            for name, data in files.items():
                _stage(tmpdir, name, data).rename(tmpdir / name)
            os.chmod(tmpdir, 0o777 & ~_umask())
            os.replace(tmpdir, out)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return [out / name for name in files]
    staged: list[tuple[str, Path]] = []
    try:
        for name, data in files.items():
            staged.append((name, _stage(out, name, data)))
        for name, tmp in staged:
            os.replace(tmp, out / name)
    except BaseException:
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    return [out / name for name in files]


class _NonFinite(ValueError):
    pass


def _bad_number(v: Any) -> bool:
    if isinstance(v, float):
        return not np.isfinite(v)
    if isinstance(v, list):
        return any(_bad_number(x) for x in v)
    return False


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON object hook: ``NaN``/``Infinity`` (not JSON, but written by Python and others) are
    refused naming their key."""
    for k, v in pairs:
        if _bad_number(v):
            raise _NonFinite(f"field {k!r}: {v} is not a finite number (NaN/Infinity are not "
                             "JSON)")
    return dict(pairs)


def _top_constant(name: str) -> Any:
    return float(name.replace("Infinity", "inf"))


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Parse a JSON file; a missing, unreadable or invalid file (``NaN``/``Infinity`` included:
    they are not JSON) is a one-line :class:`CLIError`. A UTF-8 byte-order mark is skipped."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} {str(path)!r} does not exist")
    if p.is_dir():
        raise CLIError(f"{what} {str(path)!r} is a folder, not a JSON file")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise CLIError(f"{what} {str(path)!r} cannot be read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CLIError(f"{what} {str(path)!r} is not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise CLIError(f"{what} {str(path)!r} is empty")
    try:
        doc = json.loads(text, parse_constant=_top_constant, object_pairs_hook=_pairs)
    except _NonFinite as e:
        raise CLIError(f"{what} {str(path)!r}: {e}") from None
    except RecursionError:
        raise CLIError(f"{what} {str(path)!r} is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise CLIError(
            f"{what} {str(path)!r} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    if _bad_number(doc):
        raise CLIError(f"{what} {str(path)!r}: NaN/Infinity is not a finite number")
    return doc


def to_plain(v: Any) -> Any:
    """A JSON-friendly copy of ``v``: arrays (NumPy or JAX) become numbers or lists, NumPy
    scalars Python numbers, tuples lists; mappings and lists are converted item by item."""
    if isinstance(v, dict):
        return {k: to_plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_plain(x) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray) or hasattr(v, "__array__"):
        a = np.asarray(v)
        return a.item() if a.ndim == 0 else a.tolist()
    return v
