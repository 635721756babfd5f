"""Opening run files: text (``.gz`` transparently), JSON documents and file stems, each failure a
one-line ``RunError`` naming the file.

(``cptdyn._io.read_json`` is the command line's reader: it raises ``CLIError`` with other messages,
so the readers here keep their own.)
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cptdyn._errors import RunError

__all__ = ["open_text", "read_json_file", "file_stem"]


def open_text(path: Path) -> io.TextIOBase:
    """The file as UTF-8 text (no newline translation; a leading byte-order mark, as Excel writes
    it, is skipped), gunzipped when it ends in ``.gz``."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115


def read_json_file(path: Path, src: str) -> Any:
    """The parsed JSON document; ``"<src>: no such file"`` or ``"<src>: not valid JSON (...)"``."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RunError(f"{src}: no such file") from None
    except (OSError, ValueError) as e:
        raise RunError(f"{src}: not valid JSON ({e})") from None


def file_stem(name: str, suffixes: Sequence[str]) -> str:
    """The file name of ``name`` without the trailing ``suffixes``, removed in the order given
    (``(".gz", ".csv")`` turns ``a.csv.gz`` into ``a``)."""
    stem = Path(str(name)).name
    for suffix in suffixes:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem
