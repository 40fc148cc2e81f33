"""EVENT frames built from the log, cached: N handlers cost one read and one encoding per attempt.

Committed events are immutable, so what is read and encoded once serves every handler. Used by
the dispatcher only, on the loop's thread.
"""

from __future__ import annotations

from typing import Final

from numeraud.common import protocol
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_records import StoredEvent

#: Events kept in memory, and read from the log at a time.
EVENT_CACHE: Final = 1024
READ_AHEAD: Final = 64


class EventFrames:
    """Recently delivered events and their encoded EVENT messages."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Recently delivered events (immutable once committed), so N handlers cost one read.
        self.events: dict[int, StoredEvent] = {}
        #: The last EVENT encoded per seq, with its attempt number: N handlers get attempt 1.
        self._frames: dict[int, tuple[int, list[bytes]]] = {}

    def event(self, seq: int) -> StoredEvent | None:
        """Event ``seq``, from the cache or read (with the ones after it) from the log.

        Raises :class:`~numeraud.supervisor.store.StoreError` when the log cannot be read."""
        event = self.events.get(seq)
        if event is not None:
            return event
        for loaded in self.store.events(after=seq - 1, limit=READ_AHEAD):
            self.events[loaded.seq] = loaded
        while len(self.events) > EVENT_CACHE:
            oldest = next(iter(self.events))
            del self.events[oldest]
            self._frames.pop(oldest, None)
        return self.events.get(seq)

    def frames(self, event: StoredEvent, attempt: int) -> list[bytes]:
        """The EVENT frames of ``event`` at ``attempt``. Raises ``protocol.ProtocolError``."""
        cached = self._frames.get(event.seq)
        if cached is not None and cached[0] == attempt:
            return cached[1]
        frames = self._encode(event, attempt)
        self._frames[event.seq] = (attempt, frames)
        return frames

    def _encode(self, event: StoredEvent, attempt: int) -> list[bytes]:
        """EVENT frames for delivery number ``attempt`` of ``event`` (the protocol's one codec)."""
        return protocol.encode(
            protocol.Event(event.seq, event.event_id, event.kind, event.round, attempt, event.created, event.payload)
        )
