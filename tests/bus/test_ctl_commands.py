"""numeraudctl's commands against a running supervisor with real handler processes, and its bad input.

Each bad input is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from numeraud.cli.ctl.parser import COMMANDS
from tests.bus.conftest import Bus
from tests.helpers import wait_for

CTL = [sys.executable, "-m", "numeraud.cli.ctl"]


def one_clean_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a refused command (asserting it is one line and no traceback)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("numeraudctl: ")
    return lines[0]


def test_json_config_and_timeout_work_before_and_after_the_command(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    before = bus.ctl("--json", "--timeout", "9", "status")
    argv = [*CTL, "status", "--json", "--timeout", "9", "--config", str(bus.config_path)]
    after = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=bus._env(None))
    assert (before.returncode, after.returncode) == (0, 0), before.stderr + after.stderr
    for result in (before, after):
        doc = json.loads(result.stdout)
        assert doc["running"] is True
        assert doc["handlers"]["a"]["lag"] == 0
        assert doc["models"] == []
        assert doc["attention"] == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_help_ends_with_an_example_and_has_no_rst_backticks(command: str) -> None:
    result = subprocess.run([*CTL, command, "--help"], capture_output=True, text=True, timeout=60, check=True)
    lines = result.stdout.rstrip().splitlines()
    assert lines[-2] == "example:"
    assert lines[-1].startswith(f"  numeraudctl {command}")
    assert "``" not in result.stdout
    assert "--json" in result.stdout


def test_top_level_help_documents_the_exit_codes() -> None:
    result = subprocess.run([*CTL, "--help"], capture_output=True, text=True, timeout=60, check=True)
    for code in ("0   all well", "3   numeraud is not running", "6   running, but something needs you", "78  the"):
        assert code in result.stdout


def test_events_are_filtered_by_kind_round_and_handler_and_aligned(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.append("round_begin", 7)
    bus.append("cleanup", 7)
    bus.append("round_begin", 123456)
    kinds = json.loads(bus.ctl("events", "--json", "--kind", "round_begin").stdout)
    assert [(e["kind"], e["round"]) for e in kinds] == [("round_begin", 7), ("round_begin", 123456)]
    of_round = json.loads(bus.ctl("events", "--json", "--round", "7").stdout)
    assert [e["kind"] for e in of_round] == ["round_begin", "cleanup"]
    assert json.loads(bus.ctl("events", "--json", "--handler", "a").stdout) == []
    text = bus.ctl("events").stdout.splitlines()
    assert text[0].split() == ["SEQ", "KIND", "ROUND", "SOURCE", "CREATED", "(UTC)", "ABOUT"]
    # Aligned: the round column ends at the same position on every line.
    ends = {line.index("operator") for line in text[1:]}
    assert len(ends) == 1


def test_events_of_an_unknown_handler_is_one_line_and_exit_1(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    result = bus.ctl("events", "--handler", "nobody")
    assert result.returncode == 1
    assert "no handler named 'nobody'" in one_clean_line(result)


def test_events_follow_prints_new_events_as_they_come_and_ends_on_ctrl_c(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    bus.append("round_begin", 1)
    argv = [*CTL, "--config", str(bus.config_path), "events", "--follow", "--json", "--interval", "0.05"]
    follow = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=bus._env(None))
    try:
        assert follow.stdout is not None
        first = json.loads(follow.stdout.readline())
        assert (first["seq"], first["kind"]) == (1, "round_begin")
        bus.append("cleanup", 1)
        second = json.loads(follow.stdout.readline())
        assert (second["seq"], second["kind"]) == (2, "cleanup")
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=20) == 0
    finally:
        if follow.poll() is None:
            follow.kill()


def test_handlers_shows_pid_rss_lag_and_in_flight_of_a_live_handler(bus: Bus) -> None:
    bus.add_handler("a", options={"block_kind": "round_begin"})
    bus.start_supervisor()
    proc = bus.start_handler("a")
    bus.append("round_begin", 1)
    bus.append("cleanup", 1)
    wait_for(lambda: bus.handler_status("a").get("in_flight") == 1, what="a busy with seq 1")
    doc = json.loads(bus.ctl("handlers", "--json").stdout)["a"]
    assert (doc["pid"], doc["in_flight"], doc["in_flight_kind"], doc["lag"]) == (proc.pid, 1, "round_begin", 2)
    assert doc["rss_kib"] > 1000
    text = bus.ctl("handlers").stdout
    assert re.search(r"1 round_begin \(attempt 1, \d+s\)", text), text
    bus.release("a")


def test_status_of_a_blocked_handler_exits_6_and_says_what_to_do(bus: Bus) -> None:
    bus.add_handler("a", max_attempts=1, options={"fail_kinds": ["round_begin"]})
    bus.start_supervisor()
    bus.start_handler("a")
    bus.append("round_begin", 1)
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a blocked")
    result = bus.ctl("status", "--json")
    assert result.returncode == 6
    (line,) = json.loads(result.stdout)["attention"]
    assert line.startswith("handler a is blocked on seq 1: RuntimeError: poisoned round_begin")
    assert "numeraudctl retry a, or skip a 1" in line
    assert "NEEDS YOU (1):" in bus.ctl("status").stdout


def test_skip_checks_the_handler_and_the_seq_and_skips_only_the_blocked_event(bus: Bus) -> None:
    bus.add_handler("a", max_attempts=1, options={"fail_kinds": ["cleanup"]})
    bus.add_handler("b")
    bus.start_supervisor()
    bus.start_handler("a")
    bus.append("round_begin", 1)
    bus.append("cleanup", 1)
    wait_for(lambda: bus.handler_status("a").get("state") == "blocked", what="a blocked")
    unknown = bus.ctl("skip", "nobody", "2")
    assert unknown.returncode == 1
    assert "no handler named 'nobody'" in one_clean_line(unknown)
    beyond = bus.ctl("skip", "a", "99")
    assert beyond.returncode == 1
    assert "skip failed: out_of_range: seq 99 is not in the log (it holds 1 to 3)" in one_clean_line(beyond)
    wrong = bus.ctl("skip", "a", "1")
    assert wrong.returncode == 1
    assert "skip failed: wrong_event: a is blocked on seq 2, not 1; nothing skipped" in one_clean_line(wrong)
    idle = bus.ctl("skip", "b", "1")
    assert idle.returncode == 1
    assert "skip failed: not_blocked: b has no failed event" in one_clean_line(idle)
    assert bus.handler_status("a")["state"] == "blocked"
    done = bus.ctl("skip", "a", "2")
    assert done.returncode == 0, done.stderr
    assert "skip: a gave up on seq 2" in done.stdout
    bus.wait_acked("a", 3)


def test_poll_now_without_a_poller_is_one_clear_line(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    result = bus.ctl("poll-now")
    assert result.returncode == 1
    assert "'poll-now' is not available" in one_clean_line(result)


def test_status_with_the_supervisor_down_reads_the_database_and_exits_3(bus: Bus) -> None:
    bus.add_handler("a")
    proc = bus.start_supervisor()
    bus.append("round_begin", 3, deadline="2099-01-01T00:00:00+00:00", open_time="2020-01-01T00:00:00+00:00")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    result = bus.ctl("status", "--json")
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert (doc["running"], doc["round"]["number"], doc["round"]["open"]) == (False, 3, True)
    assert doc["handlers"]["a"]["lag"] == 1
    for command in ("handlers", "events", "status"):
        text = bus.ctl(command)
        assert text.returncode == 3, command
        assert "numeraud is not running" in one_clean_line(text)
    assert "numeraud NOT running" in bus.ctl("status").stdout
    steer = bus.ctl("retry", "a")
    assert steer.returncode == 3
    assert "not running" in one_clean_line(steer)


def test_a_supervisor_that_dies_mid_request_is_not_running_without_waiting_for_the_timeout(bus: Bus) -> None:
    bus.add_handler("a")
    proc = bus.start_supervisor()
    socket_path = str(bus.root / "run" / "control.sock")
    proc.send_signal(signal.SIGSTOP)  # it accepts connections (the kernel does) but answers nothing
    argv = [*CTL, "--config", str(bus.config_path), "status", "--timeout", "60"]
    ctl = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=bus._env(None))
    # The request is on its way once the kernel lists a second socket on the path (the queued connection).
    wait_for(lambda: Path("/proc/net/unix").read_text().count(socket_path) >= 2, what="numeraudctl connected")
    bus.kill9(proc)
    out, err = ctl.communicate(timeout=30)
    assert ctl.returncode == 3, err
    assert "Traceback" not in err
    assert "numeraud stopped while answering" in err
    assert "numeraud NOT running" in out


def test_a_database_of_an_older_schema_is_one_line_and_exit_3(bus: Bus) -> None:
    bus.add_handler("a")
    (bus.root / "state").mkdir()
    with sqlite3.connect(bus.root / "state" / "numeraud.db") as db:
        db.execute("CREATE TABLE events (seq INTEGER)")  # before PRAGMA user_version was kept
        db.execute("PRAGMA user_version = 0")
    result = bus.ctl("status")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("numeraudctl: numeraud is not running")
    assert lines[1].endswith("has schema 0; start numeraud to migrate it")
    assert len(lines) == 2


def test_no_permission_on_the_runtime_directory_is_one_line_and_exit_4(bus: Bus) -> None:
    bus.add_handler("a")
    bus.start_supervisor()
    # The runtime directory belongs to another user, and numeraudctl runs as a root without the
    # capabilities that override file modes: it cannot enter it (as any other user could not).
    # Staying root keeps this Python runnable wherever its virtualenv is (CI's is mode 0700).
    os.chown(bus.root / "run", 65534, 65534)
    (bus.root / "run").chmod(0o700)
    argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *CTL, "status"]
    result = subprocess.run(
        [*argv, "--config", str(bus.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=bus._env(None),
        cwd="/",
    )
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert f"no permission to reach {bus.root}/run/control.sock" in result.stderr.splitlines()[0]


def test_a_config_that_does_not_parse_is_one_line_and_exit_78(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("not toml [")
    for command in ("status", "history", "retry"):
        extra = ["a"] if command == "retry" else []
        result = subprocess.run(
            [*CTL, command, *extra, "--config", str(config)], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 78
        assert "not valid TOML" in one_clean_line(result)


def test_completion_scripts_are_generated_from_the_parser(tmp_path: Path) -> None:
    bash = subprocess.run([*CTL, "completion", "bash"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert subprocess.run(["bash", "-n"], input=bash, text=True, check=False).returncode == 0
    for command in COMMANDS:
        assert command in bash
    assert "complete -F _numeraudctl numeraudctl" in bash
    probe = f'{bash}\nCOMP_WORDS=(numeraudctl --config x.toml sk); COMP_CWORD=3; _numeraudctl; echo "${{COMPREPLY[@]}}"'
    assert subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split() == ["skip"]
    # The commands that take a handler complete the names in the configuration (--config before or after).
    config = tmp_path / "n.toml"
    config.write_text(
        '[paths]\nstate_dir = "/x"\n[handlers.model-a]\nclass = "m:A"\n[handlers.uploader]\nclass = "u:U"\n'
    )
    for words, cword in (
        (f"numeraudctl --config {config} rewind ''", 4),
        (f"numeraudctl pause --config {config} ''", 4),
        (f"numeraudctl --config {config} events --handler ''", 5),
    ):
        probe = f'{bash}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; _numeraudctl; echo "${{COMPREPLY[@]}}"'
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()
        assert {"model-a", "uploader"} <= set(done), (words, done)
    words = f"numeraudctl --config {config} rewind model-a --"
    probe = f'{bash}\nCOMP_WORDS=({words}); COMP_CWORD=5; _numeraudctl; echo "${{COMPREPLY[@]}}"'
    assert "--to" in subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    zsh = subprocess.run([*CTL, "completion", "zsh"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert zsh.startswith("#compdef numeraudctl")
    assert "'history:" in zsh
    assert "rewind) compadd -- " in zsh
