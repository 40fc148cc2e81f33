"""Garbage at a real supervisor's sockets: every control request gets an envelope (never an
``internal`` error), bus frames get ERROR or nothing, and neither moves the log or a cursor.

tests/bus/test_protocol.py fuzzes the codec as a function; these send the bytes through ZeroMQ
to the supervisor process, where its loop decodes and answers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numeraud.common import protocol
from tests.bus.conftest import Bus

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
commands = st.sampled_from(["status", "retry", "skip", "events", "poll-now", "version", "append", "nope", ""])
requests = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda i, c, a: json.dumps({"id": i, "command": c, "args": a}).encode(),
        json_values,
        commands.filter(lambda c: c != "append"),
        st.dictionaries(st.sampled_from(["handler", "limit", "kind", "round", "payload"]), json_values, max_size=4),
    ),
)
frames = st.one_of(
    st.lists(st.binary(max_size=64), min_size=1, max_size=5),
    st.builds(
        lambda verb, header: [protocol.PROTOCOL, verb.value.encode(), json.dumps(header).encode()],
        st.sampled_from(list(protocol.Verb)),
        st.dictionaries(st.sampled_from(["seq", "pid", "last_seq", "error", "code"]), json_values, max_size=4),
    ),
)


@pytest.fixture
def sockets(bus: Bus) -> Iterator[tuple[Bus, zmq.Socket[Any], zmq.Socket[Any]]]:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.append("round_begin", 1)
    ctx = zmq.Context()
    control, dealer = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
    for sock in (control, dealer):
        sock.setsockopt(zmq.LINGER, 0)
    control.connect(f"ipc://{bus.root}/run/control.sock")
    dealer.connect(f"ipc://{bus.root}/run/bus.sock")
    try:
        yield bus, control, dealer
    finally:
        control.close()
        dealer.close()
        ctx.term()


def _state(bus: Bus) -> tuple[int, dict[str, Any]]:
    status = bus.call("status")
    return status["head_seq"], {n: (h["acked_seq"], h["state"]) for n, h in status["handlers"].items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests, garbage=frames)
def test_garbage_requests_and_frames_get_answers_and_change_nothing(
    sockets: tuple[Bus, zmq.Socket[Any], zmq.Socket[Any]], request: bytes, garbage: list[bytes]
) -> None:
    bus, control, dealer = sockets
    before = _state(bus)
    dealer.send_multipart(garbage)
    control.send(request)
    assert control.poll(5000), f"no reply to {request[:100]!r}"
    reply = json.loads(control.recv())
    assert isinstance(reply, dict)
    assert isinstance(reply["ok"], bool)
    assert reply["ok"] or reply["error"]["code"] != "internal", reply
    while dealer.poll(0):
        answer = protocol.decode(dealer.recv_multipart())
        assert isinstance(answer, protocol.Error | protocol.Welcome), answer
    assert bus.supervisor is not None
    assert bus.supervisor.poll() is None
    assert _state(bus) == before
