"""``numeraud check``: validate a configuration file and say what it sets up."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from numeraud.common.config import ConfigError
from numeraud.common.config_file import load
from numeraud.common.exitcodes import EX_CONFIG


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud check``."""
    parser = subparsers.add_parser("check", help="validate a configuration file", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="the file (default: $NUMERAUD_CONFIG or /etc/numeraud/numeraud.toml)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with a summary if the file is valid, 78 (EX_CONFIG) with the key at fault if not."""
    try:
        loaded = load(args.config)
    except ConfigError as exc:
        print(f"numeraud: invalid configuration: {exc}", file=sys.stderr)
        return EX_CONFIG
    print(f"{loaded.path}: valid")
    print(f"  Numerai API: {loaded.numerai.api_url}")
    print(f"  state: {loaded.paths.state_dir}  data: {loaded.paths.data_dir}  sockets: {loaded.paths.runtime_dir}")
    for handler in loaded.handlers.values():
        after = f" (after {', '.join(handler.after)})" if handler.after else ""
        print(f"  handler {handler.name}: {handler.class_path}{after}")
    return 0
