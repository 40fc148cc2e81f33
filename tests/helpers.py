"""Small helpers shared by the test suites."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")


#: How long :func:`wait_for` waits unless told otherwise.
DEADLINE: Final = 20.0


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = DEADLINE,
    what: str | Callable[[], str] = "condition",
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    The pause between looks starts at 5 ms and doubles up to ``interval``, so a condition that
    is soon true costs no fixed wait. After ``timeout`` seconds the test fails with
    ``AssertionError`` naming ``what`` (a string, or a callable asked for it at that moment,
    e.g. to show the last state seen).
    """
    deadline = time.monotonic() + timeout
    delay = min(0.005, interval)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")
        time.sleep(delay)
        delay = min(delay * 2, interval)


def drain(sock: socket.socket) -> list[str]:
    """Every datagram already waiting on ``sock``, decoded, without waiting for more."""
    out = []
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(timeout)
    return out
