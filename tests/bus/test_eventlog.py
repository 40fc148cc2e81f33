"""The one door to the event log: every writer checked alike, one store health, handler_blocked."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from numeraud.common import config_file, protocol
from numeraud.common.config import DataConfig
from numeraud.common.failpoints import Failpoints
from numeraud.control import ControlError
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.event_checks import MAX_PAYLOAD_BYTES
from numeraud.supervisor.following import FollowerService
from numeraud.supervisor.round_events import Publication
from numeraud.supervisor.store import Store
from numeraud.supervisor.tournament import PollPolicy
from tests.bus.conftest import Bus
from tests.helpers import wait_for

BAD_EVENTS = [
    pytest.param(("Round Begin", 3, {}), "invalid event kind", id="bad-kind"),
    pytest.param(("round_begin", 3, {"x": "y" * MAX_PAYLOAD_BYTES}), "payload larger than", id="oversized"),
]


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[Dispatcher]:
    cfg = config_file.parse({"handlers": {"a": {"class": "m:C"}}, "paths": {"state_dir": str(tmp_path)}})
    store = Store(tmp_path / "db.sqlite")
    yield Dispatcher(store, cfg, lambda _peer, _frames: True, structlog.get_logger("test"), Failpoints(env={}))
    store.close()


@pytest.mark.parametrize(("event", "error"), BAD_EVENTS)
def test_a_follower_publish_with_a_bad_kind_or_oversized_payload_is_refused_like_an_append(
    dispatcher: Dispatcher, tmp_path: Path, event: tuple[str, int, dict[str, Any]], error: str
) -> None:
    kind, round_, payload = event
    with pytest.raises(ValueError, match=error) as refused_append:
        dispatcher.append(kind, round_, payload)
    with capture_logs() as logs:
        service = FollowerService(
            dispatcher.store,
            api_url="http://127.0.0.1:9/graphql",  # never asked: the follower's thread is not started
            data_dir=tmp_path / "data",
            settings=DataConfig(reserve_bytes=0),
            policy=PollPolicy(idle_interval=5, fast_interval=0.5),
            stall_after=600,
            publish=dispatcher.publish,
        )
        service.pending.append(Publication(events=[("cleanup", 2, {}), event], state={"last_round_processed": "3"}))
        service.drain()
    refused = [line for line in logs if line["event"] == "publish_refused"]
    assert [line["error"] for line in refused] == [str(refused_append.value)]
    assert not service.pending
    # All or nothing: neither the good event beside it nor the tournament state was committed.
    assert dispatcher.store.head_seq() == 0
    assert "last_round_processed" not in dispatcher.store.tournament_state()
    assert dispatcher.status()["store"]["ok"] is True  # a refused event is not a store failure


def test_a_handler_emitting_an_oversized_event_is_nacked_and_nothing_is_committed(dispatcher: Dispatcher) -> None:
    peer = b"peer-1"
    dispatcher.on_frames(peer, protocol.encode(protocol.Hello(name="a", pid=1)), 0.0)
    dispatcher.append("new_tournament_data", 1, {})
    dispatcher.pump(0.1)
    big = {"x": "y" * (MAX_PAYLOAD_BYTES + 1000)}  # fits the ACK message, not the EVENT it would become
    ack = protocol.Ack(seq=1, emitted=(protocol.Emitted("predictions_ready", 1, big),))
    dispatcher.on_frames(peer, protocol.encode(ack), 0.2)
    dispatcher.flush(0.2)
    session = dispatcher.status()["handlers"]["a"]
    assert session["acked_seq"] == 0
    assert "emitted an event the log refuses" in (session["last_error"] or "")
    assert dispatcher.store.head_seq() == 1


def test_a_store_write_failure_shows_in_numeraudctl_status_as_degraded_and_recovers(bus: Bus) -> None:
    bus.add_handler("a")
    argv = [sys.executable, "-m", "tests.bus.fillable_store", "--config", str(bus.config_path)]
    bus.supervisor = bus.spawn(argv, "supervisor.log")
    wait_for(bus.try_status, what="the supervisor to answer")
    bus.append("round_begin", 1)
    full = bus.root / "state" / "disk-full"
    full.touch()

    with pytest.raises(ControlError) as failed:
        bus.call("append", kind="new_tournament_data", round=1, payload={"x": "y" * 50_000})
    assert failed.value.code == "store_unavailable"

    # A status the busy loop does not answer at once comes from the control thread's snapshot,
    # which may be a moment older than the failure: poll until it shows.
    def degraded() -> bool:
        status = bus.try_status()
        return (
            status is not None
            and (status["store"]["ok"], (status["store"].get("error") or {}).get("code")) == (False, "disk_full")
            and "DEGRADED (disk_full)" in bus.ctl("status").stdout
        )

    wait_for(degraded, what="numeraudctl status to say the store is DEGRADED (disk_full)")

    full.unlink()

    def healthy_again() -> bool:
        status = bus.try_status()
        return status is not None and status["store"]["ok"] is True and "DEGRADED" not in bus.ctl("status").stdout

    wait_for(healthy_again, what="numeraudctl status to say the store is ok again")
    seq = bus.append("new_tournament_data", 1, x="y" * 50_000)
    assert seq == 2
    logged = [line["event"] for line in bus.log_lines("supervisor.log")]
    assert "store failed; delivery stopped until it can be written" in logged
    assert "store writable again; delivery resumes" in logged


def test_status_answers_from_the_snapshot_while_the_loop_waits_on_a_commit(bus: Bus) -> None:
    bus.add_handler("a")
    argv = [sys.executable, "-m", "tests.bus.fillable_store", "--config", str(bus.config_path)]
    bus.supervisor = bus.spawn(argv, "supervisor.log")
    wait_for(bus.try_status, what="the supervisor to answer")
    fresh = bus.call("status")
    assert "snapshot_age_s" not in fresh  # the loop answered it
    stall = bus.root / "state" / "stall-writes"
    stall.touch()
    appended: dict[str, Any] = {}
    writer = threading.Thread(
        target=lambda: appended.update(bus.client(timeout=30).call("append", kind="round_begin", round=1))
    )
    writer.start()

    def from_the_snapshot() -> tuple[dict[str, Any], float] | None:
        started = time.monotonic()
        status: dict[str, Any] = bus.client(timeout=5).call("status")
        return (status, time.monotonic() - started) if "snapshot_age_s" in status else None

    try:
        # the loop is held in the append's commit: the control thread answers from the snapshot
        status, answered = wait_for(from_the_snapshot, 20, "a status answered from the snapshot")
        assert answered < 1.0
        assert status["head_seq"] == fresh["head_seq"]  # not yet appended
        assert writer.is_alive()  # the append waits for the loop
        assert bus.call("version")["numeraud"]  # answered by the control thread too
    finally:
        stall.unlink()
        writer.join(timeout=30)
    assert appended["seq"] == fresh["head_seq"] + 1
    after = bus.call("status")
    assert "snapshot_age_s" not in after
    assert after["head_seq"] == appended["seq"]


def test_handler_blocked_is_in_the_log_right_after_the_nack_that_blocked_the_handler_and_only_once(
    bus: Bus,
) -> None:
    bus.add_handler("a", max_attempts=2, options={"fail_kinds": ["round_begin"]})
    bus.start_supervisor()
    bus.start_handler("a")
    s1 = bus.append("round_begin", 5)

    def blocked_notices() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = bus.call("events", limit=50)
        return [e for e in events if e["kind"] == "handler_blocked"]

    notices = wait_for(blocked_notices, what="handler_blocked in the log")
    assert [(n["seq"], n["payload"]["handler"], n["payload"]["seq"]) for n in notices] == [(s1 + 1, "a", s1)]
    assert "poisoned round_begin at attempt 2" in notices[0]["payload"]["error"]
    # Appended by the transition itself: the supervisor logs it right after the state change.
    lines = bus.log_lines("supervisor.log")
    blocked_at = next(i for i, line in enumerate(lines) if line.get("new") == "blocked")
    assert lines[blocked_at + 1]["event"] == "handler blocked"
    assert lines[blocked_at + 1]["event_seq"] == s1 + 1

    # Blocked again after a retry: the same (handler, event) is not announced twice.
    assert bus.ctl("retry", "a").returncode == 0
    wait_for(lambda: len(bus.event_records("a")) == 4, what="two more attempts after retry")
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a blocked again")
    assert [n["seq"] for n in blocked_notices()] == [s1 + 1]
