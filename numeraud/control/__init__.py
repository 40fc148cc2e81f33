"""The control plane: a JSON request/reply envelope over a ROUTER socket, apart from the bus.

Request: ``{"id": "...", "command": "status", "args": {...}}``.
Reply: ``{"id": "...", "ok": true, "result": ...}`` or
``{"id": "...", "ok": false, "error": {"code": "...", "message": "..."}}``.

Error codes are stable (:data:`ERROR_CODES`). One module per command in
:mod:`numeraud.control.commands`; its docstring is its help text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Protocol

from numeraud import __version__
from numeraud.common.protocol import API_VERSION

#: Stable control error codes.
ERROR_CODES: Final = frozenset(
    {
        "bad_request",  # not a JSON object with id/command/args
        "unknown_command",
        "invalid_args",
        "unknown_handler",
        "not_blocked",  # retry/skip of a handler with no failed event
        "store_unavailable",  # the database cannot be written (disk full, I/O error)
        "internal",
    }
)
MAX_REQUEST_BYTES: Final = 64 * 1024


class ControlError(Exception):
    """A command failed with a stable ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ControlTarget(Protocol):
    """What the control commands operate on (the supervisor)."""

    def control_status(self) -> dict[str, Any]:
        """The status document."""

    def control_retry(self, handler: str) -> dict[str, Any]:
        """Operator retry of a failed event."""

    def control_skip(self, handler: str) -> dict[str, Any]:
        """Operator skip of a failed event."""

    def control_events(self, limit: int) -> list[dict[str, Any]]:
        """The newest events."""

    def control_append(self, kind: str, round_: int | None, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Append an event."""

    def control_hook(self, name: str, args: Mapping[str, Any]) -> Any:
        """A command served by an extra part of the supervisor (the follower)."""


def parse_request(body: bytes) -> tuple[Any, str, dict[str, Any]]:
    """A request's ``(id, command, args)``; :class:`ControlError` ``bad_request`` when it is not one."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ControlError("bad_request", "request too large")
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ControlError("bad_request", "request is not JSON") from None
    if not isinstance(request, dict):
        raise ControlError("bad_request", "request must be a JSON object")
    command, args = request.get("command"), request.get("args", {})
    if not isinstance(command, str) or not isinstance(args, dict):
        raise ControlError("bad_request", "need a string command and an object args")
    return request.get("id"), command, args


def reply_ok(request_id: Any, result: Any) -> bytes:
    """Encode a success reply."""
    return json.dumps({"id": request_id, "ok": True, "result": result}).encode()


def reply_error(request_id: Any, code: str, message: str) -> bytes:
    """Encode an error reply."""
    return json.dumps({"id": request_id, "ok": False, "error": {"code": code, "message": message}}).encode()


def version_info() -> dict[str, Any]:
    """The control API version document (``version`` command)."""
    return {"api": API_VERSION, "numeraud": __version__}


def handler_arg(args: Mapping[str, Any]) -> str:
    """The ``handler`` argument of a command, validated."""
    handler = args.get("handler")
    if not isinstance(handler, str) or not handler:
        raise ControlError("invalid_args", "args.handler must be a handler name")
    return handler
