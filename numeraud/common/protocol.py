"""The bus wire protocol: pure encode/decode of numeraud's multipart frames.

Every message is ``[PROTOCOL, VERB, header, body?]``:

* ``PROTOCOL`` is ``b"NUMERAUD/1"`` (name and major version, as Majordomo's ``MDPW01``);
* ``VERB`` is one of :class:`Verb` in ASCII;
* ``header`` is a JSON object with the verb's fields;
* ``body`` is optional JSON, used by EVENT (the event payload) and ACK (the emitted events).

On the supervisor's ROUTER socket the routing identity comes first; strip it before calling
:func:`decode`. :func:`decode` never raises anything but :class:`ProtocolError`, whose ``code``
is one of :data:`ERROR_CODES`. No I/O happens here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

PROTOCOL: Final = b"NUMERAUD/1"
#: Version of the bus semantics and of the control API; the control client checks it first.
API_VERSION: Final = 1
#: Largest accepted message (all frames together). Events carry paths and times, not data.
MAX_MESSAGE_BYTES: Final = 1024 * 1024
#: Handler names and event kinds share one conservative alphabet (they appear in paths and logs).
NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KIND_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: Stable error codes carried by :class:`ProtocolError` and by ERROR frames.
ERROR_CODES: Final = frozenset(
    {
        "bad_version",  # first frame is not PROTOCOL
        "unknown_verb",  # second frame is not a known verb
        "malformed",  # wrong frame count, bad JSON, missing or mistyped field
        "oversized",  # message larger than MAX_MESSAGE_BYTES
        "unknown_handler",  # HELLO for a name the supervisor's config does not list
        "not_registered",  # frame from a peer that has not said HELLO (or was forgotten)
        "fenced",  # a newer process took over this handler name
        "unexpected",  # ACK/NACK for a seq that is not in flight
        "timeout",  # the supervisor gave up on the event in flight
        "shutting_down",  # supervisor is stopping
        "store_unavailable",  # the event log cannot be written (disk full, I/O error)
    }
)


class ProtocolError(Exception):
    """A frame could not be decoded. ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Verb(enum.StrEnum):
    """The message verbs."""

    HELLO = "HELLO"
    WELCOME = "WELCOME"
    EVENT = "EVENT"
    ACK = "ACK"
    NACK = "NACK"
    PING = "PING"
    PONG = "PONG"
    BYE = "BYE"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Hello:
    """Handler → supervisor: I am ``name`` (process ``pid``); the last seq I applied is ``last_seq``."""

    name: str
    pid: int
    last_seq: int = 0
    verb: Verb = field(default=Verb.HELLO, init=False, repr=False)


@dataclass(frozen=True)
class Welcome:
    """Supervisor → handler: session accepted; heartbeat every ``heartbeat_ms``, gone after ``liveness``."""

    name: str
    acked_seq: int
    heartbeat_ms: int
    liveness: int
    api: int
    verb: Verb = field(default=Verb.WELCOME, init=False, repr=False)


@dataclass(frozen=True)
class Event:
    """Supervisor → handler: one event of the log, delivery number ``attempt`` (1 = first)."""

    seq: int
    event_id: str
    kind: str
    round: int | None
    attempt: int
    created: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    verb: Verb = field(default=Verb.EVENT, init=False, repr=False)


@dataclass(frozen=True)
class Emitted:
    """An event a handler emits with its ACK (committed in the same transaction)."""

    kind: str
    round: int | None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ack:
    """Handler → supervisor: ``seq`` handled; commit the cursor and ``emitted`` together."""

    seq: int
    emitted: tuple[Emitted, ...] = ()
    verb: Verb = field(default=Verb.ACK, init=False, repr=False)


@dataclass(frozen=True)
class Nack:
    """Handler → supervisor: ``seq`` failed with ``error``; retry later."""

    seq: int
    error: str
    verb: Verb = field(default=Verb.NACK, init=False, repr=False)


@dataclass(frozen=True)
class Ping:
    """Heartbeat request (either direction)."""

    verb: Verb = field(default=Verb.PING, init=False, repr=False)


@dataclass(frozen=True)
class Pong:
    """Heartbeat reply."""

    verb: Verb = field(default=Verb.PONG, init=False, repr=False)


@dataclass(frozen=True)
class Bye:
    """Clean disconnect (either direction). A handler says it only holding no event: one the
    supervisor sent meanwhile was never started, and comes again without counting an attempt."""

    reason: str = ""
    verb: Verb = field(default=Verb.BYE, init=False, repr=False)


@dataclass(frozen=True)
class Error:
    """Something was refused; ``code`` is one of :data:`ERROR_CODES`."""

    code: str
    message: str
    verb: Verb = field(default=Verb.ERROR, init=False, repr=False)


Message = Hello | Welcome | Event | Ack | Nack | Ping | Pong | Bye | Error

#: Error messages are truncated to this many characters on the wire.
MAX_ERROR_TEXT: Final = 8192


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(message: Message) -> list[bytes]:
    """Encode ``message`` into frames (without any routing identity).

    Raises :class:`ProtocolError` (``malformed``) when a payload is not JSON-serialisable and
    (``oversized``) when the result is larger than :data:`MAX_MESSAGE_BYTES`.
    """
    body: object = None
    match message:
        case Event():
            header = {f: getattr(message, f) for f in ("seq", "event_id", "kind", "round", "attempt", "created")}
            body = dict(message.payload)
        case Ack():
            header = {"seq": message.seq}
            if message.emitted:
                body = [{"kind": e.kind, "round": e.round, "payload": dict(e.payload)} for e in message.emitted]
        case Nack():
            header = {"seq": message.seq, "error": message.error[:MAX_ERROR_TEXT]}
        case Error():
            header = {"code": message.code, "message": message.message[:MAX_ERROR_TEXT]}
        case _:  # HELLO, WELCOME, PING, PONG, BYE: the header is the fields
            header = {f.name: getattr(message, f.name) for f in dataclasses.fields(message) if f.init}
    frames = [PROTOCOL, message.verb.value.encode(), _encode_json(header)]
    if body is not None:
        frames.append(_encode_json(body))
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise ProtocolError("oversized", f"{message.verb} message larger than {MAX_MESSAGE_BYTES} bytes")
    return frames


