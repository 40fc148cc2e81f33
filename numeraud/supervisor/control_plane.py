"""The supervisor's control plane: the JSON requests of ``numeraudctl`` and what they do.

:class:`ControlPlane` is the part of :class:`~numeraud.supervisor.loop.Supervisor` that answers
the control socket (one module per command in :mod:`numeraud.control.commands`). The control
thread (:mod:`numeraud.supervisor.control_server`) hands each command to the loop (``version``
and ``events`` it answers itself), where it runs on the loop's thread and writes the log only
through the dispatcher's API; the status snapshot the control thread falls back on is refreshed
before the answer goes back. The loop pumps after the request, so an appended or retried event goes out on the
same pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import zmq

from numeraud import control
from numeraud.common import protocol
from numeraud.common.config import Config
from numeraud.control.commands import dispatch as dispatch_command
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.session import Session
from numeraud.supervisor.session_actions import Action, Reject, State
from numeraud.supervisor.store_connection import StoreError

if TYPE_CHECKING:
    from numeraud.supervisor.control_server import ControlServer


def reply_to(log: Any, body: bytes, run: Callable[[str, dict[str, Any]], Any]) -> bytes:
    """The encoded reply to the request ``body``: what ``run(command, args)`` returns, or its error
    (a :class:`~numeraud.control.ControlError`'s code, ``store_unavailable``, or ``internal``, logged)."""
    request_id: Any = None
    try:
        request_id, command, args = control.parse_request(body)
        return control.reply_ok(request_id, run(command, args))
    except control.ControlError as exc:
        return control.reply_error(request_id, exc.code, exc.message)
    except StoreError as exc:
        return control.reply_error(request_id, "store_unavailable", str(exc))
    except Exception as exc:
        log.exception("control command failed")
        return control.reply_error(request_id, "internal", f"{type(exc).__name__}: {exc}")


class SupervisorError(Exception):
    """Start-up failed (state directory locked, socket not bindable, store unusable)."""


class ControlPlane:
    """The control commands' target (a :class:`~numeraud.control.ControlTarget`), mixed into the supervisor."""

    config: Config
    log: Any
    clock: Callable[[], float]
    started_at: float
    dispatcher: Dispatcher | None
    control_server: ControlServer | None
    timers: list[Any]
    status_sections: dict[str, Callable[[], Any]]
    hooks: dict[str, Callable[[Mapping[str, Any]], Any]]

    def healthy(self) -> bool:
        """Whether every health check passes (the supervisor says)."""
        raise NotImplementedError

    def _on_control(self, sock: zmq.Socket[Any], frames: list[bytes], now: float) -> None:
        """Answer one control request (``[routing frames..., JSON body]``) on ``sock``, with the
        same routing frames (the control thread's token and the client's identity)."""
        if len(frames) < 2:
            return
        status: list[dict[str, Any]] = []

        def run(command: str, args: dict[str, Any]) -> Any:
            result = dispatch_command(self, command, args)
            if command == "status":
                status.append(result)
            return result

        reply = reply_to(self.log, frames[-1], run)
        if self.control_server is not None:  # the snapshot shows what the command did, or is this status
            self.control_server.publish(lambda: status[0] if status else self.control_status())
        try:
            sock.send_multipart([*frames[:-1], reply], zmq.NOBLOCK)
        except zmq.ZMQError:
            self.log.info("control client went away before its reply")

    def _dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            raise SupervisorError("start() was not called")
        return self.dispatcher

    def control_status(self) -> dict[str, Any]:
        """The status document (also what ``numeraudctl status`` prints)."""
        doc = self._dispatcher().status(self.clock(), datetime.now(UTC))
        doc.update(
            running=True,
            pid=os.getpid(),
            api=protocol.API_VERSION,
            uptime_s=round(self.clock() - self.started_at, 1),
            bus=self.config.bus.endpoint,
            database=str(self.config.paths.database),
            tournament=self._dispatcher().store.tournament_state(),
            timers=[t.name for t in self.timers],
            healthy=self.healthy(),
        )
        for name, section in self.status_sections.items():
            doc[name] = section()
        return doc

    def control_hook(self, name: str, args: Mapping[str, Any]) -> Any:
        """Run a hook registered by an extra part (``poll-now``)."""
        hook = self.hooks.get(name)
        if hook is None:
            raise control.ControlError("unknown_command", f"{name!r} is not available in this supervisor")
        return hook(args)

    def _session(self, handler: str, now: float) -> Session:
        """``handler``'s session, its ACKs committed first; ``unknown_handler`` if there is none."""
        dispatcher = self._dispatcher()
        session = dispatcher.sessions.get(handler)
        if session is None:
            known = ", ".join(sorted(dispatcher.sessions)) or "none"
            raise control.ControlError("unknown_handler", f"no handler named {handler!r} (known: {known})")
        dispatcher.flush(now)
        return session

    def _in_log(self, seq: int) -> None:
        """``out_of_range`` unless the log holds ``seq``."""
        head = self._dispatcher().head
        if seq < 1:
            raise control.ControlError("out_of_range", f"seq {seq} is before the log's start (seq 1)")
        if seq > head:
            held = f"it holds 1 to {head}" if head else "it is empty"
            raise control.ControlError("out_of_range", f"seq {seq} is not in the log ({held})")

    def _done(self, handler: str, verb: str, actions: list[Action], now: float, **extra: Any) -> dict[str, Any]:
        """The reply of an operator command: its handler's status (a Reject: ``not_blocked``)."""
        dispatcher = self._dispatcher()
        refused = [a for a in actions if isinstance(a, Reject)]
        if refused:
            raise control.ControlError("not_blocked", refused[0].reason)
        if dispatcher.store_error is not None:
            raise control.ControlError("store_unavailable", str(dispatcher.store_error))
        self.log.info(f"operator {verb}", handler=handler, **extra)
        result: dict[str, Any] = dispatcher.status(now, datetime.now(UTC))["handlers"][handler]
        return {**result, **extra}

    def control_retry(self, handler: str) -> dict[str, Any]:
        """Operator retry of ``handler``'s failed event."""
        now = self.clock()
        self._session(handler, now)
        return self._done(handler, "retry", self._dispatcher().retry(handler, now), now)

    def control_skip(self, handler: str, seq: int | None) -> dict[str, Any]:
        """Operator skip of ``handler``'s failed event; with ``seq``, only if that is the one."""
        now = self.clock()
        session = self._session(handler, now)
        if seq is not None:
            self._in_log(seq)
        failed = session.acked_seq + 1
        if session.state not in (State.BLOCKED, State.BACKOFF):
            raise control.ControlError(
                "not_blocked", f"{handler} has no failed event (it is {session.state} at seq {session.acked_seq})"
            )
        if seq is not None and seq != failed:
            how = "blocked on" if session.state is State.BLOCKED else "backing off on"
            raise control.ControlError("wrong_event", f"{handler} is {how} seq {failed}, not {seq}; nothing skipped")
        return self._done(handler, "skip", self._dispatcher().skip(handler, now), now, skipped=failed)

    def control_rewind(self, handler: str, seq: int) -> dict[str, Any]:
        """Operator rewind: ``handler`` gets the events from ``seq`` on again."""
        now = self.clock()
        session = self._session(handler, now)
        self._in_log(seq)
        old = session.acked_seq
        if seq > old + 1:
            raise control.ControlError(
                "not_behind",
                f"seq {seq} is not behind {handler}'s cursor (at {old}: it gets seq {old + 1} next); nothing rewound",
            )
        if session.state is State.BUSY:
            raise control.ControlError(
                "in_flight", f"event {session.in_flight} is in flight to {handler}; try again once it is answered"
            )
        actions = self._dispatcher().rewind(handler, seq, now)
        return self._done(handler, "rewind", actions, now, old_cursor=old, new_cursor=seq - 1)

    def control_pause(self, handler: str, paused: bool) -> dict[str, Any]:
        """Operator pause (``paused``) or resume of ``handler``; idempotent (``changed`` says)."""
        now = self.clock()
        session = self._session(handler, now)
        changed = session.paused != paused
        dispatcher = self._dispatcher()
        actions = dispatcher.pause(handler, now) if paused else dispatcher.resume(handler, now)
        return self._done(handler, "pause" if paused else "resume", actions, now, changed=changed)

    def control_events(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` events."""
        return [e.as_dict() for e in self._dispatcher().store.recent_events(limit)]

    def control_append(self, kind: str, round_: int | None, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Append an event (operator replay, tests)."""
        dispatcher = self._dispatcher()
        try:
            seq, created = dispatcher.append(kind, round_, payload, source="operator")
        except ValueError as exc:
            raise control.ControlError("invalid_args", str(exc)) from None
        return {"seq": seq, "created": created}
