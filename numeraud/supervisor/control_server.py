"""The control socket's own thread: a ``status`` answer never waits long for a busy loop.

``numeraudctl status`` must answer fast even while the loop waits for a commit's fsync (a backlog
of ACKs on a busy disk held it for up to a second in ``bench/chaos.py``'s load scenario). So the
control ROUTER, bound at start-up, is served by this thread alone:

- every command is handed to the loop over an inproc PAIR as ``[token, identity, body]``; the loop
  runs it on its thread and answers ``[token, identity, reply]`` on the pair, which is relayed to
  the client: answers are as fresh as before;
- a ``status`` the loop has not answered within :data:`STATUS_WAIT` s is answered here from the
  latest snapshot the loop published (:meth:`ControlServer.publish`: at every ``status`` and
  command it ran, and every :data:`SNAPSHOT_EVERY` s), with its age in ``snapshot_age_s``; the
  loop's late answer is dropped;
- ``version`` and ``events`` never wait for the loop: they are answered here (``events`` from a
  read-only connection of this thread's own: WAL lets it read while the loop writes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from itertools import count
from pathlib import Path
from typing import Any, Final

import zmq

from numeraud import control
from numeraud.control.commands import dispatch as dispatch_command
from numeraud.supervisor.control_plane import reply_to
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError

#: Seconds a ``status`` waits for the loop before the snapshot answers it.
STATUS_WAIT: Final = 0.15
#: Seconds between two status snapshots of the loop (each status and command it runs refreshes it too).
SNAPSHOT_EVERY: Final = 1.0
#: Commands answered by this thread alone (they only read the log).
ANSWERED_HERE: Final = frozenset({"version", "events"})
_POLL: Final = 0.2
_ids = count()


class _Reader:
    """The control target of the commands this thread answers itself (``events``, ``version``)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._store: Store | None = None

    def control_events(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` events, from this thread's read-only connection."""
        if self._store is None:
            self._store = Store(self.database, read_only=True)
        return [e.as_dict() for e in self._store.recent_events(limit)]

    def close(self) -> None:
        """Close the read-only connection."""
        if self._store is not None:
            self._store.close()
            self._store = None


class ControlServer:
    """Serves the control ROUTER on a thread of its own (see the module docstring)."""

    def __init__(self, context: zmq.Context[Any], router: zmq.Socket[Any], database: Path, log: Any) -> None:
        self.router = router
        self.log = log
        self._reader = _Reader(database)
        address = f"inproc://numeraud-control-{next(_ids)}"
        #: The loop's end of the pair: the loop polls it and answers handed-over commands on it.
        self.loop_end: zmq.Socket[Any] = context.socket(zmq.PAIR)
        self.loop_end.setsockopt(zmq.LINGER, 0)
        self.loop_end.bind(address)
        self._own_end: zmq.Socket[Any] = context.socket(zmq.PAIR)
        self._own_end.setsockopt(zmq.LINGER, 0)
        self._own_end.connect(address)
        #: The latest status document, or the store error that kept the loop from making it. A
        #: new object each time, never changed once published: this thread only encodes it.
        self._snapshot: Mapping[str, Any] | StoreError = StoreError("starting", "no status yet")
        self._snapshot_at = time.monotonic()
        #: Handed-over ``status`` requests not answered yet: token -> (identity, body, answer-by).
        self._waiting: dict[bytes, tuple[bytes, bytes, float]] = {}
        self._tokens = count()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control", daemon=True)

    def start(self) -> None:
        """Start serving (the router and this thread's end of the pair belong to it from now on)."""
        self._thread.start()

    def publish(self, build: Callable[[], Mapping[str, Any]]) -> None:
        """Keep ``build()``, the status document, for the ``status`` requests to come (called on
        the loop's thread; a store error is kept as the answer instead)."""
        try:
            self._snapshot = build()
        except StoreError as exc:
            self._snapshot = exc
        self._snapshot_at = time.monotonic()

    def stop(self) -> None:
        """Stop the thread (it closes the router and its end of the pair), then the loop's end."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.loop_end.close(linger=0)

    # -- the thread --

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._own_end, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                due = min((by for _, _, by in self._waiting.values()), default=time.monotonic() + _POLL)
                ready = dict(poller.poll(max(0, int((due - time.monotonic()) * 1000) + 1)))
                if self.router in ready:
                    self._drain(self.router, self._on_request)
                if self._own_end in ready:
                    self._drain(self._own_end, self._relay)
                self._answer_overdue(time.monotonic())
        except Exception:
            self.log.exception("control thread failed")
        finally:
            self._reader.close()
            self._own_end.close(linger=0)
            self.router.close(linger=0)

    @staticmethod
    def _drain(sock: zmq.Socket[Any], handle: Any) -> None:
        for _ in range(256):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handle(frames)

    def _relay(self, frames: list[bytes]) -> None:
        """The loop's answer ``[token, identity, reply]`` to a handed-over command."""
        if len(frames) != 3:
            return
        token, identity, reply = frames
        if token.startswith(b"s") and self._waiting.pop(token, None) is None:
            return  # a status the snapshot answered already
        self._send([identity, reply])

    def _on_request(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return
        identity, body = frames[0], frames[-1]
        try:
            command = control.parse_request(body)[1]
        except control.ControlError:
            command = None  # answered here, with the reason
        if command is None or command in ANSWERED_HERE:
            self._send([identity, reply_to(self.log, body, self._answer)])
            return
        token = b"%s%d" % (b"s" if command == "status" else b"c", next(self._tokens))
        if command == "status":
            self._waiting[token] = (identity, body, time.monotonic() + STATUS_WAIT)
        self._own_end.send_multipart([token, identity, body])

    def _answer_overdue(self, now: float) -> None:
        for token, (identity, body, by) in list(self._waiting.items()):
            if now >= by:
                del self._waiting[token]
                self._send([identity, reply_to(self.log, body, self._answer)])

    def _answer(self, command: str, args: Mapping[str, Any]) -> Any:
        if command == "status":
            snapshot = self._snapshot
            if isinstance(snapshot, StoreError):
                raise snapshot
            return {**snapshot, "snapshot_age_s": round(time.monotonic() - self._snapshot_at, 3)}
        return dispatch_command(self._reader, command, args)  # type: ignore[arg-type]  # events, version only

    def _send(self, frames: list[bytes]) -> None:
        try:
            self.router.send_multipart(frames, zmq.NOBLOCK)
        except zmq.ZMQError:
            self.log.info("control client went away before its reply")
