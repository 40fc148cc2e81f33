"""numeraud itself under a real ``systemd --user``, with the user units of systemd/user/.

The units are installed as shipped, with two changes a test needs: the console-script prefix
(``%h/.local/bin/``) becomes the scripts directory of this Python (see ``test_units.py``), and a
drop-in points ``NUMERAUD_CONFIG`` at a test configuration, puts the repository on
``PYTHONPATH`` (for ``tests.system.recorder:Recorder``) and sends output to a file (there is no
journald). Some tests add a drop-in with a short ``WatchdogSec=`` or ``RestartSec=`` so that
several periods pass in seconds; they say so.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import UserManager
from tests.system.recorder import read_records
from tests.system.test_units import SYSTEMD_DIR, UNITS, USER_PREFIX, render, scripts_dir

pytestmark = [pytest.mark.systemd, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = "numeraud.service"
EX_CONFIG = "78"


@dataclass
class Numeraud:
    """One test's numeraud installation in the user manager."""

    manager: UserManager
    work: Path

    @property
    def config(self) -> Path:
        """The test configuration (NUMERAUD_CONFIG of every unit)."""
        return self.work / "numeraud.toml"

    @property
    def state_dir(self) -> Path:
        """StateDirectory=numeraud of the user unit: ``%S/numeraud``."""
        return self.manager.home / ".local" / "state" / "numeraud"

    @property
    def runtime_dir(self) -> Path:
        """RuntimeDirectory=numeraud of the user unit: ``%t/numeraud``."""
        return self.manager.runtime_dir / "numeraud"

    def record(self, handler: str) -> Path:
        """Where handler ``handler``'s Recorder writes."""
        return self.work / f"{handler}.jsonl"

    def write_config(self, *, extra: str = "", recycle: bool = False) -> None:
        """A configuration with the paths of the user units and one Recorder handler, ``rec``."""
        self.config.write_text(
            f"""\
[paths]
state_dir = "{self.state_dir}"
runtime_dir = "{self.runtime_dir}"

[poll]
enabled = false   # these tests must never poll the real Numerai

[bus]
heartbeat_interval = 0.5

[handlers.rec]
class = "tests.system.recorder:Recorder"
recycle = {"true" if recycle else "false"}
options = {{ record = "{self.record("rec")}" }}
{extra}
""",
            encoding="utf-8",
        )

    def dropin(self, unit: str, name: str, settings: str) -> None:
        """Add a ``[Service]`` drop-in to ``unit`` and reload."""
        self.manager.install_dropin(unit, name, f"[Service]\n{settings}\n")

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``numeraudctl --config CONFIG ARGS...``."""
        return subprocess.run(
            [str(scripts_dir() / "numeraudctl"), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def status(self) -> dict[str, Any]:
        """``numeraudctl --json status``, which must succeed."""
        result = self.ctl("--json", "status")
        assert result.returncode == 0, result.stderr
        status: dict[str, Any] = json.loads(result.stdout)
        return status

    def exits(self, unit: str) -> list[str]:
        """``"$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS"`` of each run of ``unit`` that ended, as the
        test drop-in's ExecStopPost= recorded it (an inactive unit's properties are gone once
        systemd unloads it, so they cannot be asked afterwards)."""
        path = self.manager.log_dir / f"{unit}.exit"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def log(self, unit: str) -> str:
        """Everything ``unit`` wrote so far."""
        path = self.manager.log_path(unit)
        return path.read_text(encoding="utf-8") if path.exists() else ""


def add_test_dropins(installation: Numeraud) -> None:
    """What the tests add to the installed units: the test configuration, the repository on
    ``PYTHONPATH`` (for the Recorder handler), output to a file (no journald), the exit recorded."""
    user_manager = installation.manager
    test_settings = f"""\
