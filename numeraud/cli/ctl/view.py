"""The status view: the supervisor's document, completed with the round, the models and what needs you.

:func:`build` adds to the status document (all of which ``status --json`` prints):

* ``round``: the current round's number, window (open, close, submission deadline), seconds
  left, dataset version and the data sync's state, from the follower's status, else from the
  round's events in the log;
* ``models``: :func:`numeraud.cli.ctl.models.current` (one row per Numerai model);
* per handler: ``lag`` (events behind the log head), ``rss_kib`` (from /proc, when local),
  ``restarts`` (spawned handlers), ``unit`` and ``unit_state`` (when systemd runs it);
* ``notifications``: the last ones the notifier recorded;
* ``attention``: one line per thing that needs the operator (the exit code 6 of ``status``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from numeraud.cli.ctl import local, models
from numeraud.cli.ctl.output import duration, first_line, parse_time
from numeraud.cli.ctl.sources import Source
from numeraud.common.config import Config

#: Kinds the status screen reads from the log.
KINDS: Final = [
    "new_training_data",
    "new_tournament_data",
    "round_begin",
    "round_missed",
    "round_closed",
    "predictions_ready",
    "submission_uploaded",
    "submission_failed",
    "submission_missed",
    "handler_blocked",
]


def build(config: Config, source: Source, now: datetime, warn_minutes: float) -> dict[str, Any]:
    """The status view (see the module docstring)."""
    doc = source.status()
    events = source.events(limit=300, kind=KINDS)
    doc["round"] = round_view(doc, events, now)
    number = doc["round"].get("number")
    doc["models"] = models.current(config, doc, events, number, now) if number is not None else []
    _handlers(doc, events)
    doc["notifications"] = local.notifications(config)
    doc["attention"] = attention(doc, events, warn_minutes)
    return doc


def round_view(doc: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The current round and its window (see the module docstring)."""
    follower = doc.get("follower") or {}
    state = doc.get("tournament") or {}
    starts = [e for e in events if e["kind"] in ("round_begin", "round_missed") and e.get("round") is not None]
    number = follower.get("round")
    if number is None and starts:
        number = max(e["round"] for e in starts)
    if number is None and state.get("last_round_published"):
        number = int(state["last_round_published"])
    view: dict[str, Any] = {"number": number}
    payload: dict[str, Any] = next((e["payload"] for e in reversed(starts) if e["round"] == number), {})
    for key in ("open_time", "close_time", "deadline"):
        view[key] = follower.get(key) or payload.get(key)
    if view["deadline"] is None and state.get("last_round_published") == str(number):
        view["deadline"] = state.get("last_round_published_deadline")
    deadline, opened = parse_time(view["deadline"]), parse_time(view["open_time"])
    offset = follower.get("clock_offset")
    if isinstance(offset, int | float):
        now += timedelta(seconds=offset)  # the round's times are on Numerai's clock
    view["seconds_left"] = round((deadline - now).total_seconds()) if deadline else None
    view["open"] = bool(deadline and deadline > now and (opened is None or opened <= now))
    view["published"] = any(e["kind"] == "round_begin" and e["round"] == number for e in events)
    view["missed"] = any(e["kind"] == "round_missed" and e["round"] == number for e in events)
    view["dataset_version"] = payload.get("version") or follower.get("dataset_version") or state.get("dataset_version")
    view["sync"] = {
        "activity": follower.get("activity"),
        "download": follower.get("download"),
        "last_error": follower.get("last_error"),
        "consecutive_failures": follower.get("consecutive_failures", 0),
        "problem": follower.get("problem"),
    }
    return view


def _handlers(doc: dict[str, Any], events: list[dict[str, Any]]) -> None:
    kinds = {e["seq"]: e["kind"] for e in events}
    head = int(doc.get("head_seq") or 0)
    spawned = doc.get("spawned") or {}
    local_bus = str(doc.get("bus", "ipc://")).startswith("ipc://")
    for name, h in (doc.get("handlers") or {}).items():
        h["lag"] = max(0, head - int(h.get("acked_seq") or 0))
        h["in_flight_kind"] = kinds.get(h.get("in_flight"))
        h["blocked_seq"] = h["acked_seq"] + 1 if h.get("state") in ("blocked", "backoff") else None
        h["rss_kib"] = local.rss_kib(h.get("pid")) if local_bus and doc.get("running") else None
        if name in spawned:
            h["restarts"] = spawned[name].get("restarts")
    _units(doc)


def _units(doc: dict[str, Any]) -> None:
    """Unit name and state of each handler when systemd runs numeraud (one ``systemctl show``)."""
    supervisor = local.unit_of(doc.get("pid")) if doc.get("running") else None
    if supervisor is None:
        return
    import subprocess  # noqa: PLC0415 - only when systemd runs numeraud

    user = supervisor[1]
    units = {name: f"numeraud-handler@{name}.service" for name in doc.get("handlers") or {}}
    argv = ["systemctl", *(["--user"] if user else []), "show", "-p", "Id,ActiveState,SubState,NRestarts"]
    try:
        shown = subprocess.run([*argv, *units.values()], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return
    props: dict[str, dict[str, str]] = {}
    for block in shown.stdout.strip().split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in fields:
            props[fields["Id"]] = fields
    doc["unit"] = supervisor[0]
    for name, unit in units.items():
        found = props.get(unit, {})
        h = doc["handlers"][name]
        h["unit"] = unit
        h["unit_state"] = f"{found.get('ActiveState', '?')}/{found.get('SubState', '?')}" if found else None
        if found.get("NRestarts", "").isdigit():
            h["restarts"] = int(found["NRestarts"])


def attention(doc: dict[str, Any], events: list[dict[str, Any]], warn_minutes: float) -> list[str]:
    """What needs the operator, one line each (empty: all well)."""
    lines: list[str] = []
    store = doc.get("store") or {}
    if doc.get("running") and store and not store.get("ok", True):
        lines.append(f"the event log is DEGRADED ({(store.get('error') or {}).get('code')}): delivery stopped")
    if doc.get("running") and doc.get("healthy") is False:
        lines.append("numeraud is UNHEALTHY: the systemd watchdog is not fed")
    for name, h in sorted((doc.get("handlers") or {}).items()):
        if h.get("state") == "blocked":
            lines.append(
                f"handler {name} is blocked on seq {h['acked_seq'] + 1}: {first_line(h.get('last_error'), 60)}"
                f" (fix it, then numeraudctl retry {name}, or skip {name} {h['acked_seq'] + 1})"
            )
    sync = doc["round"]["sync"]
    if sync.get("problem"):
        lines.append(f"the follower: {sync['problem']}")
    if sync.get("last_error"):
        lines.append(f"data sync / Numerai failing: {first_line(sync['last_error'], 80)}")
    number = doc["round"].get("number")
    if number is not None:
        for e in events:
            if e.get("round") is not None and e["round"] >= number - 1:
                if e["kind"] == "round_missed":
                    lines.append(f"round {e['round']} was missed: {first_line(e['payload'].get('reason'), 80)}")
                elif e["kind"] == "submission_missed":
                    lines.append(f"round {e['round']}: {e['payload'].get('model')} missed its submission")
    for row in doc["models"]:
        if row["status"] in ("fallback", "failed"):
            lines.append(f"{row['model']}: {row['status']}: {row['why']}")
    left = doc["round"].get("seconds_left")
    if doc["round"].get("open") and left is not None and left < warn_minutes * 60:
        for row in doc["models"]:
            if not row.get("uploaded"):
                lines.append(f"{row['model']} is not submitted and the round closes in {duration(left)}")
    return list(dict.fromkeys(lines))
