"""Handler failures and bad input: poison events, hangs, fencing, garbage frames."""

from __future__ import annotations

import json
import os

import zmq

from numeraud.common import protocol
from tests.bus.conftest import Bus
from tests.helpers import wait_for


def test_a_poison_event_blocks_its_handler_only_until_retry_or_skip(bus: Bus) -> None:
    bus.add_handler("a", max_attempts=3, options={"fail_kinds": ["round_begin"]})
    bus.add_handler("b")
    bus.start_supervisor()
    bus.start_handler("a")
    bus.start_handler("b")
    s1 = bus.append("round_begin", 5)
    s2 = bus.append("new_tournament_data", 5)
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a to be blocked")
    status = bus.handler_status("a")
    assert (status["acked_seq"], status["attempts"]) == (0, 3)
    assert "RuntimeError: poisoned round_begin at attempt 3" in status["last_error"]
    bus.wait_acked("b", s2)
    assert [r["attempt"] for r in bus.event_records("a")] == [1, 2, 3]

    # While "a" stays blocked, the other handlers are told, once (the notifier turns it into an alert).
    def notices() -> list[tuple[str, int, str]]:
        found = [r["payload"] for r in bus.event_records("b") if r["kind"] == "handler_blocked"]
        return [(n["handler"], n["seq"], n["kind"]) for n in found]

    wait_for(notices, what="b to hear that a is blocked")
    assert notices() == [("a", s1, "round_begin")]

    retried = bus.ctl("retry", "a")
    assert retried.returncode == 0, retried.stderr
    wait_for(lambda: len(bus.event_records("a")) == 6, what="three more attempts after retry")
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a blocked again")
    assert [r["attempt"] for r in bus.event_records("a")][3:] == [1, 2, 3]

    skipped = bus.ctl("skip", "a")
    assert skipped.returncode == 0, skipped.stderr
    bus.wait_acked("a", s2)
    delivered = [r["seq"] for r in bus.event_records("a") if r["kind"] != "handler_blocked"]
    assert delivered[-1] == s2

    skip_logs = [line for line in bus.log_lines("supervisor.log") if line["event"] == "event skipped by operator"]
    assert [(line["handler"], line["seq"]) for line in skip_logs] == [("a", s1)]


def test_retry_of_a_handler_that_has_nothing_failed_is_refused_with_not_blocked(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    result = bus.ctl("retry", "a")
    assert result.returncode == 1
    assert "not_blocked" in result.stderr


def test_a_hung_callback_is_given_up_and_the_event_goes_to_a_fresh_process(bus: Bus) -> None:
    bus.add_handler("a", timeout=1.0, options={"block_kind": "round_begin"})
    bus.start_supervisor()
    hung = bus.start_handler("a")
    s1 = bus.append("round_begin", 6)
    assert hung.wait(timeout=20) == 11
    status = wait_for(lambda: bus.handler_status("a").get("attempts") == 1 and bus.handler_status("a"))
    assert "timeout" in status["last_error"]
    bus.release("a")
    fresh = bus.start_handler("a")
    bus.wait_acked("a", s1)
    assert [(r["pid"], r["attempt"]) for r in bus.event_records("a")] == [(hung.pid, 1), (fresh.pid, 2)]


def test_a_second_process_with_the_same_name_fences_the_first(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    old = bus.start_handler("a")
    new = bus.start_handler("a")
    assert old.wait(timeout=20) == 10
    s1 = bus.append("round_begin", 1)
    bus.wait_acked("a", s1)
    assert [r["pid"] for r in bus.event_records("a")] == [new.pid]
    assert new.poll() is None


def _raw_dealer(bus: Bus) -> tuple[zmq.Context[zmq.Socket[bytes]], zmq.Socket[bytes]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(f"ipc://{bus.root}/run/bus.sock")
    return ctx, sock


def test_garbage_frames_get_error_replies_and_the_supervisor_keeps_serving(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.start_handler("a")
    ctx, sock = _raw_dealer(bus)
    cases = [
        ([b"garbage"], "malformed"),
        ([b"NUMERAUD/9", b"PING", b"{}"], "bad_version"),
        ([protocol.PROTOCOL, b"DANCE", b"{}"], "unknown_verb"),
        ([protocol.PROTOCOL, b"PING", b"{not json"], "malformed"),
        ([protocol.PROTOCOL, b"PING", b"{}", b"x" * (protocol.MAX_MESSAGE_BYTES + 10)], "oversized"),
        (protocol.encode(protocol.Ack(seq=1)), "not_registered"),
        (protocol.encode(protocol.Hello(name="nobody", pid=1)), "unknown_handler"),
    ]
    try:
        for frames, code in cases:
            sock.send_multipart(frames)
            reply = protocol.decode(sock.recv_multipart())
            assert isinstance(reply, protocol.Error)
            assert reply.code == code
    finally:
        sock.close()
        ctx.term()
    s1 = bus.append("round_begin", 2)
    bus.wait_acked("a", s1)
    assert bus.supervisor is not None
    assert bus.supervisor.poll() is None
    bad = [line for line in bus.log_lines("supervisor.log") if line["event"] == "bad frame"]
    assert {line["code"] for line in bad} == {"malformed", "bad_version", "unknown_verb", "oversized"}


def test_a_handler_that_never_acks_is_given_up_by_the_supervisor(bus: Bus) -> None:
    # A raw peer says HELLO, takes the event and goes silent except for heartbeats.
    bus.add_handler("a", timeout=0.5, max_attempts=1)
    bus.start_supervisor()
    ctx, sock = _raw_dealer(bus)
    try:
        sock.send_multipart(protocol.encode(protocol.Hello(name="a", pid=os.getpid())))
        assert isinstance(protocol.decode(sock.recv_multipart()), protocol.Welcome)
        bus.append("round_begin", 3)
        event = protocol.decode(sock.recv_multipart())
        assert isinstance(event, protocol.Event)
        assert event.seq == 1

        def timed_out() -> bool:
            sock.send_multipart(protocol.encode(protocol.Ping()))
            reply = protocol.decode(sock.recv_multipart())
            return isinstance(reply, protocol.Error) and reply.code == "timeout"

        wait_for(timed_out, what="the supervisor to give up on the event")
    finally:
        sock.close()
        ctx.term()
    status = bus.handler_status("a")
    assert (status["state"], status["acked_seq"], status["attempts"]) == ("blocked", 0, 1)
    assert json.dumps(status)  # the status document stays JSON
