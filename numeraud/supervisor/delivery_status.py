"""The delivery status document: the log head, store health, and each handler's cursor and state.

Built from the live sessions (:func:`session_facts`, for ``numeraudctl status`` against a running
supervisor) or from the database alone (:func:`store_status`, with the supervisor down), so
that both say the same thing the same way. Pure: no I/O beyond reading the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from numeraud.supervisor.delivery_order import waiting_on
from numeraud.supervisor.session import Session
from numeraud.supervisor.session_actions import State
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError


def health_of(error: StoreError | None) -> dict[str, Any]:
    """The ``store`` section of the status document."""
    doc: dict[str, Any] = {"ok": error is None}
    if error is not None:
        doc["error"] = {"code": error.code, "message": error.message}
    return doc


def status_document(
    *,
    head: int,
    serial: bool,
    after: Mapping[str, Sequence[str]],
    handlers: Mapping[str, Mapping[str, Any]],
    store_error: StoreError | None,
) -> dict[str, Any]:
    """The delivery status (log head, store health, per handler) from each handler's cursor facts.

    ``handlers`` maps a name to at least ``state``, ``acked_seq``, ``attempts``, ``last_error``;
    ``paused``, ``connected``, ``pid``, ``in_flight`` (with ``in_flight_s``, seconds since it was
    sent, and ``in_flight_attempt``, its delivery number) and ``retry_in_s``/``retry_at`` (a
    backoff's end: seconds from now, wall-clock ISO time) default to what a stopped supervisor
    has. Used by
    :meth:`Dispatcher.status` (live sessions) and by ``numeraudctl`` reading the database.
    """
    acked = {name: int(h["acked_seq"]) for name, h in handlers.items()}
    out: dict[str, Any] = {}
    for name, h in handlers.items():
        out[name] = {
            "state": h["state"],
            "connected": h.get("connected", False),
            "pid": h.get("pid"),
            "acked_seq": acked[name],
            "in_flight": h.get("in_flight"),
            "in_flight_s": h.get("in_flight_s"),
            "in_flight_attempt": h.get("in_flight_attempt"),
            "attempts": h["attempts"],
            "last_error": h["last_error"],
            "paused": bool(h.get("paused", False)),
            "retry_in_s": h.get("retry_in_s"),
            "retry_at": h.get("retry_at"),
            "after": list(after.get(name, ())),
            "waiting_on": waiting_on(name, acked, head, after, serial) if name in after else [],
        }
    return {"head_seq": head, "serial": serial, "store": health_of(store_error), "handlers": out}


def store_status(store: Store, *, serial: bool, after: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """:func:`status_document` from the database alone (numeraudctl with the supervisor down)."""
    cursors = store.cursors()
    handlers = {
        name: {
            "state": c.state,
            "acked_seq": c.acked_seq,
            "attempts": c.attempts,
            "last_error": c.last_error,
            "paused": c.paused,
        }
        for name, c in cursors.items()
    }
    return status_document(head=store.head_seq(), serial=serial, after=after, handlers=handlers, store_error=None)


def session_facts(
    sessions: Mapping[str, Session], now: float | None = None, wall: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """What :func:`status_document` needs of each live session; with ``now`` (the monotonic clock
    of the sessions) the in-flight event's elapsed time and a backoff's remaining wait, with
    ``wall`` (the wall clock at ``now``) the backoff's end as an ISO time."""
    facts: dict[str, dict[str, Any]] = {}
    for name, s in sessions.items():
        fact: dict[str, Any] = {
            "state": s.state.value,
            "connected": s.connected,
            "pid": s.pid,
            "acked_seq": s.acked_seq,
            "in_flight": s.in_flight,
            "attempts": s.attempts,
            "last_error": s.last_error,
            "paused": s.paused,
        }
        if now is not None and s.in_flight is not None and s.delivered_at is not None:
            fact["in_flight_s"] = round(max(0.0, now - s.delivered_at), 1)
        if s.in_flight is not None:
            fact["in_flight_attempt"] = s.attempts + 1
        if now is not None and s.state is State.BACKOFF:
            wait = max(0.0, s.retry_at - now)
            fact["retry_in_s"] = round(wait, 1)
            if wall is not None:
                fact["retry_at"] = (wall + timedelta(seconds=wait)).isoformat(timespec="seconds")
        facts[name] = fact
    return facts
