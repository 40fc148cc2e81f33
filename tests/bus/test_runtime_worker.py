"""The handler runtime's callback runner: results, persistent state, errors scrubbed of secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from numeraud.handler.runtime import Callbacks, Job
from numeraud.handler.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler


class Seen(EventHandler):
    """Remembers the rounds it was called for, and emits one event per round."""

    def on_round_begin(self, round_number: int) -> None:
        self.persistent_state.setdefault("rounds", []).append(round_number)
        self.emit("seen", round=round_number)


def _callbacks(cls: type[EventHandler], tmp_path: Path) -> Callbacks:
    handler = build_handler(cls, HandlerContext(name="seen", state_dir=tmp_path))
    return Callbacks(handler, StateFile(tmp_path / "state.json"), structlog.get_logger("test"))


def _event(seq: int) -> HandlerEvent:
    return HandlerEvent(seq, f"id-{seq}", "round_begin", 40 + seq, 1, "t", {})


def test_events_run_their_callback_save_the_state_and_return_what_was_emitted(tmp_path: Path) -> None:
    callbacks = _callbacks(Seen, tmp_path)
    results = [callbacks.run(Job("event", _event(seq)), 0.0) for seq in (1, 2)]
    assert [(r.kind, r.ok, r.seq, [e.kind for e in r.emitted]) for r in results] == [
        ("event", True, 1, ["seen"]),
        ("event", True, 2, ["seen"]),
    ]
    assert callbacks.handler.persistent_state == {"rounds": [41, 42]}
    assert StateFile(tmp_path / "state.json").load() == {"rounds": [41, 42]}
    assert callbacks.handler.event is None  # only set while the callback runs


def test_a_failing_callback_is_a_failed_result_with_its_error_and_no_state_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "s3cr3t-value-123")

    class Boom(EventHandler):
        def on_round_begin(self, round_number: int) -> None:
            self.persistent_state["touched"] = True
            raise ValueError(f"no round {round_number} with s3cr3t-value-123")

    callbacks = _callbacks(Boom, tmp_path)
    result = callbacks.run(Job("event", _event(3)), 0.0)
    assert (result.kind, result.ok, result.seq) == ("event", False, 3)
    assert result.error == "ValueError: no round 43 with [redacted]"
    assert not (tmp_path / "state.json").exists()


def test_a_failed_callback_s_changes_to_persistent_state_are_rolled_back_and_never_saved(tmp_path: Path) -> None:
    class HalfDone(EventHandler):
        def on_round_begin(self, round_number: int) -> None:
            self.persistent_state.setdefault("rounds", []).append(round_number)
            if round_number == 41:
                self.persistent_state["half_done"] = True
                raise RuntimeError("failed half way")

    callbacks = _callbacks(HalfDone, tmp_path)
    state = callbacks.handler.persistent_state
    state["kept"] = {"from": "before"}
    assert not callbacks.run(Job("event", _event(1)), 0.0).ok
    assert callbacks.handler.persistent_state == {"kept": {"from": "before"}}
    assert callbacks.handler.persistent_state is state  # rolled back in place: references stay valid
    assert callbacks.run(Job("event", _event(2)), 0.0).ok
    assert StateFile(tmp_path / "state.json").load() == {"kept": {"from": "before"}, "rounds": [42]}


def test_a_callback_that_replaces_persistent_state_and_fails_gets_the_old_state_back(tmp_path: Path) -> None:
    class Replacer(EventHandler):
        def on_round_begin(self, round_number: int) -> None:
            self.persistent_state = {"replaced": round_number}
            raise RuntimeError("failed after replacing the state")

    callbacks = _callbacks(Replacer, tmp_path)
    callbacks.handler.persistent_state["kept"] = 1
    assert not callbacks.run(Job("event", _event(1)), 0.0).ok
    assert callbacks.handler.persistent_state == {"kept": 1}


def test_start_and_shutdown_jobs_call_on_start_and_on_shutdown(tmp_path: Path) -> None:
    calls: list[str] = []

    class Lifecycle(EventHandler):
        def on_start(self) -> None:
            calls.append("start")

        def on_shutdown(self) -> None:
            calls.append("shutdown")

    callbacks = _callbacks(Lifecycle, tmp_path)
    assert callbacks.run(Job("start"), 0.0).ok
    assert callbacks.run(Job("shutdown"), 0.0).ok
    assert calls == ["start", "shutdown"]
