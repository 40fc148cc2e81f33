"""Performing the sessions' actions against the store and the bus: commit before send.

:class:`Delivery` holds what the actions touch (the sessions, the peer → handler map, the log
head, the ACKs waiting for their group commit) and does what a
:class:`~numeraud.supervisor.session.Session` asks: it sends frames, delivers events read
through the event cache, commits ACKs with their emitted events in one transaction before
anything more goes to that handler, and saves cursors (a parked handler's with its
``handler_blocked`` event). It never touches a socket: ``send(peer, frames) -> bool`` does
(``False`` = peer unreachable). :class:`~numeraud.supervisor.dispatcher.Dispatcher` feeds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from numeraud.common import protocol
from numeraud.common.failpoints import Failpoints
from numeraud.supervisor.event_frames import EventFrames
from numeraud.supervisor.eventlog import EventLog
from numeraud.supervisor.session import Session
from numeraud.supervisor.session_actions import (
    Action,
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
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import Ack as StoreAck
from numeraud.supervisor.store_records import NewEvent

#: How frames reach a peer: ``send(peer, frames)``, ``False`` when the peer is unreachable.
SendFn = Callable[[bytes, list[bytes]], bool]

#: Transitions of the busy/idle cycle happen on every event; they are logged at debug level.
_ROUTINE: Final = {(State.READY, State.BUSY), (State.BUSY, State.READY)}


def _debug_enabled(log: Any) -> bool:
    """Whether ``log`` keeps debug lines (structlog's filtering loggers say; others: assume so)."""
    is_enabled_for = getattr(log, "is_enabled_for", None)
    return True if is_enabled_for is None else bool(is_enabled_for(logging.DEBUG))


class Delivery:
    """The sessions' actions, performed (see the module docstring)."""

    def __init__(self, store: Store, send: SendFn, log: Any, failpoints: Failpoints) -> None:
        self.store = store
        self._send_frames = send
        self.log = log
        #: Whether debug lines are written at all: the routine ones of every round trip are not
        #: even built when they would be dropped.
        self._debug: bool = _debug_enabled(log)
        self.failpoints = failpoints
        self.eventlog = EventLog(store, log)
        self.head = store.head_seq()
        self.peers: dict[bytes, str] = {}
        self.sessions: dict[str, Session] = {}
        self._pending: list[tuple[Session, CommitAck]] = []
        self._cache = EventFrames(store)

    def _send(self, peer: bytes, message: protocol.Message, now: float) -> bool:
        try:
            frames = protocol.encode(message)
        except protocol.ProtocolError as exc:
            self.log.error("cannot encode message", verb=message.verb.value, code=exc.code, error=exc.message)
            return False
        if self._send_frames(peer, frames):
            return True
        name = self.peers.get(peer)
        if name is not None:
            self.log.info("handler unreachable", handler=name, peer=peer.hex())
            session = self.sessions[name]
            self._perform(session, session.bye(peer, "unreachable", now), now)
        return False

    def _perform(self, session: Session, actions: list[Action], now: float) -> None:
        # The cases are disjoint types: the ones of every round trip come first.
        for action in actions:
            match action:
                case Transition():
                    routine = (action.old, action.new) in _ROUTINE
                    if routine and not self._debug:
                        continue
                    level = self.log.debug if routine else self.log.info
                    level(
                        "handler state",
                        handler=session.name,
                        old=action.old.value,
                        new=action.new.value,
                        reason=action.reason,
                    )
                case Deliver():
                    self._deliver(session, action, now)
                case CommitAck():
                    self._pending.append((session, action))
                case Send():
                    self._send(action.peer, action.message, now)
                case SaveCursor():
                    self._save_cursor(session, action)
                case Attach():
                    self.peers[action.peer] = session.name
                case Detach():
                    self.peers.pop(action.peer, None)
                case Reject():
                    self.log.info("input refused", handler=session.name, reason=action.reason)

    def _save_cursor(self, session: Session, action: SaveCursor) -> None:
        """Persist the cursor; a handler parked on an event gets ``handler_blocked`` in the log in
        the same transaction (once per handler and event: the dedupe key says so)."""
        blocked: tuple[NewEvent, str] | None = None
        if action.state is State.BLOCKED:
            seq = action.acked_seq + 1
            try:
                event = self._cache.event(seq)
            except StoreError as exc:  # the cursor is saved all the same; the notice is lost
                self.eventlog.degrade(exc)
                event = None
            if event is not None and event.kind != "handler_blocked":
                payload = {"handler": session.name, "seq": seq, "kind": event.kind, "error": action.last_error}
                blocked = (NewEvent("handler_blocked", event.round, payload), f"handler_blocked/{session.name}/{seq}")
        try:
            result = self.eventlog.write(
                lambda: self.store.save_cursor(
                    session.name,
                    acked_seq=action.acked_seq,
                    state=action.state.value,
                    attempts=action.attempts,
                    last_error=action.last_error,
                    paused=action.paused,
                    event=blocked,
                )
            )
        except StoreError:
            return
        if result is not None and blocked is not None:
            seq, created = result
            self.head = max(self.head, seq)
            if created:
                self.log.error("handler blocked", handler=session.name, seq=blocked[0].payload["seq"], event_seq=seq)

    def _deliver(self, session: Session, action: Deliver, now: float) -> None:
        try:
            event = self._cache.event(action.seq)
        except StoreError as exc:
            self.eventlog.degrade(exc)
            event = None
        if event is None:
            # Cannot happen with a healthy store (seqs are contiguous up to head); put it back.
            self._perform(session, session.commit_failed(action.seq, "event not readable", now), now)
            return
        try:
            frames = self._cache.frames(event, action.attempt)
        except protocol.ProtocolError as exc:
            self.log.error("event cannot be sent", handler=session.name, seq=action.seq, error=exc.message)
            self._perform(session, session.nack(action.peer, action.seq, f"cannot send: {exc.message}", now), now)
            return
        if not self._send_frames(action.peer, frames):
            # The process is gone before the event reached it: not a failed attempt.
            self.log.info("handler unreachable", handler=session.name, peer=action.peer.hex())
            self._perform(session, session.commit_failed(action.seq, "handler unreachable", now), now)
            self._perform(session, session.bye(action.peer, "unreachable", now), now)

    def flush(self, now: float) -> None:
        """Commit the ACKs received since the last flush in one transaction (group commit), then
        move the cursors. Nothing is sent to a handler between its ACK and this commit."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        acks = [
            StoreAck(s.name, a.seq, tuple(NewEvent(e.kind, e.round, e.payload) for e in a.emitted) if a.emitted else ())
            for s, a in pending
        ]
        try:
            emitted = self.eventlog.write(lambda: self.store.ack_many(acks))
        except StoreError as exc:
            for session, action in pending:
                self._perform(session, session.commit_failed(action.seq, exc.code, now), now)
            return
        self.failpoints.hit("after_ack_commit")
        for (session, action), seqs in zip(pending, emitted, strict=True):
            if seqs:
                self.head = max(self.head, *seqs)
                self.log.info("events emitted", handler=session.name, seq=action.seq, emitted=seqs)
            started = session.delivered_at if session.delivered_at is not None else now
            if self._debug:
                self.log.debug(
                    "event acked", handler=session.name, seq=action.seq, duration_ms=round((now - started) * 1000, 3)
                )
            self._perform(session, session.ack_committed(action.seq, now), now)
