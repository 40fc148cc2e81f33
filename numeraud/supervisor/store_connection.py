"""The SQLite connection under the store: opening it, migrating it, one-transaction writes, errors.

The database runs in WAL mode with ``synchronous=FULL``, so a committed write survives a power
cut. Every SQLite failure surfaces as :class:`StoreError` with a stable ``code``; a write that
raised was rolled back, so nothing is acknowledged that was not committed. No socket I/O here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from numeraud.supervisor.store_schema import MIGRATIONS, SCHEMA_VERSION

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


class StoreError(Exception):
    """The database could not be read or written. ``code``: disk_full, io_error, corrupt, busy,
    read_only, cant_open, schema_too_new, constraint or error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def store_error(exc: sqlite3.Error) -> StoreError:
    """The :class:`StoreError` for an SQLite error (its primary result code, or ``constraint``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    name = _CODES.get(code & 0xFF, "error") if isinstance(code, int) else "error"
    if isinstance(exc, sqlite3.IntegrityError):
        name = "constraint"
    return StoreError(name, str(exc))


def utcnow() -> str:
    """Wall-clock time for records (ISO 8601, UTC). Timeouts never use it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class StoreConnection:
    """An open, migrated connection to the database. Not thread-safe: one owner (the supervisor loop).

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
            raise store_error(exc) from exc
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
            raise store_error(exc) from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise store_error(exc) from exc
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
            raise store_error(exc) from exc
