"""The handler runtime: one handler process on the bus (``numeraud-handler NAME``).

Two threads, and one owner per socket, as the ZeroMQ guide teaches:

- the **main** thread owns the DEALER socket to the supervisor. Its poll loop watches the
  DEALER, an ``inproc://`` PAIR socket to the worker and the signal wake-up fd, and does
  everything of the bus: HELLO (once ``on_start`` is done), heartbeats (PING every interval; the
  supervisor is gone after ``liveness`` silent intervals and the socket is recreated with
  exponential backoff, as in the guide's Paranoid Pirate), the ACK/NACK of each event, the
  callback's ``timeout``, the systemd watchdog and the signals. A long ``fit`` never stops it.
- the **worker** thread (:mod:`numeraud.handler.worker`) runs the callbacks, one at a time; it
  gets each job and sends back each result over the PAIR socket, and never touches the DEALER.

Exit codes:

``0``   clean stop (SIGTERM: the running callback finishes and is ACKed first), or
        ``recycle = true`` after an event (systemd ``Restart=always`` or
        ``numeraud run --spawn-handlers`` start a fresh process, whose memory starts clean)
``1``   ``on_start`` failed, a callback raised SystemExit (its event is NACKed), or an unexpected error
``10``  fenced: a newer process took this handler's name (systemd: ``RestartPreventExitStatus=10``)
``11``  a callback ran past ``timeout``: NACKed, the watchdog is no longer fed, the process exits so
        the event goes to a fresh process
``78``  configuration error (EX_CONFIG), including a class that cannot be imported
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

import zmq

from numeraud.common import protocol
from numeraud.common.backoff import ExponentialBackoff
from numeraud.common.config import EX_CONFIG, Config, ConfigError
from numeraud.common.exitcodes import EXIT_FAILURE, EXIT_FENCED, EXIT_OK, EXIT_TIMEOUT
from numeraud.common.notify import Notifier
from numeraud.handler.link import Link
from numeraud.handler.sdk import HandlerEvent
from numeraud.handler.worker import Callbacks, Job, Result, build_callbacks, load_handler_class

__all__ = ["Callbacks", "HandlerRuntime", "Job", "Result", "load_handler_class"]

#: Reconnect n waits min(30 s, 0.25 s * 2**n); a WELCOME starts it over.
RECONNECT: Final = ExponentialBackoff(base=0.25, cap=30.0)
#: How long queued ACK/NACK/BYE frames may take to leave on exit.
FLUSH_MS: Final = 2000


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
        #: The DEALER's context; the PAIR sockets have their own, so that the DEALER's queued
        #: frames can be flushed on exit while the worker is still stuck in a callback.
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.inproc: zmq.Context[Any] = zmq.Context()
        self.conn: Link | None = None
        self.reconnect_at = 0.0
        #: Connections lost since the last WELCOME (the reconnect backoff's attempt).
        self.reconnects = 0
        #: The job the worker runs (``None``: it is idle), and when it was handed over.
        self.busy: Job | None = None
        self.busy_since = 0.0
        #: A result computed while disconnected, sent again if the same seq is redelivered.
        self.unsent: Result | None = None
        self.last_seq = 0
        self.stop_reason: str | None = None
        self.shutting_down = False
        self.started = False
        self._status: str | None = None
        self._next_watchdog = clock()

    # ---- the process ----

    def run(self) -> int:
        """Build the handler, run on_start, connect, serve events until stopped; returns the exit
        code. The handler says HELLO only once on_start is done: it gets no event before."""
        try:
            callbacks = build_callbacks(self.config, self.name, self.log)
        except ConfigError as exc:
            return self._config_error(exc)
        sig_r, sig_w = socket.socketpair()
        for s in (sig_r, sig_w):
            s.setblocking(False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(sig_w.fileno())
        address = f"inproc://worker-{id(self)}"
        self.pair: zmq.Socket[Any] = self.inproc.socket(zmq.PAIR)
        self.pair.bind(address)
        worker = threading.Thread(
            target=callbacks.serve, args=(self.inproc, address), name=f"handler-{self.name}", daemon=True
        )
        worker.start()
        try:
            self._submit(Job("start"))
            try:
                code = self._loop(sig_r)
            except ConfigError as exc:  # e.g. a CURVE certificate that cannot be read, on connecting
                code = self._config_error(exc)
            except Exception:
                self.log.exception("handler runtime failed")
                code = EXIT_FAILURE
            if self.busy is not None:
                self._hard_exit(code)  # the worker is stuck in a callback: no waiting for it
            with contextlib.suppress(zmq.Again):  # no peer: the worker thread has ended
                self.pair.send_pyobj(None, zmq.NOBLOCK)
            worker.join(timeout=FLUSH_MS / 1000)
            return code
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for s in (sig_r, sig_w):
                s.close()
            self._close()

    def _config_error(self, exc: ConfigError) -> int:
        self.log.error("invalid configuration", error=str(exc))
        print(f"numeraud-handler: {exc}", file=sys.stderr)
        return EX_CONFIG

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_reason = signal.Signals(signum).name

    def _submit(self, job: Job) -> None:
        self.busy, self.busy_since = job, self.clock()
        self.pair.send_pyobj(job)

    # ---- the loop ----

    def _loop(self, sig_r: socket.socket) -> int:
        """Poll the DEALER, the worker and the signals until there is an exit code."""
        timeout = self.spec.timeout
        watchdog_every = self.notifier.watchdog_interval
        poller, polled = zmq.Poller(), None
        poller.register(self.pair, zmq.POLLIN)
        poller.register(sig_r.fileno(), zmq.POLLIN)
        stop_noted = False
        while True:
            now = self.clock()
            if self.stop_reason is not None and self.busy is None and self.started and not self.shutting_down:
                self.shutting_down = True
                self.log.info("stopping", reason=self.stop_reason)
                self.notifier.stopping(f"handler {self.name}: stopping")
                self._submit(Job("shutdown"))
            if self.conn is None and now >= self.reconnect_at and self.started and not self.shutting_down:
                self.conn = Link.open(self.ctx, self.config, now)
                self._hello(now)
            conn = self.conn
            if polled is not conn:
                if polled is not None:
                    poller.unregister(polled.sock)
                if conn is not None:
                    poller.register(conn.sock, zmq.POLLIN)
                polled = conn
            wake_at = now + 1.0
            if conn is not None:
                silent_at = conn.last_heard + conn.heartbeat * conn.liveness
                wake_at = min(wake_at, conn.last_sent + conn.heartbeat, silent_at)
            else:
                wake_at = min(wake_at, max(self.reconnect_at, now))
            deadline = self._deadline(timeout)
            if deadline is not None:
                wake_at = min(wake_at, deadline)
            if watchdog_every is not None and self.started:
                wake_at = min(wake_at, self._next_watchdog)
            ready = dict(poller.poll(max(0, int((wake_at - now) * 1000) + 1)))
            now = self.clock()
            if sig_r.fileno() in ready:
                with contextlib.suppress(OSError):
                    sig_r.recv(64)
                if self.stop_reason is not None and self.busy is not None and not stop_noted:
                    stop_noted = True
                    self.log.info("stop requested; the running callback finishes first", reason=self.stop_reason)
            if self.pair in ready:
                code = self._on_result(self.pair.recv_pyobj(), now)
                if code is not None:
                    return code
            if conn is not None and conn is self.conn and conn.sock in ready:
                with contextlib.suppress(zmq.Again):
                    code = self._on_message(conn.sock.recv_multipart(zmq.NOBLOCK), now)
                    if code is not None:
                        return code
            conn = self.conn
            if conn is not None:
                if now - conn.last_heard >= conn.heartbeat * conn.liveness:
                    self._drop_connection(now, f"no frame from the supervisor for {now - conn.last_heard:.1f}s")
                elif now - conn.last_sent >= conn.heartbeat and not self._send(protocol.Ping(), now):
                    conn.last_sent = now  # queue full: try again in an interval, not at once
            deadline = self._deadline(timeout)
            if deadline is not None and now >= deadline:
                return self._give_up(now)
            if watchdog_every is not None and self.started and now >= self._next_watchdog:
                self.notifier.watchdog()  # READY=1 went first: systemd arms the watchdog then
                self._next_watchdog = now + watchdog_every

    def _deadline(self, timeout: float | None) -> float | None:
        """When the running event's callback times out (``None``: no event's callback runs)."""
        if timeout is None or self.busy is None or self.busy.event is None:
            return None
        return self.busy_since + timeout

    def _give_up(self, now: float) -> int:
        event, timeout = self.busy.event if self.busy is not None else None, self.spec.timeout
        assert event is not None, "only an event's callback times out"
        assert timeout is not None
        self.log.error(
            "callback timed out; exiting so a fresh process gets the event",
            seq=event.seq,
            round=event.round,
            attempt=event.attempt,
            timeout_s=timeout,
        )
        self._send(protocol.Nack(event.seq, f"timeout: callback ran longer than {timeout:g}s"), now)
        self._send(protocol.Bye("callback timed out"), now)
        return EXIT_TIMEOUT

    # ---- the connection ----

    def _drop_connection(self, now: float, why: str) -> None:
        if self.conn is not None:
            self.conn.sock.close(linger=0)
            self.conn = None
        delay = RECONNECT.delay(self.reconnects)
        self.reconnects += 1
        self.reconnect_at = now + delay
        self.log.warning("supervisor connection lost; reconnecting", reason=why, retry_in_s=delay)

    def _send(self, message: protocol.Message, now: float) -> bool:
        return self.conn is not None and self.conn.send(message, now, self.log)

    def _hello(self, now: float) -> None:
        if self.conn is not None:
            self.conn.welcomed = False
            self.conn.hello_at = now
        self._send(protocol.Hello(name=self.name, pid=os.getpid(), last_seq=self.last_seq), now)

    # ---- the supervisor's frames ----

    def _on_message(self, frames: list[bytes], now: float) -> int | None:
        conn = self.conn
        assert conn is not None, "frames come from the connection"
        conn.last_heard = now
        try:
            message = protocol.decode(frames)
        except protocol.ProtocolError as exc:
            self.log.warning("bad frame from supervisor", code=exc.code, error=exc.message)
            return None
        match message:
            case protocol.Event():
                self._on_event(message, now)
            case protocol.Welcome():
                conn.welcomed = True
                conn.hello_at = None
                conn.heartbeat = message.heartbeat_ms / 1000.0
                conn.liveness = message.liveness
                self.reconnects = 0
                self.log.info("connected", acked_seq=message.acked_seq, api=message.api)
                self._status = f"handler {self.name}: connected, cursor at {message.acked_seq}"
                self.notifier.status(self._status)
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
        elif message.code == "unknown_handler":
            print(f"numeraud-handler: {message.message}", file=sys.stderr)
        exit_code = {"fenced": EXIT_FENCED, "timeout": EXIT_TIMEOUT, "unknown_handler": EX_CONFIG}.get(message.code)
        if exit_code is not None:
            return exit_code
        if message.code == "not_registered":
            # The supervisor restarted and does not know this socket yet. Frames queued while it
            # was down (PINGs) each get this answer: one HELLO is enough, and a second one would
            # make the supervisor start this handler's session over, failing the event it just sent.
            conn = self.conn
            if conn is not None and (conn.hello_at is None or now - conn.hello_at >= conn.heartbeat):
                self._hello(now)
        return None

    def _on_event(self, message: protocol.Event, now: float) -> None:
        if self.shutting_down:
            return  # our BYE follows: the supervisor delivers it again, as the same attempt
        running = self.busy.event if self.busy is not None else None
        if running is not None:
            if running.seq != message.seq:
                self._send(protocol.Nack(message.seq, f"busy with event {running.seq}"), now)
            return  # the same event again (after a reconnect): its result goes out when ready
        unsent, self.unsent = self.unsent, None
        if unsent is not None and unsent.seq == message.seq:
            self._answer(unsent, now)
            return
        m = message
        self._submit(Job("event", HandlerEvent(m.seq, m.event_id, m.kind, m.round, m.attempt, m.created, m.payload)))

    # ---- the worker's results ----

    def _on_result(self, result: Result, now: float) -> int | None:
        job, self.busy = self.busy, None
        if result.kind == "start":
            if not result.ok:
                self.log.error("on_start failed; exiting", error=result.error)
                return EXIT_FAILURE
            # READY=1 once on_start is done, and before any WATCHDOG=1
            self.notifier.ready(self._status or f"handler {self.name}: started")
            self.started = True
            return None
        if result.kind == "shutdown":
            self._send(protocol.Bye("handler stopping"), now)
            return EXIT_FAILURE if result.fatal else EXIT_OK
        event = job.event if job is not None else None
        assert event is not None, "one job at a time: this result is of the event job"
        fields = {
            "seq": result.seq,
            "kind": event.kind,
            "round": event.round,
            "attempt": event.attempt,
            "duration_ms": round(result.duration * 1000, 3),
            "outcome": "ack" if result.ok else "nack",
        }
        if result.fatal:
            self.log.error("handler runtime failed", error=result.error, **fields)
            self._send(protocol.Nack(result.seq, result.error or "failed"), now)
            self._send(protocol.Bye("handler failed"), now)
            return EXIT_FAILURE
        self._answer(result, now)
        if result.ok:
            self.log.info("event handled", emitted=len(result.emitted), **fields)
        else:
            self.log.warning("event failed", error=result.error, **fields)
        return None

    def _answer(self, result: Result, now: float) -> None:
        """ACK or NACK ``result``'s event now, or keep it for the event's redelivery."""
        conn = self.conn
        if result.ok:
            reply: protocol.Message = protocol.Ack(result.seq, result.emitted)
        else:
            reply = protocol.Nack(result.seq, result.error or "failed")
        if conn is None or not conn.welcomed or not self._send(reply, now):
            self.unsent = result
        elif result.ok:
            self.last_seq = max(self.last_seq, result.seq)
            if self.spec.recycle:
                self.log.info("recycle: exiting after the event so a fresh process takes the next one")
                self.stop_reason = "recycle"

    # ---- exit ----

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)  # queued ACK/NACK/BYE still leave
            self.conn = None
        self.pair.close(linger=0)
        self.ctx.term()
        self.inproc.term()

    def _hard_exit(self, code: int) -> None:
        """Exit now although the worker thread may be stuck in user code (it cannot be killed)."""
        if self.conn is not None:
            self.conn.sock.close(linger=FLUSH_MS)
            self.conn = None
        self.ctx.term()  # waits for the queued frames (the worker's PAIR is in the other context)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
