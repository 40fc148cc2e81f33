"""The commands that look (status, watch, handlers, history, events, scores) and the ones that steer
(retry, skip, rewind, pause, resume, poll-now, append). Each returns its exit code;
:mod:`numeraud.cli.ctl` picks the source."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from numeraud.cli.ctl import local, models, render, view
from numeraud.cli.ctl.output import Output, error
from numeraud.cli.ctl.parser import EXIT_FAILED, EXIT_NEEDS_YOU, EXIT_OK, EXIT_USAGE
from numeraud.cli.ctl.sources import Live, Source
from numeraud.common.config import Config
from numeraud.control.client import NoReply, NotRunning

CLEAR = "\033[H\033[2J"


def _now() -> datetime:
    return datetime.now(UTC)


def _known_handler(config: Config, name: str | None) -> bool:
    if name is None or name in config.handlers:
        return True
    error(f"no handler named {name!r} in {config.path} (known: {', '.join(sorted(config.handlers)) or 'none'})")
    return False


def status(args: argparse.Namespace, config: Config, source: Source, out: Output, code: int) -> int:
    """The one screen; exit 6 when something needs you (``code`` when numeraud is not running)."""
    now = _now()
    doc = view.build(config, source, now, args.warn_minutes)
    if out.as_json:
        out.document(doc)
    else:
        render.status(doc, out, now)
    if code != EXIT_OK:
        return code
    return EXIT_NEEDS_YOU if doc["attention"] else EXIT_OK


def watch(args: argparse.Namespace, config: Config, sources: Any, out: Output) -> int:
    """Redraw status every ``--interval`` seconds until Ctrl-C (``sources()`` → (source, code) each time)."""
    shown = 0
    try:
        while args.count is None or shown < args.count:
            source, _code = sources()
            now = _now()
            try:
                doc = view.build(config, source, now, args.warn_minutes)
            except (NotRunning, NoReply):  # it went away mid-way: the next screen reads the database
                continue
            if out.as_json:
                out.line(json.dumps(doc, sort_keys=True, default=str))
            else:
                if out.colour:
                    out.stream.write(CLEAR)
                elif shown:
                    out.line()
                out.line(
                    out.style(f"numeraudctl watch, every {args.interval:g}s, {now:%H:%M:%S} UTC (Ctrl-C ends)", "dim")
                )
                render.status(doc, out, now)
            shown += 1
            if args.count is None or shown < args.count:
                time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def handlers(args: argparse.Namespace, config: Config, source: Source, out: Output, code: int) -> int:
    """The handler table alone."""
    doc = view.build(config, source, _now(), 30.0)
    if out.as_json:
        out.document(doc["handlers"])
    else:
        render.handlers(doc, out)
    return code


def history(args: argparse.Namespace, config: Config, source: Source, out: Output, code: int) -> int:
    """Round x model, from the ledger, the log and the scores handler's files."""
    known = {m for _u, _s, m in local.model_map(config)}
    if args.model is not None and args.model.lower() not in known:
        error(f"no Numerai model {args.model!r} in the uploaders' maps (known: {', '.join(sorted(known)) or 'none'})")
        return EXIT_FAILED
    if args.rounds < 1:
        error("--rounds must be at least 1")
        return EXIT_USAGE
    if not known:
        error(f"no [handlers.*] table uses {local.UPLOADER_CLASS}: no model to show")
        return EXIT_FAILED
    events = source.events(limit=1000, kind=["round_begin", "round_missed"])
    rows = models.history(config, events, args.rounds, args.model)
    if out.as_json:
        out.document(rows)
    elif not rows:
        out.line("no rounds yet")
    else:
        render.history(rows, out)
    return code


def events(args: argparse.Namespace, config: Config, source: Source, out: Output, code: int) -> int:
    """The newest events, aligned; ``--follow`` keeps printing new ones until Ctrl-C."""
    if not _known_handler(config, args.handler):
        return EXIT_FAILED
    filters = {"kind": args.kind, "round": args.round_number, "handler": args.handler}
    batch = source.events(limit=args.limit, **filters)
    _print_events(batch, out, header=True, lines=args.follow)
    if not args.follow:
        return code
    last = batch[-1]["seq"] if batch else 0
    try:
        while True:
            time.sleep(args.interval)
            batch = source.events(limit=1000, after_seq=last, **filters)
            if batch:
                _print_events(batch, out, header=False, lines=True)
                last = batch[-1]["seq"]
    except KeyboardInterrupt:
        return code


