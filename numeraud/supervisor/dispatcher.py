"""The dispatcher: decoded bus frames in, session actions performed against the store and the bus.

It owns the per-handler :class:`~numeraud.supervisor.session.Session` objects and the peer → handler map,
and performs their actions: commit before send (an ACK is committed before the next event goes
out; an appended event is committed before any handler can see it). It never touches a socket:
the supervisor passes a ``send(peer, frames) -> bool`` callable (``False`` = peer unreachable).

It owns the one door to the event log (:class:`~numeraud.supervisor.eventlog.EventLog`):
:meth:`Dispatcher.append` (operator, supervisor), :meth:`Dispatcher.publish` (the follower's poll:
events, tournament state and files in one transaction), the ACKs with their emitted events and the
cursor saves, all validated alike. A handler parked on an event gets ``handler_blocked`` in the
log in the same transaction as its blocked cursor. When a write fails (disk full, I/O error) the
log turns *degraded*: delivery stops, the log and status say so, nothing uncommitted is
acknowledged, and a probe or the next successful write ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from numeraud.common import protocol
from numeraud.common.config import Config
from numeraud.common.failpoints import Failpoints
from numeraud.common.kinds import TOURNAMENT_KINDS
from numeraud.supervisor.delivery_order import next_delivery
from numeraud.supervisor.event_frames import EventFrames
from numeraud.supervisor.eventlog import MAX_PAYLOAD_BYTES, EventLog, check_event, status_document
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
from numeraud.supervisor.session_policy import Policy
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import Ack as StoreAck
from numeraud.supervisor.store_records import DatasetFile, NewEvent

SendFn = Callable[[bytes, list[bytes]], bool]

#: Transitions of the busy/idle cycle happen on every event; they are logged at debug level.
_ROUTINE: Final = {(State.READY, State.BUSY), (State.BUSY, State.READY)}
__all__ = ["MAX_PAYLOAD_BYTES", "Dispatcher", "SendFn"]


def _debug_enabled(log: Any) -> bool:
    """Whether ``log`` keeps debug lines (structlog's filtering loggers say; others: assume so)."""
    is_enabled_for = getattr(log, "is_enabled_for", None)
    return True if is_enabled_for is None else bool(is_enabled_for(logging.DEBUG))


class Dispatcher:
    """Delivery of the log to the configured handlers."""

    def __init__(self, store: Store, config: Config, send: SendFn, log: Any, failpoints: Failpoints) -> None:
        self.store = store
        self.serial = config.bus.serial
        self.after = {name: h.after for name, h in config.handlers.items()}
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
        self._delivered_at: dict[str, float] = {}
        self._pending: list[tuple[Session, CommitAck]] = []
        self._cache = EventFrames(store)
        for name, h in config.handlers.items():
            policy = Policy(
                max_attempts=h.max_attempts,
                timeout=h.timeout,
                grace=config.bus.heartbeat_interval * config.bus.heartbeat_liveness,
                backoff=h.retry_backoff,
                backoff_max=h.retry_backoff_max,
                heartbeat_ms=config.bus.heartbeat_ms,
                liveness=config.bus.heartbeat_liveness,
            )
            # A handler configured for the first time starts at the log head: it gets new events,
            # not the whole history.
            cursor = store.ensure_cursor(name, self.head)
            self.sessions[name] = Session.restore(
                name,
                policy,
                acked_seq=cursor.acked_seq,
                blocked=cursor.state == State.BLOCKED.value,
                attempts=cursor.attempts,
                last_error=cursor.last_error,
            )

    # ---- input ----

    def on_frames(self, peer: bytes, frames: list[bytes], now: float) -> None:
        """One message from ``peer`` on the bus."""
        try:
            message = protocol.decode(frames)
        except protocol.ProtocolError as exc:
            self.log.warning("bad frame", peer=peer.hex(), code=exc.code, error=exc.message)
            self._send(peer, protocol.Error(exc.code, exc.message), now)
            return
        if type(message) is protocol.Ack and not message.emitted:  # the one of every round trip
            acker = self.peers.get(peer)
            if acker is not None:
                self._on_ack(self.sessions[acker], peer, message, now)
                return
        if not isinstance(message, protocol.Ack):
            self.flush(now)  # acks are group-committed, but only across consecutive ACK frames
        name = self.peers.get(peer)
        if isinstance(message, protocol.Hello):
            session = self.sessions.get(message.name)
            if session is None:
                self.log.warning("hello from unknown handler", handler=message.name, pid=message.pid)
                self._send(
                    peer,
                    protocol.Error("unknown_handler", f"no [handlers.{message.name}] in the config"),
                    now,
                )
                return
            if name is not None and name != message.name:
                self._perform(self.sessions[name], self.sessions[name].bye(peer, "renamed", now), now)
            self.log.info(
                "hello",
                handler=message.name,
                pid=message.pid,
                last_seq=message.last_seq,
                acked_seq=session.acked_seq,
            )
            if message.last_seq > session.acked_seq:
                self.log.warning(
                    "handler applied events whose ack was not committed; they will be delivered again",
                    handler=message.name,
                    last_seq=message.last_seq,
                    acked_seq=session.acked_seq,
                )
            self._perform(session, session.hello(peer, message.pid, now), now)
            return
        if name is None:
            if any(s.is_fenced(peer) for s in self.sessions.values()):
                self.log.debug("frame from fenced peer ignored", peer=peer.hex(), verb=message.verb.value)
            elif not isinstance(message, protocol.Bye | protocol.Error):
                self._send(peer, protocol.Error("not_registered", "say HELLO first"), now)
            return
        session = self.sessions[name]
        session.heard(peer, now)
        match message:
            case protocol.Ping():
                self._send(peer, protocol.Pong(), now)
            case protocol.Ack():
                self._on_ack(session, peer, message, now)
            case protocol.Nack():
                self._perform(session, session.nack(peer, message.seq, message.error, now), now)
            case protocol.Bye():
                self._perform(session, session.bye(peer, message.reason, now, counted=False), now)
            case protocol.Error():
                self.log.warning("error from handler", handler=name, code=message.code, error=message.message)
            case protocol.Pong():
                pass
            case _:
                self._send(peer, protocol.Error("malformed", f"{message.verb} is not sent by handlers"), now)

    def _on_ack(self, session: Session, peer: bytes, message: protocol.Ack, now: float) -> None:
        session.heard(peer, now)
        if message.emitted:
            error = None
            if any(e.kind in TOURNAMENT_KINDS for e in message.emitted):
                error = "emitted a kind reserved for the supervisor"
            else:
                try:
                    for e in message.emitted:
                        check_event(e.kind, e.round, e.payload)
                except ValueError as exc:
                    error = f"emitted an event the log refuses: {exc}"
            if error is not None:
                self._perform(session, session.nack(peer, message.seq, error, now), now)
                return
        self.failpoints.hit("after_ack_receive")
        self._perform(session, session.ack(peer, message.seq, message.emitted, now), now)

    def tick(self, now: float) -> None:
        """Heartbeat expiry, timeouts and backoffs."""
        self.flush(now)
        for session in self.sessions.values():
            actions = session.tick(now)
            if actions:
                self._perform(session, actions, now)

    def pump(self, now: float) -> None:
        """Deliver every event that is due to a handler that is ready for it."""
        self.flush(now)
        if self.eventlog.error is not None:
            return
        acked: dict[str, int] | None = None
        head, after, serial = self.head, self.after, self.serial
        for name, session in self.sessions.items():
            if session.acked_seq >= head or not session.wants_event(now):
                continue
            if serial or after[name]:
                if acked is None:
                    acked = {other: s.acked_seq for other, s in self.sessions.items()}
                seq = next_delivery(name, acked, head, after, serial)
            else:
                seq = session.acked_seq + 1  # what next_delivery says without after and serial
            if seq is not None:
                self._perform(session, session.event_available(seq, now), now)

    def next_deadline(self) -> float | None:
        """The earliest time a tick may change something."""
        times = [t for s in self.sessions.values() if (t := s.next_deadline()) is not None]
        return min(times) if times else None

    # ---- API used by the supervisor, the poller and the control commands ----

    @property
    def store_error(self) -> StoreError | None:
        """The last failed write while the log is degraded, else ``None``."""
        return self.eventlog.error

    def append(
        self,
        kind: str,
        round_: int | None,
        payload: Mapping[str, Any],
        *,
        source: str = "supervisor",
        dedupe_key: str | None = None,
    ) -> tuple[int, bool]:
        """Commit an event to the log (idempotent per kind and round); returns ``(seq, created)``.

        Raises :class:`StoreError` if it could not be committed, ``ValueError`` for a bad event.
        """
        seq, created = self.eventlog.append(kind, round_, payload, source=source, dedupe_key=dedupe_key)
        self.head = max(self.head, seq)
        self.log.info("event appended", seq=seq, kind=kind, round=round_, created=created, source=source)
        self.failpoints.hit("after_append_commit")
        self.failpoints.hit("stall_after_append")
        return seq, created

    def publish(
        self,
        events: Sequence[tuple[str, int | None, Mapping[str, Any]]],
        state: Mapping[str, str],
        files: Sequence[DatasetFile] = (),
    ) -> list[int]:
        """Commit what one poll of Numerai learned (events, tournament state, files) in one
        transaction, each event checked like an append; returns the seqs.

        Raises ``ValueError`` (nothing committed) for a bad event, :class:`StoreError` when the
        commit fails (the log is then degraded).
        """
        seqs = self.eventlog.publish(events, state, files)
        if seqs:
            self.head = max(self.head, *seqs)
        for seq, (kind, round_, _payload) in zip(seqs, events, strict=True):
            self.log.info("event appended", seq=seq, kind=kind, round=round_, source="follower")
        return seqs

    def retry(self, name: str, now: float) -> list[Action]:
        """Operator retry; returns the session's actions (a lone Reject means refused)."""
        self.flush(now)
        session = self.sessions[name]
        actions = session.retry(now)
        self._perform(session, actions, now)
        return actions

    def skip(self, name: str, now: float) -> list[Action]:
        """Operator skip of the head event; returns the session's actions."""
        self.flush(now)
        session = self.sessions[name]
        seq = session.acked_seq + 1
        actions = session.skip(seq, now)
        if not any(isinstance(a, Reject) for a in actions):
            self.log.warning("event skipped by operator", handler=name, seq=seq, last_error=session.last_error)
        self._perform(session, actions, now)
        return actions

    def probe_store(self) -> None:
        """While degraded, try a write; leave the degraded state when it works."""
        self.eventlog.probe()

    def goodbye(self, now: float, reason: str) -> None:
        """Tell every connected handler the supervisor is going away."""
        self.flush(now)
        for peer in list(self.peers):
            self._send(peer, protocol.Bye(reason), now)

    def status(self) -> dict[str, Any]:
        """Status of delivery: log head, store health, per handler state."""
        handlers = {
            name: {
                "state": s.state.value,
                "connected": s.connected,
                "pid": s.pid,
                "acked_seq": s.acked_seq,
                "in_flight": s.in_flight,
                "attempts": s.attempts,
                "last_error": s.last_error,
            }
            for name, s in self.sessions.items()
        }
        return status_document(
            head=self.head, serial=self.serial, after=self.after, handlers=handlers, store_error=self.store_error
        )

    # ---- actions ----

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
        self._delivered_at[session.name] = now
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
            started = self._delivered_at.pop(session.name, now)
            if self._debug:
                self.log.debug(
                    "event acked", handler=session.name, seq=action.seq, duration_ms=round((now - started) * 1000, 3)
                )
            self._perform(session, session.ack_committed(action.seq, now), now)
