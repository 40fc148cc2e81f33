"""The harness does real work: a private ``systemd --user`` runs notify services, reads STATUS=,
enforces WatchdogSec= and restarts what it kills.

The services are a tiny sd_notify program written by the test itself, not numeraud code.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.system.conftest import UserManager

pytestmark = pytest.mark.systemd

PROGRAM = '''\
"""A tiny sd_notify service for the harness tests. Usage: PROGRAM MODE WORKDIR."""
import os
import signal
import socket
import sys
import time
from pathlib import Path


def notify(*fields):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto("\\n".join(fields).encode(), address)


def wait_file(path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(2)
        time.sleep(0.02)


mode, work = sys.argv[1], Path(sys.argv[2])
pid = os.getpid()
(work / f"started.{pid}").touch()
if mode == "gated":
    notify("STATUS=waiting for the gate")
    wait_file(work / "gate")
    notify("READY=1", "STATUS=serving")
    wait_file(work / "next")
    notify("STATUS=second status")
    signal.pause()
elif mode in ("good-watchdog", "bad-watchdog"):
    interval = int(os.environ["WATCHDOG_USEC"]) / 2e6
    notify("READY=1")
    pings = 0
    while True:
        if mode == "good-watchdog" or pings < 2:
            notify("WATCHDOG=1")
            pings += 1
            (work / f"pings.{pid}").write_text(str(pings))
        time.sleep(interval)
'''


def install_service(manager: UserManager, tmp_path: Path, name: str, mode: str, extra: str = "") -> Path:
    """Install ``name`` running PROGRAM in ``mode``; return its work directory."""
    program = tmp_path / "notify_program.py"
    program.write_text(PROGRAM, encoding="utf-8")
    work = tmp_path / name
    work.mkdir()
    manager.install_unit(
        name,
        f"""\
[Unit]
Description=harness test service ({mode})

[Service]
Type=notify
NotifyAccess=main
ExecStart={sys.executable} -I {program} {mode} {work}
StandardOutput=append:{manager.log_path(name)}
StandardError=inherit
TimeoutStartSec=60s
LimitCORE=0
{extra}
""",
    )
    return work


def started_pids(work: Path) -> set[int]:
    """PIDs of every process PROGRAM started in ``work``."""
    return {int(p.name.split(".")[1]) for p in work.glob("started.*")}


def pings(work: Path, pid: int) -> int:
    """How many WATCHDOG=1 the process ``pid`` has sent."""
    path = work / f"pings.{pid}"
    return int(path.read_text() or 0) if path.exists() else 0


def test_a_notify_service_becomes_active_only_after_ready(user_manager: UserManager, tmp_path: Path) -> None:
    """A Type=notify unit whose process runs but has not sent READY=1 is still activating."""
    unit = "gated.service"
    work = install_service(user_manager, tmp_path, unit, "gated")
    user_manager.systemctl("start", "--no-block", unit)

    before = user_manager.wait_for(
        unit,
        lambda p: p["StatusText"] == "waiting for the gate",
        what="the process runs and has reported its status",
    )
    assert before["ActiveState"] == "activating"
    assert before["SubState"] == "start"
    assert int(before["MainPID"]) in started_pids(work)

    (work / "gate").touch()
    after = user_manager.wait_for(unit, lambda p: p["ActiveState"] == "active", what="READY=1 makes it active")
    assert after["SubState"] == "running"
    assert after["MainPID"] == before["MainPID"]


def test_status_text_follows_status_messages(user_manager: UserManager, tmp_path: Path) -> None:
    """Each STATUS= message replaces the unit's StatusText property."""
    unit = "status.service"
    work = install_service(user_manager, tmp_path, unit, "gated")
    (work / "gate").touch()
    user_manager.systemctl("start", unit)
    assert user_manager.show(unit, "StatusText") == {"StatusText": "serving"}

    (work / "next").touch()
    user_manager.wait_for(unit, lambda p: p["StatusText"] == "second status", what="the second STATUS=")


def test_units_run_inside_the_test_cgroup(user_manager: UserManager, tmp_path: Path) -> None:
    """The manager and its services live in the harness's own cgroup, which teardown removes."""
    unit = "cgroup.service"
    work = install_service(user_manager, tmp_path, unit, "gated")
    (work / "gate").touch()
    user_manager.systemctl("start", unit)
    props = user_manager.show(unit, "MainPID", "ControlGroup")
    service_cgroup = user_manager.cgroup.parent / props["ControlGroup"].lstrip("/")
    assert service_cgroup.is_relative_to(user_manager.cgroup)
    assert props["MainPID"] in (service_cgroup / "cgroup.procs").read_text().split()
    assert str(user_manager.pid) in (user_manager.cgroup / "init.scope" / "cgroup.procs").read_text().split()


def test_a_service_feeding_the_watchdog_keeps_running(user_manager: UserManager, tmp_path: Path) -> None:
    """A service sending WATCHDOG=1 every WatchdogSec/2 runs on, unrestarted, across several periods."""
    unit = "good-watchdog.service"
    work = install_service(user_manager, tmp_path, unit, "good-watchdog", "WatchdogSec=1s\nRestart=on-failure")
    user_manager.systemctl("start", unit)
    first = user_manager.show(unit, "MainPID", "WatchdogUSec")
    assert first["WatchdogUSec"] == "1s"
    pid = int(first["MainPID"])

    # 8 pings at WatchdogSec/2 span 4 watchdog periods.
    user_manager.wait_for(unit, lambda _p: pings(work, pid) >= 8, what="8 WATCHDOG=1 pings")
    props = user_manager.show(unit, "ActiveState", "SubState", "Result", "NRestarts", "MainPID")
    assert props == {
        "ActiveState": "active",
        "SubState": "running",
        "Result": "success",
        "NRestarts": "0",
        "MainPID": str(pid),
    }
    assert started_pids(work) == {pid}


def test_a_service_that_stops_feeding_the_watchdog_is_killed_and_restarted(
    user_manager: UserManager, tmp_path: Path
) -> None:
    """A service that stops sending WATCHDOG=1 ends with Result=watchdog and Restart= starts it again."""
    unit = "bad-watchdog.service"
    work = install_service(
        user_manager, tmp_path, unit, "bad-watchdog", "WatchdogSec=1s\nRestart=on-failure\nRestartSec=1s"
    )
    user_manager.systemctl("start", unit)
    first_pid = int(user_manager.show(unit, "MainPID")["MainPID"])

    def killed(p: Mapping[str, str]) -> bool:
        return p["Result"] in ("watchdog", "signal")

    dead = user_manager.wait_for(unit, killed, timeout=15, what="the watchdog kill")
    # The kill (stop-watchdog: WatchdogSignal=, SIGABRT) or the RestartSec= wait after it.
    assert dead["SubState"] in ("stop-watchdog", "auto-restart")

    again = user_manager.wait_for(
        unit,
        lambda p: int(p["NRestarts"]) >= 1 and p["ActiveState"] == "active" and int(p["MainPID"]) != first_pid,
        timeout=15,
        what="the restart",
    )
    assert int(again["MainPID"]) in started_pids(work)
    assert pings(work, first_pid) == 2