def _encode_json(obj: object) -> bytes:
    try:
        return _ENCODER.encode(obj).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise ProtocolError("malformed", f"not JSON-serialisable: {exc}") from None


def decode(frames: Sequence[bytes]) -> Message:
    """Decode frames (routing identity already stripped) into a message.

    Raises only :class:`ProtocolError`.
    """
    try:
        return _decode(frames)
    except ProtocolError:
        raise
    except Exception as exc:  # the contract: only ProtocolError, whatever the bytes
        raise ProtocolError("malformed", f"undecodable message: {type(exc).__name__}") from None


def _decode(frames: Sequence[bytes]) -> Message:
    if len(frames) < 3 or len(frames) > 4:
        raise ProtocolError("malformed", f"expected 3 or 4 frames, got {len(frames)}")
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise ProtocolError("oversized", f"message larger than {MAX_MESSAGE_BYTES} bytes")
    if bytes(frames[0]) != PROTOCOL:
        raise ProtocolError("bad_version", f"expected protocol {PROTOCOL.decode()}")
    try:
        verb = Verb(bytes(frames[1]).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("unknown_verb", f"unknown verb {bytes(frames[1])[:32]!r}") from None
    header = _load_json(frames[2], "header")
    if not isinstance(header, dict):
        raise ProtocolError("malformed", "header must be a JSON object")
    body = _load_json(frames[3], "body") if len(frames) == 4 and frames[3] else None
    h = _Fields(header)
    match verb:
        case Verb.HELLO:
            name = h.string("name")
            if not NAME_RE.match(name):
                raise ProtocolError("malformed", "header.name is not a valid handler name")
            return Hello(name=name, pid=h.integer("pid", minimum=0), last_seq=h.integer("last_seq", minimum=0))
        case Verb.WELCOME:
            return Welcome(
                name=h.string("name"),
                acked_seq=h.integer("acked_seq", minimum=0),
                heartbeat_ms=h.integer("heartbeat_ms", minimum=1),
                liveness=h.integer("liveness", minimum=1),
                api=h.integer("api", minimum=0),
            )
        case Verb.EVENT:
            body = {} if body is None else body
            if not isinstance(body, dict):
                raise ProtocolError("malformed", "EVENT body must be a JSON object")
            return Event(
                seq=h.integer("seq", minimum=1),
                event_id=h.string("event_id"),
                kind=_kind(h.string("kind"), "header.kind"),
                round=h.optional_integer("round"),
                attempt=h.integer("attempt", minimum=1),
                created=h.string("created"),
                payload=body,
            )
        case Verb.ACK:
            return Ack(seq=h.integer("seq", minimum=1), emitted=_emitted(body))
        case Verb.NACK:
            return Nack(seq=h.integer("seq", minimum=1), error=h.string("error"))
        case Verb.PING:
            return Ping()
        case Verb.PONG:
            return Pong()
        case Verb.BYE:
            return Bye(reason=h.string("reason", default=""))
        case Verb.ERROR:
            return Error(code=h.string("code"), message=h.string("message", default=""))
    raise ProtocolError("unknown_verb", f"unhandled verb {verb}")  # pragma: no cover - enum is exhaustive


def _load_json(frame: bytes, what: str) -> Any:
    try:
        return json.loads(bytes(frame).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("malformed", f"{what} is not valid UTF-8 JSON") from None


def _kind(value: str, where: str) -> str:
    if not KIND_RE.match(value):
        raise ProtocolError("malformed", f"{where} is not a valid event kind")
    return value


def _emitted(body: Any) -> tuple[Emitted, ...]:
    if body is None:
        return ()
    if not isinstance(body, list):
        raise ProtocolError("malformed", "ACK body must be a JSON list")
    out = []
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            raise ProtocolError("malformed", f"ACK body[{i}] must be an object")
        f = _Fields(item, prefix=f"body[{i}]")
        payload = item.get("payload", {})
        if not isinstance(payload, dict):
            raise ProtocolError("malformed", f"body[{i}].payload must be an object")
        out.append(
            Emitted(
                kind=_kind(f.string("kind"), f"body[{i}].kind"),
                round=f.optional_integer("round"),
                payload=payload,
            )
        )
    return tuple(out)


class _Fields:
    """Typed access to a decoded JSON object; every failure is a ``malformed`` ProtocolError."""

    _MISSING: Final = object()

    def __init__(self, data: Mapping[str, Any], prefix: str = "header") -> None:
        self._data = data
        self._prefix = prefix

    def _get(self, key: str, default: object) -> Any:
        value = self._data.get(key, default)
        if value is self._MISSING:
            raise ProtocolError("malformed", f"{self._prefix}.{key} is missing")
        return value

    def string(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise ProtocolError("malformed", f"{self._prefix}.{key} must be a string")
        return value

    def integer(self, key: str, *, minimum: int) -> int:
        value = self._get(key, self._MISSING)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value >= 2**63:
            raise ProtocolError("malformed", f"{self._prefix}.{key} must be an integer >= {minimum}")
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self._get(key, None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ProtocolError("malformed", f"{self._prefix}.{key} must be a non-negative integer or null")
        return value
