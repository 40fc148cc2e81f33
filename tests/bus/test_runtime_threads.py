"""The handler runtime's two threads: the main thread owns the socket (heartbeats, the
supervisor's frames, signals, the timeout) while the worker thread runs a callback."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.bus.conftest import Bus
from tests.helpers import wait_for


def _in_a_long_callback(bus: Bus) -> tuple[subprocess.Popen[bytes], int]:
    """A handler process whose round_begin callback runs until ``bus.release("a")``."""
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.start_supervisor()
    proc = bus.start_handler("a")
    seq = bus.append("round_begin", 1)
    wait_for(lambda: bus.event_records("a"), what="the callback to start")
    return proc, seq


def _started_at(bus: Bus, callback: str) -> float:
    """When the handler's ``callback`` began (its record's monotonic time: the same clock here)."""
    (record,) = [r for r in bus.records("a") if r["callback"] == callback]
    started: float = record["t"]
    return started


def _log_event(bus: Bus, log: str, event: str) -> bool:
    return any(line.get("event") == event for line in bus.log_lines(log))


def test_a_callback_longer_than_the_heartbeat_silence_keeps_its_connection(bus: Bus) -> None:
    # heartbeat 0.2 s x liveness 5: a process silent for 1 s is gone. The callback runs 2.5 s.
    proc, seq = _in_a_long_callback(bus)
    started = _started_at(bus, "on_round_begin")

    def connected_for_2_5_s() -> bool:
        status = bus.handler_status("a")
        assert (status["connected"], status["pid"], status["attempts"]) == (True, proc.pid, 0), status
        return time.monotonic() - started > 2.5

    wait_for(connected_for_2_5_s, what="the callback to have run 2.5 s")
    bus.release("a")
    bus.wait_acked("a", seq)
    assert [(r["pid"], r["attempt"]) for r in bus.event_records("a")] == [(proc.pid, 1)]
    assert proc.poll() is None


def test_a_process_fenced_while_its_callback_runs_exits_at_once(bus: Bus) -> None:
    old, _seq = _in_a_long_callback(bus)
    bus.start_handler("a", wait=False)
    assert old.wait(timeout=10) == 10  # although its callback never returns


def test_sigterm_during_a_callback_lets_it_finish_and_ack_then_exits_cleanly(bus: Bus) -> None:
    proc, seq = _in_a_long_callback(bus)
    proc.send_signal(signal.SIGTERM)
    wait_for(
        lambda: _log_event(bus, "handler-a.log", "stop requested; the running callback finishes first"),
        what="the handler to take the SIGTERM",
    )
    assert proc.poll() is None  # still in the callback
    bus.release("a")
    assert proc.wait(timeout=20) == 0
    bus.wait_acked("a", seq)
    assert [r["callback"] for r in bus.records("a")] == ["on_start", "on_round_begin", "on_shutdown"]


def test_a_handler_connects_only_once_on_start_is_done_and_its_events_wait_for_it(bus: Bus) -> None:
    # on_start runs longer than the callback timeout: an event must not be timed out meanwhile
    bus.add_handler("a", timeout=1.0, options={"block_start": True})
    bus.start_supervisor()
    proc = bus.start_handler("a", wait=False)
    wait_for(lambda: bus.records("a"), what="on_start to begin")
    seq = bus.append("round_begin", 7)
    started = _started_at(bus, "on_start")

    def waiting_past_the_timeout() -> bool:
        assert proc.poll() is None
        assert bus.handler_status("a")["connected"] is False
        assert [r["callback"] for r in bus.records("a")] == ["on_start"]
        return time.monotonic() - started > 1.5  # past timeout = 1 s, and the event waits

    wait_for(waiting_past_the_timeout, what="on_start to run past the callback timeout")
    bus.release("a")
    bus.wait_acked("a", seq)
    assert [r["callback"] for r in bus.records("a")] == ["on_start", "on_start_done", "on_round_begin"]
    assert [(r["pid"], r["attempt"]) for r in bus.event_records("a")] == [(proc.pid, 1)]


def test_recycle_hands_the_next_event_to_a_fresh_process_without_counting_an_attempt(bus: Bus) -> None:
    # The supervisor may send event 2 while the first process runs on_shutdown; its BYE says it
    # never started it.
    bus.add_handler("a", recycle=True)
    bus.start_supervisor()
    first = bus.start_handler("a")
    bus.append("round_begin", 1)
    s2 = bus.append("round_begin", 2)
    assert first.wait(timeout=20) == 0
    second = bus.start_handler("a", wait=False)  # it may be done before a status call sees it
    assert second.wait(timeout=20) == 0
    bus.wait_acked("a", s2)
    assert [(r["pid"], r["attempt"]) for r in bus.event_records("a")] == [(first.pid, 1), (second.pid, 1)]
    assert bus.handler_status("a")["attempts"] == 0


def test_a_result_sent_after_a_supervisor_restart_still_recycles_the_process(bus: Bus) -> None:
    bus.add_handler("a", recycle=True, options={"block_kind": "round_begin"})
    supervisor = bus.start_supervisor()
    proc = bus.start_handler("a")
    seq = bus.append("round_begin", 1)
    wait_for(lambda: bus.event_records("a"), what="the callback to start")
    bus.kill9(supervisor)
    wait_for(
        lambda: _log_event(bus, "handler-a.log", "supervisor connection lost; reconnecting"),
        what="the handler to drop its connection after the heartbeat silence",
    )
    bus.release("a")  # the callback ends while disconnected; its ACK waits for the redelivery
    bus.start_supervisor()
    bus.wait_acked("a", seq)
    assert proc.wait(timeout=20) == 0


def test_a_callback_that_raises_system_exit_is_nacked_and_the_process_exits_1(bus: Bus) -> None:
    bus.add_handler("a", options={"exit_kind": "round_begin"})
    bus.start_supervisor()
    proc = bus.start_handler("a")
    bus.append("round_begin", 1)
    assert proc.wait(timeout=20) == 1
    status = wait_for(lambda: bus.handler_status("a").get("attempts") == 1 and bus.handler_status("a"))
    assert "SystemExit in the callback" in status["last_error"]
    assert status["acked_seq"] == 0
