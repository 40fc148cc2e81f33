"""The handler runtime: one handler process on the bus (``numeraud-handler NAME``).

Two threads share the DEALER socket and hand it to each other under a lock, the *baton* (a
ZeroMQ socket may move between threads across a full memory barrier, which taking a lock is):

- the **worker** thread runs the handler's callbacks, one at a time. Between callbacks it holds
  the baton and serves the socket itself, so an EVENT is received, handled and ACKed by one
  thread with no hand-off between threads on the way: a thread hand-off costs more than the rest
  of a round trip.
- the **main** thread keeps the signals and the systemd watchdog, and, as soon as a callback
  (``on_start`` too) has run for a moment, takes the baton and keeps the socket for as long as the
  callback runs: heartbeats (PING every interval; the supervisor is gone after ``liveness`` silent
  intervals and the socket is recreated with exponential backoff, as in the ZeroMQ guide's
  Paranoid Pirate), the supervisor's frames, and the callback's ``timeout``. A long ``fit`` never
  stops the heartbeats. When the callback returns, the worker asks for the baton back.

Exit codes:

``0``   clean stop (SIGTERM), or ``recycle = true`` after an event (systemd ``Restart=always`` or
        ``numeraud run --spawn-handlers`` start a fresh process, whose memory starts clean)
``1``   ``on_start`` failed, or an unexpected error
``10``  fenced: a newer process took this handler's name (systemd: ``RestartPreventExitStatus=10``)
``11``  a callback ran past ``timeout``: NACKed, the watchdog is no longer fed, the process exits so
        the event goes to a fresh process
``78``  configuration error (EX_CONFIG), including a class that cannot be imported
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

import zmq

from numeraud.common import protocol
from numeraud.common.config import EX_CONFIG, Config, ConfigError, HandlerConfig
from numeraud.common.exitcodes import EXIT_FAILURE, EXIT_FENCED, EXIT_OK, EXIT_TIMEOUT
from numeraud.common.logs import scrub_text, secret_values
from numeraud.common.notify import Notifier
from numeraud.handler.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler

RECONNECT_MIN: Final = 0.25
RECONNECT_MAX: Final = 30.0
#: How long queued ACK/NACK/BYE frames may take to leave on exit.
FLUSH_MS: Final = 2000
#: How often the main thread looks at the worker; a callback running longer than this gets the
#: main thread to keep the socket (capped at a quarter of the heartbeat interval).
TICK: Final = 0.1
# Plain ints: pyzmq's flag enums cost an enum construction per ``&``/``|`` on the hot path.
_NOBLOCK: Final = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK: Final = int(zmq.SNDMORE) | _NOBLOCK


def load_handler_class(config: Config, handler: HandlerConfig) -> type[EventHandler]:
    """Import the class named by ``[handlers.NAME] class``; a failure is a ConfigError."""
    module_name, _, attr = handler.class_path.partition(":")
    key = f"handlers.{handler.name}.class"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(key, f"cannot import {module_name}: {type(exc).__name__}: {exc}", config.path) from None
    cls: object = module
    for part in attr.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ConfigError(key, f"{module_name} has no {attr}", config.path)
    if not isinstance(cls, type) or not issubclass(cls, EventHandler):
        raise ConfigError(key, f"{handler.class_path} is not a subclass of numeraud.EventHandler", config.path)
    return cls


@dataclass
class Job:
    """A callback to run: ``start``, ``event`` or ``shutdown``."""

    kind: str
    event: HandlerEvent | None = None


@dataclass
class Result:
    """What a callback did."""

    kind: str
    ok: bool
    duration: float
    seq: int = 0
    error: str | None = None
    emitted: tuple[protocol.Emitted, ...] = ()


class Callbacks:
    """Runs the handler's callbacks and saves ``persistent_state`` after each event handled."""

    def __init__(self, handler: EventHandler, state: StateFile, log: Any) -> None:
        self.handler = handler
        self.state = state
        self.log = log
        self._secrets = secret_values()

    def run(self, job: Job, started: float) -> Result:
        """Run ``job``'s callback; an exception becomes a failed :class:`Result` (text scrubbed).

        An event's callback that fails leaves ``persistent_state`` as it was before the callback
        (restored in place, so references to the dict stay valid): a failed attempt's changes are
        never saved by the next event that succeeds.
        """
        handler = self.handler
        event = job.event
        seq = event.seq if event is not None else 0
        try:
            if event is not None:
                state = handler.persistent_state
                before = copy.deepcopy(state)
                handler.event = event
                handler._emitted = []
                handler.log = self.log.bind(seq=seq, round=event.round, kind=event.kind, attempt=event.attempt)
                try:
                    handler.dispatch(event)
                    self.state.save(handler.persistent_state)
                except BaseException:
                    state.clear()
                    state.update(before)
                    handler.persistent_state = state
                    raise
                finally:
                    handler.event = None
                    handler.log = self.log
                return Result("event", True, time.monotonic() - started, seq, None, tuple(handler._emitted))
            if job.kind == "start":
                handler.on_start()
            elif job.kind == "shutdown":
                handler.on_shutdown()
            return Result(job.kind, True, time.monotonic() - started, seq=seq)
        except Exception as exc:
            text = scrub_text("".join(traceback.format_exception_only(type(exc), exc)).strip(), self._secrets)
            trace = scrub_text("".join(traceback.format_exception(exc)), self._secrets)
            self.log.error("callback raised", job=job.kind, seq=seq or None, error=text, traceback=trace)
            return Result(job.kind, False, time.monotonic() - started, seq=seq, error=text)


