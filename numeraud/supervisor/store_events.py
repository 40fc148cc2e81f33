"""The log's table in the store: appending an event exactly once, reading events by seq.

An event's ``dedupe_key`` is unique (see :mod:`~numeraud.supervisor.store_schema`), so appending
the same event again returns the seq it already has. :class:`~numeraud.supervisor.store.Store`
builds its other writes on :meth:`EventTable._insert`, in the same transaction. No socket I/O here.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any

from numeraud.supervisor.store_connection import StoreConnection, utcnow
from numeraud.supervisor.store_records import StoredEvent, event_from_row


class EventTable(StoreConnection):
    """The ``events`` table of an open store connection."""

    def _insert(
        self,
        db: sqlite3.Connection,
        kind: str,
        round_: int | None,
        payload: Mapping[str, Any],
        *,
        source: str,
        parent_seq: int | None,
        dedupe_key: str,
    ) -> tuple[int, bool]:
        """Insert an event in ``db``'s transaction unless its ``dedupe_key`` is taken: ``(seq, created)``."""
        text = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"))
        cur = db.execute(
            "INSERT INTO events (event_id, kind, round, payload, source, parent_seq, dedupe_key, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (str(uuid.uuid4()), kind, round_, text, source, parent_seq, dedupe_key, utcnow()),
        )
        if cur.rowcount == 1 and cur.lastrowid is not None:
            return cur.lastrowid, True
        row = db.execute("SELECT seq FROM events WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return int(row[0]), False

    def append_event(
        self,
        kind: str,
        round_: int | None,
        payload: Mapping[str, Any],
        *,
        source: str = "supervisor",
        dedupe_key: str | None = None,
    ) -> tuple[int, bool]:
        """Append and commit an event; returns ``(seq, created)``. The same (kind, round) twice
        (or the same ``dedupe_key``, when one is given) returns the first event's seq with
        ``created=False``."""
        with self._write() as db:
            return self._insert(
                db, kind, round_, payload, source=source, parent_seq=None, dedupe_key=dedupe_key or f"{kind}/{round_}"
            )

    def head_seq(self) -> int:
        """The seq of the newest event (0 for an empty log)."""
        return int(self._read("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0])

    def get_event(self, seq: int) -> StoredEvent | None:
        """The event ``seq``, or ``None``."""
        rows = self._read(
            "SELECT seq, event_id, kind, round, payload, source, parent_seq, created FROM events WHERE seq = ?",
            (seq,),
        )
        return event_from_row(rows[0]) if rows else None

    def events(self, *, limit: int = 50, after: int = 0) -> list[StoredEvent]:
        """Events with seq > ``after``, oldest first, at most ``limit``."""
        rows = self._read(
            "SELECT seq, event_id, kind, round, payload, source, parent_seq, created"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [event_from_row(r) for r in rows]

    def recent_events(self, limit: int = 20) -> list[StoredEvent]:
        """The newest ``limit`` events, oldest first."""
        rows = self._read(
            "SELECT seq, event_id, kind, round, payload, source, parent_seq, created"
            " FROM events ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [event_from_row(r) for r in reversed(rows)]
