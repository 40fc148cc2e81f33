"""numeraudctl against a running and a stopped supervisor; configuration errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from numeraud.common import config
from tests.bus.conftest import ROOT, Bus
from tests.helpers import wait_for


def test_ctl_status_of_a_running_supervisor_exits_0_and_shows_handlers(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    result = bus.ctl("--json", "status")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["running"] is True
    assert doc["handlers"]["a"]["state"] == "disconnected"


def test_ctl_status_of_a_stopped_supervisor_reads_the_database_and_exits_3(bus: Bus) -> None:
    bus.add_handler("a")
    proc = bus.start_supervisor()
    bus.append("round_begin", 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    result = bus.ctl("--json", "status")
    assert result.returncode == 3
    assert "not running" in result.stderr
    doc = json.loads(result.stdout)
    assert (doc["running"], doc["head_seq"], doc["handlers"]["a"]["acked_seq"]) == (False, 1, 0)


def test_ctl_status_after_a_kill9_is_not_running_despite_the_stale_socket_file(bus: Bus) -> None:
    bus.add_handler("a")
    proc = bus.start_supervisor()
    bus.kill9(proc)
    assert (bus.root / "run" / "control.sock").exists()
    result = bus.ctl("status")
    assert result.returncode == 3
    assert "NOT running" in result.stdout


def test_ctl_append_and_events_round_trip_and_append_is_idempotent(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    first = bus.ctl("append", "round_begin", "--round", "42", "--payload", '{"open": "2026-01-01"}')
    again = bus.ctl("append", "round_begin", "--round", "42")
    assert (first.returncode, first.stdout.strip()) == (0, "seq 1 (appended)")
    assert (again.returncode, again.stdout.strip()) == (0, "seq 1 (already in the log)")
    events = json.loads(bus.ctl("--json", "events", "--limit", "5").stdout)
    assert [(e["seq"], e["kind"], e["round"], e["payload"]) for e in events] == [
        (1, "round_begin", 42, {"open": "2026-01-01"})
    ]


def test_ctl_status_never_shows_a_secret_from_an_error_text(bus: Bus) -> None:
    secret = "s3cr3t-value-0123456789"
    bus.add_handler("a", max_attempts=1, options={"fail_kinds": ["round_begin"]})
    bus.start_supervisor()
    bus.start_handler("a", env={"NUMERAI_SECRET_KEY": secret})
    bus.append("round_begin", 1, note=secret)
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a to be blocked")
    result = bus.ctl("--json", "status")
    last_error = json.loads(result.stdout)["handlers"]["a"]["last_error"]
    assert last_error == "RuntimeError: poisoned round_begin at attempt 1 ([redacted])"
    assert secret not in result.stdout
    assert secret not in (bus.root / "handler-a.log").read_text()
    # The handler_blocked notice carries the (scrubbed) error into the event log, never the secret.
    wait_for(lambda: "handler_blocked" in bus.ctl("events").stdout, what="the handler_blocked notice")
    events = json.loads(bus.ctl("--json", "events", "--limit", "50").stdout)
    (notice,) = [e for e in events if e["kind"] == "handler_blocked"]
    assert notice["payload"]["error"] == last_error
    assert secret not in json.dumps(notice)


def test_ctl_with_an_unknown_command_argument_is_a_usage_error(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    result = bus.ctl("retry", "nobody")
    assert result.returncode == 1
    assert "unknown_handler" in result.stderr


# ---- configuration ----


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "numeraud.toml"
    path.write_text(text)
    return path


def _run(argv: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    """Run a numeraud command with ``--config`` and return what it did (it is expected to exit)."""
    return subprocess.run(
        [*argv, "--config", str(config)], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[handlers.model-a]\nclass = "m:C"\nmax_attempts = 0\n',
            "handlers.model-a.max_attempts: must be a positive integer",
        ),
        ('[handlers.model-a]\nclass = "m:C"\ncolour = "red"\n', "handlers.model-a.colour: unknown key"),
        ('[handlers.model-a]\nclass = "nocolon"\n', 'handlers.model-a.class: must be "package.module:ClassName"'),
        ('[handlers.a]\nclass = "m:C"\nafter = ["b"]\n', "handlers.a.after: unknown handler 'b'"),
        (
            '[handlers.a]\nclass = "m:C"\nafter = ["b"]\n[handlers.b]\nclass = "m:C"\nafter = ["a"]\n',
            "handlers.a.after: cycle: a -> b -> a",
        ),
        ("[bus]\nheartbeat_interval = -1\n", "bus.heartbeat_interval: must be a positive number of seconds"),
        ('[bus]\ncontrol_endpoint = "tcp://0.0.0.0:1"\n', "bus.control_endpoint: must start with ipc://"),
        ('[numerai]\ntournament = "eight"\n', "numerai.tournament: must be a positive integer"),
        ("[mystery]\n", "mystery: unknown key"),
        ("[poll]\nguard_margin = 3600\n", "poll.guard_margin: must be shorter than Numerai's shortest window"),
        (
            '[handlers.up]\nclass = "m:C"\noptions = { secret_key = "abc" }\n',
            "handlers.up.options.secret_key: secrets never go in the TOML",
        ),
        ("not toml [", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert message in str(info.value)
    assert str(info.value).endswith(f"(in {path.resolve()})")


def test_config_defaults_follow_the_paths(tmp_path: Path) -> None:
    cfg = config.load(_write(tmp_path, '[paths]\nstate_dir = "/srv/nd"\nruntime_dir = "/run/x"\n'))
    assert cfg.paths.data_dir == Path("/srv/nd/data")
    assert cfg.bus.endpoint == "ipc:///run/x/bus.sock"
    assert cfg.numerai.api_url == "https://api-tournament.numer.ai"


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "numeraud.cli.main", "run"],
        [sys.executable, "-m", "numeraud.handler.main", "model-a"],
    ],
)
def test_an_invalid_config_exits_78_naming_key_and_file_before_ready(tmp_path: Path, argv: list[str]) -> None:
    path = _write(tmp_path, '[handlers.model-a]\nclass = "m:C"\nmax_attempts = 0\n')
    result = _run(argv, path)
    assert result.returncode == 78
    assert f"handlers.model-a.max_attempts: must be a positive integer (in {path.resolve()})" in result.stderr


def test_a_tcp_bus_without_curve_keys_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f'[paths]\nstate_dir = "{tmp_path}/s"\nruntime_dir = "{tmp_path}/r"\n[bus]\nendpoint = "tcp://127.0.0.1:5999"\n',
    )
    result = _run([sys.executable, "-m", "numeraud.cli.main", "run"], path)
    assert result.returncode == 78
    assert "bus.endpoint: tcp:// is refused without CURVE" in result.stderr


def test_a_handler_class_that_cannot_be_imported_exits_78(tmp_path: Path) -> None:
    path = _write(tmp_path, '[handlers.a]\nclass = "no_such_module_xyz:C"\n')
    result = _run([sys.executable, "-m", "numeraud.handler.main", "a"], path)
    assert result.returncode == 78
    assert "handlers.a.class: cannot import no_such_module_xyz" in result.stderr


def test_a_second_supervisor_on_the_same_state_directory_refuses_to_start(bus: Bus) -> None:
    bus.add_handler("a")
    first = bus.start_supervisor()
    second = bus.start_supervisor(wait=False)
    assert second.wait(timeout=30) == 1
    assert "another numeraud is running" in (bus.root / "supervisor.log").read_text()
    assert first.poll() is None
