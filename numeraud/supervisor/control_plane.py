"""The supervisor's control plane: the JSON requests of ``numeraudctl`` and what they do.

:class:`ControlPlane` is the part of :class:`~numeraud.supervisor.loop.Supervisor` that answers
the control socket (one module per command in :mod:`numeraud.control.commands`); every command
runs on the loop's thread and writes the log only through the dispatcher's API. The loop pumps
after the request, so an appended or retried event goes out on the same pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import zmq

from numeraud import control
from numeraud.common import protocol
from numeraud.common.config import Config
from numeraud.control.commands import dispatch as dispatch_command
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.session_actions import Reject
from numeraud.supervisor.store_connection import StoreError


class SupervisorError(Exception):
    """Start-up failed (state directory locked, socket not bindable, store unusable)."""


class ControlPlane:
    """The control commands' target (a :class:`~numeraud.control.ControlTarget`), mixed into the supervisor."""

    config: Config
    log: Any
    clock: Callable[[], float]
    started_at: float
    dispatcher: Dispatcher | None
    timers: list[Any]
    status_sections: dict[str, Callable[[], Any]]
    hooks: dict[str, Callable[[Mapping[str, Any]], Any]]

    def healthy(self) -> bool:
        """Whether every health check passes (the supervisor says)."""
        raise NotImplementedError

    def _on_control(self, sock: zmq.Socket[Any], frames: list[bytes], now: float) -> None:
        """Answer one control request (``[identity, ..., JSON body]``) on ``sock``."""
        if len(frames) < 2:
            return
        identity, body = frames[0], frames[-1]
        request_id: Any = None
        try:
            if len(body) > control.MAX_REQUEST_BYTES:
                raise control.ControlError("bad_request", "request too large")
            try:
                request = json.loads(body)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise control.ControlError("bad_request", "request is not JSON") from None
            if not isinstance(request, dict):
                raise control.ControlError("bad_request", "request must be a JSON object")
            request_id = request.get("id")
            command, args = request.get("command"), request.get("args", {})
            if not isinstance(command, str) or not isinstance(args, dict):
                raise control.ControlError("bad_request", "need a string command and an object args")
            result = dispatch_command(self, command, args)
            reply = control.reply_ok(request_id, result)
        except control.ControlError as exc:
            reply = control.reply_error(request_id, exc.code, exc.message)
        except StoreError as exc:
            reply = control.reply_error(request_id, "store_unavailable", str(exc))
        except Exception as exc:
            self.log.exception("control command failed")
            reply = control.reply_error(request_id, "internal", f"{type(exc).__name__}: {exc}")
        try:
            sock.send_multipart([identity, reply], zmq.NOBLOCK)
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
