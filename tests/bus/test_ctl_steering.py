"""numeraudctl's repairs against a running supervisor with real handler processes: skip with a
seq (checked by the supervisor), pause and resume (kept across a restart), rewind, and the
in-flight and backoff facts of the handler table. Bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import re
import signal
from datetime import UTC, datetime, timedelta

import pytest

from numeraud.control import ControlError
from tests.bus.conftest import Bus
from tests.bus.test_ctl_commands import one_clean_line
from tests.helpers import wait_for


def refused(bus: Bus, command: str, **args: object) -> str:
    """The control error code of a command the supervisor refuses."""
    with pytest.raises(ControlError) as info:
        bus.call(command, **args)
    return info.value.code


def test_skip_with_a_seq_is_checked_by_the_supervisor_itself(bus: Bus) -> None:
    bus.add_handler("a", max_attempts=1, options={"fail_kinds": ["cleanup"]})
    bus.start_supervisor()
    bus.start_handler("a")
    bus.append("round_begin", 1)
    bus.append("cleanup", 1)
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a blocked on seq 2")
    assert refused(bus, "skip", handler="a", seq=1) == "wrong_event"
    assert refused(bus, "skip", handler="a", seq=4) == "out_of_range"  # 3 is its handler_blocked
    assert refused(bus, "skip", handler="a", seq=0) == "out_of_range"
    assert refused(bus, "skip", handler="a", seq="2") == "invalid_args"
    assert refused(bus, "skip", handler="nobody", seq=2) == "unknown_handler"
    wrong = bus.ctl("skip", "a", "1")
    assert wrong.returncode == 1
    assert "wrong_event: a is blocked on seq 2, not 1; nothing skipped" in one_clean_line(wrong)
    assert bus.handler_status("a")["state"] == "blocked"
    done = bus.ctl("skip", "a", "2", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["skipped"], doc["acked_seq"], doc["state"]) == (2, 2, "ready")


def test_a_paused_handler_finishes_its_event_gets_no_new_one_even_after_a_restart_and_resume_goes_on(
    bus: Bus,
) -> None:
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.add_handler("b")
    supervisor = bus.start_supervisor()
    handler = bus.start_handler("a")
    bus.start_handler("b")
    bus.append("round_begin", 1)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == 1, what="a busy with seq 1")
    paused = bus.ctl("pause", "a", "--json")
    assert paused.returncode == 0, paused.stderr
    doc = json.loads(paused.stdout)
    assert (doc["paused"], doc["changed"], doc["in_flight"]) == (True, True, 1)
    bus.append("cleanup", 1)
    bus.release("a")
    bus.wait_acked("a", 1)  # the event in flight is answered and ACKed as usual
    bus.wait_acked("b", 2)
    # Were it not paused, seq 2 would be in flight in the same pass that committed the ACK of 1.
    a = bus.handler_status("a")
    assert (a["acked_seq"], a["in_flight"], a["state"], a["paused"]) == (1, None, "ready", True)

    # A pause is the operator's own choice: shown, but it does not make status exit 6.
    status = bus.ctl("status", "--json")
    assert status.returncode == 0, status.stdout
    shown = json.loads(status.stdout)
    assert (shown["handlers"]["a"]["paused"], shown["handlers"]["b"]["paused"], shown["attention"]) == (True, False, [])
    text = bus.ctl("status").stdout
    assert "ready, paused" in text
    assert "paused by you: a (numeraudctl resume a)" in text
    again = bus.ctl("pause", "a")
    assert (again.returncode, again.stdout.strip()) == (0, "pause: a was already paused")

    # The pause is in the database: a restarted supervisor keeps it.
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    down = bus.ctl("status", "--json")  # read from the database
    assert (down.returncode, json.loads(down.stdout)["handlers"]["a"]["paused"]) == (3, True)
    bus.start_supervisor()
    wait_for(lambda: bus.handler_status("a").get("pid") == handler.pid, what="a to reconnect")
    bus.append("round_begin", 2)
    bus.wait_acked("b", 3)
    a = bus.handler_status("a")
    assert (a["acked_seq"], a["in_flight"], a["paused"]) == (1, None, True)
    assert [r["seq"] for r in bus.event_records("a")] == [1]

    resumed = bus.ctl("resume", "a", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert (json.loads(resumed.stdout)["changed"], json.loads(resumed.stdout)["paused"]) == (True, False)
    bus.wait_acked("a", 3)
    assert [r["seq"] for r in bus.event_records("a")] == [1, 2, 3]
    twice = bus.ctl("resume", "a")
    assert (twice.returncode, twice.stdout.strip()) == (0, "resume: a is not paused")


def test_pause_and_resume_of_an_unknown_handler_is_one_line_and_exit_1(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    for command in ("pause", "resume"):
        result = bus.ctl(command, "nobody")
        assert result.returncode == 1
        assert "no handler named 'nobody'" in one_clean_line(result)
        assert refused(bus, command, handler="nobody") == "unknown_handler"


def test_rewind_delivers_the_events_again_in_order_and_refuses_what_it_cannot_do(bus: Bus) -> None:
    bus.add_handler("a", options={"block_kind": "new_training_data"})
    bus.start_supervisor()
    bus.start_handler("a")
    for kind in ("round_begin", "new_tournament_data", "cleanup"):
        bus.append(kind, 1)
    bus.wait_acked("a", 3)
    for seq, message in (
        ("0", "out_of_range: seq 0 is before the log's start (seq 1)"),
        ("4", "out_of_range: seq 4 is not in the log (it holds 1 to 3)"),
    ):
        result = bus.ctl("rewind", "a", "--to", seq)
        assert result.returncode == 1
        assert message in one_clean_line(result)
    unknown = bus.ctl("rewind", "nobody", "--to", "1")
    assert unknown.returncode == 1
    assert "no handler named 'nobody'" in one_clean_line(unknown)
    assert refused(bus, "rewind", handler="a") == "invalid_args"

    done = bus.ctl("rewind", "a", "--to", "2", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["old_cursor"], doc["new_cursor"]) == (3, 1)
    wait_for(lambda: len(bus.event_records("a")) == 5, what="seqs 2 and 3 again")
    assert [(r["seq"], r["kind"], r["attempt"]) for r in bus.event_records("a")] == [
        (1, "round_begin", 1),
        (2, "new_tournament_data", 1),
        (3, "cleanup", 1),
        (2, "new_tournament_data", 1),
        (3, "cleanup", 1),
    ]
    bus.wait_acked("a", 3)
    warnings = [line for line in bus.log_lines("supervisor.log") if line.get("event") == "cursor rewound by operator"]
    assert [(w["level"], w["handler"], w["old_cursor"], w["new_cursor"]) for w in warnings] == [("warning", "a", 3, 1)]

    # Past its next event, and while an event is in flight: refused, nothing moves.
    bus.append("new_training_data", 1)
    bus.append("round_resolved", 1)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == 4, what="a busy with seq 4")
    ahead = bus.ctl("rewind", "a", "--to", "5")
    assert ahead.returncode == 1
    assert "not_behind: seq 5 is not behind a's cursor (at 3: it gets seq 4 next)" in one_clean_line(ahead)
    busy = bus.ctl("rewind", "a", "--to", "2")
    assert busy.returncode == 1
    assert "in_flight: event 4 is in flight to a; try again once it is answered" in one_clean_line(busy)
    bus.release("a")
    bus.wait_acked("a", 5)
    assert len(bus.event_records("a")) == 7


def test_the_handler_table_shows_the_in_flight_events_time_and_attempt_and_when_a_backoff_retries(bus: Bus) -> None:
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.add_handler(
        "b", max_attempts=5, retry_backoff=30.0, retry_backoff_max=30.0, options={"fail_kinds": ["round_begin"]}
    )
    bus.start_supervisor()
    bus.start_handler("a")
    bus.start_handler("b")
    bus.append("round_begin", 1)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == 1, what="a busy with seq 1")
    wait_for(lambda: bus.handler_status("b").get("state") == "backoff", what="b backing off")
    first = json.loads(bus.ctl("handlers", "--json").stdout)
    assert (first["a"]["in_flight_attempt"], first["a"]["in_flight_s"] >= 0) == (1, True)
    wait_for(
        lambda: json.loads(bus.ctl("handlers", "--json").stdout)["a"]["in_flight_s"] > first["a"]["in_flight_s"],
        what="the elapsed time to grow",
    )
    b = first["b"]
    assert 0 < b["retry_in_s"] <= 30
    at = datetime.fromisoformat(b["retry_at"])
    now = datetime.now(UTC)
    assert now - timedelta(seconds=5) < at <= now + timedelta(seconds=31)
    for command in ("handlers", "status"):
        text = bus.ctl(command).stdout
        assert re.search(r"1 round_begin \(attempt 1, \d+s\)", text), text
        assert re.search(r"1 failed 1x, retrying in \d+s", text), text
    bus.release("a")
