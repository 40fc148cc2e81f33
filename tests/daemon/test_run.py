"""``numeraud run --spawn-handlers`` end to end against the sandbox: real processes, real numerapi."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from numeraud.sandbox import Sandbox, SandboxOptions
from tests.daemon.installation import Installation, wait_until_exited
from tests.helpers import drain, wait_for

ROUND = ["round_begin", "new_training_data", "new_tournament_data", "cleanup"]


@pytest.fixture
def installation(sandbox: Sandbox, tmp_path: Path) -> Iterator[Installation]:
    (tmp_path / "nd").mkdir()
    created = Installation(tmp_path / "nd", sandbox)
    yield created
    created.stop()


def seconds_to_next_open(sandbox: Sandbox) -> float:
    """How far to fast-forward the daily schedule to be 30 s into the next round."""
    core = sandbox.core
    virtual_now = core.clock.virtual(datetime.now(UTC))
    (slot, *_) = core.schedule.slots_between(virtual_now, virtual_now + timedelta(days=8))
    return (slot.open - virtual_now).total_seconds() + 30


def test_a_fast_forwarded_week_reaches_the_handler_once_in_order_with_data(tmp_path: Path) -> None:
    # v5.2 only: the week releases v5.3 mid-way.
    options = SandboxOptions(data_dir=tmp_path / "sandbox", schedule="daily", versions=("v5.2",))
    with Sandbox(options) as sandbox:
        sandbox.advance(seconds_to_next_open(sandbox))
        first = sandbox.core.current_round().number
        (tmp_path / "nd").mkdir()
        installation = Installation(tmp_path / "nd", sandbox)
        installation.start()
        try:
            rounds = list(range(first, first + 5))
            for number in rounds:
                installation.wait_event("cleanup", number)
                if number == first + 2:
                    sandbox.release_dataset("v5.3")  # a new dataset version mid-week
                if number != rounds[-1]:
                    sandbox.advance(seconds_to_next_open(sandbox))
            installation.wait_event("round_closed", rounds[-2])
        finally:
            installation.stop()
        events = installation.events()
        assert all(r["attempt"] == 1 for r in installation.records() if "kind" in r)
        assert len(events) == len(set(events)), "an event arrived twice"
        for number in rounds:
            mine = [kind for kind, n in events if n == number and kind in ROUND]
            expected = ROUND if number in (first, first + 3) else [k for k in ROUND if k != "new_training_data"]
            assert mine == expected, (number, mine)
        assert [n for kind, n in events if kind == "new_training_data"] == [first, first + 3]
        assert [e for e in events if e[0] != "round_closed"] == sorted(
            (e for e in events if e[0] != "round_closed"), key=lambda e: (e[1], ROUND.index(e[0]))
        )
        for number in rounds:
            version = "v5.3" if number >= first + 3 else "v5.2"
            local = installation.data_dir / version / f"live_{number}.parquet"
            assert local.read_bytes() == (options.data_dir / version / f"live_{number}.parquet").read_bytes()
        assert (installation.data_dir / "v5.3" / "train.parquet").exists()


def test_a_round_missed_while_down_is_reported(installation: Installation, sandbox: Sandbox) -> None:
    installation.start()
    installation.wait_event("cleanup", 1)
    installation.stop()
    sandbox.open_round()
    sandbox.close_round()
    installation.start()
    installation.wait_event("round_missed", 2)
    assert ("round_begin", 2) not in installation.events()


def test_killed_mid_download_it_resumes_without_a_half_visible_file(small_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "nd").mkdir()
    installation = Installation(tmp_path / "nd", small_sandbox)
    # Every download is slow: which file comes first varies, and a file smaller than one read
    # chunk shows no bytes in its .part until it is complete.
    small_sandbox.add_faults({"route": "download", "kind": "throttle", "delay": 6})
    installation.start()
    part = installation.data_dir / ".partial"
    final = installation.data_dir / "v5.2" / "features.json"
    try:
        installation.wait(lambda: any(p.stat().st_size > 0 for p in part.rglob("*.part")), timeout=30)
        assert installation.process is not None
        installation.process.send_signal(signal.SIGKILL)
        installation.process.wait(timeout=10)
        assert (
            not final.exists()
            or final.read_bytes() == (small_sandbox.core.options.data_dir / "v5.2/features.json").read_bytes()
        )
        small_sandbox.clear_faults()
        installation.start()
        installation.wait_event("cleanup", 1)
    finally:
        installation.stop()
    for name in ("features.json", "train.parquet", "live_1.parquet"):
        assert (installation.data_dir / "v5.2" / name).read_bytes() == (
            small_sandbox.core.options.data_dir / "v5.2" / name
        ).read_bytes()
    assert not list(part.rglob("*.part"))


def test_once_processes_what_is_due_and_exits(installation: Installation) -> None:
    process = installation.start("--once")
    assert wait_until_exited(process, timeout=90) == 0
    assert [kind for kind, _ in installation.events()] == ROUND


def test_numeraudctl_status_shows_the_tournament_state(installation: Installation) -> None:
    installation.start()
    installation.wait_event("cleanup", 1)
    status = installation.ctl("status")
    assert status.returncode == 0, status.stderr
    assert "round 1:" in status.stdout  # the round, its window and its data on the one screen
    document = json.loads(installation.ctl("status", "--json").stdout)
    assert document["tournament"]["last_round_processed"] == "1"
    assert document["tournament"]["last_round_trained"] == "1"
    assert installation.ctl("poll-now").stdout.strip() == "polling Numerai now"


def test_a_cleanly_stopped_supervisor_leaves_no_socket_files(installation: Installation) -> None:
    process = installation.start()
    installation.wait_event("cleanup", 1)
    sockets = [installation.root / "run" / name for name in ("bus.sock", "control.sock")]
    assert all(path.is_socket() for path in sockets)
    installation.stop()
    assert process.returncode == 0
    assert [path for path in sockets if path.exists()] == []
    assert installation.ctl("status").returncode == 3  # not running, and it says so


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("[poll]\nidle_interval = 1\nfast_interval = 5", "poll.fast_interval"),
        ('[data]\nversion = "5.2"', "data.version"),
        ("[data]\nretention = 0", "data.retention"),
        ('[data]\nlive_files = ["../etc/passwd"]', "data.live_files"),
        ("[poll]\ncolour = 1", "poll.colour"),
    ],
)
def test_a_bad_config_names_the_key_and_file_and_exits_78(tmp_path: Path, section: str, key: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[paths]\nstate_dir = "{tmp_path}/s"\nruntime_dir = "{tmp_path}/r"\n{section}\n')
    done = subprocess.run(
        [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78
    assert key in done.stderr
    assert str(config) in done.stderr


def test_a_webhook_port_in_use_fails_the_start_before_ready(installation: Installation) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        installation.write_config(poll=f'webhook = "127.0.0.1:{taken.getsockname()[1]}"')
        done = subprocess.run(
            [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(installation.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "poll.webhook" in done.stderr
    assert "supervisor ready" not in done.stdout


def test_the_webhook_numerai_calls_makes_numeraud_poll_at_once(installation: Installation, sandbox: Sandbox) -> None:
    # Port 0: numeraud binds a free port itself and reports it (no bind, close and hope it stays free).
    installation.write_config(poll='webhook = "127.0.0.1:0"\nidle_interval = 3600\nfast_interval = 3600')
    installation.start()
    installation.wait_event("cleanup", 1)
    status = json.loads(installation.ctl("--json", "status").stdout)
    host, _, port = status["webhook"]["address"].rpartition(":")
    assert (host, int(port) > 0) == ("127.0.0.1", True)
    # What numerapi's set_submission_webhook registers; the sandbox calls it when a round opens.
    sandbox.core.set_webhook(sandbox.model_ids()["sandbox_model_1"], f"http://127.0.0.1:{port}/")
    sandbox.open_round()
    installation.wait_event("cleanup", 2, timeout=20)


def test_a_blocked_handler_is_announced_to_the_others(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "nd").mkdir()
    installation = Installation(
        tmp_path / "nd",
        sandbox,
        handlers=("rec", "poison"),
        settings={"poison": "max_attempts = 2"},
        options={"poison": 'fail_kinds = ["new_tournament_data"]'},
    )
    installation.start()
    try:
        installation.wait_event("handler_blocked", 1)
        blocked = [r for r in installation.records() if r.get("kind") == "handler_blocked"]
        assert len(blocked) == 1
        assert blocked[0]["payload"]["handler"] == "poison"
        assert blocked[0]["payload"]["kind"] == "new_tournament_data"
        assert "poisoned new_tournament_data" in blocked[0]["payload"]["error"]
    finally:
        installation.stop()


def watchdog_env(notify_path: str) -> dict[str, str]:
    """systemd's environment for a Type=notify service with WatchdogSec=0.2 (pinged every 0.1 s)."""
    return {"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"}


