"""systemd notify datagrams, read back from a real AF_UNIX datagram socket."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
import uuid

import pytest

from numeraud.common.notify import Notifier
from numeraud.control.client import NoReply, listening
from tests.bus.conftest import Bus
from tests.helpers import drain, wait_for


def test_notifier_is_a_no_op_without_notify_socket() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_notifier_sends_to_an_abstract_socket() -> None:
    name = f"numeraud-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        notifier = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("hello\nworld")
        assert sock.recv(4096) == b"STATUS=hello world"
    finally:
        sock.close()


def test_a_status_outside_latin_1_arrives_as_utf_8(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": path})
    assert notifier.status("model ✓ 😀 ready")
    assert sock.recv(4096).decode("utf-8") == "STATUS=model ✓ 😀 ready"


def test_watchdog_is_off_when_watchdog_pid_names_another_process(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=2)
    assert notifier.watchdog_interval is None
    assert notifier.watchdog() is False
    mine = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "2"}, pid=2)
    assert mine.watchdog_interval == 0.5
    assert mine.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_supervisor_is_ready_only_after_start_up_and_its_watchdog_stops_when_the_loop_stalls(
    bus: Bus, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    bus.add_handler("a")
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "NUMERAUD_FAILPOINT": "stall_after_append"}
    proc = bus.start_supervisor(env=env, wait=False)
    first = sock.recv(4096).decode().split("\n")
    assert first[0] == "READY=1"
    assert listening(f"ipc://{bus.root}/run/bus.sock") is True
    assert listening(f"ipc://{bus.root}/run/control.sock") is True
    assert (bus.root / "state" / "numeraud.db").exists()
    watchdogs = 0
    while watchdogs < 3:
        if sock.recv(4096) == b"WATCHDOG=1":
            watchdogs += 1
    with pytest.raises(NoReply):
        bus.client(timeout=1.0).call("append", kind="round_begin", round=1, payload={})
    drain(sock)
    sock.settimeout(1.0)  # five watchdog intervals
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    assert proc.poll() is None


def test_supervisor_sends_stopping_on_sigterm_and_exits_0(bus: Bus, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    bus.add_handler("a")
    proc = bus.start_supervisor(env={"NOTIFY_SOCKET": path})
    assert sock.recv(4096).startswith(b"READY=1")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    messages = drain(sock)
    assert any(m.startswith("STOPPING=1") for m in messages)


def test_handler_process_notifies_ready_and_feeds_its_watchdog(
    bus: Bus, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    bus.add_handler("a")
    bus.start_supervisor()
    bus.start_handler("a", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert sock.recv(4096).startswith(b"READY=1")
    seen = set()
    while "WATCHDOG=1" not in seen:
        seen.add(sock.recv(4096).decode().split("\n")[0])


def test_a_handler_feeds_its_watchdog_through_a_long_callback_and_stops_past_its_timeout(
    bus: Bus, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    bus.add_handler("a", timeout=3.0, options={"block_kind": "round_begin"})
    bus.start_supervisor()
    proc = bus.start_handler("a", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    assert sock.recv(4096).startswith(b"READY=1")
    bus.append("round_begin", 1)
    wait_for(lambda: bus.event_records("a"), what="the callback to start")
    drain(sock)
    started = time.monotonic()
    fed = []
    sock.settimeout(1.0)
    with contextlib.suppress(TimeoutError):
        while time.monotonic() - started < 6:
            if sock.recv(4096) == b"WATCHDOG=1":
                fed.append(time.monotonic() - started)
    # fed every 0.1 s while the callback runs (within timeout = 3 s from its start), then never
    assert len([t for t in fed if t < 2.0]) >= 10, fed
    assert max(fed) < 3.5, fed
    assert proc.wait(timeout=20) == 11
