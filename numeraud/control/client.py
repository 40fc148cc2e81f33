"""The control client: one request, one reply, correlated by id, with a timeout and advice."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any, Final

import zmq

from numeraud.control import ControlError

#: While waiting for a reply, how often (seconds) to check that the supervisor still listens.
CHECK_EVERY: Final = 0.2


class NotRunning(Exception):
    """Nobody listens on the control endpoint."""


class NoReply(Exception):
    """The supervisor did not answer in time (stuck, or a stale socket file)."""


def listening(endpoint: str) -> bool | None:
    """Whether a process listens on an ``ipc://`` socket file (``None``: cannot tell).

    ZeroMQ connects lazily and would wait forever for a dead supervisor; a plain connect() on
    the socket file answers at once.
    """
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        return None
    path = endpoint[len("ipc://") :]
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except OSError:
        return None
    finally:
        probe.close()
    return True


class ControlClient:
    """Talks to the supervisor's control socket."""

    def __init__(self, endpoint: str, *, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def call(self, command: str, **args: Any) -> Any:
        """Send ``command`` and return its result.

        Raises :class:`NotRunning`, :class:`NoReply` or :class:`ControlError` (an error reply).
        """
        if listening(self.endpoint) is False:
            raise NotRunning(f"numeraud is not running (nothing listens on {self.endpoint})")
        request_id = os.urandom(16).hex()
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.endpoint)
            sock.send(json.dumps({"id": request_id, "command": command, "args": args}).encode())
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoReply(
                        f"no reply from numeraud on {self.endpoint} within {self.timeout:g}s; is it running "
                        "and healthy? Check `systemctl status numeraud` and `journalctl -u numeraud`."
                    )
                if not poller.poll(int(min(left, CHECK_EVERY) * 1000) + 1):
                    if listening(self.endpoint) is False:  # it died (or stopped) while we waited
                        raise NotRunning(f"numeraud stopped while answering (nothing listens on {self.endpoint})")
                    continue
                try:
                    reply = json.loads(sock.recv())
                except ValueError:
                    raise NoReply(f"numeraud on {self.endpoint} sent a reply that is not JSON") from None
                if isinstance(reply, dict) and reply.get("id") == request_id:
                    break  # replies to earlier, timed-out requests are skipped
        finally:
            sock.close(linger=0)
            ctx.term()
        if reply.get("ok"):
            return reply.get("result")
        error = reply.get("error") or {}
        raise ControlError(str(error.get("code", "internal")), str(error.get("message", "")))