def datagrams_until_quiet(sock: socket.socket, quiet: float, limit: float = 5.0) -> list[str]:
    """Every datagram that arrives until none has for ``quiet`` seconds (or ``limit`` seconds passed)."""
    seen = []
    end = time.monotonic() + limit
    sock.settimeout(quiet)
    with contextlib.suppress(TimeoutError):
        while time.monotonic() < end:
            seen.append(sock.recv(4096).decode())
    return seen


def test_a_polling_supervisor_feeds_the_watchdog(
    installation: Installation, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    installation.start(env=watchdog_env(path))
    installation.wait_event("cleanup", 1)
    drain(sock)
    pings = 0
    while pings < 5:
        pings += sock.recv(4096) == b"WATCHDOG=1"


def test_a_dead_follower_thread_stops_the_watchdog_and_status_says_so(
    installation: Installation, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    process = installation.start(env={**watchdog_env(path), "NUMERAUD_FAILPOINT": "exit_follower_thread"})
    assert sock.recv(4096).startswith(b"READY=1")
    wait_for(lambda: "follower_thread_died" in installation.log_text())
    before = drain(sock)
    seen = datagrams_until_quiet(sock, quiet=1.0)  # five watchdog intervals without a datagram
    assert "WATCHDOG=1" not in seen
    assert any(m.startswith("STATUS=UNHEALTHY, watchdog not fed") for m in before + seen)
    assert process.poll() is None  # the loop runs on: only systemd's watchdog would restart it
    status = installation.ctl("status")
    assert "UNHEALTHY" in status.stdout
    assert "the follower thread died (SystemExit: failpoint exit_follower_thread)" in status.stdout
    assert "nothing polls Numerai" in status.stdout
