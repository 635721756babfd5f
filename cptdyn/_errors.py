"""One error base for the whole library.

Every error cptdyn raises on purpose derives from :class:`CptdynError`, itself a ``ValueError``:
``except ValueError`` catches all of them, ``except cptdyn.CptdynError`` only ours. Messages are
one line and name the user's own argument and value. The command line prints them as
``cptdyn: error: <message>`` and exits 2.
"""

__all__ = ["CptdynError", "CLIError", "ExportError", "FitError", "PlanError", "RunError"]


class CptdynError(ValueError):
    """Base of every error cptdyn raises for bad input or an impossible request (one line)."""


class CLIError(CptdynError):
    """A command-line usage or file error: printed as one line, exit status 2."""


class ExportError(CptdynError):
    """A schedule cannot be expressed in the requested trainer's format."""


class RunError(CptdynError):
    """A loss-curve file or table is malformed (names the file, row and column)."""


class FitError(CptdynError, RuntimeError):
    """A fit could not produce a finite result.

    Also a ``RuntimeError`` for code written against cptdyn 0.1, where it derived from that.
    """


class PlanError(CptdynError):
    """A plan request is impossible (no feasible schedule, bad bounds)."""
