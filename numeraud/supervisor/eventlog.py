"""The one writer of the event log, and the store's health.

Every write to the log goes through :class:`EventLog`, owned by the dispatcher and used only from
the supervisor loop's thread: an operator's or the supervisor's append, the follower's publish
(events with the tournament state and file records, one transaction), a handler's ACK with the
events it emitted, and a cursor save (with ``handler_blocked`` when it parks a handler). Each
event, whoever writes it, is checked the same way
(:func:`~numeraud.supervisor.event_checks.check_event`: its kind, its size).

Store health is one notion: a write that fails (disk full, I/O error, read-only database) makes
the log *degraded*, with that error, and ``numeraudctl status`` says so; the next write that
succeeds (or a probe) makes it healthy again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from numeraud.supervisor.event_checks import check_event
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import DatasetFile

T = TypeVar("T")


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
        *,
        during: Callable[[], None] | None = None,
    ) -> list[int]:
        """Check every event, then commit them with the tournament state and files in one
        transaction (``during``: see :meth:`Store.publish`)."""
        for kind, round_, payload in events:
            check_event(kind, round_, payload)
        return self.write(lambda: self.store.publish(events, state, files, during=during))

    def probe(self) -> None:
        """While degraded, try a write (leaving the degraded state when it works)."""
        if self.error is None:
            return
        try:
            self.write(self.store.probe)
        except StoreError as exc:
            self.log.debug("store still failing", code=exc.code)