[Service]
Environment=NUMERAUD_CONFIG={installation.config}
Environment=PYTHONPATH={ROOT}
StandardOutput=append:{user_manager.log_dir}/%n.log
StandardError=inherit
LimitCORE=0
ExecStopPost=/bin/sh -c 'echo "$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS" >> {user_manager.log_dir}/%n.exit'
"""
    for unit in ("numeraud.service", "numeraud-handler@.service"):
        user_manager.install_dropin(unit, "test.conf", test_settings, reload=False)


@pytest.fixture
def numeraud(user_manager: UserManager, tmp_path: Path) -> Numeraud:
    """The user units of systemd/user/ installed with the test drop-in, and a good configuration."""
    installation = Numeraud(user_manager, tmp_path)
    for directory in (installation.state_dir, installation.runtime_dir):
        shutil.rmtree(directory, ignore_errors=True)
    installation.write_config()
    for name in UNITS:
        text = render((SYSTEMD_DIR / "user" / name).read_text(encoding="utf-8"), USER_PREFIX)
        user_manager.install_unit(name, text, reload=False)
    add_test_dropins(installation)
    user_manager.daemon_reload()
    return installation


def pinged_for(periods: int, watchdog_s: float) -> Callable[[Mapping[str, str]], bool]:
    """A predicate: the unit is active and its last WATCHDOG=1 came ``periods`` watchdog periods
    or more after it became active."""

    def predicate(p: Mapping[str, str]) -> bool:
        if p["ActiveState"] != "active" or not int(p["WatchdogTimestampMonotonic"] or 0):
            return False
        since_active_us = int(p["WatchdogTimestampMonotonic"]) - int(p["ActiveEnterTimestampMonotonic"])
        return since_active_us >= periods * watchdog_s * 1_000_000

    return predicate


WATCHDOG_PROPS = (
    "ActiveState",
    "SubState",
    "Result",
    "NRestarts",
    "MainPID",
    "WatchdogTimestampMonotonic",
    "ActiveEnterTimestampMonotonic",
)


def test_a_bad_configuration_fails_once_with_exit_78_and_no_restart(numeraud: Numeraud) -> None:
    """With an unknown key in the configuration the supervisor exits 78 before READY; the start
    job fails and RestartPreventExitStatus=78 leaves the unit failed instead of auto-restarting."""
    numeraud.write_config(extra="[surprise]\nbogus = 1\n")
    result = numeraud.manager.systemctl("start", SUPERVISOR, check=False)
    assert result.returncode != 0

    props = numeraud.manager.show(
        SUPERVISOR, "ActiveState", "SubState", "Result", "ExecMainCode", "ExecMainStatus", "NRestarts"
    )
    # A restart to come would show as activating/auto-restart; failed/failed is final.
    assert props == {
        "ActiveState": "failed",
        "SubState": "failed",
        "Result": "exit-code",
        "ExecMainCode": "1",  # CLD_EXITED
        "ExecMainStatus": EX_CONFIG,
        "NRestarts": "0",
    }
    assert numeraud.exits(SUPERVISOR) == ["exit-code exited 78"]  # one run, no second attempt
    assert "surprise: unknown key" in numeraud.log(SUPERVISOR)


def test_a_transient_start_failure_is_restarted(numeraud: Numeraud) -> None:
    """A start-up failure that is not a configuration error (the state directory is locked by
    another process: exit 1) is retried by Restart=on-failure and succeeds once the lock is gone.
    A drop-in shortens RestartSec= to 1 s."""
    numeraud.dropin(SUPERVISOR, "restart.conf", "RestartSec=1s")
    numeraud.state_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(numeraud.state_dir / "numeraud.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        numeraud.manager.systemctl("start", "--no-block", SUPERVISOR)
        failed = numeraud.manager.wait_for(
            SUPERVISOR,
            lambda p: p["SubState"] == "auto-restart",
            props=("SubState", "Result", "ExecMainStatus"),
            what="the first attempt fails and a restart is scheduled",
        )
        assert (failed["Result"], failed["ExecMainStatus"]) == ("exit-code", "1")
    finally:
        os.close(lock_fd)
    props = numeraud.manager.wait_for(
        SUPERVISOR, lambda p: p["ActiveState"] == "active", timeout=30, what="a later attempt succeeds"
    )
    assert int(props["NRestarts"]) >= 1


def test_the_supervisor_is_active_only_when_ready_and_shows_a_status(numeraud: Numeraud) -> None:
    """`systemctl start` of the Type=notify supervisor returns once it sent READY=1, and by then
    its control socket answers and StatusText is set."""
    numeraud.manager.systemctl("start", SUPERVISOR)
    props = numeraud.manager.show(SUPERVISOR, "Type", "ActiveState", "SubState", "MainPID", "StatusText")
    assert (props["Type"], props["ActiveState"], props["SubState"]) == ("notify", "active", "running")
    assert props["StatusText"]

    status = numeraud.status()
    assert status["running"] is True
    assert status["pid"] == int(props["MainPID"])


def test_the_supervisor_feeds_the_watchdog(numeraud: Numeraud) -> None:
    """The supervisor keeps sending WATCHDOG=1 across several WatchdogSec= periods without being
    restarted. A drop-in sets WatchdogSec=2s so that three periods pass in six seconds."""
    numeraud.dropin(SUPERVISOR, "watchdog.conf", "WatchdogSec=2s")
    numeraud.manager.systemctl("start", SUPERVISOR)
    pid = numeraud.manager.show(SUPERVISOR, "MainPID")["MainPID"]

    props = numeraud.manager.wait_for(
        SUPERVISOR, pinged_for(3, 2.0), timeout=30, props=WATCHDOG_PROPS, what="WATCHDOG=1 three periods on"
    )
    assert (props["SubState"], props["NRestarts"], props["MainPID"]) == ("running", "0", pid)


def test_stop_ends_the_supervisor_cleanly_and_keeps_the_runtime_directory(numeraud: Numeraud) -> None:
    """`systemctl stop` (SIGTERM) makes the supervisor exit 0: the unit is inactive with
    Result=success, and RuntimeDirectoryPreserve=yes keeps its runtime directory."""
    numeraud.manager.systemctl("start", SUPERVISOR)
    numeraud.manager.systemctl("stop", SUPERVISOR)

    props = numeraud.manager.show(SUPERVISOR, "ActiveState", "SubState")
    assert props == {"ActiveState": "inactive", "SubState": "dead"}
    assert numeraud.exits(SUPERVISOR) == ["success exited 0"]  # exited 0, not killed by the signal
    assert numeraud.runtime_dir.is_dir()
    assert numeraud.ctl("status").returncode == 3  # LSB: not running


def test_a_handler_instance_starts_connects_and_stays_running(numeraud: Numeraud) -> None:
    """numeraud-handler@rec becomes active after its READY=1, connects to the supervisor and
    keeps feeding its watchdog (a drop-in sets WatchdogSec=2s) without a restart."""
    handler = "numeraud-handler@rec.service"
    numeraud.dropin("numeraud-handler@.service", "watchdog.conf", "WatchdogSec=2s")
    numeraud.manager.systemctl("start", handler)  # Wants=/After= numeraud.service
    supervisor = numeraud.manager.show(SUPERVISOR, "ActiveState")
    assert supervisor["ActiveState"] == "active"
    pid = numeraud.manager.show(handler, "MainPID")["MainPID"]
    # READY=1 comes once the runtime is up; on_start runs in its worker thread meanwhile.
    numeraud.manager.wait_for(
        handler,
        lambda _p: {"pid": int(pid), "callback": "on_start"} in read_records(numeraud.record("rec")),
        what="on_start in the unit's main process",
    )
    numeraud.manager.wait_for(
        handler,
        lambda _p: numeraud.status()["handlers"]["rec"]["pid"] == int(pid),
        what="the supervisor sees this process connected",
    )

    props = numeraud.manager.wait_for(
        handler, pinged_for(3, 2.0), timeout=30, props=WATCHDOG_PROPS, what="WATCHDOG=1 three periods on"
    )
    assert (props["SubState"], props["NRestarts"], props["MainPID"]) == ("running", "0", pid)
    assert numeraud.status()["handlers"]["rec"]["connected"] is True


def test_a_recycled_handler_is_restarted_after_each_event(numeraud: Numeraud) -> None:
    """With ``recycle = true`` the handler exits 0 after an event and Restart=always starts a
    fresh process, which connects again."""
    handler = "numeraud-handler@rec.service"
    numeraud.write_config(recycle=True)
    numeraud.manager.systemctl("start", handler)
    first = numeraud.manager.show(handler, "MainPID")["MainPID"]
    numeraud.manager.wait_for(SUPERVISOR, lambda _p: numeraud.status()["handlers"]["rec"]["connected"])

    appended = numeraud.ctl("append", "round_begin", "--round", "7")
    assert appended.returncode == 0, appended.stderr

    props = numeraud.manager.wait_for(
        handler,
        lambda p: p["ActiveState"] == "active" and p["MainPID"] not in ("0", first),
        timeout=30,
        what="a fresh process after the event",
    )
    assert int(props["NRestarts"]) == 1
    assert numeraud.exits(handler) == ["success exited 0"]
    assert {"pid": int(first), "callback": "on_round_begin", "round_number": 7} in read_records(numeraud.record("rec"))
    numeraud.manager.wait_for(
        SUPERVISOR,
        lambda _p: numeraud.status()["handlers"]["rec"]["pid"] == int(props["MainPID"]),
        what="the fresh process connects",
    )


def test_stopping_the_target_stops_the_supervisor_and_its_handlers(numeraud: Numeraud) -> None:
    """numeraud.service and numeraud-handler@NAME are PartOf=numeraud.target: stopping the target
    stops them all, the handler cleanly (its on_shutdown ran)."""
    handler = "numeraud-handler@rec.service"
    numeraud.manager.systemctl("start", "numeraud.target", handler)
    for unit in ("numeraud.target", SUPERVISOR, handler):
        assert numeraud.manager.show(unit, "ActiveState")["ActiveState"] == "active"

    # The stop jobs PartOf= adds run on after the target's own stop job has returned.
    numeraud.manager.systemctl("stop", "numeraud.target")
    for unit in (handler, SUPERVISOR):
        numeraud.manager.wait_for(unit, lambda p: p["ActiveState"] == "inactive", what="stopped with the target")
        assert numeraud.exits(unit) == ["success exited 0"], unit
    assert "on_shutdown" in [r["callback"] for r in read_records(numeraud.record("rec"))]


def test_install_user_sets_up_units_that_the_target_starts(user_manager: UserManager, tmp_path: Path) -> None:
    """``numeraudctl install --user`` as a user runs it: the user units in ~/.config/systemd/user,
    daemon-reload, the target and every configured handler enabled; then ``systemctl --user start
    numeraud.target`` runs the supervisor and the handler, connected. (The test adds only its
    drop-in: the repository on PYTHONPATH for the Recorder, output to a file.)"""
    installation = Numeraud(user_manager, tmp_path)
    for directory in (installation.state_dir, installation.runtime_dir):
        shutil.rmtree(directory, ignore_errors=True)
    installation.write_config()
    env = {k: v for k, v in user_manager.env().items() if k != "XDG_CONFIG_HOME"} | {"HOME": str(user_manager.home)}
    done = subprocess.run(
        [str(scripts_dir() / "numeraudctl"), "install", "--user", "--config", str(installation.config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    user_manager.installed.extend(UNITS)  # removed again after the test
    assert done.returncode == 0, done.stdout + done.stderr
    for name in UNITS:
        assert f"wrote {user_manager.unit_dir / name}" in done.stdout
    for name in ("numeraud.service", "numeraud-handler@.service"):
        text = (user_manager.unit_dir / name).read_text()
        assert f"ExecStart={scripts_dir()}/" in text, text  # this installation's scripts
        assert f"NUMERAUD_CONFIG={installation.config}" in text, text
    assert "ran systemctl --user daemon-reload" in done.stdout
    assert "next: systemctl --user start numeraud.target" in done.stdout
    for unit in ("numeraud.target", "numeraud-handler@rec.service"):
        assert user_manager.show(unit, "UnitFileState")["UnitFileState"] == "enabled", unit

    add_test_dropins(installation)
    user_manager.daemon_reload()
    user_manager.systemctl("start", "numeraud.target")
    user_manager.wait_for(SUPERVISOR, lambda p: p["ActiveState"] == "active", what="the supervisor active")
    handler = "numeraud-handler@rec.service"
    pid = user_manager.wait_for(handler, lambda p: p["ActiveState"] == "active", timeout=60)["MainPID"]
    user_manager.wait_for(
        handler,
        lambda _p: installation.status()["handlers"]["rec"]["pid"] == int(pid),
        timeout=60,
        what="the supervisor sees the enabled handler connected",
    )
