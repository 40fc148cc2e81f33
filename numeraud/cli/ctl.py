"""``numeraudctl``: the operator's tool.

Commands: ``status``, ``retry HANDLER``, ``skip HANDLER``, ``events [--limit N]``, ``poll-now``,
``scores`` (read from the scores handler's files, supervisor or not),
``append KIND --round N [--payload JSON]``. It checks the supervisor's control API version first.
When the supervisor is not running, ``status`` and ``events`` read the database read-only, say so,
and exit 3 (LSB "not running"); the other commands exit 3 too.

Exit codes: 0 success, 1 the command failed (error code printed), 2 usage, 3 not running,
4 no reply (status unknown), 78 invalid configuration.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

from numeraud.common.config import Config, ConfigError
from numeraud.common.config_file import load
from numeraud.common.exitcodes import EX_CONFIG
from numeraud.common.logs import scrub_text, secret_values
from numeraud.common.protocol import API_VERSION
from numeraud.control import ControlError
from numeraud.control.client import ControlClient, NoReply, NotRunning
from numeraud.supervisor.delivery_status import store_status
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_NOT_RUNNING: Final = 3
EXIT_NO_REPLY: Final = 4
#: The handler class whose state directory ``numeraudctl scores`` reads.
SCORES_CLASS: Final = "numeraud_handlers.scores:ScoresHandler"


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(prog="numeraudctl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="TOML configuration (default /etc/numeraud/numeraud.toml)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="the supervisor's state and every handler's cursor")
    for name, text in (("retry", "deliver a failed event again now"), ("skip", "give up on a failed event")):
        p = sub.add_parser(name, help=text)
        p.add_argument("handler")
    p = sub.add_parser("events", help="the newest events of the log")
    p.add_argument("--limit", type=int, default=20)
    sub.add_parser("poll-now", help="ask Numerai now instead of at the next poll")
    sub.add_parser("scores", help="each model's scores per round (from the scores handler)")
    p = sub.add_parser("append", help="append an event (operator replay, tests)")
    p.add_argument("kind")
    p.add_argument("--round", type=int, default=None, dest="round_number")
    p.add_argument("--payload", default="{}", help="a JSON object")
    return parser


class Output:
    """Prints results, never a secret."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.secrets = secret_values()

    def line(self, text: str = "") -> None:
        """One line of text."""
        print(scrub_text(text, self.secrets), file=self.stream)

    def document(self, doc: Any) -> None:
        """A JSON document."""
        self.line(json.dumps(doc, indent=2, sort_keys=True))


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Entry point of ``numeraudctl``."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `numeraudctl status | head` ends quietly
    out = Output(stdout or sys.stdout, args.json)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"numeraudctl: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.command == "scores":
        return print_scores(config, out)
    client = ControlClient(config.bus.control_endpoint, timeout=args.timeout)
    try:
        version = client.call("version")
        if not isinstance(version, dict) or version.get("api") != API_VERSION:
            print(
                f"numeraudctl: the supervisor speaks control API {version!r}, this numeraudctl speaks "
                f"{API_VERSION}; use the numeraudctl installed with the running numeraud",
                file=sys.stderr,
            )
            return EXIT_FAILED
        return run_command(args, client, out)
    except NotRunning as exc:
        return offline(args, config, out, str(exc), EXIT_NOT_RUNNING)
    except NoReply as exc:
        print(f"numeraudctl: {exc}", file=sys.stderr)
        return offline(args, config, out, "numeraud did not answer", EXIT_NO_REPLY)
    except ControlError as exc:
        print(f"numeraudctl: {args.command} failed: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED


def run_command(args: argparse.Namespace, client: ControlClient, out: Output) -> int:
    """Run one command against a live supervisor."""
    if args.command == "status":
        print_status(client.call("status"), out)
    elif args.command in ("retry", "skip"):
        result = client.call(args.command, handler=args.handler)
        if out.as_json:
            out.document(result)
        else:
            out.line(f"{args.command}: {args.handler} is now {result['state']} at seq {result['acked_seq']}")
    elif args.command == "events":
        print_events(client.call("events", limit=args.limit), out)
    elif args.command == "poll-now":
        result = client.call("poll-now")
        if out.as_json:
            out.document(result)
        else:
            out.line(
                "polling Numerai now"
                if result.get("polling")
                else "this supervisor does not poll ([poll] enabled = false)"
            )
    elif args.command == "append":
        try:
            payload = json.loads(args.payload)
        except ValueError:
            print("numeraudctl: --payload must be a JSON object", file=sys.stderr)
            return 2
        result = client.call("append", kind=args.kind, round=args.round_number, payload=payload)
        if out.as_json:
            out.document(result)
        else:
            out.line(f"seq {result['seq']} ({'appended' if result['created'] else 'already in the log'})")
    return EXIT_OK


def offline(args: argparse.Namespace, config: Config, out: Output, why: str, code: int) -> int:
    """The supervisor cannot be asked: show what the database says, read-only."""
    print(f"numeraudctl: {why}", file=sys.stderr)
    if args.command not in ("status", "events"):
        return code
    try:
        store = Store(config.paths.database, read_only=True)
    except StoreError as exc:
        print(f"numeraudctl: cannot read {config.paths.database}: {exc}", file=sys.stderr)
        return code
    try:
        if args.command == "events":
            print_events([e.as_dict() for e in store.recent_events(args.limit)], out)
        else:
            after = {name: h.after for name, h in config.handlers.items()}
            doc = {
                "running": False,
                "note": f"read-only from {config.paths.database}: {why}",
                **store_status(store, serial=config.bus.serial, after=after),
                "tournament": store.tournament_state(),
            }
            del doc["store"]  # a read-only look cannot tell whether the supervisor's writes succeed
            print_status(doc, out)
    finally:
        store.close()
    return code


def print_status(doc: dict[str, Any], out: Output) -> None:
    """Status as text or JSON."""
    if out.as_json:
        out.document(doc)
        return
    if doc.get("running"):
        store = doc.get("store", {})
        health = "ok" if store.get("ok") else f"DEGRADED ({store.get('error', {}).get('code')}): delivery stopped"
        out.line(
            f"numeraud running: pid {doc.get('pid')}, api {doc.get('api')}, log head {doc['head_seq']}, store {health}"
        )
        if doc.get("healthy") is False:
            out.line("  UNHEALTHY: the systemd watchdog is not fed (systemd restarts numeraud if it watches)")
    else:
        out.line(f"numeraud NOT running ({doc.get('note')}); log head {doc['head_seq']}")
    for key, value in sorted(doc.get("tournament", {}).items()):
        out.line(f"  {key} = {value}")
    follower = doc.get("follower")
    if follower:
        out.line(f"  follower: {follower.get('activity')}; current round {follower.get('round')}")
        if follower.get("problem"):
            out.line(f"  FOLLOWER PROBLEM: {follower['problem']}")
        if follower.get("last_error"):
            out.line(
                f"  last Numerai error: {follower['last_error']} ({follower.get('consecutive_failures')} in a row)"
            )
        download = follower.get("download")
        if download:
            out.line(
                f"  downloading {download['file']}: {download['done']:,} of {download['total']:,} bytes "
                f"({download['rate_mb_s']} MB/s)"
            )
    rows = [("HANDLER", "STATE", "CONN", "PID", "ACKED", "IN-FLIGHT", "ATTEMPTS", "WAITING-ON", "LAST-ERROR")]
    for name, h in sorted(doc.get("handlers", {}).items()):
        rows.append(
            (
                name,
                str(h["state"]),
                "yes" if h.get("connected") else "no",
                str(h.get("pid") or "-"),
                str(h["acked_seq"]),
                str(h.get("in_flight") or "-"),
                str(h.get("attempts", 0)),
                ",".join(h.get("waiting_on") or []) or "-",
                (h.get("last_error") or "-").splitlines()[0][:60] if h.get("last_error") else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.line("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def print_events(events: list[dict[str, Any]], out: Output) -> None:
    """Events as text or JSON."""
    if out.as_json:
        out.document(events)
        return
    out.line("SEQ  KIND  ROUND  SOURCE  CREATED")
    for e in events:
        out.line(f"{e['seq']}  {e['kind']}  {e['round']}  {e['source']}  {e['created']}")


def print_scores(config: Config, out: Output) -> int:
    """The scores collected by every scores handler, read from its state directory."""
    from numeraud_handlers.scores import load_scores  # noqa: PLC0415 - only this command needs it

    collectors = [h for h in config.handlers.values() if h.class_path == SCORES_CLASS]
    if not collectors:
        print(f"numeraudctl: no [handlers.*] table uses {SCORES_CLASS}", file=sys.stderr)
        return EXIT_FAILED
    rows = [row for h in collectors for row in load_scores(h.state_dir)]
    if out.as_json:
        out.document(rows)
        return EXIT_OK
    if not rows:
        out.line("no scores yet: Numerai scores a round about a month after it closes")
        return EXIT_OK
    names = sorted({r["name"] for r in rows})
    table: dict[tuple[int, str], dict[str, float]] = {}
    for row in rows:
        table.setdefault((row["round"], row["model"]), {})[row["name"]] = row["value"]
    out.line("  ".join(["ROUND", "MODEL".ljust(24), *(n.upper().rjust(10) for n in names)]))
    for (number, model), values in sorted(table.items()):
        cells = [f"{values[n]:+.4f}".rjust(10) if n in values else "-".rjust(10) for n in names]
        out.line("  ".join([str(number).ljust(5), model.ljust(24), *cells]))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
