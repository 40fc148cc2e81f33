"""The handler runtime's two threads: the worker serves the socket between callbacks, the main
thread keeps it (heartbeats, the supervisor's frames, signals) while a callback runs."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.bus.conftest import Bus, wait_for


def _in_a_long_callback(bus: Bus) -> tuple[subprocess.Popen[bytes], int]:
    """A handler process whose round_begin callback runs until ``bus.release("a")``."""
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.start_supervisor()
    proc = bus.start_handler("a")
    seq = bus.append("round_begin", 1)
    wait_for(lambda: bus.event_records("a"), what="the callback to start")
    return proc, seq


def test_a_callback_longer_than_the_heartbeat_silence_keeps_its_connection(bus: Bus) -> None:
    # heartbeat 0.2 s x liveness 5: a process silent for 1 s is gone. The callback runs 2.5 s.
    proc, seq = _in_a_long_callback(bus)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        status = bus.handler_status("a")
        assert (status["connected"], status["pid"], status["attempts"]) == (True, proc.pid, 0), status
        time.sleep(0.1)
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
    time.sleep(0.5)
    assert proc.poll() is None  # still in the callback
    bus.release("a")
    assert proc.wait(timeout=20) == 0
    bus.wait_acked("a", seq)
    assert [r["callback"] for r in bus.records("a")] == ["on_start", "on_round_begin", "on_shutdown"]


def test_an_event_that_arrives_during_a_slow_on_start_is_handled_once_it_is_done(bus: Bus) -> None:
    bus.add_handler("a", options={"block_start": True})
    bus.start_supervisor()
    proc = bus.start_handler("a")  # connected while on_start still runs
    seq = bus.append("round_begin", 7)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == seq, what="the event to be in flight")
    time.sleep(1.5)  # longer than the heartbeat silence: the main thread keeps the connection
    status = bus.handler_status("a")
    assert (status["pid"], status["attempts"]) == (proc.pid, 0), status
    assert [r["callback"] for r in bus.records("a")] == ["on_start"]
    bus.release("a")
    bus.wait_acked("a", seq)
    assert [r["callback"] for r in bus.records("a")] == ["on_start", "on_start_done", "on_round_begin"]
