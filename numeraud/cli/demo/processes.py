"""The processes the demo starts and how it stops them: the supervisor, signals, the sandbox's port.

The sandbox runs in the demo's own process (threads). The supervisor is ``numeraud run
--spawn-handlers`` in a child process that dies with the demo (``PR_SET_PDEATHSIG``, as the
supervisor's own handler children do), and it starts and restarts the handler processes. SIGINT
and SIGTERM become :class:`Interrupted` in the demo's main thread, so every step unwinds through
the code that stops what it started.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from numeraud.common.processes import PARENT_ENV

#: ``numeraud run`` under a prctl(PR_SET_PDEATHSIG) that ties it to the demo (see the docstring).
_LAUNCH: Final = (
    "import sys\n"
    "from numeraud.common.processes import die_with_parent\n"
    "die_with_parent()\n"
    "from numeraud.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (a BaseException, like KeyboardInterrupt: nothing swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)
        self.signum = signum


class PortTaken(Exception):
    """The sandbox's port cannot be bound; the message says why, in one line."""


class SignalGate:
    """SIGINT/SIGTERM handling for the demo (see the module docstring).

    The first signal raises :class:`Interrupted` in the main thread, unless the demo is stopping
    its processes (:meth:`deferred`): then it is only recorded, and later signals are ignored, so
    a second Ctrl-C never cuts the stopping short.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferring = False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        if not self._deferring:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalGate]:
        """Install the handlers for SIGINT and SIGTERM (the previous ones are restored after)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal arriving in this block is recorded in :attr:`received`, not raised."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortTaken` if ``host:port`` cannot be bound now (0 always can)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the sandbox's server does
    try:
        probe.bind((host, port))
    except OSError as exc:
        raise PortTaken(port_message(port, exc)) from None
    finally:
        probe.close()


def port_message(port: int, exc: OSError) -> str:
    """The one line for a port the sandbox cannot bind."""
    if exc.errno == errno.EADDRINUSE:
        why = "is taken by another program"
    elif exc.errno == errno.EACCES:
        why = "needs privileges"
    else:
        why = f"cannot be bound ({exc.strerror or exc})"
    return f"port {port} {why}; choose another with --port, or --port 0 for any free one"


def start_supervisor(config: Path, log: Path, *, level: str = "info") -> subprocess.Popen[bytes]:
    """Start ``numeraud run --config CONFIG --spawn-handlers``, its output (and its handlers') in ``log``."""
    env = {**os.environ, "NUMERAUD_LOG_LEVEL": level, PARENT_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1"}
    output: IO[Any]
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "run", "--config", str(config), "--spawn-handlers"],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
