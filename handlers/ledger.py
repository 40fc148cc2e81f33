"""The uploader's ledger: (round, Numerai model) → submission, in SQLite, so nothing uploads twice.

An ``attempting`` row is written *before* an upload starts; ``uploaded`` (with the submission id)
after Numerai confirmed it. A row left ``attempting`` by a crash means "ask Numerai before trying
again": the uploader checks the API for a submission of that round first.
"""

from __future__ import annotations

import sqlite3
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
    PRIMARY KEY (round, model)
);
"""


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


class Ledger:
    """The ledger file (one per uploader, in its state directory)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def get(self, round_number: int, model: str) -> Entry | None:
        """The row for (round, model), if any."""
        row = self.db.execute(
            "SELECT round, model, status, submission_id, source, error, updated FROM uploads WHERE round=? AND model=?",
            (round_number, model),
        ).fetchone()
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
    ) -> None:
        """Insert or replace the row for (round, model), durably."""
        self.db.execute(
            "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
            (round_number, model, status, submission_id, source, error, datetime.now(UTC).isoformat()),
        )

    def entries(self, round_number: int | None = None) -> list[Entry]:
        """All rows (of one round), newest round first."""
        return _entries(self.db, round_number)

    def close(self) -> None:
        """Close the database."""
        self.db.close()


def _entries(db: sqlite3.Connection, round_number: int | None) -> list[Entry]:
    if round_number is None:
        rows = db.execute(
            "SELECT round, model, status, submission_id, source, error, updated FROM uploads ORDER BY round DESC, model"
        ).fetchall()
    else:
        rows = db.execute(
            "SELECT round, model, status, submission_id, source, error, updated FROM uploads WHERE round=?"
            " ORDER BY model",
            (round_number,),
        ).fetchall()
    return [Entry(*row) for row in rows]


def read_entries(path: Path, round_number: int | None = None) -> list[Entry]:
    """The rows of the ledger at ``path`` (of one round), opened read-only: ``numeraudctl`` reads it
    while the uploader writes. Raises ``sqlite3.Error`` when it cannot be read."""
    uri = "file:" + str(path.resolve()).replace("%", "%25").replace("?", "%3F").replace("#", "%23") + "?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=1.0)
    try:
        return _entries(db, round_number)
    finally:
        db.close()
