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
from typing import TYPE_CHECKING, Any

import zmq

from numeraud import control
from numeraud.common import protocol
from numeraud.common.config import Config
from numeraud.control.commands import dispatch as dispatch_command
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.session_actions import Reject
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
        reply = reply_to(self.log, frames[-1], lambda command, args: dispatch_command(self, command, args))
        if self.control_server is not None:  # the snapshot shows what the command did, or this status
            self.control_server.publish(self.control_status)
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
        doc = self._dispatcher().status()
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

    def _operator(self, handler: str, verb: str) -> dict[str, Any]:
        dispatcher = self._dispatcher()
        if handler not in dispatcher.sessions:
            raise control.ControlError("unknown_handler", f"no handler named {handler!r}")
        now = self.clock()
        actions = dispatcher.retry(handler, now) if verb == "retry" else dispatcher.skip(handler, now)
        refused = [a for a in actions if isinstance(a, Reject)]
        if refused:
            raise control.ControlError("not_blocked", refused[0].reason)
        if dispatcher.store_error is not None:
            raise control.ControlError("store_unavailable", str(dispatcher.store_error))
        self.log.info(f"operator {verb}", handler=handler)
        result: dict[str, Any] = dispatcher.status()["handlers"][handler]
        return result

    def control_retry(self, handler: str) -> dict[str, Any]:
        """Operator retry of ``handler``'s failed event."""
        return self._operator(handler, "retry")

    def control_skip(self, handler: str) -> dict[str, Any]:
        """Operator skip of ``handler``'s failed event."""
        return self._operator(handler, "skip")

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
