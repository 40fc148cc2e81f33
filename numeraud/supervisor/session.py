"""The per-handler delivery state machine (pure: no I/O, no clock).

One :class:`Session` per configured handler. The supervisor feeds it inputs (a HELLO, an ACK, a
NACK, any frame, a BYE, a clock tick, an operator's retry, skip, rewind, pause or resume, an event
being available) with the current monotonic time, and performs the :data:`Action` list each input
returns, in order.
Every state change is reported as a :class:`Transition` action so that the caller logs it.

States (:class:`State`):

``DISCONNECTED``  no live handler process; nothing in flight.
``READY``         a process is connected and idle; it gets the next eligible event.
``BUSY``          one event is in flight to the process.
``BACKOFF``       the last delivery failed; the process gets the event again at ``retry_at``.
``BLOCKED``       the head event failed ``max_attempts`` times; only an operator's retry, skip or
                  rewind moves the handler on. Whether a process is connected is tracked in ``peer``.

``paused`` is apart from the state: an operator's pause keeps new events from a handler (one in
flight finishes and is ACKed as usual) until the operator resumes it. It is persisted with the
cursor, so it survives a restart of the supervisor.

Attempts count *failed deliveries* of the head event (the one after the cursor): a NACK, a
process that died or went silent while the event was in flight, or a timeout. The delivery
number sent in EVENT is ``attempts + 1``. A supervisor crash does not count against a handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from numeraud.common import protocol
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


@dataclass
class Session:
    """Delivery state of one handler. Mutated only through its input methods."""

    name: str
    policy: Policy
    acked_seq: int = 0
    state: State = State.DISCONNECTED
    attempts: int = 0
    last_error: str | None = None
    peer: bytes | None = None
    pid: int | None = None
    last_seen: float = 0.0
    in_flight: int | None = None
    #: When the in-flight event was sent (the monotonic time of its ``event_available``).
    delivered_at: float | None = None
    deadline: float | None = None
    retry_at: float = 0.0
    #: The operator paused the handler: it gets no new event until resumed.
    paused: bool = False
    #: A CommitAck is outstanding for the in-flight seq; further ACKs for it are duplicates.
    committing: bool = False
    _fenced: set[bytes] = field(default_factory=set, repr=False)

    @classmethod
    def restore(
        cls,
        name: str,
        policy: Policy,
        *,
        acked_seq: int,
        blocked: bool,
        attempts: int,
        last_error: str | None,
        paused: bool = False,
    ) -> Session:
        """Rebuild a session from its persisted cursor after a (re)start."""
        state = State.BLOCKED if blocked else State.DISCONNECTED
        return cls(
            name=name,
            policy=policy,
            acked_seq=acked_seq,
            state=state,
            attempts=attempts,
            last_error=last_error,
            paused=paused,
        )

    # -- queries --

    @property
    def connected(self) -> bool:
        """Whether a handler process is attached."""
        return self.peer is not None

    def wants_event(self, now: float) -> bool:
        """Whether the next event should be offered now (``READY`` and not paused; BACKOFF moves on in
        :meth:`tick`)."""
        return self.state is State.READY and self.peer is not None and not self.paused and now >= self.retry_at

    def is_fenced(self, peer: bytes) -> bool:
        """Whether ``peer`` was replaced by a newer process for this name."""
        return peer in self._fenced

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`tick` may change something (for the poll timeout)."""
        # Called on every pass of the supervisor loop for every handler: no lists.
        at = None if self.peer is None else self.last_seen + self.policy.silence
        state = self.state
        other = self.deadline if state is State.BUSY else self.retry_at if state is State.BACKOFF else None
        if other is None:
            return at
        return other if at is None or other < at else at

    # -- helpers --

    def _move(self, new: State, reason: str) -> list[Action]:
        old, self.state = self.state, new
        return [Transition(old, new, reason)] if old is not new else []

    def _save(self) -> SaveCursor:
        return SaveCursor(self.acked_seq, self.state, self.attempts, self.last_error, self.paused)

    def _idle_state(self, now: float) -> State:
        """Where a connected, idle handler goes: READY, or BACKOFF until ``retry_at``."""
        return State.BACKOFF if now < self.retry_at else State.READY

    def _fail_in_flight(self, error: str, now: float) -> list[Action]:
        """The in-flight delivery failed (NACK, lost peer, timeout): count it, maybe block."""
        self.attempts += 1
        self.last_error = error
        self.in_flight = None
        self.deadline = None
        self.committing = False
        self.retry_at = now + self.policy.backoff_for(self.attempts)
        if self.attempts >= self.policy.max_attempts:
            actions = self._move(State.BLOCKED, f"attempt {self.attempts} of {self.policy.max_attempts} failed")
        elif self.peer is not None:
            actions = self._move(self._idle_state(now), f"attempt {self.attempts} failed")
        else:
            actions = self._move(State.DISCONNECTED, f"attempt {self.attempts} failed")
        return [*actions, self._save()]

    def _drop_peer(self, reason: str, now: float, *, fenced: bool, counted: bool = True) -> list[Action]:
        peer = self.peer
        if peer is None:
            return []
        self.peer = None
        self.pid = None
        actions: list[Action] = [Detach(peer, fenced=fenced)]
        if fenced:
            self._fenced.add(peer)
        if self.state is State.BUSY and counted:
            actions += self._fail_in_flight(reason, now)
        elif self.state is State.BUSY:  # put back: it comes again, as the same attempt
            self.in_flight = None
            self.deadline = None
            self.committing = False
            actions += self._move(State.DISCONNECTED, reason)
        elif self.state is not State.BLOCKED:
            actions += self._move(State.DISCONNECTED, reason)
        return actions

    # -- inputs --

    def hello(self, peer: bytes, pid: int, now: float) -> list[Action]:
        """A HELLO for this handler's name. The newest peer wins; an older one is fenced off.

        A HELLO again from the attached peer (the same socket of the same process, which lost
        track of its registration, not of its work) keeps an event in flight: its answer comes.
        """
        actions: list[Action] = []
        if self.peer == peer and self.state is State.BUSY:
            self.pid = pid
            self.last_seen = now
            return [self._welcome(peer)]
        if self.peer is not None:
            old = self.peer
            if old != peer:
                actions.append(Send(old, protocol.Error("fenced", f"handler {self.name!r} taken over by pid {pid}")))
            actions += self._drop_peer(f"replaced by pid {pid}", now, fenced=old != peer)
        self.peer = peer
        self.pid = pid
        self.last_seen = now
        self._fenced.discard(peer)
        actions.append(Attach(peer))
        if self.state is not State.BLOCKED:
            actions += self._move(self._idle_state(now), f"hello from pid {pid}")
        actions.append(self._welcome(peer))
        return actions

    def _welcome(self, peer: bytes) -> Send:
        welcome = protocol.Welcome(
            self.name, self.acked_seq, self.policy.heartbeat_ms, self.policy.liveness, protocol.API_VERSION
        )
        return Send(peer, welcome)

    def heard(self, peer: bytes, now: float) -> None:
        """Any valid frame from the attached peer counts as a heartbeat."""
        if peer == self.peer:
            self.last_seen = now

    def event_available(self, seq: int, now: float) -> list[Action]:
        """Event ``seq`` is the next one for this handler and the scheduler allows it."""
        if not self.wants_event(now) or self.peer is None:
            return [Reject(f"event {seq} offered in state {self.state}")]
        if seq != self.acked_seq + 1:
            return [Reject(f"event {seq} offered but cursor is at {self.acked_seq}")]
        self.in_flight = seq
        self.delivered_at = now
        self.committing = False
        self.deadline = None if self.policy.timeout is None else now + self.policy.timeout + self.policy.grace
        attempt = self.attempts + 1
        return [*self._move(State.BUSY, f"deliver {seq} attempt {attempt}"), Deliver(self.peer, seq, attempt)]

    def ack(self, peer: bytes, seq: int, emitted: Sequence[protocol.Emitted], now: float) -> list[Action]:
        """An ACK. The cursor moves only in :meth:`ack_committed`, after the commit succeeded."""
        if peer != self.peer:
            return [Reject(f"ack {seq} from a peer that is not attached")]
        if self.state is not State.BUSY or seq != self.in_flight:
            return [
                Reject(f"ack {seq} but in flight is {self.in_flight}"),
                Send(peer, protocol.Error("unexpected", f"ack for {seq}, in flight: {self.in_flight}")),
            ]
        if self.committing:
            return [Reject(f"duplicate ack {seq}")]
        self.committing = True
        return [CommitAck(seq, tuple(emitted))]

    def ack_committed(self, seq: int, now: float) -> list[Action]:
        """The ACK of ``seq`` is durable: move the cursor and go idle."""
        if self.state is not State.BUSY or seq != self.in_flight:
            return [Reject(f"commit of {seq} but in flight is {self.in_flight}")]
        self.acked_seq = seq
        self.attempts = 0
        self.last_error = None
        self.in_flight = None
        self.deadline = None
        self.committing = False
        self.retry_at = 0.0
        target = State.READY if self.peer is not None else State.DISCONNECTED
        return self._move(target, f"acked {seq}")

    def commit_failed(self, seq: int, error: str, now: float) -> list[Action]:
        """The ACK of ``seq`` could not be committed (store error): the event will come again.

        Not the handler's fault, so the attempt is not counted.
        """
        if self.state is not State.BUSY or seq != self.in_flight:
            return [Reject(f"commit failure of {seq} but in flight is {self.in_flight}")]
        self.in_flight = None
        self.deadline = None
        self.committing = False
        target = State.READY if self.peer is not None else State.DISCONNECTED
        return self._move(target, f"commit of ack {seq} failed: {error}")

    def nack(self, peer: bytes, seq: int, error: str, now: float) -> list[Action]:
        """A NACK: count the failed attempt, back off or block."""
        if peer != self.peer:
            return [Reject(f"nack {seq} from a peer that is not attached")]
        if self.state is not State.BUSY or seq != self.in_flight or self.committing:
            return [
                Reject(f"nack {seq} but in flight is {self.in_flight}"),
                Send(peer, protocol.Error("unexpected", f"nack for {seq}, in flight: {self.in_flight}")),
            ]
        return self._fail_in_flight(error, now)

    def bye(self, peer: bytes, reason: str, now: float, *, counted: bool = True) -> list[Action]:
        """The peer is gone. An event in flight counts as a failed attempt unless ``counted`` is
        false: a handler's own BYE, which it sends only holding no event (after answering its
        last one), so that an event sent while it was stopping was never started."""
        if peer != self.peer:
            return [Reject("bye from a peer that is not attached")]
        return self._drop_peer(f"bye: {reason}" if reason else "bye", now, fenced=False, counted=counted)

    def tick(self, now: float) -> list[Action]:
        """Time passed: silent peers are gone, overdue events are given up, backoffs end."""
        actions: list[Action] = []
        if self.peer is not None and now - self.last_seen >= self.policy.silence:
            actions += self._drop_peer(f"silent for {now - self.last_seen:.1f}s", now, fenced=False)
        if self.state is State.BUSY and self.deadline is not None and now >= self.deadline and self.peer is not None:
            peer = self.peer
            actions.append(Send(peer, protocol.Error("timeout", f"event {self.in_flight} took too long")))
            actions += self._drop_peer(f"event {self.in_flight} timed out", now, fenced=True)
        if self.state is State.BACKOFF and now >= self.retry_at:
            actions += self._move(State.READY, "backoff over")
        return actions

    def retry(self, now: float) -> list[Action]:
        """Operator: deliver the head event again now, with a fresh attempt count."""
        if self.state not in (State.BLOCKED, State.BACKOFF) and self.attempts == 0:
            return [Reject(f"retry in state {self.state}: nothing failed")]
        if self.state is State.BUSY:
            return [Reject("retry while an event is in flight")]
        self.attempts = 0
        self.retry_at = 0.0
        target = State.READY if self.peer is not None else State.DISCONNECTED
        actions = self._move(target, "operator retry")
        return [*actions, self._save()]

    def skip(self, seq: int, now: float) -> list[Action]:
        """Operator: give up on the head event ``seq`` (it must be the one that failed) and move on."""
        if self.state not in (State.BLOCKED, State.BACKOFF):
            return [Reject(f"skip in state {self.state}: nothing failed")]
        if seq != self.acked_seq + 1:
            return [Reject(f"skip of {seq} but head is {self.acked_seq + 1}")]
        self.acked_seq = seq
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error = None
        target = State.READY if self.peer is not None else State.DISCONNECTED
        actions = self._move(target, f"operator skipped {seq}")
        return [*actions, self._save()]

    def rewind(self, seq: int, now: float) -> list[Action]:
        """Operator: deliver again from event ``seq`` (at most the head event): the cursor moves to
        ``seq - 1``, attempts start over, a blocked handler is unblocked. Refused while an event is
        in flight (its ACK would move the cursor past the rewind)."""
        if self.state is State.BUSY:
            return [Reject(f"rewind while event {self.in_flight} is in flight")]
        if not 1 <= seq <= self.acked_seq + 1:
            return [Reject(f"rewind to {seq} but the cursor is at {self.acked_seq}")]
        old = self.acked_seq
        self.acked_seq = seq - 1
        self.attempts = 0
        self.retry_at = 0.0
        self.last_error = None
        target = State.READY if self.peer is not None else State.DISCONNECTED
        actions = self._move(target, f"operator rewound the cursor from {old} to {seq - 1}")
        return [*actions, self._save()]

    def pause(self, now: float) -> list[Action]:
        """Operator: no new event until :meth:`resume` (an event in flight finishes as usual).
        Pausing a paused handler changes nothing (no action)."""
        if self.paused:
            return []
        self.paused = True
        return [self._save()]

    def resume(self, now: float) -> list[Action]:
        """Operator: end a pause; delivery goes on. Resuming a handler not paused changes nothing."""
        if not self.paused:
            return []
        self.paused = False
        return [self._save()]
