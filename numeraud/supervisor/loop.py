"""The supervisor process core: start-up, the main loop, timers, systemd notify.

Start-up order: lock the state directory (one supervisor per database), create the runtime
directory (0750), open the store, bind the bus ROUTER and the control ROUTER (socket files 0660;
both in :mod:`numeraud.supervisor.sockets`), then tell systemd READY=1. WATCHDOG=1 is sent from
the loop itself, so it stops when the loop stalls. SIGTERM/SIGINT → STOPPING=1, BYE to the handlers,
sockets and store closed.

The loop is open to other work: :meth:`Supervisor.add_timer` registers a periodic callback, and
:meth:`Supervisor.add_inbox` one run at every pass, which another thread (the tournament follower)
feeds and wakes with :meth:`Supervisor.wake`: the loop's thread makes every write to the log,
through the dispatcher's one API (:meth:`Dispatcher.append`, :meth:`Dispatcher.publish`). Each
pass ends with one :meth:`Dispatcher.pump` at the injected clock's time, after whatever could make
work (frames, control commands, inboxes, timers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final, cast

import zmq

from numeraud.common.config import Config
from numeraud.common.failpoints import Failpoints
from numeraud.common.notify import Notifier
from numeraud.supervisor.control_plane import ControlPlane, SupervisorError
from numeraud.supervisor.control_server import SNAPSHOT_EVERY, ControlServer
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.sockets import SocketsError, SupervisorSockets, lock_state_dir
from numeraud.supervisor.store import Store, StoreError

__all__ = ["Supervisor", "SupervisorError", "Timer"]

#: Messages read per socket per loop pass, so one busy socket cannot starve the rest.
BATCH: Final = 256
STATUS_EVERY: Final = 10.0
# Plain ints: pyzmq's flag enums cost an enum construction per ``&``/``|`` on the hot path.
_POLLIN: Final = int(zmq.POLLIN)
_EVENTS: Final = int(zmq.EVENTS)
_NOBLOCK: Final = int(zmq.NOBLOCK)


@dataclass
class Timer:
    """A periodic callback run by the main loop."""

    name: str
    interval: float
    callback: Callable[[float], None]
    due: float


class Supervisor(ControlPlane):
    """The numeraud daemon's core. ``start()``, then ``run()`` until a signal or ``stop()``."""

    def __init__(
        self,
        config: Config,
        *,
        log: Any,
        notifier: Notifier | None = None,
        failpoints: Failpoints | None = None,
        clock: Callable[[], float] = time.monotonic,
        store_factory: Callable[[Path], Store] = Store,
    ) -> None:
        config.require_server_curve()
        self.store_factory = store_factory
        self.config = config
        self.log = log
        self.notifier = notifier if notifier is not None else Notifier()
        self.failpoints = failpoints if failpoints is not None else Failpoints()
        self.clock = clock
        self.timers: list[Timer] = []
        #: Extra parts (the tournament follower, the handler spawner) plug in here: the watchdog is
        #: fed only while every health check passes; status sections join ``numeraudctl status``;
        #: hooks answer control commands such as ``poll-now``.
        self.health_checks: list[Callable[[], bool]] = []
        self.status_sections: dict[str, Callable[[], Any]] = {}
        self.hooks: dict[str, Callable[[Mapping[str, Any]], Any]] = {}
        #: Run at every loop pass (cheap when there is nothing to do); see :meth:`add_inbox`.
        self.inboxes: list[Callable[[float], None]] = []
        #: Called at the end of :meth:`start`, just before READY=1; an OSError or ValueError
        #: there (a webhook port in use, say) fails the start-up before systemd hears "ready".
        self.before_ready: list[Callable[[], None]] = []
        self._stop_reason: str | None = None
        self.sockets: SupervisorSockets | None = None
        self._lock_fd: int | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self.store: Store | None = None
        self.dispatcher: Dispatcher | None = None
        self.control_server: ControlServer | None = None
        self.started_at = 0.0

    # ---- lifecycle ----

    def start(self) -> None:
        """Acquire the state dir, open the store, bind the sockets, then notify READY."""
        paths = self.config.paths
        try:
            self._lock_fd = lock_state_dir(paths)
        except SocketsError as exc:
            raise SupervisorError(str(exc)) from None
        try:
            self.store = self.store_factory(paths.database)
        except StoreError as exc:
            raise SupervisorError(f"database {paths.database}: {exc}") from None
        try:
            self.sockets = SupervisorSockets(self.config)
        except SocketsError as exc:
            raise SupervisorError(str(exc)) from None
        try:
            self.dispatcher = Dispatcher(self.store, self.config, self.sockets.send, self.log, self.failpoints)
        except StoreError as exc:
            raise SupervisorError(f"database {paths.database}: {exc}") from None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        for prepare in self.before_ready:
            try:
                prepare()
            except (OSError, ValueError) as exc:
                self.close()
                raise SupervisorError(f"start-up failed: {exc}") from None
        self.started_at = self.clock()
        self.control_server = ControlServer(
            self.sockets.context, self.sockets.control, paths.database, self.log.bind(component="control")
        )
        self.control_server.publish(self.control_status)
        self.control_server.start()
        self.log.info(
            "supervisor ready",
            pid=os.getpid(),
            bus=self.config.bus.endpoint,
            control=self.config.bus.control_endpoint,
            database=str(paths.database),
            head_seq=self.dispatcher.head,
            handlers=sorted(self.config.handlers),
        )
        self.notifier.ready(self._status_line())

    def run(self) -> int:
        """Run the loop until a signal or :meth:`stop`; returns the exit code."""
        if self.dispatcher is None or self.sockets is None or self._wake_r is None:
            raise SupervisorError("start() was not called")
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno() if self._wake_w else -1)
        try:
            self._loop()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()
        return 0

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to stop (safe from a signal handler or a timer callback)."""
        self._stop_reason = reason
        if self._wake_w is not None:
            with contextlib.suppress(OSError):  # the loop notices the flag at its next pass anyway
                self._wake_w.send(b"\0")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_reason = signal.Signals(signum).name

    def close(self) -> None:
        """Notify STOPPING, say BYE to handlers, close sockets and the store."""
        reason = self._stop_reason or "closing"
        self.notifier.stopping(f"stopping: {reason}")
        if self.dispatcher is not None:
            self.dispatcher.goodbye(self.clock(), "supervisor stopping")
        if self.control_server is not None:
            self.control_server.stop()
            self.control_server = None
        if self.sockets is not None:
            # A socket file left behind would look like a supervisor that no longer answers
            # (numeraudctl, numeraud doctor); the next start binds it afresh. Still under the state lock.
            self.sockets.close()
            self.sockets = None
        if self.store is not None:
            self.store.close()
            self.store = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.log.info("supervisor stopped", reason=reason)

    # ---- the loop ----

    def add_timer(self, name: str, interval: float, callback: Callable[[float], None], *, first: float = 0.0) -> Timer:
        """Run ``callback(now)`` every ``interval`` seconds from the loop (first after ``first`` s).

        A callback must not block: it runs on the loop that feeds the watchdog. Exceptions are
        logged and the timer keeps running.
        """
        timer = Timer(name=name, interval=interval, callback=callback, due=self.clock() + first)
        self.timers.append(timer)
        return timer

    def add_inbox(self, callback: Callable[[float], None]) -> None:
        """Run ``callback(now)`` at every pass of the loop: another thread queues work for the
        loop's thread and calls :meth:`wake`. It must not block; exceptions are logged."""
        self.inboxes.append(callback)

    def wake(self) -> None:
        """Make the loop run a pass now (thread-safe: a byte on the wake-up socketpair)."""
        if self._wake_w is not None:
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                self._wake_w.send(b"\1")

    def _loop(self) -> None:
        dispatcher = self._dispatcher()
        if self.sockets is None or self._wake_r is None or self.control_server is None:
            raise SupervisorError("start() was not called")
        server = self.control_server
        bus, ctl, wake = self.sockets.bus, server.loop_end, self._wake_r
        poller = zmq.Poller()
        poller.register(bus, zmq.POLLIN)
        poller.register(ctl, zmq.POLLIN)
        poller.register(wake, zmq.POLLIN)
        watchdog_every = self.notifier.watchdog_interval
        next_watchdog = self.clock()
        was_healthy = True
        next_status = self.clock() + STATUS_EVERY
        next_tick = self.clock()
        tick_every = min(0.25, self.config.bus.heartbeat_interval / 2)
        self.add_timer("store-probe", 1.0, lambda _now: dispatcher.probe_store(), first=1.0)
        self.add_timer("status-snapshot", SNAPSHOT_EVERY, lambda _now: server.publish(self.control_status))
        # Draining the bus before committing lets the ACKs of several handlers share one commit.
        # With one handler there is nothing to share: one message per pass, and no ZMQ_EVENTS
        # syscall between its ACK and the commit (the next poll looks anyway).
        batch = BATCH if len(dispatcher.sessions) > 1 else 1
        while self._stop_reason is None:
            now = self.clock()
            wake_at = [next_tick, next_status, *(t.due for t in self.timers)]
            if watchdog_every is not None:
                wake_at.append(next_watchdog)
            deadline = dispatcher.next_deadline()
            if deadline is not None:
                wake_at.append(deadline)
            timeout_ms = max(0, int((min(wake_at) - now) * 1000) + 1)
            ready = dict(poller.poll(timeout_ms))
            now = self.clock()
            if bus in ready:
                for i in range(batch):
                    # poll just said a message is there; ZMQ_EVENTS costs a syscall, so it is
                    # asked only for the ones after the first
                    if i and not cast(int, bus.get(_EVENTS)) & _POLLIN:
                        break
                    try:
                        frames = bus.recv_multipart(_NOBLOCK)
                    except zmq.Again:
                        break
                    if len(frames) >= 2:
                        dispatcher.on_frames(frames[0], frames[1:], now)
            if ctl in ready:  # commands the control thread handed over (the ones that change things)
                for _ in range(BATCH):
                    if not cast(int, ctl.get(_EVENTS)) & _POLLIN:
                        break
                    self._on_control(ctl, ctl.recv_multipart(_NOBLOCK), now)
            if wake.fileno() in ready or wake in ready:
                try:
                    while wake.recv(512):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            if now >= next_tick:
                dispatcher.tick(now)
                next_tick = now + tick_every
            for inbox in self.inboxes:
                try:
                    inbox(now)
                except Exception:
                    self.log.exception("inbox failed")
            for timer in self.timers:
                if now >= timer.due:
                    timer.due = now + timer.interval
                    try:
                        timer.callback(now)
                    except Exception:
                        self.log.exception("timer failed", timer=timer.name)
            # The one pump: after everything above that can make work.
            dispatcher.pump(self.clock())
            if watchdog_every is not None and now >= next_watchdog:
                healthy = self.healthy()
                if healthy:
                    self.notifier.watchdog()
                else:
                    self.log.error("unhealthy: not feeding the watchdog")
                if healthy != was_healthy:  # tell systemd at once, not at the next status
                    self.notifier.status(self._status_line())
                    was_healthy = healthy
                next_watchdog = now + watchdog_every
            if now >= next_status:
                self.notifier.status(self._status_line())
                next_status = now + STATUS_EVERY

    def healthy(self) -> bool:
        """Whether every health check passes (the watchdog is fed only then)."""
        return all(check() for check in self.health_checks)

    def _status_line(self) -> str:
        if self.dispatcher is None:
            return "starting"
        if self.dispatcher.store_error is not None:
            return f"DEGRADED: store {self.dispatcher.store_error.code}; delivery stopped"
        states: dict[str, int] = {}
        for s in self.dispatcher.sessions.values():
            states[s.state.value] = states.get(s.state.value, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no handlers"
        line = f"head {self.dispatcher.head}; handlers: {summary}"
        if not self.healthy():
            line = f"UNHEALTHY, watchdog not fed (see numeraudctl status); {line}"
        return line
