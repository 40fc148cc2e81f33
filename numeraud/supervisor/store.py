"""The supervisor's store: the event log with the handlers' cursors, tournament state and dataset files.

One SQLite database: its schema in :mod:`~numeraud.supervisor.store_schema`, the connection,
transactions and :class:`StoreError` in :mod:`~numeraud.supervisor.store_connection`, the events
table in :mod:`~numeraud.supervisor.store_events`. What is here writes alongside the log, in one
transaction each: a handler's ACK moves its cursor and appends what it emitted, a parked
handler's cursor is saved with its ``handler_blocked`` event, and a poll of Numerai commits its
events, state and files all or nothing. No socket I/O here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from numeraud.supervisor.store_connection import StoreError, store_error, utcnow
from numeraud.supervisor.store_events import EventTable
from numeraud.supervisor.store_records import (
    Ack,
    Cursor,
    DatasetFile,
    NewEvent,
    cursor_from_row,
    file_row,
)

#: Set one ``tournament`` key (parameters: key, value, updated).
PUT_STATE: Final = (
    "INSERT INTO tournament (key, value, updated) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated"
)
#: Record one verified dataset file (parameters: :func:`~numeraud.supervisor.store_records.file_row`).
PUT_FILE: Final = (
    "INSERT INTO dataset_files (version, name, size, sha256, etag, synced_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (version, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,"
    " etag = excluded.etag, synced_at = excluded.synced_at"
)


class Store(EventTable):
    """The supervisor's database, one query or transaction per method (see the module docstring).

    Not thread-safe (see :class:`~numeraud.supervisor.store_connection.StoreConnection`): only the
    thread that opened it uses it.
    """

    # ---- cursors ----

    def ensure_cursor(self, handler: str, start_seq: int) -> Cursor:
        """Create ``handler``'s cursor at ``start_seq`` unless it exists; return it."""
        with self._write() as db:
            db.execute(
                "INSERT INTO cursors (handler, acked_seq, state, attempts, last_error, updated)"
                " VALUES (?, ?, 'disconnected', 0, NULL, ?) ON CONFLICT (handler) DO NOTHING",
                (handler, start_seq, utcnow()),
            )
        cursor = self.cursor(handler)
        if cursor is None:  # pragma: no cover - just inserted
            raise StoreError("error", f"cursor {handler} vanished")
        return cursor

    def cursor(self, handler: str) -> Cursor | None:
        """``handler``'s cursor, or ``None``."""
        rows = self._read(
            "SELECT handler, acked_seq, state, attempts, last_error, updated, paused FROM cursors WHERE handler = ?",
            (handler,),
        )
        return cursor_from_row(rows[0]) if rows else None

    def cursors(self) -> dict[str, Cursor]:
        """All cursors by handler name."""
        rows = self._read(
            "SELECT handler, acked_seq, state, attempts, last_error, updated, paused FROM cursors ORDER BY handler"
        )
        return {r[0]: cursor_from_row(r) for r in rows}

    def ack(self, handler: str, seq: int, emitted: Sequence[NewEvent] = ()) -> list[int]:
        """Move ``handler``'s cursor to ``seq`` and append ``emitted``, in one transaction.

        The cursor must be at ``seq - 1`` (acks are in order); returns the emitted events' seqs.
        """
        return self.ack_many([Ack(handler, seq, tuple(emitted))])[0]

    _ACK_SQL: Final = (
        "UPDATE cursors SET acked_seq = ?, state = 'ready', attempts = 0, last_error = NULL,"
        " updated = ? WHERE handler = ? AND acked_seq = ?"
    )

    def ack_many(self, acks: Sequence[Ack]) -> list[list[int]]:
        """Commit several handlers' acks (and their emits) in ONE transaction (group commit):
        all of them or, on any error, none. Returns the emitted seqs per ack."""
        now = utcnow()
        if len(acks) == 1 and not acks[0].emitted and not self.read_only and not self._db.in_transaction:
            # The common case, one ack without emits, is one UPDATE: in autocommit mode a single
            # statement is its own transaction, as atomic and as durable (synchronous=FULL) as
            # BEGIN IMMEDIATE ... COMMIT, without the two extra statements.
            ack = acks[0]
            try:
                changed = self._db.execute(self._ACK_SQL, (ack.seq, now, ack.handler, ack.seq - 1)).rowcount
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(exc) from exc
            if changed != 1:  # nothing was written
                raise StoreError("constraint", f"cursor of {ack.handler} is not at {ack.seq - 1}")
            return [[]]
        out: list[list[int]] = []
        with self._write() as db:
            for ack in acks:
                cur = db.execute(self._ACK_SQL, (ack.seq, now, ack.handler, ack.seq - 1))
                if cur.rowcount != 1:
                    raise StoreError("constraint", f"cursor of {ack.handler} is not at {ack.seq - 1}")
                out.append(self._emit(db, ack) if ack.emitted else [])
        return out

    def _emit(self, db: sqlite3.Connection, ack: Ack) -> list[int]:
        parent = db.execute("SELECT round FROM events WHERE seq = ?", (ack.seq,)).fetchone()
        seqs = []
        for index, event in enumerate(ack.emitted):
            round_ = event.round if event.round is not None else (parent[0] if parent else None)
            new_seq, _ = self._insert(
                db,
                event.kind,
                round_,
                event.payload,
                source=ack.handler,
                parent_seq=ack.seq,
                dedupe_key=f"{event.kind}/{round_}/{ack.handler}/{ack.seq}/{index}",
            )
            seqs.append(new_seq)
        return seqs

    def save_cursor(
        self,
        handler: str,
        *,
        acked_seq: int,
        state: str,
        attempts: int,
        last_error: str | None,
        paused: bool = False,
        event: tuple[NewEvent, str] | None = None,
    ) -> tuple[int, bool] | None:
        """Persist ``handler``'s bookkeeping (failures, an operator's skip, rewind or pause); with
        ``event`` (an event and its dedupe key), append it in the same transaction and return
        ``(seq, created)``."""
        with self._write() as db:
            db.execute(
                "UPDATE cursors SET acked_seq = ?, state = ?, attempts = ?, last_error = ?, paused = ?,"
                " updated = ? WHERE handler = ?",
                (acked_seq, state, attempts, last_error, int(paused), utcnow(), handler),
            )
            if event is None:
                return None
            new, key = event
            return self._insert(
                db, new.kind, new.round, new.payload, source="supervisor", parent_seq=None, dedupe_key=key
            )

    # ---- tournament state ----

    def get_state(self, key: str) -> str | None:
        """A tournament state value (e.g. ``last_round_processed``), or ``None``."""
        rows = self._read("SELECT value FROM tournament WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_state(self, key: str, value: str) -> None:
        """Set a tournament state value."""
        with self._write() as db:
            db.execute(PUT_STATE, (key, value, utcnow()))

    def tournament_state(self) -> dict[str, str]:
        """All tournament state values."""
        rows = self._read("SELECT key, value FROM tournament WHERE key != 'store_probe' ORDER BY key")
        return {r[0]: r[1] for r in rows}

    def publish(
        self,
        events: Sequence[tuple[str, int | None, Mapping[str, Any]]],
        state: Mapping[str, str],
        files: Sequence[DatasetFile] = (),
        *,
        during: Callable[[], None] | None = None,
    ) -> list[int]:
        """Commit what one poll of Numerai learned, all or nothing: events, tournament state and
        dataset files. Returns the events' seqs (an event already in the log keeps its seq).

        ``during`` runs inside the transaction, after the events are inserted and before the
        state and files are (the ``mid_publish`` failpoint)."""
        now = utcnow()
        with self._write() as db:
            seqs = [
                self._insert(
                    db, kind, round_, payload, source="supervisor", parent_seq=None, dedupe_key=f"{kind}/{round_}"
                )[0]
                for kind, round_, payload in events
            ]
            if during is not None:
                during()
            for key, value in state.items():
                db.execute(PUT_STATE, (key, value, now))
            for file in files:
                db.execute(PUT_FILE, file_row(file))
        return seqs

    # ---- dataset files ----

    def record_file(self, file: DatasetFile) -> None:
        """Record (or update) a verified dataset file."""
        with self._write() as db:
            db.execute(PUT_FILE, file_row(file))

    def dataset_files(self, version: str | None = None) -> list[DatasetFile]:
        """Recorded dataset files, optionally of one version."""
        sql = "SELECT version, name, size, sha256, etag, synced_at FROM dataset_files"
        params: tuple[Any, ...] = ()
        if version is not None:
            sql += " WHERE version = ?"
            params = (version,)
        return [DatasetFile(*r) for r in self._read(sql + " ORDER BY version, name", params)]

    # ---- health ----

    def probe(self) -> None:
        """Check the database can be written (used to leave the degraded state after a failure)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO tournament (key, value, updated) VALUES ('store_probe', ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                (utcnow(), utcnow()),
            )


# loop.py and following.py import these names from here.
__all__ = ["DatasetFile", "Store", "StoreError"]
