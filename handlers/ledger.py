"""The uploader's ledger: (round, Numerai model) → submission, in SQLite, so nothing uploads twice.

An ``attempting`` row is written *before* an upload starts; ``uploaded`` (with the submission id)
after Numerai confirmed it. A row left ``attempting`` by a crash means "ask Numerai before trying
again": the uploader checks the API for a submission of that round first. One connection, used
under a lock: the uploader's upload threads share it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    round INTEGER NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('attempting', 'uploaded', 'failed', 'missed')),
    submission_id TEXT,
    source TEXT,
    error TEXT,
    updated TEXT NOT NULL,
    path TEXT,
    PRIMARY KEY (round, model)
);
"""
#: A row as :class:`Entry` reads it (``path``, the predictions file uploaded, came later: ``_migrate``).
SELECT = "SELECT round, model, status, submission_id, source, error, updated, path FROM uploads"


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    round: int
    model: str
    status: str
    submission_id: str | None
    source: str | None
    error: str | None
    updated: str
    #: The predictions file that was (or is being) uploaded.
    path: str | None = None


class Ledger:
    """The ledger file (one per uploader, in its state directory)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """A ledger written before ``path`` existed gets the column (empty for its old rows)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(uploads)")}
        if "path" not in columns:
            self.db.execute("ALTER TABLE uploads ADD COLUMN path TEXT")

    def get(self, round_number: int, model: str) -> Entry | None:
        """The row for (round, model), if any."""
        with self._lock:
            row = self.db.execute(SELECT + " WHERE round=? AND model=?", (round_number, model)).fetchone()
        return Entry(*row) if row else None

    def record(
        self,
        round_number: int,
        model: str,
        status: str,
        *,
        submission_id: str | None = None,
        source: str | None = None,
        error: str | None = None,
        path: str | None = None,
    ) -> None:
        """Insert or replace the row for (round, model), durably."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO uploads (round, model, status, submission_id, source, error, updated, path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (round_number, model, status, submission_id, source, error, datetime.now(UTC).isoformat(), path),
            )

    def last_uploaded(self, model: str, *, before: int) -> Entry | None:
        """The newest real (not fallback) upload of ``model`` in a round before ``before``."""
        with self._lock:
            row = self.db.execute(
                SELECT + " WHERE model=? AND round<? AND status='uploaded' "
                "AND (source IS NULL OR source NOT LIKE 'fallback:%') ORDER BY round DESC LIMIT 1",
                (model, before),
            ).fetchone()
        return Entry(*row) if row else None

    def entries(self, round_number: int | None = None) -> list[Entry]:
        """All rows (of one round), newest round first."""
        with self._lock:
            return _entries(self.db, round_number)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self.db.close()


def _entries(db: sqlite3.Connection, round_number: int | None, select: str = SELECT) -> list[Entry]:
    rows = db.execute(
        select + (" WHERE round=?" if round_number is not None else "") + " ORDER BY round DESC, model",
        (round_number,) if round_number is not None else (),
    ).fetchall()
    return [Entry(*row) for row in rows]


def read_entries(path: Path, round_number: int | None = None) -> list[Entry]:
    """The rows of the ledger at ``path`` (of one round), opened read-only: ``numeraudctl`` reads it
    while the uploader writes, and a ledger from before ``path`` (not migrated yet) too. Raises
    ``sqlite3.Error`` when it cannot be read."""
    uri = "file:" + str(path.resolve()).replace("%", "%25").replace("?", "%3F").replace("#", "%23") + "?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=1.0)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(uploads)")}
        select = SELECT if "path" in columns else SELECT.replace(", path FROM", " FROM")
        return _entries(db, round_number, select)
    finally:
        db.close()
