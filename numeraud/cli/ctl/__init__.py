"""``numeraudctl``: the operator's tool for numeraud.

Commands (``numeraudctl COMMAND --help`` for each; ``--json``, ``--config`` and ``--timeout`` go
before or after the command):

* ``status``: the one screen: supervisor, round and time left, every Numerai model's submission
  for the current round (and why not, and what comes next), handlers, last notifications;
* ``watch``: status, redrawn; ``handlers``: the handler table; ``history``: rounds x models;
  ``events``: the log, filtered, ``--follow`` to tail it; ``scores``: the scores handler's table;
* ``retry H``, ``skip H [SEQ]``, ``rewind H --to SEQ``, ``pause H``, ``resume H``, ``poll-now``,
  ``append KIND``: steering a running supervisor;
* ``install [--user]``: the systemd units; ``completion bash|zsh``: a completion script.

It checks the supervisor's control API version first. When the supervisor is not running,
``status``, ``watch``, ``handlers``, ``events`` and ``history`` read the database read-only, say
so, and exit 3 (LSB "not running"); the steering commands exit 3 too.

Exit codes: 0 all well; 1 the command failed (the reason on stderr); 2 usage; 3 not running;
4 no reply (status unknown: hung, stale socket, or no permission on the runtime directory);
6 running, but something needs you (``status``: a blocked handler, a model not submitted with
less than ``--warn-minutes`` left, a missed round or submission, a failing data sync or poll, an
unhealthy or degraded supervisor); 78 invalid configuration. 6 is outside LSB's 0-4 and below
126, so no shell or init script reads it as a signal or a "command not found".

It imports no pandas, numpy, numerapi, scikit-learn, structlog or asyncio (tests/test_imports.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from numeraud.cli.ctl import commands
from numeraud.cli.ctl.output import Output, error
from numeraud.cli.ctl.parser import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_NO_REPLY,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    build_parser,
)
from numeraud.cli.ctl.sources import Live, Offline, Source, Unreadable
from numeraud.common.config import Config, ConfigError
from numeraud.common.config_file import load
from numeraud.common.protocol import API_VERSION
from numeraud.control import ControlError
from numeraud.control.client import ControlClient, NoReply, NotRunning

__all__ = ["main"]

#: Commands that can show something from the database while the supervisor is down.
READERS = frozenset({"status", "watch", "handlers", "events", "history"})


class Mismatch(Exception):
    """The supervisor speaks another control API version."""


def connect(client: ControlClient) -> Live:
    """A live source, after the version check."""
    version = client.call("version")
    if not isinstance(version, dict) or version.get("api") != API_VERSION:
        raise Mismatch(
            f"the supervisor speaks control API {version!r}, this numeraudctl speaks {API_VERSION}; "
            "use the numeraudctl installed with the running numeraud"
        )
    return Live(client, str(version.get("numeraud", "?")))


def _runtime_access(endpoint: str) -> str | None:
    """Why the control socket cannot be reached (no permission on its directory), or ``None``."""
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        return None
    path = Path(endpoint[len("ipc://") :])
    if path.parent.is_dir() and not os.access(path.parent, os.X_OK):
        return f"no permission to reach {path} (its directory {path.parent}); run as its owner or join its group"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"no permission to use {path}; run as its owner or join its group"
    return None


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Entry point of ``numeraudctl``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `numeraudctl status | head` ends quietly
    out = Output(stdout, args.json)
    if args.command == "completion":
        from numeraud.cli.ctl.completion import script  # noqa: PLC0415 - only this command needs it

        out.line(script(parser, args.shell))
        return EXIT_OK
    if args.command == "install":
        from numeraud.cli.ctl.install import run as install  # noqa: PLC0415 - only this command needs it

        return install(args, out)
    try:
        config = load(args.config)
    except ConfigError as exc:
        error(str(exc))
        return EXIT_CONFIG
    try:
        return run(args, config, out)
    except ControlError as exc:
        error(f"{args.command} failed: {exc.code}: {exc.message}")
        return EXIT_FAILED
    except Mismatch as exc:
        error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _source(config: Config, client: ControlClient, *, quiet: bool = False) -> tuple[Source, int]:
    """The live supervisor, else the database read-only, with the exit code that goes with it."""
    denied = _runtime_access(config.bus.control_endpoint)
    if denied is not None:
        if not quiet:
            error(denied)
        return Offline(config, denied), EXIT_NO_REPLY
    try:
        live = connect(client)
    except NotRunning as exc:
        if not quiet:
            error(str(exc))
        return Offline(config, str(exc)), EXIT_NOT_RUNNING
    except NoReply as exc:
        if not quiet:
            error(str(exc))
        return Offline(config, "numeraud did not answer"), EXIT_NO_REPLY
    return live, EXIT_OK


def run(args: argparse.Namespace, config: Config, out: Output) -> int:
    """Run one command: against the live supervisor, or read-only from its database."""
    if args.command == "scores":
        return commands.scores(config, out)
    client = ControlClient(config.bus.control_endpoint, timeout=args.timeout)
    if args.command == "watch":
        sources: Callable[[], tuple[Source, int]] = lambda: _source(config, client, quiet=True)  # noqa: E731
        try:
            return commands.watch(args, config, sources, out)
        except Unreadable as exc:
            error(str(exc))
            return EXIT_FAILED
    source, code = _source(config, client)
    if args.command not in READERS:
        if not isinstance(source, Live):
            return code
        return _steer(args, config, source, out)
    try:
        return _read(args, config, source, out, code)
    except Unreadable as exc:
        error(str(exc))
        return code if code != EXIT_OK else EXIT_FAILED
    except NotRunning as exc:  # it went away between two requests
        error(f"{exc} (it stopped while answering)")
        return EXIT_NOT_RUNNING
    except NoReply as exc:
        error(str(exc))
        return EXIT_NO_REPLY


def _read(args: argparse.Namespace, config: Config, source: Source, out: Output, code: int) -> int:
    handler = getattr(commands, args.command)
    result: int = handler(args, config, source, out, code)
    return result


def _steer(args: argparse.Namespace, config: Config, live: Live, out: Output) -> int:
    try:
        if args.command == "retry":
            return commands.retry(args, config, live, out)
        if args.command == "skip":
            return commands.skip(args, config, live, out)
        if args.command == "rewind":
            return commands.rewind(args, config, live, out)
        if args.command in ("pause", "resume"):
            return commands.pause(args, config, live, out)
        if args.command == "poll-now":
            return commands.poll_now(live, out)
        return commands.append(args, live, out)
    except NotRunning as exc:
        error(f"{exc} (it stopped while answering; the command may or may not have been done)")
        return EXIT_NOT_RUNNING
    except NoReply as exc:
        error(f"{exc} (the command may or may not have been done)")
        return EXIT_NO_REPLY


if __name__ == "__main__":
    sys.exit(main())
