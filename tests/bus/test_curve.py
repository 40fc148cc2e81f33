"""A tcp:// bus with CURVE: listed client keys are admitted, others are not."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import zmq
import zmq.auth

from numeraud.common import protocol
from tests.bus.conftest import Bus
from tests.helpers import wait_for


def _start_on_a_free_port(bus: Bus, write_config: Callable[[], None]) -> None:
    """Start the supervisor on a tcp:// port of its own, without a bind-close-reuse race.

    The ports tried are below the kernel's ephemeral range (which starts at 32768), so no
    connection or ``bind(0)`` is handed one while we look; when another process does hold the
    port, the supervisor fails to bind it and the next one is tried.
    """
    for port in random.sample(range(20_000, 32_000), 10):
        bus.bus_settings["endpoint"] = f"tcp://127.0.0.1:{port}"
        write_config()
        proc = bus.start_supervisor(wait=False)

        def answered_or_exited(proc: subprocess.Popen[bytes] = proc) -> bool:
            return bus.try_status() is not None or proc.poll() is not None

        wait_for(answered_or_exited, what="the supervisor to answer or exit")
        if proc.poll() is None:
            return
        log = (bus.root / "supervisor.log").read_text()
        assert "cannot bind" in log, log
    raise AssertionError("ten tcp ports were all taken")


def _keys(root: Path) -> dict[str, Path]:
    keys = root / "keys"
    authorized = root / "authorized"
    keys.mkdir()
    authorized.mkdir()
    out = {}
    for name in ("server", "good", "bad"):
        public, secret = zmq.auth.create_certificates(str(keys), name)
        out[name] = Path(public)
        out[f"{name}_secret"] = Path(secret)
    os.link(out["good"], authorized / "good.key")
    out["authorized"] = authorized
    return out


def _curve_bus(bus: Bus, client_key: str) -> dict[str, Path]:
    """Handler ``a`` on a tcp:// bus with CURVE; ``client_key`` names its certificate in the keys."""
    keys = _keys(bus.root)
    bus.add_handler("a")
    curve = (
        "[bus.curve]\n"
        f'server_key = "{keys["server_secret"]}"\n'
        f'authorized_keys_dir = "{keys["authorized"]}"\n'
        f'server_public_key = "{keys["server"]}"\n'
        f'client_key = "{keys[client_key]}"\n'
    )
    _start_on_a_free_port(bus, lambda: bus.write_config(curve))
    return keys


def test_curve_admits_listed_client_keys_only(bus: Bus) -> None:
    keys = _curve_bus(bus, "good_secret")
    bus.start_handler("a")
    s1 = bus.append("round_begin", 1)
    bus.wait_acked("a", s1)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 1500)
    public, secret = zmq.auth.load_certificate(str(keys["bad_secret"]))
    server_public, _ = zmq.auth.load_certificate(str(keys["server"]))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public
    sock.connect(bus.bus_settings["endpoint"])
    try:
        sock.send_multipart(protocol.encode(protocol.Hello(name="a", pid=os.getpid())))
        try:
            reply = sock.recv_multipart()
        except zmq.Again:
            reply = None
    finally:
        sock.close()
        ctx.term()
    assert reply is None
    assert bus.handler_status("a")["connected"] is True


def test_a_handler_whose_client_key_is_not_a_secret_certificate_exits_with_a_config_error(bus: Bus) -> None:
    _curve_bus(bus, "good")  # the public half only
    proc = bus.start_handler("a", wait=False)
    assert proc.wait(timeout=20) == 78  # EX_CONFIG: systemd does not restart it
    assert "client_key" in (bus.root / "handler-a.log").read_text()
