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


# ---- edges ----


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("1", "ACK"),
        ("9223372036854775807", "ACK"),
        *[(n, "malformed") for n in ("0", "007", "9223372036854775808", "-1", "1e3", "true")],
    ],
)
def test_an_ack_seq_is_a_json_integer_from_1_below_2_to_the_63(number: str, outcome: str) -> None:
    assert _outcome([PROTOCOL, b"ACK", b'{"seq":' + number.encode() + b"}"]) == outcome


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
def test_events_and_acks_with_a_field_out_of_range_are_malformed(frames: list[bytes]) -> None:
    assert _error_code(frames) == "malformed"


def test_an_event_of_exactly_the_largest_size_is_encoded_and_decoded() -> None:
    message = protocol.Event(1, "id", "big", 1, 1, "t", {"blob": ""})
    room = protocol.MAX_MESSAGE_BYTES - sum(len(f) for f in encode(message))
    message = protocol.Event(1, "id", "big", 1, 1, "t", {"blob": "x" * room})
    frames = encode(message)
    assert sum(len(f) for f in frames) == protocol.MAX_MESSAGE_BYTES
    assert decode(frames) == message


def test_an_event_field_that_is_not_utf8_encodable_is_malformed() -> None:
    with pytest.raises(ProtocolError) as info:
        encode(protocol.Event(1, "\ud800", "k", 1, 1, "t", {}))
    assert info.value.code == "malformed"
