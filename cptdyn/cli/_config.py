"""``--config FILE`` for ``cptdyn plan`` and ``cptdyn fit``: the command's options in a TOML or YAML
file, the command-line flags overriding it.

Keys are the long option names with ``-`` or ``_`` (``peak-lr``, ``peak_lr``, the aliases too:
``lr``, ``min-lr``, ``warmup-ratio``); values are TOML / YAML scalars, lists for repeatable or
comma-separated options (``tune = ["decay_fraction", "peak_lr"]``, ``export = ["hf", "torch"]``)
and, for ``fit``, ``runs = [...]`` for the run files. A file may also hold one table per command
(``[plan]``, ``[fit]``); the command's own table is used. Relative paths are read from the
current directory, as on the command line. Unknown keys and wrongly typed values are one-line
errors naming the file and the key.

How: the file's values become the sub-parser's defaults (required options given by the file stop
being required), so anything given on the command line wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cptdyn._errors import CLIError

__all__ = ["CONFIG_COMMANDS", "apply_config", "read_config"]

CONFIG_COMMANDS = ("plan", "fit")


def read_config(path: str) -> dict[str, Any]:
    """The mapping in a ``.toml`` / ``.yaml`` / ``.yml`` / ``.json`` file."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"--config {path!r} does not exist")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            doc: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml", ".json"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            raise CLIError(f"--config {path!r}: use a .toml, .yaml or .yml file")
    except CLIError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure is a user error
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CLIError(f"--config {path!r} cannot be parsed: {first}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise CLIError(f"--config {path!r} must hold a table of options, got "
                       f"{type(doc).__name__}")
    return dict(doc)


def _config_path(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config":
            if i + 1 >= len(argv):
                raise CLIError("--config needs a FILE")
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def _convert(path: str, key: str, action: argparse.Action, value: Any) -> Any:
    where = f"--config {path!r}: {key}"

    def one(v: Any) -> Any:
        if isinstance(v, (Mapping, list)):
            raise CLIError(f"{where}={v!r}: expected a single value")
        typ = action.type
        if typ is None or not callable(typ):
            out: Any = str(v)
        else:
            try:
                out = typ(v) if not isinstance(v, bool) else typ(str(v).lower())
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                raise CLIError(f"{where}={v!r} is not a valid value") from None
        if action.choices is not None and out not in action.choices:
            raise CLIError(f"{where}={v!r} is not one of {', '.join(map(str, action.choices))}")
        return out

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                           argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise CLIError(f"{where}={value!r}: expected true or false")
        if isinstance(action, argparse._StoreFalseAction):
            return not value
        return value
    many = isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*")
    if many:
        vals = value if isinstance(value, list) else [value]
        return [one(v) for v in vals]
    if isinstance(value, list):  # comma-separated options (--tune, --export, --bounds ...)
        if action.type not in (None, str):
            raise CLIError(f"{where}={value!r}: expected a single value")
        return one(",".join(str(v) for v in value))
    if isinstance(value, Mapping) and key.replace("-", "_") == "bounds":
        return one(",".join(f"{k}={lo}:{hi}" for k, (lo, hi) in value.items()))
    return one(value)


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """If ``argv`` runs a :data:`CONFIG_COMMANDS` command with ``--config FILE``, make the file's
    options that sub-parser's defaults (command-line flags still override them)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:  # pragma: no cover
        return
    choices: Mapping[str, argparse.ArgumentParser] = subs[0].choices
    cmd = next((a for a in argv if a in choices), None)
    if cmd not in CONFIG_COMMANDS:
        return
    rest = list(argv)[list(argv).index(cmd) + 1:]
    path = _config_path(rest)
    if path is None:
        return
    doc = read_config(path)
    if isinstance(doc.get(cmd), Mapping):
        doc = dict(doc[cmd])
    sp = choices[cmd]
    by_key: dict[str, argparse.Action] = {}
    for a in sp._actions:
        if a.dest in ("help", "config"):
            continue
        by_key[a.dest] = a
        for opt in a.option_strings:
            by_key[opt.lstrip("-").replace("-", "_")] = a
    defaults: dict[str, Any] = {}
    for k, v in doc.items():
        if isinstance(v, Mapping) and k in CONFIG_COMMANDS:
            continue  # another command's table
        act = by_key.get(str(k).replace("-", "_"))
        if act is None:
            raise CLIError(f"--config {path!r}: unknown option {k!r} for `cptdyn {cmd}`")
        if act.dest in defaults:
            raise CLIError(f"--config {path!r}: {k!r} sets {act.dest!r} a second time")
        defaults[act.dest] = _convert(path, str(k), act, v)
        act.required = False
        if not act.option_strings and act.nargs == "+":
            act.nargs = "*"
    sp.set_defaults(**defaults)
