"""Command-line interface (placeholder until the commands land)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("cptdyn: no commands yet", file=sys.stderr)
    return 2
