"""What the log admits: the one check every event passes, whoever writes it (pure: no I/O).

:func:`check_event` is applied alike to an operator's or the supervisor's append, to every event
of the follower's publish and to the events a handler emits with its ACK; :func:`emitted_problem`
adds what only a handler is refused (the kinds reserved for the supervisor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from numeraud.common import protocol
from numeraud.common.kinds import TOURNAMENT_KINDS

#: Largest payload accepted in the log (the EVENT that carries it must fit in a message).
MAX_PAYLOAD_BYTES: Final = protocol.MAX_MESSAGE_BYTES - 4096


def check_event(kind: str, round_: int | None, payload: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless the event may go in the log: a valid kind, an encodable
    payload, and an EVENT that fits in one bus message."""
    if not isinstance(kind, str) or not protocol.KIND_RE.match(kind):
        raise ValueError(f"invalid event kind {kind!r}")
    try:
        encoded = protocol.encode(protocol.Event(1, "x" * 36, kind, round_, 1, "x" * 32, payload))
    except protocol.ProtocolError as exc:
        raise ValueError(f"payload: {exc.message}") from None
    if sum(len(f) for f in encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")


def emitted_problem(emitted: Sequence[protocol.Emitted]) -> str | None:
    """Why the log refuses the events an ACK emitted (the ACK is then a NACK), or ``None``."""
    if any(e.kind in TOURNAMENT_KINDS for e in emitted):
        return "emitted a kind reserved for the supervisor"
    try:
        for e in emitted:
            check_event(e.kind, e.round, e.payload)
    except ValueError as exc:
        return f"emitted an event the log refuses: {exc}"
    return None
