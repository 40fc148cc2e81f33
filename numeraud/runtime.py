"""The handler runtime: one handler process on the bus (``numeraud-handler NAME``).

The main thread owns the DEALER socket: HELLO, heartbeats (PING every interval; the supervisor is
gone after ``liveness`` silent intervals and the socket is recreated with exponential backoff, as
in the ZeroMQ guide's Paranoid Pirate), ACK/NACK, and the systemd watchdog. The callbacks run in
one worker thread, one event at a time, so a long ``fit`` never stops the heartbeats.

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

import collections
import contextlib
import importlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final

import zmq

from numeraud import protocol
from numeraud.config import EX_CONFIG, Config, ConfigError, HandlerConfig
from numeraud.logs import scrub_text, secret_values
from numeraud.notify import Notifier
from numeraud.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_FENCED: Final = 10
EXIT_TIMEOUT: Final = 11

RECONNECT_MIN: Final = 0.25
RECONNECT_MAX: Final = 30.0
#: How long queued ACK/NACK/BYE frames may take to leave on exit.
FLUSH_MS: Final = 2000
# Plain ints: pyzmq's flag enums cost an enum construction per ``&``/``|`` on the hot path.
_POLLIN: Final = int(zmq.POLLIN)
_EVENTS: Final = int(zmq.EVENTS)
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
    """Work for the worker thread: ``start``, ``event`` or ``shutdown``."""

    kind: str
    event: HandlerEvent | None = None


@dataclass
class Result:
    """What the worker did."""

    kind: str
    ok: bool
    duration: float
    seq: int = 0
    error: str | None = None
    emitted: tuple[protocol.Emitted, ...] = ()


class Worker(threading.Thread):
    """Runs the handler's callbacks, one job at a time, and saves ``persistent_state``.

    Jobs and results travel in deques; a zero-length message on an inproc PAIR pair (in the
    worker's own ZeroMQ context, so the bus context can always be terminated) wakes the other side.
    """

    def __init__(self, handler: EventHandler, state: StateFile, log: Any) -> None:
        super().__init__(name=f"handler-{handler.name}", daemon=True)
        self.handler = handler
        self.state = state
        self.log = log
        self.jobs: collections.deque[Job | None] = collections.deque()  # append/popleft are thread-safe
        self.results: collections.deque[Result] = collections.deque()
        self._secrets = secret_values()
        self._ctx: zmq.Context[Any] = zmq.Context(io_threads=0)
        address = f"inproc://worker-{id(self)}"
        #: The main thread's end: poll it, then call :meth:`drain_wakeups`.
        self.wake_socket: zmq.Socket[Any] = self._ctx.socket(zmq.PAIR)
        self.wake_socket.bind(address)
        self._worker_end: zmq.Socket[Any] = self._ctx.socket(zmq.PAIR)
        self._worker_end.connect(address)

    def submit(self, job: Job | None) -> None:
        """Queue a job (``None`` stops the thread) and wake the worker; called by the main thread."""
        self.jobs.append(job)
        self.wake_socket.send(b"")

    def queue(self, job: Job) -> None:
        """Queue a job without waking the worker yet: the main loop calls :meth:`wake` just before
        it blocks in its poll, so that the worker does not wake up only to wait for the GIL
        while the main thread finishes its pass."""
        self.jobs.append(job)

    def wake(self) -> None:
        """Wake the worker for the jobs queued by :meth:`queue` (main thread)."""
        self.wake_socket.send(b"")

    def drain_wakeups(self) -> None:
        """Consume the wake-up messages (main thread)."""
        while int(self.wake_socket.get(_EVENTS)) & _POLLIN:
            self.wake_socket.recv()

    def run(self) -> None:
        """Process jobs until ``None``."""
        while True:
            self._worker_end.recv()
            while self.jobs:
                job = self.jobs.popleft()
                if job is None:
                    self._worker_end.close(linger=0)
                    return
                self.results.append(self._run(job, time.monotonic()))
                self._worker_end.send(b"")

    def close(self) -> None:
        """Close the main thread's end (after the thread ended)."""
        self.wake_socket.close(linger=0)
        self._ctx.term()

    def _run(self, job: Job, started: float) -> Result:
        handler = self.handler
        event = job.event
        seq = event.seq if event is not None else 0
        try:
            if event is not None:
                handler.event = event
                handler._emitted = []
                handler.log = self.log.bind(seq=seq, round=event.round, kind=event.kind, attempt=event.attempt)
                try:
                    handler.dispatch(event)
                    self.state.save(handler.persistent_state)
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
    last_heard: float = 0.0
    last_sent: float = 0.0
    heartbeat: float = 1.0
    liveness: int = 5
    pending: list[protocol.Message] = field(default_factory=list)


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
        self.shutting_down = False
        self.started = False
        self._sig_r, self._sig_w = socket.socketpair()
        self._sig_r.setblocking(False)
        self._sig_w.setblocking(False)
        self.worker: Worker | None = None
        #: An event job was queued in this loop pass; the worker is woken just before the poll.
        self._wake_worker = False
        #: The latest STATUS text for systemd (sent with READY=1 if it came before).
        self._status: str | None = None

    # ---- set-up ----

    def _build(self) -> Worker:
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
        return Worker(handler, state, self.log)

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
        interval = self.config.bus.heartbeat_interval
        self.conn = _Connection(
            sock=sock,
            last_heard=now,
            last_sent=now,
            heartbeat=interval,
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

    # ---- sending ----

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
        self._send(protocol.Hello(name=self.name, pid=os.getpid(), last_seq=self.last_seq), now)

    # ---- the loop ----

    def run(self) -> int:
        """Build the handler, connect, serve events until stopped; returns the exit code."""
        try:
            self.worker = self._build()
        except ConfigError as exc:
            self.log.error("invalid configuration", error=str(exc))
            print(f"numeraud-handler: {exc}", file=sys.stderr)
            return EX_CONFIG
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(self._sig_w.fileno())
        try:
            self.worker.start()
            self.worker.submit(Job("start"))
            self._connect(self.clock())
            return self._loop(self.worker)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = signal.Signals(signum).name

    def _loop(self, worker: Worker) -> int:
        watchdog_every = self.notifier.watchdog_interval
        next_watchdog = self.clock()
        timeout = self.spec.timeout
        poller: zmq.Poller | None = None
        polled: _Connection | None = None
        wake_socket, results = worker.wake_socket, worker.results
        sig_r = self._sig_r
        sig_fd = sig_r.fileno()
        while True:
            now = self.clock()
            if self.stop_reason is not None and not self.shutting_down and self.in_flight is None and self.started:
                self.shutting_down = True
                self.log.info("stopping", reason=self.stop_reason)
                self.notifier.stopping(f"handler {self.name}: stopping")
                worker.submit(Job("shutdown"))
            if self.conn is None and now >= self.reconnect_at and not self.shutting_down:
                self._connect(now)
            conn = self.conn
            if conn is not None:
                heartbeat = conn.heartbeat
                wake_at = min(now + 1.0, conn.last_sent + heartbeat, conn.last_heard + heartbeat * conn.liveness)
            else:
                wake_at = min(now + 1.0, self.reconnect_at)
            if watchdog_every is not None and self.started and next_watchdog < wake_at:
                wake_at = next_watchdog
            in_flight = self.in_flight
            if in_flight is not None and timeout is not None and in_flight.started + timeout < wake_at:
                wake_at = in_flight.started + timeout
            if poller is None or polled is not conn:
                poller, polled = zmq.Poller(), conn
                if conn is not None:
                    poller.register(conn.sock, zmq.POLLIN)
                poller.register(wake_socket, zmq.POLLIN)
                poller.register(sig_r, zmq.POLLIN)
            if self._wake_worker:
                self._wake_worker = False
                worker.wake()
            ready = dict(poller.poll(max(0, int((wake_at - now) * 1000) + 1)))
            now = self.clock()
            if conn is not None and conn.sock in ready:
                sock = conn.sock
                for _ in range(64):
                    if not int(sock.get(_EVENTS)) & _POLLIN:
                        break
                    code = self._on_message(sock.recv_multipart(_NOBLOCK), now, worker)
                    if code is not None:
                        return self._exit(code, worker)
                    if self.conn is not conn:
                        break
            if sig_r in ready or sig_fd in ready:
                with contextlib.suppress(OSError):
                    sig_r.recv(64)
            if wake_socket in ready:
                worker.drain_wakeups()
            while results:
                code = self._on_result(results.popleft(), now)
                if code is not None:
                    return self._exit(code, worker)
            conn = self.conn
            if conn is not None:
                if now - conn.last_heard >= conn.heartbeat * conn.liveness:
                    self._drop_connection(now, f"no frame from the supervisor for {now - conn.last_heard:.1f}s")
                elif now - conn.last_sent >= conn.heartbeat:
                    self._send(protocol.Ping(), now)
            if self.in_flight is not None and timeout is not None and now - self.in_flight.started >= timeout:
                return self._give_up(self.in_flight, timeout, now)
            # systemd arms the watchdog at READY=1 (sent once on_start is done), so the first
            # WATCHDOG=1 never goes before it.
            if watchdog_every is not None and now >= next_watchdog and self.started:
                self.notifier.watchdog()
                next_watchdog = now + watchdog_every

    def _on_message(self, frames: list[bytes], now: float, worker: Worker) -> int | None:
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
            self._on_event(message, now, worker)
            return None
        match message:
            case protocol.Welcome():
                conn.welcomed = True
                conn.heartbeat = message.heartbeat_ms / 1000.0
                conn.liveness = message.liveness
                self.reconnect_delay = RECONNECT_MIN
                self.log.info("connected", acked_seq=message.acked_seq, api=message.api)
                self._status = f"handler {self.name}: connected, cursor at {message.acked_seq}"
                if self.started:  # before on_start is done, READY=1 carries it: READY comes first
                    self.notifier.status(self._status)
            case protocol.Event():
                self._on_event(message, now, worker)
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
            self._hello(now)  # the supervisor restarted and does not know this socket yet
        return None

    def _on_event(self, message: protocol.Event, now: float, worker: Worker) -> None:
        if self.shutting_down:
            return  # our BYE follows; the supervisor delivers the event again to the next process
        if self.in_flight is not None:
            if self.in_flight.seq != message.seq:
                self._send(protocol.Nack(message.seq, f"busy with event {self.in_flight.seq}"), now)
            return  # the same event again (after a reconnect): its result goes out when ready
        if self.unsent is not None and self.unsent.seq == message.seq:
            result, self.unsent = self.unsent, None
            self._reply(result, now)
            return
        self.unsent = None
        event = HandlerEvent(
            message.seq,
            message.event_id,
            message.kind,
            message.round,
            message.attempt,
            message.created,
            dict(message.payload),
        )
        self.in_flight = _InFlight(message.seq, now, event)
        worker.queue(Job("event", event))
        self._wake_worker = True  # at the end of this loop pass, just before the poll

    def _reply(self, result: Result, now: float) -> bool:
        if result.ok:
            return self._send(protocol.Ack(result.seq, result.emitted), now)
        return self._send(protocol.Nack(result.seq, result.error or "failed"), now)

    def _on_result(self, result: Result, now: float) -> int | None:
        if result.kind == "start":
            if not result.ok:
                self.log.error("on_start failed; exiting", error=result.error)
                return EXIT_FAILURE
            self.started = True
            self.notifier.ready(self._status or f"handler {self.name}: started")  # READY once on_start is done
            return None
        if result.kind == "shutdown":
            if self.conn is not None:
                self._send(protocol.Bye("handler stopping"), now)
            return EXIT_OK
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
        if not sent:
            self.unsent = result
            return None
        if result.ok:
            self.last_seq = max(self.last_seq, result.seq)
            if self.spec.recycle:
                self.log.info("recycle: exiting after the event so a fresh process takes the next one")
                self.stop_reason = "recycle"
        return None

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

    def _exit(self, code: int, worker: Worker) -> int:
        busy = self.in_flight is not None or bool(worker.jobs) or (not self.started and code != EXIT_OK)
        if code != EXIT_OK and busy:
            self._hard_exit(code)
        self._close(worker)
        return code

    def _close(self, worker: Worker) -> None:
        worker.submit(None)
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)
            self.conn = None
        self.ctx.term()
        worker.join(timeout=FLUSH_MS / 1000)
        if not worker.is_alive():
            worker.close()
        for s in (self._sig_r, self._sig_w):
            s.close()

    def _hard_exit(self, code: int) -> None:
        """Exit now although the worker thread may be stuck in user code (it cannot be killed)."""
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)  # queued NACK/ACK still leave
            self.conn = None
        self.ctx.term()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
