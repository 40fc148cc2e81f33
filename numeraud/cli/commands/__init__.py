"""Subcommands of ``numeraud``. Each module has ``register(subparsers)`` which sets ``func``."""

from __future__ import annotations

import argparse
from typing import Protocol

from numeraud.cli.commands import check, demo, doctor, init, run, sandbox


class Command(Protocol):
    """A subcommand module."""

    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add the subcommand's parser and set its ``func``."""


COMMANDS: list[Command] = [run, init, check, doctor, demo, sandbox]
