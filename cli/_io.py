"""File helpers for the CLI: atomic writes and JSON reading with one-line errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class CLIError(ValueError):
    """A user-facing error: printed as one line, exit status 2."""


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so that
    an error never leaves a half-written file behind."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise CLIError(f"--out {str(path)!r}: folder {str(p.parent)!r} does not exist")
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent or "."))
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} {str(path)!r} does not exist")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CLIError(f"{what} {str(path)!r} cannot be read: {e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CLIError(
            f"{what} {str(path)!r} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
