"""numeraud.testing: one event through a handler, with the runtime's own dispatch and rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from numeraud import EventHandler
from numeraud.handler.sdk import HandlerEvent
from numeraud.testing import HandlerFailed, make_handler, run_event


class Counter(EventHandler):
    """Counts rounds, emits one event per round, fails on round 13."""

    def on_start(self) -> None:
        self.started = True

    def on_round_begin(self, round_number: int) -> None:
        self.persistent_state["rounds"] = [*self.persistent_state.get("rounds", []), round_number]
        self.emit("counted", round=round_number, seen=len(self.persistent_state["rounds"]))
        if round_number == 13:
            raise ValueError("unlucky round")

    def on_custom(self, event: HandlerEvent) -> None:
        self.persistent_state["custom"] = dict(event.payload)
        self.persistent_state["option"] = self.options.get("greeting")


class BrokenStart(EventHandler):
    """Fails in on_start."""

    def on_start(self) -> None:
        raise RuntimeError("no start")


def test_a_class_is_built_started_and_its_callback_run(tmp_path: Path) -> None:
    result = run_event(Counter, "round_begin", round=7, state_dir=tmp_path)
    assert result.ok
    assert isinstance(result.handler, Counter)
    assert result.handler.started
    assert [(e.kind, e.round, e.payload["seen"]) for e in result.emitted] == [("counted", 7, 1)]
    assert result.persistent_state == {"rounds": [7]}


def test_the_state_is_saved_in_the_state_directory_and_loaded_by_the_next_handler(tmp_path: Path) -> None:
    run_event(Counter, "round_begin", round=1, state_dir=tmp_path)
    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved["persistent_state"] == {"rounds": [1]}
    again = run_event(Counter, "round_begin", round=2, state_dir=tmp_path)
    assert again.saved_state == {"rounds": [1, 2]}


def test_a_failing_callback_rolls_the_state_back_and_drops_what_it_emitted(tmp_path: Path) -> None:
    handler = make_handler(Counter, state_dir=tmp_path)
    run_event(handler, "round_begin", round=12)
    failed = run_event(handler, "round_begin", round=13)
    assert failed.error == "ValueError: unlucky round"
    assert failed.emitted == ()
    assert failed.persistent_state == {"rounds": [12]}
    assert failed.saved_state == {"rounds": [12]}
    with pytest.raises(HandlerFailed, match="unlucky round"):
        failed.raise_for_error()


def test_other_kinds_get_the_event_payload_and_options(tmp_path: Path) -> None:
    result = run_event(Counter, "custom", payload={"a": 1}, options={"greeting": "hi"}, state_dir=tmp_path)
    assert result.persistent_state == {"custom": {"a": 1}, "option": "hi"}
    assert result.handler.event is None  # set only while the callback runs, as in the runtime


def test_without_a_state_directory_nothing_is_written() -> None:
    result = run_event(Counter, "round_begin", round=3)
    assert result.ok
    assert result.saved_state is None


def test_a_failing_on_start_raises_handler_failed(tmp_path: Path) -> None:
    with pytest.raises(HandlerFailed, match="RuntimeError: no start"):
        run_event(BrokenStart, "round_begin", round=1, state_dir=tmp_path)
