"""``numeraud demo``: the whole daemon on an embedded sandbox, narrated, nothing to set up.

Three daily rounds on a fast-forwarded local Numerai: a new dataset version is released mid-run
and every model retrains on it; one model handler is SIGKILLed while it trains, restarted by the
supervisor and handed its event again; every model is accepted exactly once per round; the
rounds resolve and are scored. It ends with ``numeraudctl status`` and a round x model table,
and leaves the configuration, the logs, the table and the chart in the directory (a previous
demo's files there are replaced; a directory with other files is refused).

Exit codes: 0 every step happened and every check passed, 1 a step failed, 2 the demo could not
start (directory, port), 130/143 interrupted by SIGINT/SIGTERM (everything it started is stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from numeraud.common import logs

if TYPE_CHECKING:
    from numeraud.cli.demo.processes import SignalGate

EXIT_FAILED = 1
EXIT_CANNOT_START = 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def _rounds(text: str) -> int:
    try:
        rounds = int(text)
    except ValueError:
        rounds = 0
    if rounds < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: the demo needs at least 2 rounds (a dataset release between them)")
    return rounds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole daemon on an embedded sandbox: rounds, a data release, a crash, scores",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dir",
        "--keep",
        dest="dir",
        type=Path,
        default=Path("numeraud-demo"),
        metavar="DIR",
        help="where the demo works and leaves its files (default ./numeraud-demo)",
    )
    parser.add_argument("--port", type=_port, default=0, help="the sandbox's port (default 0: any free one)")
    parser.add_argument("--size", choices=("tiny", "small"), default="small", help="synthetic dataset size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--rounds", type=_rounds, default=3, help="rounds to play (default 3, at least 2)")
    parser.add_argument(
        "--stay",
        action="store_true",
        help="leave everything running at the end, print how to explore it, and wait for Ctrl-C",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; see the module docstring for the exit codes."""
    # Imported here: the demo pulls in pandas, which no other command's start-up should pay for.
    from numeraud.cli.demo.processes import Interrupted, SignalGate  # noqa: PLC0415

    logs.configure(stream=sys.stderr, level="error")
    gate = SignalGate()
    with gate.installed():
        try:
            return _run(args, gate)
        except Interrupted as exc:
            print(
                f"numeraud demo: interrupted by {exc.signal_name}; stopped the sandbox, the supervisor and its "
                f"handlers (files kept in {args.dir})",
                file=sys.stderr,
            )
            return 128 + exc.signum


def _run(args: argparse.Namespace, gate: SignalGate) -> int:
    from numeraud.cli.demo import DemoOptions, DemoRun  # noqa: PLC0415
    from numeraud.cli.demo.observe import Story  # noqa: PLC0415
    from numeraud.cli.demo.processes import Interrupted, PortTaken, check_port  # noqa: PLC0415
    from numeraud.cli.demo.workdir import DirectoryRefused, open_demo_dir  # noqa: PLC0415

    options = DemoOptions(size=args.size, seed=args.seed, rounds=args.rounds, port=args.port)
    try:
        check_port(options.host, options.port)  # before the directory: a taken port wipes nothing
        where = open_demo_dir(args.dir)
    except (DirectoryRefused, PortTaken) as exc:
        print(f"numeraud demo: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    log_file: TextIO = where.path.joinpath("sandbox.log").open("a", encoding="utf-8")
    logs.configure(stream=log_file, level="info", json=True)  # the in-process sandbox's log
    try:
        with DemoRun(options, where, Story(sys.stdout, where.story), gate) as demo:
            report = demo.play()
            if args.stay:
                try:
                    demo.stay()
                except Interrupted as exc:
                    print(f"numeraud demo: stopped by {exc.signal_name}; files kept in {args.dir}", file=sys.stderr)
        return 0 if report.ok else EXIT_FAILED
    except PortTaken as exc:
        print(f"numeraud demo: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    finally:
        where.release()
        logs.configure(stream=sys.stderr, level="error")
        with contextlib.suppress(OSError):
            log_file.close()
