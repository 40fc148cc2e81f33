"""``numeraud run``: the supervisor daemon (what ``systemctl start numeraud`` runs).

It follows the tournament (``[poll]``), syncs the data (``[data]``) and delivers events to the
handlers; with ``--spawn-handlers`` it also runs the handler processes, and with ``--once`` it
exits once what was due has been handled.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 78 (EX_CONFIG) for an invalid configuration,
1 when start-up fails otherwise (state directory locked by another numeraud, socket not bindable,
database unusable). All of these happen before READY=1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from numeraud.common import logs
from numeraud.common.config import ConfigError
from numeraud.common.config_file import load
from numeraud.common.exitcodes import EX_CONFIG
from numeraud.supervisor.daemon import Daemon
from numeraud.supervisor.loop import Supervisor, SupervisorError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``numeraud run``."""
    parser = subparsers.add_parser("run", help="run the supervisor daemon", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``numeraud run``."""
    parser.add_argument("--config", help="TOML configuration (default /etc/numeraud/numeraud.toml)")
    parser.add_argument("--log-level", default=None, help="debug, info, warning, error (default info)")
    parser.add_argument(
        "--spawn-handlers",
        action="store_true",
        help="start and restart the handler processes here (without systemd: laptops, the demo, tests)",
    )
    parser.add_argument(
        "--once", action="store_true", help="process what is due, wait for the handlers, then exit (cron)"
    )


def run(args: argparse.Namespace) -> int:
    """Load the configuration, start the supervisor and run it until stopped."""
    logs.configure(level=args.log_level)
    log = logs.get_logger("supervisor")
    parts: list[Daemon] = []
    try:
        config = load(args.config)
        supervisor = Supervisor(config, log=log)

        def prepare() -> None:
            parts.append(Daemon(config, supervisor, spawn=args.spawn_handlers, once=args.once))
            parts[-1].start()

        supervisor.before_ready.append(prepare)
        supervisor.start()
    except ConfigError as exc:
        log.error("invalid configuration", error=str(exc), key=exc.key, file=str(exc.path))
        print(f"numeraud: {exc}", file=sys.stderr)
        return EX_CONFIG
    except SupervisorError as exc:
        for part in parts:
            part.stop()
        log.error("start-up failed", error=str(exc))
        print(f"numeraud: {exc}", file=sys.stderr)
        return 1
    try:
        return supervisor.run()
    finally:
        for part in parts:
            part.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m numeraud.cli.commands.run``: the same as ``numeraud run``."""
    parser = argparse.ArgumentParser(prog="numeraud run", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