def _print_events(batch: list[dict[str, Any]], out: Output, *, header: bool, lines: bool) -> None:
    if out.as_json and lines:
        for e in batch:
            out.line(json.dumps(e, sort_keys=True))
    elif out.as_json:
        out.document(batch)
    else:
        render.event_lines(batch, out, header=header)


def scores(config: Config, out: Output) -> int:
    """The scores collected by every scores handler, read from its state directory."""
    if not local.of_class(config, local.SCORES_CLASS):
        error(f"no [handlers.*] table uses {local.SCORES_CLASS}")
        return EXIT_FAILED
    rows = local.scores(config)
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
    out.table(
        ["ROUND", "MODEL", *(n.upper() for n in names)],
        [
            [str(number), model, *(f"{values[n]:+.4f}" if n in values else "-" for n in names)]
            for (number, model), values in sorted(table.items())
        ],
        indent="",
    )
    return EXIT_OK


# ---- steering: a running supervisor only ----


def retry(args: argparse.Namespace, config: Config, live: Live, out: Output) -> int:
    """Deliver a handler's failed event again now (the supervisor checks the name: ``unknown_handler``)."""
    result = live.client.call("retry", handler=args.handler)
    _steered(out, f"retry: {args.handler} is now {result['state']} at seq {result['acked_seq']}", result)
    return EXIT_OK


def skip(args: argparse.Namespace, config: Config, live: Live, out: Output) -> int:
    """Give up on the event a handler failed on; with SEQ, only if it is that one.

    The supervisor checks the handler and the seq (``unknown_handler``, ``out_of_range``,
    ``not_blocked``, ``wrong_event``) and skips in the same step, so no automatic retry can come
    between the check and the skip.
    """
    if not _known_handler(config, args.handler):
        return EXIT_FAILED
    seq = {} if args.seq is None else {"seq": args.seq}
    result = live.client.call("skip", handler=args.handler, **seq)
    _steered(
        out,
        f"skip: {args.handler} gave up on seq {result['skipped']}; now {result['state']} at seq {result['acked_seq']}",
        result,
    )
    return EXIT_OK


def rewind(args: argparse.Namespace, config: Config, live: Live, out: Output) -> int:
    """Deliver a handler's events again from ``--to SEQ`` on (the supervisor checks the range)."""
    if not _known_handler(config, args.handler):
        return EXIT_FAILED
    result = live.client.call("rewind", handler=args.handler, seq=args.seq)
    _steered(
        out,
        f"rewind: {args.handler} moved from seq {result['old_cursor']} to {result['new_cursor']};"
        f" it gets seq {args.seq} next ({result['state']})",
        result,
    )
    return EXIT_OK


def pause(args: argparse.Namespace, config: Config, live: Live, out: Output) -> int:
    """Pause or resume a handler (``args.command``); doing it twice is no error."""
    if not _known_handler(config, args.handler):
        return EXIT_FAILED
    result = live.client.call(args.command, handler=args.handler)
    done = "paused" if args.command == "pause" else "resumed"
    if not result["changed"]:
        text = (
            f"pause: {args.handler} was already paused" if result["paused"] else f"resume: {args.handler} is not paused"
        )
    elif args.command == "pause" and result.get("in_flight"):
        text = f"{args.command}: {args.handler} {done}; event {result['in_flight']} in flight finishes first"
    else:
        text = f"{args.command}: {args.handler} {done} at seq {result['acked_seq']}"
    _steered(out, text, result)
    return EXIT_OK


def poll_now(live: Live, out: Output) -> int:
    """Ask Numerai now."""
    result = live.client.call("poll-now")
    text = "polling Numerai now" if result.get("polling") else "this supervisor does not poll ([poll] enabled = false)"
    _steered(out, text, result)
    return EXIT_OK


def append(args: argparse.Namespace, live: Live, out: Output) -> int:
    """Append an event."""
    try:
        payload = json.loads(args.payload)
    except ValueError:
        error("--payload must be a JSON object")
        return EXIT_USAGE
    result = live.client.call("append", kind=args.kind, round=args.round_number, payload=payload)
    _steered(out, f"seq {result['seq']} ({'appended' if result['created'] else 'already in the log'})", result)
    return EXIT_OK


def _steered(out: Output, text: str, result: Any) -> None:
    if out.as_json:
        out.document(result)
    else:
        out.line(text)
