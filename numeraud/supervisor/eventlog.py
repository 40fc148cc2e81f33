"""The one writer of the event log: validation, store health, and the status built from the store.

Every write to the log goes through :class:`EventLog`, owned by the dispatcher and used only from
the supervisor loop's thread: an operator's or the supervisor's append, the follower's publish
(events with the tournament state and file records, one transaction), a handler's ACK with the
events it emitted, and a cursor save (with ``handler_blocked`` when it parks a handler). Each
event, whoever writes it, is checked the same way (:func:`check_event`: its kind, its size).

Store health is one notion: a write that fails (disk full, I/O error, read-only database) makes
the log *degraded*, with that error, and ``numeraudctl status`` says so; the next write that
succeeds (or a probe) makes it healthy again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from numeraud.common import protocol
from numeraud.supervisor.delivery_order import waiting_on
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import DatasetFile

#: Largest payload accepted in the log (the EVENT that carries it must fit in a message).
MAX_PAYLOAD_BYTES: Final = protocol.MAX_MESSAGE_BYTES - 4096

T = TypeVar("T")


def check_event(kind: str, round_: int | None, payload: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless the event may go in the log: a valid kind, an encodable
    payload, and an EVENT that fits in one bus message."""
    if not isinstance(kind, str) or not protocol.KIND_RE.match(kind):
        raise ValueError(f"invalid event kind {kind!r}")
    try:
        encoded = protocol.encode(protocol.Event(1, "x" * 36, kind, round_, 1, "x" * 32, payload))
    except protocol.ProtocolError as exc:
        raise ValueError(f"payload: {exc.message}") from None
    if sum(len(f) for f in encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")


class EventLog:
    """The store, written through one door that keeps its health (see the module docstring)."""

    def __init__(self, store: Store, log: Any) -> None:
        self.store = store
        self.log = log
        #: The last write's failure, ``None`` while the store is healthy.
        self.error: StoreError | None = None

    def write(self, operation: Callable[[], T]) -> T:
        """Run one write; a :class:`StoreError` degrades the log (and is raised), a success heals it."""
        try:
            result = operation()
        except StoreError as exc:
            self.degrade(exc)
            raise
        if self.error is not None:
            self.log.info("store writable again; delivery resumes", previous_error=self.error.code)
            self.error = None
        return result

    def degrade(self, exc: StoreError) -> None:
        """Record a failed write (logged once per spell of failures)."""
        if self.error is None:
            self.log.error("store failed; delivery stopped until it can be written", code=exc.code, error=exc.message)
        self.error = exc

    def append(
        self, kind: str, round_: int | None, payload: Mapping[str, Any], *, source: str, dedupe_key: str | None
    ) -> tuple[int, bool]:
        """Check and commit one event; ``(seq, created)``. ``ValueError`` for a bad event."""
        check_event(kind, round_, payload)
        return self.write(lambda: self.store.append_event(kind, round_, payload, source=source, dedupe_key=dedupe_key))

    def publish(
        self,
        events: Sequence[tuple[str, int | None, Mapping[str, Any]]],
        state: Mapping[str, str],
        files: Sequence[DatasetFile],
    ) -> list[int]:
        """Check every event, then commit them with the tournament state and files in one transaction."""
        for kind, round_, payload in events:
            check_event(kind, round_, payload)
        return self.write(lambda: self.store.publish(events, state, files))

    def probe(self) -> None:
        """While degraded, try a write (leaving the degraded state when it works)."""
        if self.error is None:
            return
        try:
            self.write(self.store.probe)
        except StoreError as exc:
            self.log.debug("store still failing", code=exc.code)

    def health(self) -> dict[str, Any]:
        """``{"ok": ...}``, with the error while degraded."""
        return health_of(self.error)


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
    ``connected``, ``pid`` and ``in_flight`` default to what a stopped supervisor has. Used by
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
            "attempts": h["attempts"],
            "last_error": h["last_error"],
            "after": list(after.get(name, ())),
            "waiting_on": waiting_on(name, acked, head, after, serial) if name in after else [],
        }
    return {"head_seq": head, "serial": serial, "store": health_of(store_error), "handlers": out}


def store_status(store: Store, *, serial: bool, after: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """:func:`status_document` from the database alone (numeraudctl with the supervisor down)."""
    cursors = store.cursors()
    handlers = {
        name: {"state": c.state, "acked_seq": c.acked_seq, "attempts": c.attempts, "last_error": c.last_error}
        for name, c in cursors.items()
    }
    return status_document(head=store.head_seq(), serial=serial, after=after, handlers=handlers, store_error=None)
