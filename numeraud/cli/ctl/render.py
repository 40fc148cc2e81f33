"""The text screens: status, the handler table, events, history, scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from numeraud.cli.ctl.output import Cell, Output, clock, duration, first_line, parse_time
from numeraud.numerai.clock import describe

STATE_STYLE: Final = {"blocked": "red", "backoff": "yellow", "busy": "yellow", "disconnected": "dim", "ready": "green"}
MODEL_STYLE: Final = {
    "uploaded": "green",
    "failed": "red",
    "missed": "red",
    "blocked": "red",
    "held": "red",
    "fallback": "yellow",
    "retrying": "yellow",
}


def _yes(value: Any) -> Cell:
    if value is None:
        return "-"
    return ("yes", "green") if value else ("no", "red")


def status(doc: Mapping[str, Any], out: Output, now: datetime) -> None:
    """The one screen."""
    _supervisor(doc, out, now)
    _round(doc, out)
    if doc.get("models"):
        out.line()
        models(doc["models"], out)
    out.line()
    handlers(doc, out)
    if doc.get("notifications"):
        out.line()
        out.line(out.style("last notifications", "bold"))
        for n in doc["notifications"]:
            out.line(f"  {clock(n.get('at'))}  {n.get('title')}: {first_line(n.get('body'), 70)}")
    out.line()
    if doc.get("attention"):
        out.line(out.style(f"NEEDS YOU ({len(doc['attention'])}):", "red"))
        for line in doc["attention"]:
            out.line(f"  - {line}")
    elif doc.get("running"):
        out.line(out.style("all well", "green"))


def _supervisor(doc: Mapping[str, Any], out: Output, now: datetime) -> None:
    if not doc.get("running"):
        out.line(out.style(f"numeraud NOT running ({doc.get('note')})", "red"))
        out.line(f"  log head {doc.get('head_seq')}")
        return
    store = doc.get("store") or {}
    health = "healthy" if doc.get("healthy", True) else "UNHEALTHY (the systemd watchdog is not fed)"
    if not store.get("ok", True):
        health = f"DEGRADED ({(store.get('error') or {}).get('code')}): delivery stopped"
    unit = f", unit {doc['unit']}" if doc.get("unit") else ""
    out.line(
        out.style(f"numeraud running: pid {doc.get('pid')}", "bold")
        + f", version {doc.get('version', '?')}, api {doc.get('api')}, up {duration(doc.get('uptime_s'))}, "
        + out.style(health, "green" if health == "healthy" else "red")
        + unit
    )
    follower = doc.get("follower")
    if follower:
        last, nxt = parse_time(follower.get("last_poll_at")), parse_time(follower.get("next_poll_at"))
        ago = f"{duration((now - last).total_seconds())} ago" if last else "not yet"
        due = f"in {duration((nxt - now).total_seconds())}" if nxt else "now" if follower.get("activity") else "-"
        out.line(f"  poll: last {ago}, next {due}; {follower.get('activity')}")
        if follower.get("clock_warning"):
            out.line(out.style(f"  clock: {follower['clock_warning']}", "red"))
        elif follower.get("clock_offset") is not None:
            out.line(f"  clock: {describe(follower['clock_offset'])} (by its Date header)")
    else:
        out.line("  poll: off ([poll] enabled = false)")
    webhook = (doc.get("webhook") or {}).get("address")
    out.line(f"  webhook: {webhook or 'off'}   log head {doc.get('head_seq')}")


def _round(doc: Mapping[str, Any], out: Output) -> None:
    r = doc.get("round") or {}
    if r.get("number") is None:
        out.line("  round: none seen yet")
        return
    left = r.get("seconds_left")
    if r.get("open") and left is not None:
        window = out.style(f"{duration(left)} left", "yellow" if left < 3600 else "green")
    else:
        window = out.style("closed", "dim")
    out.line(
        out.style(f"round {r['number']}", "bold")
        + f": opened {clock(r.get('open_time'))}, deadline {clock(r.get('deadline'))}, "
        + window
        + (f"; closes {clock(r.get('close_time'))}" if r.get("close_time") else "")
    )
    sync = r.get("sync") or {}
    download = sync.get("download")
    line = f"  data {r.get('dataset_version') or '-'}: "
    if download:
        pct = 100 * download["done"] / download["total"] if download.get("total") else 0
        line += f"downloading {download['file']} {pct:.0f}% ({download['rate_mb_s']} MB/s)"
    elif r.get("published"):
        line += "synced, events published"
    elif r.get("missed"):
        line += out.style("round missed", "red")
    else:
        line += str(sync.get("activity") or "not synced")
    if sync.get("last_error"):
        line += out.style(
            f"; failing: {first_line(sync['last_error'], 60)} ({sync.get('consecutive_failures')}x)", "red"
        )
    out.line(line)


def models(rows: Sequence[Mapping[str, Any]], out: Output) -> None:
    """The model table of the current round."""
    table: list[list[Cell]] = []
    for m in rows:
        table.append(
            [
                m["model"],
                _yes(m["predictions_ready"]),
                _yes(m["validated"]),
                (clock(m["uploaded"])[11:16], "green") if m["uploaded"] else "-",
                m["submission_id"] or "-",
                (m["status"], MODEL_STYLE.get(m["status"], "")) if m["status"] in MODEL_STYLE else m["status"],
                m["why"] if m["next"] == "-" else f"{m['why']}; next: {m['next']}",
            ]
        )
    out.table(["MODEL", "PREDICTIONS", "VALIDATED", "UPLOADED", "SUBMISSION", "STATUS", "WHY / NEXT"], table)


def handlers(doc: Mapping[str, Any], out: Output) -> None:
    """The handler table."""
    units = any(h.get("unit_state") for h in (doc.get("handlers") or {}).values())
    header = ["HANDLER", *(["UNIT"] if units else []), "STATE", "CONN", "PID", "RSS", "ACKED", "LAG", "IN FLIGHT"]
    header += ["RESTARTS", "ERROR"]
    table: list[list[Cell]] = []
    for name, h in sorted((doc.get("handlers") or {}).items()):
        state = str(h.get("state"))
        flight = _in_flight(h)
        error = first_line(h.get("last_error"), 50) or (
            "waiting on " + ",".join(h["waiting_on"]) if h.get("waiting_on") else "-"
        )
        rss = h.get("rss_kib")
        table.append(
            [
                name,
                *([h.get("unit_state") or "-"] if units else []),
                (f"{state}, paused", "yellow") if h.get("paused") else (state, STATE_STYLE.get(state, "")),
                "yes" if h.get("connected") else "no",
                str(h.get("pid") or "-"),
                f"{rss / 1024:.0f}M" if rss else "-",
                str(h.get("acked_seq")),
                str(h.get("lag", "-")),
                flight,
                str(h.get("restarts", "-") if h.get("restarts") is not None else "-"),
                (error, "red") if state == "blocked" else error,
            ]
        )
    out.table(header, table)
    paused = sorted(name for name, h in (doc.get("handlers") or {}).items() if h.get("paused"))
    if paused:
        out.line(
            out.style(f"  paused by you: {', '.join(paused)}", "yellow")
            + f" (numeraudctl resume {paused[0] if len(paused) == 1 else 'NAME'})"
        )


def _in_flight(h: Mapping[str, Any]) -> str:
    """The IN FLIGHT cell: the event sent, its attempt and for how long; or the failed one and its retry."""
    if h.get("in_flight"):
        attempt = h.get("in_flight_attempt") or h.get("attempts", 0) + 1
        elapsed = f", {duration(h['in_flight_s'])}" if h.get("in_flight_s") is not None else ""
        return f"{h['in_flight']} {h.get('in_flight_kind') or ''} (attempt {attempt}{elapsed})".replace("  ", " ")
    if h.get("blocked_seq"):
        retry = f", retrying in {duration(h['retry_in_s'])}" if h.get("retry_in_s") is not None else ""
        return f"{h['blocked_seq']} failed {h.get('attempts', 0)}x{retry}"
    return "-"


#: Minimum widths of the event columns, so that ``events --follow`` stays aligned batch after batch.
EVENT_WIDTHS: Final = (6, 20, 5, 12, 16)
BAD_KINDS: Final = frozenset({"submission_failed", "submission_missed", "round_missed", "handler_blocked"})


def event_lines(events: Sequence[Mapping[str, Any]], out: Output, *, header: bool = True) -> None:
    """Events, one aligned line each (``SEQ KIND ROUND SOURCE CREATED ABOUT``)."""
    rows = []
    for e in events:
        payload = e.get("payload") or {}
        about = payload.get("model") or payload.get("handler") or ""
        detail = payload.get("reason") or payload.get("error") or payload.get("submission_id") or ""
        rows.append(
            (
                str(e["seq"]),
                str(e["kind"]),
                str(e["round"]) if e.get("round") is not None else "-",
                str(e.get("source") or "-"),
                clock(e.get("created")).removesuffix(" UTC"),
                first_line(f"{about} {detail}".strip(), 70) or "-",
            )
        )
    titles = ("SEQ", "KIND", "ROUND", "SOURCE", "CREATED (UTC)", "ABOUT")
    widths = [max([w, *(len(r[i]) for r in rows)]) for i, w in enumerate(EVENT_WIDTHS)]
    if header:
        out.line(out.style("  ".join(t.ljust(w) for t, w in zip(titles, [*widths, 0], strict=True)).rstrip(), "bold"))
    for r in rows:
        cells = [
            r[0].rjust(widths[0]),
            out.style(r[1], "red" if r[1] in BAD_KINDS else None) + " " * (widths[1] - len(r[1])),
        ]
        cells += [r[2].rjust(widths[2]), r[3].ljust(widths[3]), r[4].ljust(widths[4]), r[5]]
        out.line("  ".join(cells).rstrip())


def history(rows: Sequence[Mapping[str, Any]], out: Output) -> None:
    """Round x model."""
    names = sorted({n for r in rows for n in r["scores"]})
    table: list[list[Cell]] = []
    for r in rows:
        status = r["status"] or "-"
        cells: list[Cell] = [
            str(r["round"]),
            r["model"],
            (status, MODEL_STYLE.get(status, "")),
            clock(r["uploaded_at"]),
            _yes(r["accepted"]) if r["status"] else "-",
            f"{r['validation_corr']:+.4f}" if r["validation_corr"] is not None else "-",
        ]
        for n in names:
            score = r["scores"].get(n)
            cells.append(f"{score['value']:+.4f}{'' if score['resolved'] else '*'}" if score else "-")
        table.append(cells)
    out.table(
        ["ROUND", "MODEL", "STATUS", "UPLOADED", "ACCEPTED", "VAL CORR", *(n.upper() for n in names)], table, indent=""
    )
    if any(not s["resolved"] for r in rows for s in r["scores"].values()):
        out.line("* not resolved yet")
