"""The dispatcher: decoded bus frames in, each routed to its handler's session; the delivery API.

It owns the per-handler :class:`~numeraud.supervisor.session.Session` objects, feeds them every
input (a frame, a clock tick, an event due, an operator's retry, skip, rewind, pause or resume)
and has their actions performed by :class:`~numeraud.supervisor.delivery.Delivery`: commit
before send (an ACK is
committed before the next event goes out; an appended event is committed before any handler can
see it). It never touches a socket: the supervisor passes a ``send(peer, frames) -> bool``
callable (``False`` = peer unreachable).

It owns the one door to the event log (:class:`~numeraud.supervisor.eventlog.EventLog`):
:meth:`Dispatcher.append` (operator, supervisor), :meth:`Dispatcher.publish` (the follower's poll:
events, tournament state and files in one transaction), the ACKs with their emitted events and the
cursor saves, all validated alike (:mod:`~numeraud.supervisor.event_checks`). A handler parked on
an event gets ``handler_blocked`` in the log in the same transaction as its blocked cursor. When a
write fails (disk full, I/O error) the log turns *degraded*: delivery stops, the log and status
say so, nothing uncommitted is acknowledged, and a probe or the next successful write ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from numeraud.common import protocol
from numeraud.common.config import Config
from numeraud.common.failpoints import Failpoints
from numeraud.supervisor.delivery import Delivery, SendFn
from numeraud.supervisor.delivery_order import next_delivery
from numeraud.supervisor.delivery_status import session_facts, status_document
from numeraud.supervisor.event_checks import emitted_problem
from numeraud.supervisor.session import Session
from numeraud.supervisor.session_actions import Action, Reject, State
from numeraud.supervisor.session_policy import Policy
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import DatasetFile


class Dispatcher(Delivery):
    """Delivery of the log to the configured handlers."""

    def __init__(self, store: Store, config: Config, send: SendFn, log: Any, failpoints: Failpoints) -> None:
        super().__init__(store, send, log, failpoints)
        self.serial = config.bus.serial
        self.after = {name: h.after for name, h in config.handlers.items()}
        for name, h in config.handlers.items():
            # A handler configured for the first time starts at the log head: it gets new events,
            # not the whole history.
            cursor = store.ensure_cursor(name, self.head)
            self.sessions[name] = Session.restore(
                name,
                Policy.of(h, config.bus),
                acked_seq=cursor.acked_seq,
                blocked=cursor.state == State.BLOCKED.value,
                attempts=cursor.attempts,
                last_error=cursor.last_error,
                paused=cursor.paused,
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
            error = emitted_problem(message.emitted)
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
        seqs = self.eventlog.publish(events, state, files, during=lambda: self.failpoints.hit("mid_publish"))
        if seqs:
            self.head = max(self.head, *seqs)
        for seq, (kind, round_, _payload) in zip(seqs, events, strict=True):
            self.log.info("event appended", seq=seq, kind=kind, round=round_, source="follower")
        return seqs

    def _operate(self, name: str, now: float, act: Callable[[Session], list[Action]]) -> list[Action]:
        """An operator's input to ``name``'s session, after the pending ACKs are committed; the
        session's actions are performed and returned (a lone Reject means refused)."""
        self.flush(now)
        session = self.sessions[name]
        actions = act(session)
        self._perform(session, actions, now)
        return actions

    def retry(self, name: str, now: float) -> list[Action]:
        """Operator retry; returns the session's actions (a lone Reject means refused)."""
        return self._operate(name, now, lambda session: session.retry(now))

    def skip(self, name: str, now: float) -> list[Action]:
        """Operator skip of the head event; returns the session's actions."""

        def skip(session: Session) -> list[Action]:
            seq, error = session.acked_seq + 1, session.last_error  # the skip clears the error
            actions = session.skip(seq, now)
            if not any(isinstance(a, Reject) for a in actions):
                self.log.warning("event skipped by operator", handler=name, seq=seq, last_error=error)
            return actions

        return self._operate(name, now, skip)

    def rewind(self, name: str, seq: int, now: float) -> list[Action]:
        """Operator rewind: ``name`` gets the events from ``seq`` on again; returns the session's actions."""

        def rewind(session: Session) -> list[Action]:
            old = session.acked_seq
            actions = session.rewind(seq, now)
            if not any(isinstance(a, Reject) for a in actions):
                self.log.warning("cursor rewound by operator", handler=name, old_cursor=old, new_cursor=seq - 1)
            return actions

        return self._operate(name, now, rewind)

    def pause(self, name: str, now: float) -> list[Action]:
        """Operator pause: ``name`` gets no new event until :meth:`resume`."""
        return self._operate(name, now, lambda session: session.pause(now))

    def resume(self, name: str, now: float) -> list[Action]:
        """Operator resume of a paused handler."""
        return self._operate(name, now, lambda session: session.resume(now))

    def probe_store(self) -> None:
        """While degraded, try a write; leave the degraded state when it works."""
        self.eventlog.probe()

    def goodbye(self, now: float, reason: str) -> None:
        """Tell every connected handler the supervisor is going away."""
        self.flush(now)
        for peer in list(self.peers):
            self._send(peer, protocol.Bye(reason), now)

    def status(self, now: float | None = None, wall: datetime | None = None) -> dict[str, Any]:
        """Status of delivery: log head, store health, per handler state; with ``now`` (the
        monotonic clock) the in-flight event's elapsed time and a backoff's wait, with ``wall``
        (the wall clock at ``now``) the backoff's end as a time."""
        return status_document(
            head=self.head,
            serial=self.serial,
            after=self.after,
            handlers=session_facts(self.sessions, now, wall),
            store_error=self.store_error,
        )
