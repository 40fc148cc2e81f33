"""The ``numeraud`` command: one subcommand per module in :mod:`numeraud.cli.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from numeraud import __version__
from numeraud.cli.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="numeraud", description="Take part in the Numerai tournament on autopilot.")
    parser.add_argument("--version", action="version", version=f"numeraud {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``numeraud`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
