"""The SQLite schema of the supervisor's database and its migrations.

Tables (schema version in ``PRAGMA user_version``, upgraded by :data:`MIGRATIONS`):

``events``         the log. ``seq`` is contiguous from 1 (rows are never deleted). ``dedupe_key`` is
                   unique, so appending the same event twice yields one row:
                   tournament and operator events use ``"{kind}/{round}"`` (one ``round_begin`` per
                   round, re-polling is idempotent); emitted events use
                   ``"{kind}/{round}/{handler}/{parent_seq}/{index}"`` (an emit belongs to the ACK
                   of one event by one handler, so a later round or another handler may emit
                   the same kind again).
``cursors``        per handler: last acked seq, delivery state, failed attempts, last error, and
                   whether the operator paused it (``paused``, schema 2; not in ``state``, which
                   an ACK sets to ``ready``).
``tournament``     key/value state (``last_round_processed``, ``last_round_trained``).
``dataset_files``  verified dataset files (version, name, size, sha256, etag, synced_at).
"""

from __future__ import annotations

from typing import Final

#: Migration ``n`` (0-based) takes the database from schema ``n`` to ``n + 1``; statements are
#: separated by ``;``.
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
    # 2: an operator's pause of a handler survives a restart
    """
    ALTER TABLE cursors ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    """,
)
#: The schema this numeraud reads and writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)
