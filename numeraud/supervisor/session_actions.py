"""What a :class:`~numeraud.supervisor.session.Session` reports: its states and the actions it returns.

The supervisor performs the :data:`Action` list of each input in order (pure data, no I/O).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from numeraud.common import protocol


class State(enum.StrEnum):
    """Delivery state of one handler."""

    DISCONNECTED = "disconnected"
    READY = "ready"
    BUSY = "busy"
    BACKOFF = "backoff"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Send:
    """Send ``message`` to ``peer``."""

    peer: bytes
    message: protocol.Message


@dataclass(frozen=True)
class Deliver:
    """Load event ``seq`` from the log and send it to ``peer`` as delivery number ``attempt``."""

    peer: bytes
    seq: int
    attempt: int


@dataclass(frozen=True)
class CommitAck:
    """Commit the cursor at ``seq`` and the ``emitted`` events in one transaction, then call
    :meth:`Session.ack_committed` (or :meth:`Session.commit_failed` if the commit failed)."""

    seq: int
    emitted: tuple[protocol.Emitted, ...]


@dataclass(frozen=True)
class SaveCursor:
    """Persist the cursor's bookkeeping (acked seq, state, attempts, last error, paused)."""

    acked_seq: int
    state: State
    attempts: int
    last_error: str | None
    paused: bool = False


@dataclass(frozen=True)
class Attach:
    """``peer`` now speaks for this handler (map it to the handler's name)."""

    peer: bytes


@dataclass(frozen=True)
class Detach:
    """``peer`` no longer speaks for this handler; ``fenced`` peers are ignored from now on."""

    peer: bytes
    fenced: bool


@dataclass(frozen=True)
class Transition:
    """The state changed; log it."""

    old: State
    new: State
    reason: str


@dataclass(frozen=True)
class Reject:
    """An input was refused without changing state; log it (a reply may accompany it)."""

    reason: str


#: Every action an input of a session may return.
Action = Send | Deliver | CommitAck | SaveCursor | Attach | Detach | Transition | Reject
