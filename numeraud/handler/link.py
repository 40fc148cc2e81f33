"""The handler's DEALER connection to the supervisor, owned by the runtime's main thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq

from numeraud.common import protocol
from numeraud.common.config import Config, ConfigError


@dataclass
class Link:
    """One DEALER socket and its heartbeat bookkeeping (monotonic seconds)."""

    sock: zmq.Socket[Any]
    last_heard: float
    last_sent: float
    heartbeat: float
    liveness: int
    welcomed: bool = False
    #: When the HELLO still waiting for its WELCOME went out (``None``: none is waiting).
    hello_at: float | None = None

    @classmethod
    def open(cls, ctx: zmq.Context[Any], config: Config, now: float) -> Link:
        """Connect to ``[bus] endpoint`` (CURVE on tcp://; a bad certificate is a ConfigError)."""
        sock: zmq.Socket[Any] = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.setsockopt(zmq.RCVHWM, 1000)
        sock.setsockopt(zmq.MAXMSGSIZE, 4 * protocol.MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        bus = config.bus
        try:
            if bus.endpoint.startswith("tcp://"):
                _enable_curve(sock, config)
        except ConfigError:
            sock.close(linger=0)
            raise
        sock.connect(bus.endpoint)
        return cls(sock, now, now, bus.heartbeat_interval, bus.heartbeat_liveness)

    def send(self, message: protocol.Message, now: float, log: Any) -> bool:
        """Queue ``message`` without blocking; ``False`` if it cannot be encoded or the queue is full."""
        try:
            self.sock.send_multipart(protocol.encode(message), zmq.NOBLOCK)
        except protocol.ProtocolError as exc:
            log.error("cannot encode message", verb=message.verb.value, error=exc.message)
            return False
        except zmq.Again:  # at the HWM: nothing is queued
            return False
        self.last_sent = now
        return True


def _enable_curve(sock: zmq.Socket[Any], config: Config) -> None:
    import zmq.auth  # noqa: PLC0415 - only for tcp:// buses

    curve = config.bus.curve
    if curve.client_key is None or curve.server_public_key is None:
        raise ConfigError("bus.curve", "client_key and server_public_key are required", config.path)
    try:
        public, secret = zmq.auth.load_certificate(str(curve.client_key))
        server_public, _ = zmq.auth.load_certificate(str(curve.server_public_key))
    except (OSError, ValueError) as exc:
        raise ConfigError("bus.curve", f"cannot load certificate: {exc}", config.path) from None
    if not secret:
        raise ConfigError("bus.curve.client_key", "is not a secret certificate", config.path)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public
