"""The wire protocol: every verb round-trips; any bad input is a ProtocolError and nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numeraud.common import protocol
from numeraud.common.protocol import PROTOCOL, ProtocolError, decode, encode

EVERY_VERB_MESSAGE: list[protocol.Message] = [
    protocol.Hello(name="model-a", pid=1234, last_seq=7),
    protocol.Welcome(name="model-a", acked_seq=7, heartbeat_ms=1000, liveness=5, api=1),
    protocol.Event(
        seq=8,
        event_id="0b4f",
        kind="round_begin",
        round=512,
        attempt=2,
        created="2026-01-01T00:00:00+00:00",
        payload={"round": 512, "paths": {"live": "/data/live_512.parquet"}},
    ),
    protocol.Event(seq=9, event_id="x", kind="cleanup", round=None, attempt=1, created="t", payload={}),
    protocol.Ack(seq=8),
    protocol.Ack(seq=8, emitted=(protocol.Emitted("predictions_ready", 512, {"path": "/p.csv"}),)),
    protocol.Nack(seq=8, error="ValueError: boom"),
    protocol.Ping(),
    protocol.Pong(),
    protocol.Bye(reason="shutdown"),
    protocol.Error(code="fenced", message="taken over"),
]


def test_every_verb_is_covered_by_the_round_trip_cases() -> None:
    assert {m.verb for m in EVERY_VERB_MESSAGE} == set(protocol.Verb)


@pytest.mark.parametrize("message", EVERY_VERB_MESSAGE, ids=lambda m: type(m).__name__)
def test_every_verb_round_trips(message: protocol.Message) -> None:
    frames = encode(message)
    assert frames[0] == PROTOCOL
    assert frames[1] == message.verb.value.encode()
    assert decode(frames) == message


def _error_code(frames: list[bytes]) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(frames)
    return info.value.code


def test_wrong_protocol_version_is_bad_version() -> None:
    frames = encode(protocol.Ping())
    assert _error_code([b"NUMERAUD/2", *frames[1:]]) == "bad_version"


def test_unknown_verb_is_unknown_verb() -> None:
    assert _error_code([PROTOCOL, b"DANCE", b"{}"]) == "unknown_verb"
    assert _error_code([PROTOCOL, b"\xff\xfe", b"{}"]) == "unknown_verb"


def test_oversized_message_is_oversized() -> None:
    big = b"x" * (protocol.MAX_MESSAGE_BYTES + 1)
    assert _error_code([PROTOCOL, b"PING", b"{}", big]) == "oversized"


def test_encoding_an_oversized_event_raises_oversized() -> None:
    payload = {"blob": "x" * protocol.MAX_MESSAGE_BYTES}
    with pytest.raises(ProtocolError) as info:
        encode(protocol.Event(1, "id", "big", 1, 1, "t", payload))
    assert info.value.code == "oversized"


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [PROTOCOL],
        [PROTOCOL, b"PING"],
        [PROTOCOL, b"PING", b"{}", b"", b"extra"],
        [PROTOCOL, b"PING", b"not json"],
        [PROTOCOL, b"PING", b"[]"],
        [PROTOCOL, b"HELLO", b'{"name": "a"}'],
        [PROTOCOL, b"HELLO", b'{"name": "../etc", "pid": 1, "last_seq": 0}'],
        [PROTOCOL, b"HELLO", b'{"name": "a", "pid": true, "last_seq": 0}'],
        [PROTOCOL, b"HELLO", b'{"name": "a", "pid": -1, "last_seq": 0}'],
        [PROTOCOL, b"ACK", b'{"seq": 0}'],
        [PROTOCOL, b"ACK", b'{"seq": "1"}'],
        [PROTOCOL, b"ACK", b'{"seq": 1}', b'{"not": "a list"}'],
        [PROTOCOL, b"ACK", b'{"seq": 1}', b'[{"kind": "Bad Kind"}]'],
        [PROTOCOL, b"ACK", b'{"seq": 1}', b'[{"kind": "ok", "payload": []}]'],
        [PROTOCOL, b"EVENT", b'{"seq": 1}'],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":1,"attempt":1,"created":"t"}', b"[1]"],
        [PROTOCOL, b"NACK", b'{"seq": 1, "error": 5}'],
        [PROTOCOL, b"PING", b"\xff\xfe"],
        [PROTOCOL, b"PING", b"[" * 100_000],
        [PROTOCOL, b"ACK", b'{"seq": 1' + b"0" * 5000 + b"}"],
        [PROTOCOL, b"ACK", b'{"seq": 1e400}'],
    ],
)
def test_malformed_messages_are_malformed(frames: list[bytes]) -> None:
    assert _error_code(frames) == "malformed"


def test_encoding_a_non_json_payload_raises_malformed() -> None:
    with pytest.raises(ProtocolError) as info:
        encode(protocol.Event(1, "id", "k", 1, 1, "t", {"x": object()}))
    assert info.value.code == "malformed"


def _outcome(frames: list[bytes]) -> str:
    """The verb decoded, or the ProtocolError code; any other exception fails the test."""
    try:
        return decode(frames).verb.value
    except ProtocolError as exc:
        return exc.code


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_random_bytes_only_ever_raise_protocol_error(frames: list[bytes]) -> None:
    assert _outcome(frames) in {*protocol.ERROR_CODES, *protocol.Verb}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(protocol.Verb)), st.dictionaries(st.text(max_size=10), json_values, max_size=6), json_values
)
def test_random_json_headers_only_ever_raise_protocol_error(
    verb: protocol.Verb, header: dict[str, object], body: object
) -> None:
    frames = [PROTOCOL, verb.value.encode(), json.dumps(header).encode(), json.dumps(body).encode()]
    outcome = _outcome(frames)
    assert outcome in protocol.ERROR_CODES or outcome == verb.value


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=2**62),
    st.integers(min_value=1, max_value=1000),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_events_with_any_json_payload_round_trip(seq: int, attempt: int, payload: dict[str, object]) -> None:
    message = protocol.Event(seq, "id", "new_tournament_data", 3, attempt, "t", payload)
    assert decode(encode(message)) == message


# ---- the fast paths for EVENT and ACK agree with the general code ----


def _reference_outcome(frames: list[bytes]) -> object:
    """What the general decoder (the reference for the fast path) makes of ``frames``."""
    try:
        return protocol._decode(frames)
    except ProtocolError as exc:
        return (exc.code, exc.message)
    except Exception as exc:  # decode() turns these into "malformed"
        return ("malformed", type(exc).__name__)


def _fast_outcome(frames: list[bytes]) -> object:
    try:
        return decode(frames)
    except ProtocolError as exc:
        return (exc.code, exc.message if not exc.message.startswith("undecodable") else exc.message.split(": ")[-1])


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-1, max_value=2**64) | st.booleans() | st.none() | st.text(max_size=3),
    st.sampled_from(["ok", "predictions_ready", "Bad", "", "a\n", 5]),
    st.integers(min_value=-2, max_value=2**64) | st.none() | st.booleans() | st.floats(allow_nan=False),
    st.integers(min_value=-1, max_value=2**64) | st.booleans(),
    st.sampled_from(["t", 1, None]),
    json_values,
)
def test_decoding_an_event_gives_what_the_general_decoder_gives(
    seq: object, kind: object, round_: object, attempt: object, created: object, body: object
) -> None:
    header = {"seq": seq, "event_id": "e", "kind": kind, "round": round_, "attempt": attempt, "created": created}
    frames = [PROTOCOL, b"EVENT", json.dumps(header).encode(), json.dumps(body).encode()]
    assert _fast_outcome(frames) == _reference_outcome(frames)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["seq", "x"]), json_values, max_size=2), st.booleans())
def test_decoding_an_ack_gives_what_the_general_decoder_gives(header: dict[str, object], with_body: bool) -> None:
    frames = [PROTOCOL, b"ACK", json.dumps(header).encode(), *([b""] if with_body else [])]
    assert _fast_outcome(frames) == _reference_outcome(frames)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-+.e ٣", max_size=22) | st.integers(min_value=-1, max_value=2**64).map(str))
def test_decoding_a_compact_ack_gives_what_the_general_decoder_gives(number: str) -> None:
    # {"seq":N} exactly as encode() writes it takes a path of its own, without json.loads
    frames = [PROTOCOL, b"ACK", b'{"seq":' + number.encode() + b"}"]
    assert _fast_outcome(frames) == _reference_outcome(frames)


@pytest.mark.parametrize("number", ["0", "007", "1", "9223372036854775807", "9223372036854775808", "-1", "1e3"])
def test_compact_acks_at_the_edges_decode_as_the_general_decoder_does(number: str) -> None:
    frames = [PROTOCOL, b"ACK", b'{"seq":' + number.encode() + b"}"]
    assert _fast_outcome(frames) == _reference_outcome(frames)


@pytest.mark.parametrize(
    "frames",
    [
        [PROTOCOL, b"EVENT", b'{"seq":true,"event_id":"e","kind":"k","round":1,"attempt":1,"created":"t"}', b"{}"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":-1,"attempt":1,"created":"t"}', b"{}"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"K K","round":1,"attempt":1,"created":"t"}', b"{}"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":1,"attempt":0,"created":"t"}', b"{}"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":1.5,"attempt":1,"created":"t"}', b"{}"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":1,"attempt":1,"created":"t"}', b"\xff"],
        [PROTOCOL, b"EVENT", b'{"seq":1,"event_id":"e","kind":"k","round":1,"attempt":1,"created":"t"}', b"NaN"],
        [PROTOCOL, b"ACK", b'{"seq": false}'],
        [PROTOCOL, b"ACK", b'{"seq": 9223372036854775808}'],
        [PROTOCOL, b"ACK", b"\xff\xfe"],
    ],
)
def test_near_misses_of_the_fast_path_are_still_malformed(frames: list[bytes]) -> None:
    assert _error_code(frames) == "malformed"


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=2**63 - 1),
    st.text(max_size=40),
    st.integers(min_value=0, max_value=2**63 - 1) | st.none(),
    st.integers(min_value=1, max_value=2**63 - 1),
    st.text(max_size=40),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_the_fast_event_encoding_is_byte_for_byte_the_general_one(
    seq: int, event_id: str, round_: int | None, attempt: int, created: str, payload: dict[str, object]
) -> None:
    message = protocol.Event(seq, event_id, "new_tournament_data", round_, attempt, created, payload)
    frames = encode(message)
    assert frames == protocol._encode(message)
    assert protocol.encode_event(message, protocol.encode_payload(payload)) == frames


@pytest.mark.parametrize("seq", [1, 8, 2**63 - 1])
def test_the_fast_ack_encoding_is_byte_for_byte_the_general_one(seq: int) -> None:
    assert encode(protocol.Ack(seq)) == protocol._encode(protocol.Ack(seq))


def test_an_event_with_a_reused_body_still_checks_the_size() -> None:
    message = protocol.Event(1, "id", "big", 1, 1, "t", {})
    with pytest.raises(ProtocolError) as info:
        protocol.encode_event(message, b"x" * protocol.MAX_MESSAGE_BYTES)
    assert info.value.code == "oversized"


def test_an_event_of_exactly_the_largest_size_is_encoded_and_decoded() -> None:
    message = protocol.Event(1, "id", "big", 1, 1, "t", {"blob": ""})
    room = protocol.MAX_MESSAGE_BYTES - sum(len(f) for f in encode(message))
    message = protocol.Event(1, "id", "big", 1, 1, "t", {"blob": "x" * room})
    frames = encode(message)
    assert sum(len(f) for f in frames) == protocol.MAX_MESSAGE_BYTES
    assert frames == protocol._encode(message)
    assert decode(frames) == message


def test_an_event_field_that_is_not_utf8_encodable_is_malformed() -> None:
    with pytest.raises(ProtocolError) as info:
        encode(protocol.Event(1, "\ud800", "k", 1, 1, "t", {}))
    assert info.value.code == "malformed"
