"""The supervisor's place on the machine: the state directory's lock, the runtime directory, and
the bus and control ROUTER sockets (CURVE on a ``tcp://`` bus) with their socket files.

:class:`SupervisorSockets` is owned by the loop's thread: it binds both sockets, sends on the
bus for the dispatcher, and on close removes the socket files it made, so a cleanly stopped
supervisor leaves nothing that looks like one that no longer answers.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Any, Final

import zmq

from numeraud.common import protocol
from numeraud.common.config import Config, ConfigError, PathsConfig

__all__ = ["SocketsError", "SupervisorSockets", "lock_state_dir", "socket_file"]

#: Bounded queues: a handler that stops reading is dropped rather than buffered without limit.
HWM: Final = 1000
#: Messages larger than this are dropped by ZeroMQ itself; up to it, decode answers ERROR oversized.
ZMQ_MAX_MSG: Final = 4 * protocol.MAX_MESSAGE_BYTES
# Plain ints: pyzmq's flag enums cost an enum construction per ``|`` on the hot path.
_NOBLOCK: Final = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK: Final = int(zmq.SNDMORE) | _NOBLOCK


class SocketsError(Exception):
    """The state directory, the runtime directory or an endpoint cannot be had (the message says which)."""


def socket_file(endpoint: str) -> Path | None:
    """The socket file of an ``ipc://`` endpoint (``None`` for tcp or abstract sockets)."""
    if endpoint.startswith("ipc://") and not endpoint.startswith("ipc://@"):
        return Path(endpoint[len("ipc://") :])
    return None


def lock_state_dir(paths: PathsConfig) -> int:
    """Create the state directory (0750) and take its lock: one supervisor per database.

    Returns the lock's descriptor (held until it is closed); then creates the runtime directory
    (0750: the owner and the handlers' group, nobody else).
    """
    try:
        paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(paths.state_dir / "numeraud.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise SocketsError(f"state directory {paths.state_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SocketsError(f"another numeraud is running on {paths.state_dir}") from None
    try:
        paths.runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        os.chmod(paths.runtime_dir, 0o750)  # noqa: S103 - owner and group (handlers), nobody else
    except OSError as exc:
        os.close(fd)
        raise SocketsError(f"runtime directory {paths.runtime_dir}: {exc.strerror}") from None
    return fd


class SupervisorSockets:
    """The ZeroMQ context with the bus and control ROUTERs (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.context: zmq.Context[Any] = zmq.Context()
        self._auth: Any = None
        self._files: list[Path] = []
        try:
            self.bus = self._router()
            if config.bus.endpoint.startswith("tcp://"):
                self._enable_curve(self.bus)
            self._bind(self.bus, config.bus.endpoint)
            self.control = self._router()
            self._bind(self.control, config.bus.control_endpoint)
        except BaseException:
            self.close()
            raise

    def _router(self) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.RCVHWM, HWM)
        sock.setsockopt(zmq.MAXMSGSIZE, ZMQ_MAX_MSG)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        return sock

    def _enable_curve(self, sock: zmq.Socket[Any]) -> None:
        import zmq.auth  # noqa: PLC0415 - only needed for tcp:// buses
        from zmq.auth.thread import ThreadAuthenticator  # noqa: PLC0415

        curve, path = self.config.bus.curve, self.config.path
        if curve.server_key is None or curve.authorized_keys_dir is None:  # checked by require_server_curve
            raise ConfigError("bus.curve", "server_key and authorized_keys_dir are required", path)
        try:
            public, secret = zmq.auth.load_certificate(str(curve.server_key))
        except (OSError, ValueError) as exc:
            raise ConfigError("bus.curve.server_key", f"cannot load certificate: {exc}", path) from None
        if not secret:
            raise ConfigError("bus.curve.server_key", "is not a secret certificate", path)
        if not curve.authorized_keys_dir.is_dir():
            raise ConfigError("bus.curve.authorized_keys_dir", "is not a directory", path)
        self._auth = ThreadAuthenticator(self.context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(curve.authorized_keys_dir))
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True

    def _bind(self, sock: zmq.Socket[Any], endpoint: str) -> None:
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            raise SocketsError(f"cannot bind {endpoint}: {exc}") from None
        path = socket_file(endpoint)
        if path is not None:
            self._files.append(path)
            os.chmod(path, 0o660)

    def send(self, peer: bytes, frames: list[bytes]) -> bool:
        """Send ``frames`` to the handler ``peer`` without blocking; False if it is gone or full."""
        try:
            # What send_multipart does, without its per-frame flag enum arithmetic. The ROUTER
            # refuses the identity frame (unroutable, or at the HWM) before anything is queued.
            self.bus.send(peer, _SNDMORE_NOBLOCK)
            for frame in frames[:-1]:
                self.bus.send(frame, _SNDMORE_NOBLOCK)
            self.bus.send(frames[-1], _NOBLOCK)
        except zmq.ZMQError as exc:
            if exc.errno in (errno.EHOSTUNREACH, zmq.EAGAIN):
                return False
            raise
        return True

    def close(self) -> None:
        """Stop the authenticator, close both sockets and the context, remove the socket files."""
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        for name in ("bus", "control"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close(linger=0)
        if not self.context.closed:
            self.context.term()
        for path in self._files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._files.clear()
