"""The handler SDK and runtime in real handler processes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from numeraud import EventHandler, HandlerEvent
from numeraud.handler.sdk import HandlerContext, StateFile, build_handler
from tests.bus.conftest import Bus
from tests.helpers import wait_for


def test_a_numerauto_style_handler_gets_its_callbacks_in_numerautos_order(bus: Bus) -> None:
    bus.add_handler("legacy", cls="tests.bus.sample_handlers:NumerautoStyle")
    bus.start_supervisor()
    proc = bus.start_handler("legacy")
    bus.append("round_begin", 300)
    bus.append("new_training_data", 300)
    s3 = bus.append("new_tournament_data", 300)
    bus.wait_acked("legacy", s3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    calls = (bus.root / "numerauto_calls.txt").read_text().splitlines()
    assert calls == [
        "legacy on_start",
        "legacy on_round_begin 300",
        "legacy on_new_training_data 300",
        "legacy on_new_tournament_data 300",
        "legacy on_shutdown",
    ]


def test_emitted_events_are_committed_with_the_ack_and_reach_other_handlers(bus: Bus) -> None:
    bus.add_handler("model", options={"emit_on": "new_tournament_data", "emit_kind": "predictions_ready"})
    bus.add_handler("uploader", after=["model"])
    bus.start_supervisor()
    bus.start_handler("model")
    bus.start_handler("uploader")
    s1 = bus.append("new_tournament_data", 12)
    bus.wait_acked("uploader", s1 + 1)
    events = bus.call("events", limit=10)
    emitted = events[-1]
    assert (emitted["kind"], emitted["round"], emitted["source"], emitted["parent_seq"]) == (
        "predictions_ready",
        12,
        "model",
        s1,
    )
    got = [r for r in bus.event_records("uploader") if r["kind"] == "predictions_ready"]
    assert [(r["callback"], r["payload"]) for r in got] == [("on_event", {"path": "/tmp/predictions_12.csv"})]


def test_every_event_a_handler_receives_is_already_committed_to_the_log(bus: Bus) -> None:
    bus.add_handler("a", options={"check_log": str(bus.root / "state" / "numeraud.db")})
    bus.start_supervisor()
    bus.start_handler("a")
    seqs = [bus.append("round_begin", number) for number in (1, 2, 3)]
    bus.wait_acked("a", seqs[-1])
    assert [(r["seq"], r["in_log"]) for r in bus.event_records("a")] == [(seq, True) for seq in seqs]


def test_persistent_state_survives_a_handler_restart(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    first = bus.start_handler("a")
    bus.append("round_begin", 1)
    bus.append("new_tournament_data", 1)
    bus.wait_acked("a", 2)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    bus.start_handler("a")
    starts = wait_for(lambda: [r for r in bus.records("a") if r["callback"] == "on_start"][1:], what="2nd start")
    assert starts[0]["state"] == {"handled": 2}


def test_a_failed_attempt_s_state_changes_are_not_saved_by_the_next_successful_one(bus: Bus) -> None:
    # Recorder counts "handled" before it raises: the failed attempt's count must be rolled back.
    bus.add_handler("a", options={"fail_kinds": ["round_begin"], "fail_times": 1})
    bus.start_supervisor()
    bus.start_handler("a")
    seq = bus.append("round_begin", 1)
    bus.wait_acked("a", seq)
    assert [r["attempt"] for r in bus.event_records("a")] == [1, 2]
    saved = json.loads((bus.root / "state" / "handlers" / "a" / "state.json").read_text())
    assert saved["persistent_state"] == {"handled": 1}


def test_recycle_exits_cleanly_after_each_event(bus: Bus) -> None:
    bus.add_handler("a", recycle=True)
    bus.start_supervisor()
    first = bus.start_handler("a")
    bus.append("round_begin", 1)
    assert first.wait(timeout=20) == 0
    second = bus.start_handler("a")
    bus.append("new_tournament_data", 1)
    assert second.wait(timeout=20) == 0
    assert bus.handler_status("a")["acked_seq"] == 2
    assert [r["pid"] for r in bus.event_records("a")] == [first.pid, second.pid]


def test_the_runtime_logs_one_line_per_event_with_duration_and_attempt(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.start_handler("a")
    bus.append("round_begin", 77)
    bus.wait_acked("a", 1)
    lines = [line for line in bus.log_lines("handler-a.log") if line["event"] == "event handled"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["handler"], line["seq"], line["round"], line["attempt"], line["outcome"]) == ("a", 1, 77, 1, "ack")
    assert line["duration_ms"] >= 0


# ---- in-process SDK behaviour ----


class Custom(EventHandler):
    def __init__(self, name: str, threshold: int = 0) -> None:
        super().__init__(name)
        self.threshold = threshold
        self.seen: list[str] = []

    def on_predictions_ready(self, event: HandlerEvent) -> None:
        self.seen.append(f"predictions_ready {event['path']}")

    def on_event(self, event: HandlerEvent) -> None:
        self.seen.append(f"other {event.kind}")


def _event(kind: str, **payload: object) -> HandlerEvent:
    return HandlerEvent(seq=1, event_id="e", kind=kind, round=5, attempt=1, created="t", payload=payload)


def test_custom_kinds_go_to_on_kind_or_on_event() -> None:
    handler = build_handler(Custom, HandlerContext(name="c", options={"threshold": 3}))
    handler.dispatch(_event("predictions_ready", path="/p.csv"))
    handler.dispatch(_event("scores_updated"))
    assert isinstance(handler, Custom)
    assert handler.seen == ["predictions_ready /p.csv", "other scores_updated"]
    assert handler.threshold == 3
    assert handler.options == {"threshold": 3}


def test_emit_refuses_the_supervisors_kinds_and_bad_names() -> None:
    handler = build_handler(Custom, HandlerContext(name="c"))
    with pytest.raises(ValueError, match="reserved"):
        handler.emit("round_begin")
    with pytest.raises(ValueError, match="invalid event kind"):
        handler.emit("Bad Kind")


def test_state_file_writes_only_when_the_state_changed(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "h" / "state.json")
    assert state.load() == {}
    assert state.save({"a": 1}) is True
    assert state.save({"a": 1}) is False
    assert StateFile(tmp_path / "h" / "state.json").load() == {"a": 1}
    with pytest.raises(TypeError):
        state.save({"model": object()})
    assert StateFile(tmp_path / "h" / "state.json").load() == {"a": 1}
