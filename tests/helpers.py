"""Small helpers shared by the test suites."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


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
