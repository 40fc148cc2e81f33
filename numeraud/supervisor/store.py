"""The event log and supervisor state in one SQLite database (WAL, ``synchronous=FULL``).

Tables (schema version in ``PRAGMA user_version``, upgraded by :data:`MIGRATIONS`):

``events``         the log. ``seq`` is contiguous from 1 (rows are never deleted). ``dedupe_key`` is
                   unique, so appending the same event twice yields one row:
                   tournament and operator events use ``"{kind}/{round}"`` (one ``round_begin`` per
                   round, re-polling is idempotent); emitted events use
                   ``"{kind}/{round}/{handler}/{parent_seq}/{index}"`` (an emit belongs to the ACK
                   of one event by one handler, so a later round or another handler may emit
                   the same kind again).
``cursors``        per handler: last acked seq, delivery state, failed attempts, last error.
``tournament``     key/value state (``last_round_processed``, ``last_round_trained``).
``dataset_files``  verified dataset files (version, name, size, sha256, etag, synced_at).

Every SQLite failure surfaces as :class:`StoreError` with a stable ``code``; a write that raised
was rolled back, so nothing is acknowledged that was not committed. No socket I/O here.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the initial schema
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        round INTEGER,
        payload TEXT NOT NULL,
        source TEXT NOT NULL,
        parent_seq INTEGER,
        dedupe_key TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL
    );
    CREATE TABLE cursors (
        handler TEXT PRIMARY KEY,
        acked_seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated TEXT NOT NULL
    );
    CREATE TABLE tournament (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE dataset_files (
        version TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        etag TEXT,
        synced_at TEXT NOT NULL,
        PRIMARY KEY (version, name)
    );
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

_CODES: Final = {
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_CORRUPT: "corrupt",
    sqlite3.SQLITE_NOTADB: "corrupt",
    sqlite3.SQLITE_BUSY: "busy",
    sqlite3.SQLITE_LOCKED: "busy",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_CANTOPEN: "cant_open",
    sqlite3.SQLITE_PERM: "read_only",
}


PUT_STATE: Final = (
    "INSERT INTO tournament (key, value, updated) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated"
)
PUT_FILE: Final = (
    "INSERT INTO dataset_files (version, name, size, sha256, etag, synced_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (version, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,"
    " etag = excluded.etag, synced_at = excluded.synced_at"
)


class StoreError(Exception):
    """The database could not be read or written. ``code``: disk_full, io_error, corrupt, busy,
    read_only, cant_open, schema_too_new, constraint or error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _wrap(exc: sqlite3.Error) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    name = _CODES.get(code & 0xFF, "error") if isinstance(code, int) else "error"
    if isinstance(exc, sqlite3.IntegrityError):
        name = "constraint"
    return StoreError(name, str(exc))


def utcnow() -> str:
    """Wall-clock time for records (ISO 8601, UTC). Timeouts never use it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class StoredEvent:
    """One row of the log."""

    seq: int
    event_id: str
    kind: str
    round: int | None
    #: The payload as stored: a JSON object. The dispatcher sends it as it is.
    payload_json: str
    source: str
    parent_seq: int | None
    created: str

    @functools.cached_property
    def payload(self) -> Mapping[str, Any]:
        """The payload, decoded when first read."""
        value: dict[str, Any] = json.loads(self.payload_json)
        return value

    def as_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict (control replies, ``numeraudctl events``)."""
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "kind": self.kind,
            "round": self.round,
            "source": self.source,
            "parent_seq": self.parent_seq,
            "created": self.created,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True)
class Cursor:
    """One handler's position in the log."""

    handler: str
    acked_seq: int
    state: str
    attempts: int
    last_error: str | None
    updated: str


@dataclass(frozen=True)
class NewEvent:
    """An event to append alongside an ACK (an emit)."""

    kind: str
    round: int | None
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Ack:
    """One handler's ack to commit: its cursor moves to ``seq``; ``emitted`` are appended."""

    handler: str
    seq: int
    emitted: tuple[NewEvent, ...] = ()


@dataclass(frozen=True)
class DatasetFile:
    """A verified dataset file in the data directory."""

    version: str
    name: str
    size: int
    sha256: str
    etag: str | None
    synced_at: str


