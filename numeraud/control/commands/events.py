"""List the newest events of the log, oldest first.

``args.limit`` (default 20, at most 1000) events are returned; with filters, the newest ``limit``
of those that match among the log's newest 1000 (:data:`SCAN`): ``args.kind`` (a kind or a list
of kinds), ``args.round`` (a round number), ``args.handler`` (events a handler emitted, and the
notices about it such as ``handler_blocked``), ``args.after_seq`` (only events past that seq:
``numeraudctl events --follow``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from numeraud.control import ControlError, ControlTarget

NAME: Final = "events"
#: How many of the newest events a filtered request looks through.
SCAN: Final = 1000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_filters(args: Mapping[str, Any]) -> dict[str, Any]:
    """The filters of ``args`` (kind as a set), validated; :class:`ControlError` when one is wrong."""
    kind = args.get("kind")
    if isinstance(kind, str):
        kind = [kind]
    if kind is not None and (not isinstance(kind, list) or not all(isinstance(k, str) for k in kind)):
        raise ControlError("invalid_args", "args.kind must be an event kind or a list of kinds")
    round_, handler, after = args.get("round"), args.get("handler"), args.get("after_seq")
    if round_ is not None and not _is_int(round_):
        raise ControlError("invalid_args", "args.round must be a round number")
    if handler is not None and not isinstance(handler, str):
        raise ControlError("invalid_args", "args.handler must be a handler name")
    if after is not None and not _is_int(after):
        raise ControlError("invalid_args", "args.after_seq must be a seq")
    return {"kind": set(kind) if kind else None, "round": round_, "handler": handler, "after_seq": after}


def matches(event: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Whether an event (``StoredEvent.as_dict()``) passes :func:`check_filters`' filters."""
    if filters.get("kind") and event.get("kind") not in filters["kind"]:
        return False
    if filters.get("round") is not None and event.get("round") != filters["round"]:
        return False
    if filters.get("after_seq") is not None and int(event.get("seq", 0)) <= filters["after_seq"]:
        return False
    handler = filters.get("handler")
    payload = event.get("payload") or {}
    return handler is None or handler in (event.get("source"), payload.get("handler"))


def select(events: Iterable[Mapping[str, Any]], filters: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` of ``events`` (oldest first) that match ``filters``."""
    chosen = [dict(e) for e in events if matches(e, filters)]
    return chosen[-limit:]


def run(target: ControlTarget, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return events oldest first."""
    limit = args.get("limit", 20)
    if not _is_int(limit) or not 1 <= limit <= SCAN:
        raise ControlError("invalid_args", f"args.limit must be an integer from 1 to {SCAN}")
    filters = check_filters(args)
    if not any(v is not None for v in filters.values()):
        return target.control_events(limit)
    return select(target.control_events(SCAN), filters, limit)
