"""``numeraud demo``: the whole daemon on an embedded sandbox for two rounds, narrated, nothing to set up."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from numeraud import logs


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud demo``."""
    parser = subparsers.add_parser(
        "demo", help="run the whole daemon for two rounds on an embedded sandbox", description=__doc__
    )
    parser.add_argument("--size", choices=("tiny", "small"), default="small", help="synthetic dataset size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--rounds", type=int, default=2, help="rounds to play (at least 2)")
    parser.add_argument("--keep", type=Path, help="keep the demo's files in this directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 0 only if every step worked."""
    from numeraud.demo import run_demo  # noqa: PLC0415 - keeps pandas out of other commands' start-up

    logs.configure(stream=sys.stderr, level="warning")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = run_demo(args.keep, sys.stdout, size=args.size, seed=args.seed, rounds=args.rounds)
    else:
        with tempfile.TemporaryDirectory(prefix="numeraud-demo-") as scratch:
            report = run_demo(Path(scratch), sys.stdout, size=args.size, seed=args.seed, rounds=args.rounds)
    return 0 if report.ok else 1
