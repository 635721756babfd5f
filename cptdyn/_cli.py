"""Kept for one release: old ``cptdyn._cli:main`` entry points (console scripts installed by an
earlier version, ``from cptdyn._cli import main``). The command line is :mod:`cptdyn.cli`."""

from .cli import main

__all__ = ["main"]