@dataclass
class _InFlight:
    seq: int
    started: float
    event: HandlerEvent


@dataclass
class _Connection:
    sock: zmq.Socket[Any]
    welcomed: bool = False
    #: When the HELLO still waiting for its WELCOME went out (``None``: none is waiting).
    hello_at: float | None = None
    last_heard: float = 0.0
    last_sent: float = 0.0
    heartbeat: float = 1.0
    liveness: int = 5


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        os.eventfd_read(fd)


class HandlerRuntime:
    """One handler process: ``run()`` returns the exit code (or the process exits hard)."""

    def __init__(
        self,
        config: Config,
        name: str,
        *,
        log: Any,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.spec = config.handler(name)
        config.require_client_curve()
        self.name = name
        self.log = log
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.conn: _Connection | None = None
        self.reconnect_at = 0.0
        self.reconnect_delay = RECONNECT_MIN
        self.in_flight: _InFlight | None = None
        #: A result computed while disconnected, sent again if the same seq is redelivered.
        self.unsent: Result | None = None
        self.last_seq = 0
        self.stop_reason: str | None = None
        #: Whether "stop requested; the running callback finishes first" was logged.
        self._stop_deferred = False
        self.shutting_down = False
        self.started = False
        self.callbacks: Callbacks | None = None
        self._sig_r, self._sig_w = socket.socketpair()
        self._sig_r.setblocking(False)
        self._sig_w.setblocking(False)
        #: Whoever holds it may use the socket and the bus state above.
        self._baton = threading.Lock()
        #: main -> worker: look at ``stop_reason``. worker -> main: give the baton back, or exited.
        self._wake_worker = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wake_main = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        #: Whether the worker thread holds the baton (only the worker reads or writes it).
        self._worker_holds = False
        self._next_watchdog = clock()
        #: When the running callback started (``None``: no callback is running). Set by the worker.
        self._busy_since: float | None = None
        #: The worker's exit code once its loop ended.
        self._worker_exit: int | None = None
        #: The last pass of the bus loop, whichever thread ran it (watchdog health).
        self._loop_at = clock()
        #: The latest STATUS text for systemd (sent with READY=1 if it came before).
        self._status: str | None = None
        heartbeat = config.bus.heartbeat_interval
        self._tick = min(TICK, heartbeat / 4)
        #: The bus loop turns at least once a second; this much silence means it is stuck.
        self._stall = max(5.0, 3 * heartbeat)

    # ---- set-up ----

    def _build(self) -> Callbacks:
        cls = load_handler_class(self.config, self.spec)
        state = StateFile(self.spec.state_dir / "state.json")
        try:
            saved = state.load()
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"handlers.{self.name}.state_dir", f"cannot read saved state: {exc}", self.config.path
            ) from None
        context = HandlerContext(
            name=self.name,
            options=self.spec.options,
            state_dir=self.spec.state_dir,
            data_dir=self.config.paths.data_dir,
            persistent_state=saved,
            api_url=self.config.numerai.api_url,
        )
        handler = build_handler(cls, context)
        handler.log = self.log
        return Callbacks(handler, state, self.log)

    def _connect(self, now: float) -> None:
        sock: zmq.Socket[Any] = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.setsockopt(zmq.RCVHWM, 1000)
        sock.setsockopt(zmq.MAXMSGSIZE, 4 * protocol.MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        endpoint = self.config.bus.endpoint
        if endpoint.startswith("tcp://"):
            self._enable_curve(sock)
        sock.connect(endpoint)
        self.conn = _Connection(
            sock=sock,
            last_heard=now,
            last_sent=now,
            heartbeat=self.config.bus.heartbeat_interval,
            liveness=self.config.bus.heartbeat_liveness,
        )
        self._hello(now)

    def _enable_curve(self, sock: zmq.Socket[Any]) -> None:
        import zmq.auth  # noqa: PLC0415 - only for tcp:// buses

        curve = self.config.bus.curve
        if curve.client_key is None or curve.server_public_key is None:
            raise ConfigError("bus.curve", "client_key and server_public_key are required", self.config.path)
        try:
            public, secret = zmq.auth.load_certificate(str(curve.client_key))
            server_public, _ = zmq.auth.load_certificate(str(curve.server_public_key))
        except (OSError, ValueError) as exc:
            raise ConfigError("bus.curve", f"cannot load certificate: {exc}", self.config.path) from None
        if not secret:
            raise ConfigError("bus.curve.client_key", "is not a secret certificate", self.config.path)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_serverkey = server_public

    def _drop_connection(self, now: float, why: str) -> None:
        if self.conn is not None:
            self.conn.sock.close(linger=0)
            self.conn = None
        self.reconnect_at = now + self.reconnect_delay
        self.log.warning("supervisor connection lost; reconnecting", reason=why, retry_in_s=self.reconnect_delay)
        self.reconnect_delay = min(self.reconnect_delay * 2, RECONNECT_MAX)

    # ---- sending (baton held) ----

    def _send(self, message: protocol.Message, now: float) -> bool:
        conn = self.conn
        if conn is None:
            return False
        try:
            frames = protocol.encode(message)
        except protocol.ProtocolError as exc:
            self.log.error("cannot encode message", verb=message.verb.value, error=exc.message)
            return False
        sock = conn.sock
        try:
            # What send_multipart does, without its per-frame flag enum arithmetic: at the HWM
            # the first frame is refused (zmq.Again) and nothing is queued.
            for frame in frames[:-1]:
                sock.send(frame, _SNDMORE_NOBLOCK)
            sock.send(frames[-1], _NOBLOCK)
        except zmq.Again:
            return False
        conn.last_sent = now
        return True

    def _hello(self, now: float) -> None:
        if self.conn is not None:
            self.conn.welcomed = False
            self.conn.hello_at = now
        self._send(protocol.Hello(name=self.name, pid=os.getpid(), last_seq=self.last_seq), now)

    # ---- the process ----

    def run(self) -> int:
        """Build the handler, run on_start, connect, serve events until stopped; returns the exit
        code. The handler says HELLO only once on_start is done: it gets no event before."""
        try:
            self.callbacks = self._build()
        except ConfigError as exc:
            self.log.error("invalid configuration", error=str(exc))
            print(f"numeraud-handler: {exc}", file=sys.stderr)
            return EX_CONFIG
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(self._sig_w.fileno())
        worker = threading.Thread(target=self._worker_main, name=f"handler-{self.name}", daemon=True)
        try:
            # The main thread keeps the baton (and the watchdog) while on_start runs in the worker.
            self._baton.acquire()
            self._busy_since = self.clock()
            worker.start()
            return self._main(worker)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for s in (self._sig_r, self._sig_w):
                s.close()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = signal.Signals(signum).name

    def _main(self, worker: threading.Thread) -> int:
        """The main thread (holding the baton at first): watchdog, signals, and the socket while
        a callback runs."""
        watchdog_every = self.notifier.watchdog_interval
        waiter = select.poll()
        waiter.register(self._sig_r.fileno(), select.POLLIN)
        waiter.register(self._wake_main, select.POLLIN)
        holding = True
        stop_passed_on = False
        while True:
            if holding:
                code = self._serve(guard=True)
                if code is not None:
                    return self._exit(code, worker)
                holding = False
                self._baton.release()
            now = self.clock()
            wake_at = now + self._tick
            if watchdog_every is not None and self._next_watchdog < wake_at:
                wake_at = self._next_watchdog
            waiter.poll(max(0, int((wake_at - now) * 1000) + 1))
            now = self.clock()
            with contextlib.suppress(OSError):
                self._sig_r.recv(64)
            _drain(self._wake_main)
            if self.stop_reason is not None and not stop_passed_on:
                stop_passed_on = True
                self._note_stop()
                os.eventfd_write(self._wake_worker, 1)
            if self._worker_exit is not None:
                self._baton.acquire()
                return self._exit(self._worker_exit, worker)
            self._feed_watchdog(now)
            busy_since = self._busy_since
            if busy_since is not None and now - busy_since >= self._tick and self._baton.acquire(blocking=False):
                holding = self._busy_since is not None  # the callback may have ended meanwhile
                if not holding:
                    self._baton.release()

    def _note_stop(self) -> None:
        """Main thread: say once that a stop signal came while a callback runs (it finishes first)."""
        if not self._stop_deferred and self._busy_since is not None:
            self._stop_deferred = True
            self.log.info("stop requested; the running callback finishes first", reason=self.stop_reason)

    def _feed_watchdog(self, now: float) -> None:
        """Main thread: WATCHDOG=1 when due and healthy. systemd arms the watchdog at READY=1
        (sent once on_start is done), so the first WATCHDOG=1 never goes before it."""
        every = self.notifier.watchdog_interval
        if every is None or now < self._next_watchdog or not self.started:
            return
        if self._healthy(now):
            self.notifier.watchdog()
        self._next_watchdog = now + every

    def _healthy(self, now: float) -> bool:
        """Whether to feed the watchdog: the running callback is within its timeout, or the bus
        loop turns."""
        if self._busy_since is not None:
            in_flight, timeout = self.in_flight, self.spec.timeout
            return in_flight is None or timeout is None or now - in_flight.started < timeout
        return now - self._loop_at < self._stall

    def _worker_main(self) -> None:
        """The worker thread: on_start, then the bus loop with the callbacks run in place."""
        code: int | None = EXIT_FAILURE
        try:
            result = self._call(Job("start"), holding=False)
            code = self._on_result(result, self.clock())
            if code is None:
                code = self._serve(guard=False)
        except ConfigError as exc:  # e.g. a CURVE certificate that cannot be read, on connecting
            self.log.error("invalid configuration", error=str(exc))
            print(f"numeraud-handler: {exc}", file=sys.stderr)
            code = EX_CONFIG
        except BaseException as exc:  # SystemExit from a callback, or a bug here
            self.log.exception("handler runtime failed")
            in_flight = self.in_flight
            if in_flight is not None and self._worker_holds:  # answer rather than go silent
                error = f"{type(exc).__name__} in the callback: the handler process exits"
                self._send(protocol.Nack(in_flight.seq, error), self.clock())
                self._send(protocol.Bye("handler failed"), self.clock())
        finally:
            self._worker_exit = EXIT_FAILURE if code is None else code
            if self._worker_holds:
                self._worker_holds = False
                self._baton.release()
            os.eventfd_write(self._wake_main, 1)

    def _call(self, job: Job, *, holding: bool = True) -> Result:
        """Run a callback in the worker thread without the baton, then take it back."""
        self._busy_since = started = self.clock()
        if holding:
            self._worker_holds = False
            self._baton.release()
        try:
            assert self.callbacks is not None, "run() builds the callbacks before the worker starts"
            return self.callbacks.run(job, started)
        finally:
            self._busy_since = None
            if not self._baton.acquire(blocking=False):
                os.eventfd_write(self._wake_main, 1)  # the main thread keeps the socket: ask for it
                self._baton.acquire()
            self._worker_holds = True

    # ---- the bus loop (baton held) ----

    def _serve(self, *, guard: bool) -> int | None:
        """Serve the socket: the worker between callbacks (``guard=False``), or the main thread
        while one runs (``guard=True``, until it ends: then ``None``). Returns an exit code."""
        timeout = self.spec.timeout
        poller: zmq.Poller | None = None
        polled: _Connection | None = None
        own_wake = self._wake_main if guard else self._wake_worker
        sig_fd = self._sig_r.fileno()
        while True:
            now = self.clock()
            self._loop_at = now
            if guard:
                if self._busy_since is None:
                    return None
            elif self.stop_reason is not None and not self.shutting_down and self.in_flight is None and self.started:
                return self._shutdown()
            if self.conn is None and now >= self.reconnect_at and self.started and not self.shutting_down:
                self._connect(now)
            conn = self.conn
            if conn is not None:
                heartbeat = conn.heartbeat
                wake_at = min(now + 1.0, conn.last_sent + heartbeat, conn.last_heard + heartbeat * conn.liveness)
            else:
                wake_at = min(now + 1.0, self.reconnect_at)
            in_flight = self.in_flight
            if guard:
                wake_at = min(wake_at, now + self._tick)  # watchdog, and the callback's end
                if in_flight is not None and timeout is not None and in_flight.started + timeout < wake_at:
                    wake_at = in_flight.started + timeout
            if poller is None or polled is not conn:
                poller, polled = zmq.Poller(), conn
                if conn is not None:
                    poller.register(conn.sock, zmq.POLLIN)
                poller.register(own_wake, zmq.POLLIN)
                if guard:
                    poller.register(sig_fd, zmq.POLLIN)
            ready = dict(poller.poll(max(0, int((wake_at - now) * 1000) + 1)))
            now = self.clock()
            if conn is not None and conn.sock in ready:
                # One message per pass: poll just said it is there, and the next poll looks for
                # more (asking ZMQ_EVENTS here as well would cost a syscall per message).
                try:
                    frames = conn.sock.recv_multipart(_NOBLOCK)
                except zmq.Again:
                    frames = None
                if frames is not None:
                    code = self._on_message(frames, now, guard=guard)
                    if code is not None:
                        return code
                now = self.clock()  # a callback may have run
            if own_wake in ready:
                _drain(own_wake)
            if guard and sig_fd in ready:
                with contextlib.suppress(OSError):
                    self._sig_r.recv(64)
                if self.stop_reason is not None:
                    self._note_stop()
                    os.eventfd_write(self._wake_worker, 1)
            conn = self.conn
            if conn is not None:
                if now - conn.last_heard >= conn.heartbeat * conn.liveness:
                    self._drop_connection(now, f"no frame from the supervisor for {now - conn.last_heard:.1f}s")
                elif now - conn.last_sent >= conn.heartbeat and not self._send(protocol.Ping(), now):
                    conn.last_sent = now  # queue full: try again in an interval, not at once
            if guard:
                in_flight = self.in_flight
                if in_flight is not None and timeout is not None and now - in_flight.started >= timeout:
                    return self._give_up(in_flight, timeout, now)
                self._feed_watchdog(now)

    def _on_message(self, frames: list[bytes], now: float, *, guard: bool) -> int | None:
        conn = self.conn
        if conn is None:
            return None
        conn.last_heard = now
        try:
            message = protocol.decode(frames)
        except protocol.ProtocolError as exc:
            self.log.warning("bad frame from supervisor", code=exc.code, error=exc.message)
            return None
        if type(message) is protocol.Event:  # the one of every round trip, before the match
            return self._on_event(message, now, guard=guard)
        match message:
            case protocol.Welcome():
                conn.welcomed = True
                conn.hello_at = None
                conn.heartbeat = message.heartbeat_ms / 1000.0
                conn.liveness = message.liveness
                self.reconnect_delay = RECONNECT_MIN
                self.log.info("connected", acked_seq=message.acked_seq, api=message.api)
                self._status = f"handler {self.name}: connected, cursor at {message.acked_seq}"
                if self.started:  # before on_start is done, READY=1 carries it: READY comes first
                    self.notifier.status(self._status)
            case protocol.Event():
                return self._on_event(message, now, guard=guard)
            case protocol.Ping():
                self._send(protocol.Pong(), now)
            case protocol.Pong():
                pass
            case protocol.Bye():
                self.log.info("supervisor said bye", reason=message.reason)
                self._drop_connection(now, f"bye: {message.reason}")
            case protocol.Error():
                return self._on_error(message, now)
            case _:
                self.log.warning("unexpected verb from supervisor", verb=message.verb.value)
        return None

    def _on_error(self, message: protocol.Error, now: float) -> int | None:
        self.log.warning("error from supervisor", code=message.code, error=message.message)
        if message.code == "fenced":
            self.log.error("fenced: a newer process took over this handler; exiting", error=message.message)
            return EXIT_FENCED
        if message.code == "timeout":
            return EXIT_TIMEOUT
        if message.code == "unknown_handler":
            print(f"numeraud-handler: {message.message}", file=sys.stderr)
            return EX_CONFIG
        if message.code == "not_registered":
            # The supervisor restarted and does not know this socket yet. Frames queued while it
            # was down (PINGs) each get this answer: one HELLO is enough, and a second one would
            # make the supervisor start this handler's session over, failing the event it just sent.
            conn = self.conn
            if conn is not None and (conn.hello_at is None or now - conn.hello_at >= conn.heartbeat):
                self._hello(now)
        return None

    def _on_event(self, message: protocol.Event, now: float, *, guard: bool) -> int | None:
        if self.shutting_down:
            return None  # our BYE follows: the supervisor delivers it again, as the same attempt
        if self.in_flight is not None:
            if self.in_flight.seq != message.seq:
                self._send(protocol.Nack(message.seq, f"busy with event {self.in_flight.seq}"), now)
            return None  # the same event again (after a reconnect): its result goes out when ready
        if self.unsent is not None and self.unsent.seq == message.seq:
            result, self.unsent = self.unsent, None
            if self._reply(result, now):
                self._replied(result)
            else:
                self.unsent = result
            return None
        if guard:  # cannot happen: an event comes after an answer, which only the worker sends
            self.log.warning("event while a callback runs; ignored", seq=message.seq)
            return None
        self.unsent = None
        event = HandlerEvent(
            message.seq,
            message.event_id,
            message.kind,
            message.round,
            message.attempt,
            message.created,
            message.payload,  # a dict of its own, just decoded
        )
        self.in_flight = _InFlight(message.seq, now, event)
        return self._handle(event)

    def _handle(self, event: HandlerEvent) -> int | None:
        """Worker thread: run the event's callback in place, then answer."""
        result = self._call(Job("event", event))
        return self._on_result(result, self.clock())

    def _reply(self, result: Result, now: float) -> bool:
        if result.ok:
            return self._send(protocol.Ack(result.seq, result.emitted), now)
        return self._send(protocol.Nack(result.seq, result.error or "failed"), now)

    def _on_result(self, result: Result, now: float) -> int | None:
        if result.kind == "start":
            if not result.ok:
                self.log.error("on_start failed; exiting", error=result.error)
                return EXIT_FAILURE
            # READY=1 once on_start is done, and before the main thread may send WATCHDOG=1
            self.notifier.ready(self._status or f"handler {self.name}: started")
            self.started = True
            return None
        in_flight = self.in_flight
        self.in_flight = None
        if in_flight is None or in_flight.seq != result.seq:
            return None
        sent = self.conn is not None and self.conn.welcomed and self._reply(result, now)
        # The canonical line comes after the reply, so logging is off the round trip.
        fields = {
            "seq": result.seq,
            "kind": in_flight.event.kind,
            "round": in_flight.event.round,
            "attempt": in_flight.event.attempt,
            "duration_ms": round(result.duration * 1000, 3),
            "outcome": "ack" if result.ok else "nack",
        }
        if result.ok:
            self.log.info("event handled", emitted=len(result.emitted), **fields)
        else:
            self.log.warning("event failed", error=result.error, **fields)
        if sent:
            self._replied(result)
        else:
            self.unsent = result
        return None

    def _replied(self, result: Result) -> None:
        """The answer to an event went out."""
        if result.ok:
            self.last_seq = max(self.last_seq, result.seq)
            if self.spec.recycle:
                self.log.info("recycle: exiting after the event so a fresh process takes the next one")
                self.stop_reason = "recycle"

    def _shutdown(self) -> int:
        """Worker thread: on_shutdown, BYE, exit 0."""
        self.shutting_down = True
        self.log.info("stopping", reason=self.stop_reason)
        self.notifier.stopping(f"handler {self.name}: stopping")
        self._call(Job("shutdown"))
        if self.conn is not None:
            self._send(protocol.Bye("handler stopping"), self.clock())
        return EXIT_OK

    def _give_up(self, in_flight: _InFlight, timeout: float, now: float) -> int:
        self.log.error(
            "callback timed out; exiting so a fresh process gets the event",
            seq=in_flight.seq,
            round=in_flight.event.round,
            attempt=in_flight.event.attempt,
            timeout_s=timeout,
        )
        self._send(protocol.Nack(in_flight.seq, f"timeout: callback ran longer than {timeout:g}s"), now)
        self._send(protocol.Bye("callback timed out"), now)
        self._hard_exit(EXIT_TIMEOUT)
        return EXIT_TIMEOUT  # pragma: no cover - _hard_exit does not return

    # ---- exit (main thread, baton held) ----

    def _exit(self, code: int, worker: threading.Thread) -> int:
        if code != EXIT_OK and self._worker_exit is None:
            self._hard_exit(code)  # the worker is in a callback (or just out of it): no waiting for it
        self._close(worker)
        return code

    def _close(self, worker: threading.Thread) -> None:
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)
            self.conn = None
        self.ctx.term()
        worker.join(timeout=FLUSH_MS / 1000)
        for fd in (self._wake_worker, self._wake_main):
            os.close(fd)

    def _hard_exit(self, code: int) -> None:
        """Exit now although the worker thread may be stuck in user code (it cannot be killed)."""
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)  # queued NACK/ACK still leave
            self.conn = None
        self.ctx.term()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
