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


#: One encoder for every frame: ``json.dumps`` with keyword arguments builds a new one per call.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_encode_str: Final = json.encoder.encode_basestring  # the same quoting as _ENCODER (ensure_ascii=False)
_VERB_BYTES: Final = {verb: verb.value.encode() for verb in Verb}
_VERBS_BY_BYTES: Final = {frame: verb for verb, frame in _VERB_BYTES.items()}
_EVENT_FRAME: Final = _VERB_BYTES[Verb.EVENT]
_ACK_FRAME: Final = _VERB_BYTES[Verb.ACK]
_EVENT_PREFIX_BYTES: Final = len(PROTOCOL) + len(_EVENT_FRAME)
_INT_LIMIT: Final = 2**63


def _dumps(obj: object) -> bytes:
    return _ENCODER.encode(obj).encode()


def encode(message: Message) -> list[bytes]:
    """Encode ``message`` into frames (without any routing identity).

    Raises :class:`ProtocolError` (``malformed``) when a payload is not JSON-serialisable and
    (``oversized``) when the result is larger than :data:`MAX_MESSAGE_BYTES`.
    """
    # Fast paths for the two verbs of every round trip; they produce the very bytes of the
    # general path below, which handles anything unusual (and is the reference in the tests).
    if isinstance(message, Event):
        return encode_event(message, None)
    if isinstance(message, Ack) and not message.emitted and type(message.seq) is int:
        return [PROTOCOL, _ACK_FRAME, f'{{"seq":{message.seq}}}'.encode()]
    return _encode(message)


def encode_event(message: Event, body: bytes | None) -> list[bytes]:
    """:func:`encode` for an EVENT, reusing ``body`` when given: the payload as a JSON object
    (:func:`encode_payload`, or the event log's own text), since an event goes to every handler,
    maybe more than once, with the same payload. ``message.payload`` is not read then. Raises
    :class:`ProtocolError` as :func:`encode` does."""
    seq, round_, attempt = message.seq, message.round, message.attempt
    event_id, kind, created = message.event_id, message.kind, message.created
    if not (
        type(seq) is int
        and type(attempt) is int
        and (round_ is None or type(round_) is int)
        and type(event_id) is str
        and type(kind) is str
        and type(created) is str
    ):
        if body is not None:  # the general path encodes the payload itself
            message = dataclasses.replace(message, payload=json.loads(body))
        return _encode(message)
    header = (
        f'{{"seq":{seq},"event_id":{_encode_str(event_id)},"kind":{_encode_str(kind)},'
        f'"round":{"null" if round_ is None else round_},"attempt":{attempt},"created":{_encode_str(created)}}}'
    )
    try:
        header_frame = header.encode()
    except UnicodeEncodeError:  # a lone surrogate: the general path says "malformed"
        return _encode(message)
    frames = [PROTOCOL, _EVENT_FRAME, header_frame, encode_payload(message.payload) if body is None else body]
    if _EVENT_PREFIX_BYTES + len(frames[2]) + len(frames[3]) > MAX_MESSAGE_BYTES:
        raise ProtocolError("oversized", f"{Verb.EVENT} message larger than {MAX_MESSAGE_BYTES} bytes")
    return frames


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """An EVENT's body frame for ``payload`` (``malformed`` ProtocolError if not JSON)."""
    return _encode_json(payload if type(payload) is dict else dict(payload))


