"""systemd's notify protocol (``sd_notify``), for the supervisor and the handler runtime alike.

One datagram per call to the AF_UNIX socket named by ``NOTIFY_SOCKET`` (a path, or an abstract
socket written ``@name``). Without ``NOTIFY_SOCKET`` every call is a no-op, so the same code
runs under systemd, under ``--spawn-handlers`` and in a terminal. The watchdog is enabled only
when ``WATCHDOG_USEC`` is set and ``WATCHDOG_PID`` (if set) is this process.

Why not ``sdnotify.SystemdNotifier`` (0.3.2): it encodes every message as Latin-1, so a STATUS
naming a model or a path outside Latin-1 (``✓``, an emoji) raises ``UnicodeEncodeError`` and is
silently dropped, where systemd expects UTF-8; it reads ``NOTIFY_SOCKET`` only from
``os.environ`` when constructed (no injectable environment, no later connect if the socket is not
there yet); and it cannot say whether a datagram was sent. The datagram itself is a dozen lines,
kept here.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping


class Notifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING to systemd. Errors never propagate: systemd going
    away must not take the daemon with it."""

    def __init__(self, env: Mapping[str, str] | None = None, *, pid: int | None = None) -> None:
        env = os.environ if env is None else env
        pid = os.getpid() if pid is None else pid
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address.startswith("@"):
            self._address = "\0" + address[1:]
        elif address.startswith("/"):
            self._address = address
        self._sock: socket.socket | None = None
        #: A handler's two threads both notify (READY from the worker, WATCHDOG from main).
        self._lock = threading.Lock()
        self.watchdog_usec = 0
        usec = env.get("WATCHDOG_USEC", "")
        watchdog_pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not watchdog_pid or watchdog_pid == str(pid)):
            self.watchdog_usec = int(usec)

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is configured."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the systemd timeout), or ``None`` if disabled."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec and self.enabled else None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; ``False`` if not sent."""
        if self._address is None:
            return False
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (with an optional STATUS)."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """STATUS=text (one line)."""
        return self.send("STATUS=" + text.replace("\n", " "))

    def watchdog(self) -> bool:
        """WATCHDOG=1, only if systemd asked for a watchdog for this process."""
        return self.send("WATCHDOG=1") if self.watchdog_usec else False

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1 (with an optional STATUS)."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        """Close the datagram socket."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
