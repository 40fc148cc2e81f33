"""The records the supervisor's store reads and writes, as frozen dataclasses.

:class:`StoredEvent`, :class:`Cursor` and :class:`DatasetFile` are what the store reads back;
:class:`NewEvent` and :class:`Ack` are what a handler's ACK asks it to commit.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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
    #: The operator paused the handler (``numeraudctl pause``).
    paused: bool = False


def cursor_from_row(row: Sequence[Any]) -> Cursor:
    """A :class:`Cursor` from a ``cursors`` row selected in the dataclass's field order."""
    handler, acked_seq, state, attempts, last_error, updated, paused = row
    return Cursor(handler, acked_seq, state, attempts, last_error, updated, bool(paused))


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


def event_from_row(row: Sequence[Any]) -> StoredEvent:
    """A :class:`StoredEvent` from an ``events`` row selected in the dataclass's field order."""
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


def file_row(file: DatasetFile) -> tuple[str, str, int, str, str | None, str]:
    """The ``dataset_files`` row of ``file``."""
    return (file.version, file.name, file.size, file.sha256, file.etag, file.synced_at)