def _encode(message: Message) -> list[bytes]:
    header: dict[str, Any]
    body: bytes | None = None
    match message:
        case Hello():
            header = {"name": message.name, "pid": message.pid, "last_seq": message.last_seq}
        case Welcome():
            header = {
                "name": message.name,
                "acked_seq": message.acked_seq,
                "heartbeat_ms": message.heartbeat_ms,
                "liveness": message.liveness,
                "api": message.api,
            }
        case Event():
            header = {
                "seq": message.seq,
                "event_id": message.event_id,
                "kind": message.kind,
                "round": message.round,
                "attempt": message.attempt,
                "created": message.created,
            }
            body = _encode_json(dict(message.payload))
        case Ack():
            header = {"seq": message.seq}
            if message.emitted:
                body = _encode_json(
                    [{"kind": e.kind, "round": e.round, "payload": dict(e.payload)} for e in message.emitted]
                )
        case Nack():
            header = {"seq": message.seq, "error": message.error[:MAX_ERROR_TEXT]}
        case Ping() | Pong():
            header = {}
        case Bye():
            header = {"reason": message.reason}
        case Error():
            header = {"code": message.code, "message": message.message[:MAX_ERROR_TEXT]}
    frames = [PROTOCOL, _VERB_BYTES[message.verb], _encode_json(header)]
    if body is not None:
        frames.append(body)
    if sum(len(f) for f in frames) > MAX_MESSAGE_BYTES:
        raise ProtocolError("oversized", f"{message.verb} message larger than {MAX_MESSAGE_BYTES} bytes")
    return frames


def _encode_json(obj: object) -> bytes:
    try:
        return _dumps(obj)
    except (TypeError, ValueError) as exc:
        raise ProtocolError("malformed", f"not JSON-serialisable: {exc}") from None


def decode(frames: Sequence[bytes]) -> Message:
    """Decode frames (routing identity already stripped) into a message.

    Raises only :class:`ProtocolError`.
    """
    try:
        return _decode_fast(frames) or _decode(frames)
    except ProtocolError:
        raise
    except Exception as exc:  # the contract: only ProtocolError, whatever the bytes
        raise ProtocolError("malformed", f"undecodable message: {type(exc).__name__}") from None


def _decode_fast(frames: Sequence[bytes]) -> Message | None:
    """EVENT and plain ACK when every check passes at once; ``None`` sends anything else (and
    every error, so that it gets its precise message) to :func:`_decode`, the reference."""
    try:
        return _decode_hot(frames)
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError, AttributeError):
        return None


def _decode_hot(frames: Sequence[bytes]) -> Message | None:
    if len(frames) < 3 or frames[0] != PROTOCOL:
        return None
    verb = frames[1]
    if verb == _ACK_FRAME:
        if len(frames) != 3 or len(frames[2]) > 64:
            return None
        body = frames[2]
        if body[:7] == b'{"seq":' and body[-1:] == b"}":  # exactly what encode() writes
            digits = body[7:-1]
            # ASCII digits, no leading zero (not JSON): the number json.loads would give
            if digits.isdigit() and digits[:1] != b"0" and len(digits) <= 19:
                number = int(digits)
                return Ack(seq=number) if number < _INT_LIMIT else None
        header = json.loads(body.decode("utf-8"))
        if type(header) is not dict:
            return None
        seq = header.get("seq")
        if type(seq) is int and 0 < seq < _INT_LIMIT:
            return Ack(seq=seq)
        return None
    if verb != _EVENT_FRAME or len(frames) != 4:
        return None
    if _EVENT_PREFIX_BYTES + len(frames[2]) + len(frames[3]) > MAX_MESSAGE_BYTES:
        return None
    header = json.loads(frames[2].decode("utf-8"))
    body = json.loads(frames[3].decode("utf-8")) if frames[3] else {}
    if type(header) is not dict or type(body) is not dict:
        return None
    get = header.get
    seq, event_id, kind, round_ = get("seq"), get("event_id"), get("kind"), get("round")
    attempt, created = get("attempt"), get("created")
    if (
        type(seq) is int
        and 0 < seq < _INT_LIMIT
        and type(event_id) is str
        and type(kind) is str
        and KIND_RE.match(kind)
        and (round_ is None or (type(round_) is int and 0 <= round_ < _INT_LIMIT))
        and type(attempt) is int
        and 0 < attempt < _INT_LIMIT
        and type(created) is str
    ):
        return Event(seq, event_id, kind, round_, attempt, created, body)
    return None


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
            if body is None:
                body = {}
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
