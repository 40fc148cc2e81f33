"""The per-handler session machine (every state x every input) and the scheduling rule (delivery_order)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from numeraud.common import protocol
from numeraud.supervisor.delivery_order import next_delivery, waiting_on
from numeraud.supervisor.delivery_status import session_facts
from numeraud.supervisor.session import Session
from numeraud.supervisor.session_actions import (
    Attach,
    CommitAck,
    Deliver,
    Detach,
    Reject,
    SaveCursor,
    Send,
    State,
    Transition,
)
from numeraud.supervisor.session_policy import Policy

POLICY = Policy(max_attempts=3, timeout=10.0, grace=1.0, backoff=2.0, backoff_max=60.0, heartbeat_ms=1000, liveness=3)
OLD = b"old-peer"
NEW = b"new-peer"
T0 = 100.0


def make(state: State, *, connected: bool = True) -> Session:
    """A session in ``state`` at time T0 (cursor at 4, head event 5), built through its inputs."""
    s = Session(name="model-a", policy=POLICY, acked_seq=4)
    if state is State.DISCONNECTED:
        return s
    s.hello(OLD, 1, T0)
    if state is State.READY:
        return s
    s.event_available(5, T0)
    if state is State.BUSY:
        return s
    s.nack(OLD, 5, "boom", T0)
    if state is State.BACKOFF:
        assert s.state is State.BACKOFF
        return s
    for _ in range(POLICY.max_attempts - 1):
        s.heard(OLD, s.retry_at)
        s.tick(s.retry_at)
        s.event_available(5, s.retry_at)
        s.nack(OLD, 5, "boom", s.retry_at)
    assert s.state is State.BLOCKED
    s.last_seen = T0
    if not connected:
        s.bye(OLD, "", T0)
    return s


STATES = [
    ("disconnected", lambda: make(State.DISCONNECTED)),
    ("ready", lambda: make(State.READY)),
    ("busy", lambda: make(State.BUSY)),
    ("backoff", lambda: make(State.BACKOFF)),
    ("blocked", lambda: make(State.BLOCKED)),
    ("blocked-offline", lambda: make(State.BLOCKED, connected=False)),
]

Input = Callable[[Session], object]
INPUTS: dict[str, Input] = {
    "hello-new-peer": lambda s: s.hello(NEW, 2, T0 + 0.5),
    "hello-same-peer": lambda s: s.hello(OLD, 1, T0 + 0.5),
    "event-available": lambda s: s.event_available(5, T0 + 0.5),
    "ack": lambda s: s.ack(OLD, 5, (), T0 + 0.5),
    "ack-then-commit": lambda s: (s.ack(OLD, 5, (), T0 + 0.5), s.ack_committed(5, T0 + 0.5)),
    "ack-then-commit-fails": lambda s: (s.ack(OLD, 5, (), T0 + 0.5), s.commit_failed(5, "disk_full", T0 + 0.5)),
    "ack-from-stranger": lambda s: s.ack(NEW, 5, (), T0 + 0.5),
    "nack": lambda s: s.nack(OLD, 5, "boom", T0 + 0.5),
    "bye": lambda s: s.bye(OLD, "stop", T0 + 0.5),
    "tick-quiet": lambda s: s.tick(T0 + 0.5),
    "tick-silent-peer": lambda s: s.tick(T0 + 3.5),
    "tick-after-backoff": lambda s: s.tick(s.retry_at + 0.01) if s.retry_at else s.tick(T0 + 0.5),
    "retry": lambda s: s.retry(T0 + 0.5),
    "skip": lambda s: s.skip(5, T0 + 0.5),
    "rewind": lambda s: s.rewind(4, T0 + 0.5),
    "pause": lambda s: s.pause(T0 + 0.5),
    "resume": lambda s: (s.pause(T0 + 0.5), s.resume(T0 + 0.5)),
}

D, R, B, K, X = State.DISCONNECTED, State.READY, State.BUSY, State.BACKOFF, State.BLOCKED
# Expected state after each input, per starting state. A missing peer in BUSY counts an attempt:
# from BUSY (attempts 0) that is attempt 1 of 3 -> DISCONNECTED or BACKOFF, never BLOCKED.
EXPECTED: dict[str, dict[str, State]] = {
    "disconnected": {
        "hello-new-peer": R, "hello-same-peer": R, "event-available": D, "ack": D, "ack-then-commit": D,
        "ack-then-commit-fails": D, "ack-from-stranger": D, "nack": D, "bye": D, "tick-quiet": D,
        "tick-silent-peer": D, "tick-after-backoff": D, "retry": D, "skip": D,
        "rewind": D, "pause": D, "resume": D,
    },
    "ready": {
        "hello-new-peer": R, "hello-same-peer": R, "event-available": B, "ack": R, "ack-then-commit": R,
        "ack-then-commit-fails": R, "ack-from-stranger": R, "nack": R, "bye": D, "tick-quiet": R,
        "tick-silent-peer": D, "tick-after-backoff": R, "retry": R, "skip": R,
        "rewind": R, "pause": R, "resume": R,
    },
    "busy": {
        "hello-new-peer": K, "hello-same-peer": B, "event-available": B, "ack": B, "ack-then-commit": R,
        "ack-then-commit-fails": R, "ack-from-stranger": B, "nack": K, "bye": D, "tick-quiet": B,
        "tick-silent-peer": D, "tick-after-backoff": B, "retry": B, "skip": B,
        "rewind": B, "pause": B, "resume": B,
    },
    "backoff": {
        "hello-new-peer": K, "hello-same-peer": K, "event-available": K, "ack": K, "ack-then-commit": K,
        "ack-then-commit-fails": K, "ack-from-stranger": K, "nack": K, "bye": D, "tick-quiet": K,
        "tick-silent-peer": D, "tick-after-backoff": R, "retry": R, "skip": R,
        "rewind": R, "pause": K, "resume": K,
    },
    "blocked": {
        "hello-new-peer": X, "hello-same-peer": X, "event-available": X, "ack": X, "ack-then-commit": X,
        "ack-then-commit-fails": X, "ack-from-stranger": X, "nack": X, "bye": X, "tick-quiet": X,
        "tick-silent-peer": X, "tick-after-backoff": X, "retry": R, "skip": R,
        "rewind": R, "pause": X, "resume": X,
    },
    "blocked-offline": {
        "hello-new-peer": X, "hello-same-peer": X, "event-available": X, "ack": X, "ack-then-commit": X,
        "ack-then-commit-fails": X, "ack-from-stranger": X, "nack": X, "bye": X, "tick-quiet": X,
        "tick-silent-peer": X, "tick-after-backoff": X, "retry": D, "skip": D,
        "rewind": D, "pause": X, "resume": X,
    },
}  # fmt: skip


@pytest.mark.parametrize("input_name", list(INPUTS))
@pytest.mark.parametrize(("state_name", "factory"), STATES, ids=[s for s, _ in STATES])
def test_every_state_and_input_lands_in_the_expected_state(
    state_name: str, factory: Callable[[], Session], input_name: str
) -> None:
    session = factory()
    INPUTS[input_name](session)
    assert session.state is EXPECTED[state_name][input_name]


@pytest.mark.parametrize("input_name", list(INPUTS))
@pytest.mark.parametrize(("state_name", "factory"), STATES, ids=[s for s, _ in STATES])
def test_every_state_change_is_reported_as_a_transition(
    state_name: str, factory: Callable[[], Session], input_name: str
) -> None:
    session = factory()
    before = session.state
    result = INPUTS[input_name](session)
    results = result if isinstance(result, tuple) else (result,)
    transitions = [a for r in results if isinstance(r, list) for a in r if isinstance(a, Transition)]
    if session.state is before:
        assert all(t.old is not t.new for t in transitions)
    else:
        assert transitions
        assert transitions[0].old is before
        assert transitions[-1].new is session.state


def test_event_available_delivers_head_with_attempt_number() -> None:
    s = make(State.READY)
    actions = s.event_available(5, T0)
    assert Deliver(OLD, 5, 1) in actions
    assert s.in_flight == 5


def test_event_available_refuses_a_seq_that_is_not_the_head() -> None:
    s = make(State.READY)
    assert isinstance(s.event_available(7, T0)[0], Reject)
    assert s.state is State.READY


def test_ack_asks_for_a_commit_and_the_cursor_moves_only_after_it() -> None:
    s = make(State.BUSY)
    emitted = (protocol.Emitted("predictions_ready", 1, {}),)
    assert s.ack(OLD, 5, emitted, T0) == [CommitAck(5, emitted)]
    assert s.acked_seq == 4
    s.ack_committed(5, T0)
    assert (s.acked_seq, s.attempts, s.state) == (5, 0, State.READY)


def test_a_failed_commit_leaves_the_cursor_and_does_not_count_an_attempt() -> None:
    s = make(State.BUSY)
    s.ack(OLD, 5, (), T0)
    s.commit_failed(5, "disk_full", T0)
    assert (s.acked_seq, s.attempts, s.in_flight) == (4, 0, None)


def test_duplicate_ack_while_committing_is_rejected() -> None:
    s = make(State.BUSY)
    s.ack(OLD, 5, (), T0)
    assert s.ack(OLD, 5, (), T0) == [Reject("duplicate ack 5")]


def test_ack_for_a_seq_not_in_flight_gets_an_unexpected_error() -> None:
    s = make(State.BUSY)
    actions = s.ack(OLD, 3, (), T0)
    assert Send(OLD, protocol.Error("unexpected", "ack for 3, in flight: 5")) in actions


def test_nack_counts_the_attempt_and_backs_off_exponentially() -> None:
    s = make(State.BUSY)
    actions = s.nack(OLD, 5, "ValueError: x", T0)
    assert SaveCursor(4, State.BACKOFF, 1, "ValueError: x") in actions
    assert s.retry_at == T0 + 2.0
    s.heard(OLD, s.retry_at)
    s.tick(s.retry_at)
    s.event_available(5, s.retry_at)
    t1 = s.retry_at
    s.nack(OLD, 5, "again", t1)
    assert s.retry_at == t1 + 4.0


def test_redelivery_carries_the_next_attempt_number() -> None:
    s = make(State.BACKOFF)
    s.tick(s.retry_at)
    assert Deliver(OLD, 5, 2) in s.event_available(5, s.retry_at)


def test_max_attempts_blocks_and_persists_blocked() -> None:
    s = make(State.BLOCKED)
    assert (s.attempts, s.last_error) == (3, "boom")
    assert not s.wants_event(T0 + 1000)


def test_a_second_hello_from_a_new_peer_fences_the_old_one() -> None:
    s = make(State.READY)
    actions = s.hello(NEW, 2, T0)
    assert actions[0] == Send(OLD, protocol.Error("fenced", "handler 'model-a' taken over by pid 2"))
    assert Detach(OLD, fenced=True) in actions
    assert Attach(NEW) in actions
    assert s.is_fenced(OLD)
    assert s.peer == NEW
    assert isinstance(s.ack(OLD, 5, (), T0)[0], Reject)


def test_a_new_peer_taking_over_mid_event_gets_it_again_as_attempt_two() -> None:
    s = make(State.BUSY)
    s.hello(NEW, 2, T0)
    s.tick(s.retry_at)
    assert Deliver(NEW, 5, 2) in s.event_available(5, s.retry_at)


def test_welcome_tells_the_cursor_and_heartbeat() -> None:
    s = Session(name="model-a", policy=POLICY, acked_seq=9)
    actions = s.hello(OLD, 1, T0)
    assert Send(OLD, protocol.Welcome("model-a", 9, 1000, 3, protocol.API_VERSION)) in actions


def test_a_silent_peer_mid_event_counts_a_failed_attempt() -> None:
    s = make(State.BUSY)
    s.tick(T0 + POLICY.silence)
    assert (s.peer, s.attempts, s.state) == (None, 1, State.DISCONNECTED)


def test_a_peer_gone_mid_event_counts_an_attempt_but_a_handlers_own_bye_does_not() -> None:
    gone = make(State.BUSY)
    gone.bye(OLD, "unreachable", T0 + 0.5)
    assert (gone.state, gone.attempts, gone.in_flight) == (State.DISCONNECTED, 1, None)
    stopping = make(State.BUSY)
    actions = stopping.bye(OLD, "handler stopping", T0 + 0.5, counted=False)
    assert (stopping.state, stopping.attempts, stopping.in_flight) == (State.DISCONNECTED, 0, None)
    assert not any(isinstance(a, SaveCursor) for a in actions)
    stopping.hello(NEW, 2, T0 + 1)
    assert stopping.event_available(5, T0 + 1)[-1] == Deliver(NEW, 5, 1)  # the same attempt again


def test_a_hello_again_from_the_attached_peer_keeps_its_event_in_flight() -> None:
    # the same socket saying HELLO again (its supervisor restarted) still works on the event
    s = make(State.BUSY)
    actions = s.hello(OLD, 1, T0 + 0.5)
    assert (s.state, s.in_flight, s.attempts) == (State.BUSY, 5, 0)
    assert [type(a.message) for a in actions if isinstance(a, Send)] == [protocol.Welcome]
    assert s.ack(OLD, 5, (), T0 + 0.6) == [CommitAck(5, ())]


def test_heard_keeps_a_peer_alive() -> None:
    s = make(State.READY)
    s.heard(OLD, T0 + 2.5)
    s.tick(T0 + 3.5)
    assert s.peer == OLD


def test_an_overdue_event_is_given_up_and_the_peer_fenced() -> None:
    s = make(State.BUSY)
    for t in range(1, 12):
        s.heard(OLD, T0 + t)
    actions = s.tick(T0 + 11.0)
    assert Send(OLD, protocol.Error("timeout", "event 5 took too long")) in actions
    assert s.is_fenced(OLD)
    assert s.attempts == 1


def test_skip_moves_the_cursor_past_the_blocked_event() -> None:
    s = make(State.BLOCKED)
    actions = s.skip(5, T0)
    assert SaveCursor(5, State.READY, 0, None) in actions


def test_rewind_moves_the_cursor_back_unblocks_and_delivers_from_there_as_attempt_one() -> None:
    s = make(State.BLOCKED)
    actions = s.rewind(2, T0)
    assert SaveCursor(1, State.READY, 0, None) in actions
    assert (s.acked_seq, s.attempts, s.last_error, s.retry_at) == (1, 0, None, 0.0)
    assert Deliver(OLD, 2, 1) in s.event_available(2, T0)


def test_rewind_is_refused_while_an_event_is_in_flight_and_past_the_next_event() -> None:
    busy = make(State.BUSY)
    assert [type(a) for a in busy.rewind(3, T0)] == [Reject]
    assert (busy.acked_seq, busy.in_flight) == (4, 5)
    ready = make(State.READY)
    assert [type(a) for a in ready.rewind(6, T0)] == [Reject]
    assert [type(a) for a in ready.rewind(0, T0)] == [Reject]
    assert ready.acked_seq == 4
    assert SaveCursor(4, State.READY, 0, None) in ready.rewind(5, T0)  # its next event: allowed


def test_a_paused_session_gets_no_new_event_but_its_event_in_flight_is_acked() -> None:
    s = make(State.BUSY)
    assert s.pause(T0) == [SaveCursor(4, State.BUSY, 0, None, paused=True)]
    assert s.pause(T0) == []  # already paused: nothing to do
    s.ack(OLD, 5, (), T0)
    s.ack_committed(5, T0)
    assert (s.acked_seq, s.state) == (5, State.READY)
    assert not s.wants_event(T0)
    assert isinstance(s.event_available(6, T0)[0], Reject)
    assert s.resume(T0) == [SaveCursor(5, State.READY, 0, None, paused=False)]
    assert s.resume(T0) == []
    assert s.wants_event(T0)


def test_a_restored_pause_holds_back_events_after_a_hello() -> None:
    s = Session.restore("m", POLICY, acked_seq=3, blocked=False, attempts=0, last_error=None, paused=True)
    s.hello(OLD, 1, T0)
    assert s.state is State.READY
    assert not s.wants_event(T0)


def test_session_facts_give_the_in_flight_time_and_attempt_and_the_backoffs_end() -> None:
    busy = make(State.BUSY)
    backoff = make(State.BACKOFF)
    wall = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    facts = session_facts({"busy": busy, "backoff": backoff}, T0 + 7.25, wall)
    assert (facts["busy"]["in_flight"], facts["busy"]["in_flight_s"], facts["busy"]["in_flight_attempt"]) == (5, 7.2, 1)
    wait = backoff.retry_at - (T0 + 7.25)
    assert facts["backoff"]["retry_in_s"] == round(max(0.0, wait), 1)
    backoff.retry_at = T0 + 19.25
    later = session_facts({"backoff": backoff}, T0 + 7.25, wall)["backoff"]
    assert (later["retry_in_s"], later["retry_at"]) == (12.0, "2026-03-14T12:00:12+00:00")
    assert "in_flight_s" not in session_facts({"busy": busy})["busy"]  # no clock, no elapsed time


def test_skip_of_a_different_seq_is_rejected() -> None:
    s = make(State.BLOCKED)
    assert isinstance(s.skip(6, T0)[0], Reject)
    assert s.state is State.BLOCKED


def test_retry_resets_attempts_and_delivers_again_as_attempt_one() -> None:
    s = make(State.BLOCKED)
    s.retry(T0)
    assert Deliver(OLD, 5, 1) in s.event_available(5, T0)


def test_restore_of_a_blocked_cursor_stays_blocked() -> None:
    s = Session.restore("m", POLICY, acked_seq=3, blocked=True, attempts=3, last_error="x")
    s.hello(OLD, 1, T0)
    assert s.state is State.BLOCKED
    assert s.peer == OLD


def test_next_deadline_covers_silence_and_backoff() -> None:
    s = make(State.BACKOFF)
    assert s.next_deadline() == min(s.retry_at, T0 + POLICY.silence)
    assert make(State.DISCONNECTED).next_deadline() is None


def test_backoff_is_capped() -> None:
    assert Policy(backoff=1.0, backoff_max=10.0).backoff_for(50) == 10.0


# ---- scheduling ----


def test_next_delivery_is_the_event_after_the_cursor() -> None:
    assert next_delivery("a", {"a": 3}, head=5, after={}, serial=False) == 4


def test_next_delivery_waits_for_the_log() -> None:
    assert next_delivery("a", {"a": 5}, head=5, after={}, serial=False) is None


def test_after_waits_until_the_dependency_acked_the_same_event() -> None:
    acked = {"a": 3, "b": 3}
    assert next_delivery("b", acked, head=5, after={"b": ["a"]}, serial=False) is None
    assert waiting_on("b", acked, head=5, after={"b": ["a"]}, serial=False) == ["a"]
    acked["a"] = 4
    assert next_delivery("b", acked, head=5, after={"b": ["a"]}, serial=False) == 4


def test_serial_waits_until_everyone_finished_the_previous_event() -> None:
    acked = {"a": 4, "b": 3}
    assert next_delivery("a", acked, head=9, after={}, serial=True) is None
    assert waiting_on("a", acked, head=9, after={}, serial=True) == ["b"]
    assert next_delivery("b", acked, head=9, after={}, serial=True) == 4


def test_independent_handlers_do_not_wait_for_each_other() -> None:
    assert next_delivery("a", {"a": 7, "b": 1}, head=9, after={}, serial=False) == 8
