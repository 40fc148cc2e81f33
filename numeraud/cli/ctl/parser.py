"""numeraudctl's command line: one parser, global options accepted before or after the command.

``--json``, ``--config`` and ``--timeout`` are defined on the top-level parser (with their
defaults) and again on every subparser with ``default=SUPPRESS``, so that ``numeraudctl --json
status`` and ``numeraudctl status --json`` mean the same and neither position overwrites the other.
Every command's ``--help`` ends with an example (its epilog); ``completion`` builds its scripts
from this parser.
"""

from __future__ import annotations

import argparse
from typing import Final

#: Exit codes (the module docstring of :mod:`numeraud.cli.ctl`, ``--help`` and the README say the same).
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_RUNNING: Final = 3
EXIT_NO_REPLY: Final = 4
EXIT_NEEDS_YOU: Final = 6
EXIT_CONFIG: Final = 78
EXIT_CODES: Final = f"""exit codes:
  {EXIT_OK}   all well
  {EXIT_FAILED}   the command failed (the reason is on stderr)
  {EXIT_USAGE}   usage error
  {EXIT_NOT_RUNNING}   numeraud is not running (status, handlers, events and history then read the database read-only)
  {EXIT_NO_REPLY}   numeraud did not answer in time (hung, or a stale socket)
  {EXIT_NEEDS_YOU}   running, but something needs you: a blocked handler, a model not submitted close to the deadline,
      a missed round or submission, a failing data sync or Numerai poll, an unhealthy or degraded supervisor
  {EXIT_CONFIG}  the configuration is invalid"""
DEFAULT_WARN_MINUTES: Final = 30.0

#: name → (help, epilog example).
COMMANDS: Final = {
    "status": ("the one screen: supervisor, round and time left, every model's submission, handlers", "status"),
    "watch": ("status, redrawn every --interval seconds until Ctrl-C", "watch --interval 5"),
    "handlers": ("the handler table alone (cursor, lag, in flight, blocked, restarts)", "handlers"),
    "history": ("past rounds x models: uploaded, accepted, validation CORR, scores", "history --rounds 5"),
    "events": ("the newest events of the log, aligned; --follow tails it", "events --kind submission_failed"),
    "retry": ("deliver a handler's failed event again now", "retry model-a"),
    "skip": ("give up on a handler's failed event (with SEQ: only if it is that one)", "skip model-a 42"),
    "rewind": ("deliver a handler's events again from seq SEQ on (uploads stay once)", "rewind uploader --to 40"),
    "pause": ("stop delivering new events to a handler (kept across restarts)", "pause model-a"),
    "resume": ("deliver events to a paused handler again", "resume model-a"),
    "poll-now": ("ask Numerai now instead of at the next poll", "poll-now"),
    "scores": ("each model's scores per round (from the scores handler)", "scores"),
    "append": ("append an event (operator replay, tests)", "append round_resolved --round 1234"),
    "install": ("install the systemd units (system, or --user) and enable numeraud.target", "install --user"),
    "completion": ("print a shell completion script", "completion bash > /etc/bash_completion.d/numeraudctl"),
}


def _globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command accepts; ``suppress`` (subparsers): no default of their own."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--config",
        default=default(None),
        help="TOML configuration (default $NUMERAUD_CONFIG, /etc/numeraud/numeraud.toml)",
    )
    parser.add_argument(
        "--timeout", type=float, default=default(5.0), help="seconds to wait for numeraud's reply (default 5)"
    )
    parser.add_argument("--json", action="store_true", default=default(False), help="print JSON instead of text")


def _warn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warn-minutes",
        type=float,
        default=DEFAULT_WARN_MINUTES,
        metavar="N",
        help=f"a model not submitted with under N minutes left needs you (exit 6; default {DEFAULT_WARN_MINUTES:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="numeraudctl",
        description="numeraudctl: see and steer numeraud (the Numerai tournament daemon).",
        epilog=EXIT_CODES + "\n\nexample:\n  numeraudctl status",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _globals(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _globals(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subs: dict[str, argparse.ArgumentParser] = {}
    for name, (text, example) in COMMANDS.items():
        subs[name] = sub.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            parents=[common],
            epilog=(EXIT_CODES + "\n\n" if name in ("status", "watch") else "") + f"example:\n  numeraudctl {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    _warn(subs["status"])
    _warn(subs["watch"])
    subs["watch"].add_argument("--interval", type=float, default=2.0, help="seconds between redraws (default 2)")
    subs["watch"].add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)  # tests: N screens
    subs["history"].add_argument("--rounds", type=int, default=10, metavar="N", help="the newest N rounds (default 10)")
    subs["history"].add_argument("--model", metavar="M", help="only Numerai model M")
    events = subs["events"]
    events.add_argument("--kind", action="append", metavar="K", help="only events of kind K (repeatable)")
    events.add_argument("--round", type=int, metavar="N", dest="round_number", help="only events of round N")
    events.add_argument("--handler", metavar="H", help="only events handler H emitted, and notices about it")
    events.add_argument("--limit", type=int, default=20, metavar="N", help="at most N events (default 20, max 1000)")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    events.add_argument("--interval", type=float, default=1.0, help="--follow: seconds between looks (default 1)")
    subs["retry"].add_argument("handler")
    subs["skip"].add_argument("handler")
    subs["skip"].add_argument(
        "seq",
        type=int,
        nargs="?",
        help="the seq of the event it is blocked on (numeraudctl handlers): refused if it is another one",
    )
    subs["rewind"].add_argument("handler")
    subs["rewind"].add_argument(
        "--to",
        type=int,
        required=True,
        metavar="SEQ",
        dest="seq",
        help="the first event it gets again (at most its next one; not while an event is in flight)",
    )
    subs["pause"].add_argument("handler")
    subs["resume"].add_argument("handler")
    append = subs["append"]
    append.add_argument("kind")
    append.add_argument("--round", type=int, default=None, dest="round_number")
    append.add_argument("--payload", default="{}", help="a JSON object")
    install = subs["install"]
    install.add_argument("--user", action="store_true", help="user units in ~/.config/systemd/user (no root)")
    install.add_argument("--dry-run", action="store_true", help="print what would be written and run; change nothing")
    install.add_argument("--root", metavar="DIR", help="install under DIR (an image); runs no systemctl but enable")
    install.add_argument("--units", metavar="DIR", help="take the unit files from DIR (default: numeraud's systemd/)")
    subs["completion"].add_argument("shell", choices=["bash", "zsh"])
    return parser