class Store:
    """The supervisor's database. Not thread-safe: one owner (the supervisor loop).

    Only the thread that opened it may use it (SQLite's ``check_same_thread``): a use from any
    other thread is a bug, and raises :class:`StoreError` instead of racing the owner.

    ``read_only=True`` opens it for inspection (``numeraudctl`` while the supervisor is down):
    no migration, no write.
    """

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        try:
            if read_only:
                if not self.path.exists():
                    raise StoreError("cant_open", f"{self.path} does not exist")
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
                self._db.execute("PRAGMA query_only = ON")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # 0640 whatever the umask (SQLite gives the WAL and SHM files the same mode):
                # the operators' group reads it for numeraudctl, nobody else does.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640))
                self._db = sqlite3.connect(self.path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                "schema_too_new", f"{self.path} has schema {version}, this numeraud knows {SCHEMA_VERSION}"
            )
        if read_only:
            if version < SCHEMA_VERSION:
                self._db.close()
                raise StoreError("read_only", f"{self.path} has schema {version}; start numeraud to migrate it")
        else:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        for number in range(version, SCHEMA_VERSION):
            with self._write():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        """The database's ``PRAGMA user_version``."""
        return int(self._read("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close the connection (a WAL checkpoint happens on the last close)."""
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; any SQLite error rolls back and becomes a StoreError."""
        if self.read_only:
            raise StoreError("read_only", f"{self.path} is open read-only")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _wrap(exc) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone either way; the original error is what matters

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc) from exc

    # ---- events ----

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
        return _event(rows[0]) if rows else None

    def events(self, *, limit: int = 50, after: int = 0) -> list[StoredEvent]:
        """Events with seq > ``after``, oldest first, at most ``limit``."""
        rows = self._read(
            "SELECT seq, event_id, kind, round, payload, source, parent_seq, created"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [_event(r) for r in rows]

    def recent_events(self, limit: int = 20) -> list[StoredEvent]:
        """The newest ``limit`` events, oldest first."""
        rows = self._read(
            "SELECT seq, event_id, kind, round, payload, source, parent_seq, created"
            " FROM events ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [_event(r) for r in reversed(rows)]

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
            "SELECT handler, acked_seq, state, attempts, last_error, updated FROM cursors WHERE handler = ?",
            (handler,),
        )
        return Cursor(*rows[0]) if rows else None

    def cursors(self) -> dict[str, Cursor]:
        """All cursors by handler name."""
        rows = self._read(
            "SELECT handler, acked_seq, state, attempts, last_error, updated FROM cursors ORDER BY handler"
        )
        return {r[0]: Cursor(*r) for r in rows}

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
                raise _wrap(exc) from exc
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
        event: tuple[NewEvent, str] | None = None,
    ) -> tuple[int, bool] | None:
        """Persist ``handler``'s failure bookkeeping (and an operator's skip); with ``event`` (an
        event and its dedupe key), append it in the same transaction and return ``(seq, created)``."""
        with self._write() as db:
            db.execute(
                "UPDATE cursors SET acked_seq = ?, state = ?, attempts = ?, last_error = ?, updated = ?"
                " WHERE handler = ?",
                (acked_seq, state, attempts, last_error, utcnow(), handler),
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
    ) -> list[int]:
        """Commit what one poll of Numerai learned, all or nothing: events, tournament state and
        dataset files. Returns the events' seqs (an event already in the log keeps its seq)."""
        now = utcnow()
        with self._write() as db:
            seqs = [
                self._insert(
                    db, kind, round_, payload, source="supervisor", parent_seq=None, dedupe_key=f"{kind}/{round_}"
                )[0]
                for kind, round_, payload in events
            ]
            for key, value in state.items():
                db.execute(PUT_STATE, (key, value, now))
            for file in files:
                db.execute(PUT_FILE, _file_row(file))
        return seqs

    # ---- dataset files ----

    def record_file(self, file: DatasetFile) -> None:
        """Record (or update) a verified dataset file."""
        with self._write() as db:
            db.execute(PUT_FILE, _file_row(file))

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


def _event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        seq=row[0],
        event_id=row[1],
        kind=row[2],
        round=row[3],
        payload_json=row[4],
        source=row[5],
        parent_seq=row[6],
        created=row[7],
    )


def _file_row(file: DatasetFile) -> tuple[str, str, int, str, str | None, str]:
    return (file.version, file.name, file.size, file.sha256, file.etag, file.synced_at)
