"""The handler runtime's worker thread: jobs queued by the main thread, results signalled back."""

from __future__ import annotations

import time
from pathlib import Path

import structlog
import zmq

from numeraud.runtime import Job, Worker
from numeraud.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler


class Seen(EventHandler):
    """Remembers the rounds it was called for."""

    def on_round_begin(self, round_number: int) -> None:
        self.persistent_state.setdefault("rounds", []).append(round_number)


def _worker(tmp_path: Path) -> Worker:
    handler = build_handler(Seen, HandlerContext(name="seen", state_dir=tmp_path))
    return Worker(handler, StateFile(tmp_path / "state.json"), structlog.get_logger("test"))


def _event(seq: int) -> HandlerEvent:
    return HandlerEvent(seq, f"id-{seq}", "round_begin", 40 + seq, 1, "t", {})


def _wait_for_result(worker: Worker, timeout: float = 10.0) -> None:
    poller = zmq.Poller()
    poller.register(worker.wake_socket, zmq.POLLIN)
    deadline = time.monotonic() + timeout
    while not worker.results:
        assert time.monotonic() < deadline, "no result from the worker"
        poller.poll(100)
        worker.drain_wakeups()


def test_a_queued_event_runs_once_the_worker_is_woken_and_its_result_wakes_the_main_thread(tmp_path: Path) -> None:
    worker = _worker(tmp_path)
    worker.start()
    try:
        worker.queue(Job("event", _event(1)))
        worker.queue(Job("event", _event(2)))
        worker.wake()
        _wait_for_result(worker)
        while len(worker.results) < 2:
            _wait_for_result(worker)
        results = [worker.results.popleft() for _ in range(2)]
        assert [(r.kind, r.ok, r.seq, r.emitted) for r in results] == [("event", True, 1, ()), ("event", True, 2, ())]
        assert worker.handler.persistent_state == {"rounds": [41, 42]}
        assert StateFile(tmp_path / "state.json").load() == {"rounds": [41, 42]}
    finally:
        worker.submit(None)
        worker.join(timeout=10)
        worker.close()
    assert not worker.is_alive()


def test_a_failing_callback_is_a_failed_result_with_its_error(tmp_path: Path) -> None:
    class Boom(EventHandler):
        def on_round_begin(self, round_number: int) -> None:
            raise ValueError(f"no round {round_number}")

    handler = build_handler(Boom, HandlerContext(name="boom", state_dir=tmp_path))
    worker = Worker(handler, StateFile(tmp_path / "state.json"), structlog.get_logger("test"))
    worker.start()
    try:
        worker.submit(Job("event", _event(3)))
        _wait_for_result(worker)
        result = worker.results.popleft()
        assert (result.kind, result.ok, result.seq) == ("event", False, 3)
        assert result.error == "ValueError: no round 43"
    finally:
        worker.submit(None)
        worker.join(timeout=10)
        worker.close()
