"""Process helpers every side uses: a child that dies with its supervisor, and a stop that always ends."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from typing import Any

_PR_SET_PDEATHSIG = 1


#: Set in a spawned handler's environment: the supervisor's pid, for :func:`die_with_parent`.
PARENT_ENV = "NUMERAUD_SUPERVISOR_PID"


def die_with_parent(env: dict[str, str] | None = None) -> None:
    """In a spawned handler: ask the kernel for SIGTERM when the supervisor dies.

    Done by the child itself (not ``preexec_fn``, which is unsafe in a threaded parent); if the
    supervisor already died before this ran, exit at once.
    """
    expected = (env if env is not None else os.environ).get(PARENT_ENV)
    if not expected:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(expected):
        raise SystemExit(0)


def stop_process(process: subprocess.Popen[Any], timeout: float = 30.0) -> int:
    """SIGTERM ``process``, wait up to ``timeout`` seconds, then SIGKILL it; returns its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def process_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def cmdline(pid: int) -> bytes:
    """The process's command line (NUL-separated; empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            return source.read()
    except OSError:
        return b""
