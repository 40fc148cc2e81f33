"""``numeraud demo`` as a newcomer runs it: the real command in a subprocess, end to end.

The story runs with ``--size tiny`` (the same steps as the default ``small``, on smaller files).
What the demo claims is checked from what it leaves behind, not from its own words only: the
event log, the uploader's ledger, the killed handler's state file, the daemon's log, and (with
``--stay``) the sandbox's own record of uploads.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from numeraud.cli.demo.report import build_rows, problems, render_text
from numeraud.cli.demo.workdir import LOCK, MARKER, open_demo_dir
from tests.helpers import wait_for

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]
STORY_TIMEOUT = 240.0


def demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``numeraud demo ARGS`` to the end."""
    return subprocess.run(
        [*NUMERAUD, "demo", *args], cwd=cwd, capture_output=True, text=True, timeout=STORY_TIMEOUT + 60, check=False
    )


class RunningDemo:
    """``numeraud demo`` in the background, its stdout collected line by line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [*NUMERAUD, "demo", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = STORY_TIMEOUT) -> str:
        """The first stdout line containing ``text`` (fails the test after ``timeout``)."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.lines if text in line]
            if not found and self.process.poll() is not None:
                pytest.fail(f"the demo exited ({self.process.returncode}) without printing {text!r}:\n" + self.output())
            return bool(found)

        wait_for(seen, timeout=timeout, interval=0.1)
        return found[0]

    def finish(self, timeout: float = 90.0) -> tuple[int, str]:
        """Wait for the exit; returns the exit code and stderr."""
        code = self.process.wait(timeout)
        self.reader.join(timeout=10)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def running() -> Iterator[list[RunningDemo]]:
    """Demos started by a test; any still running at its end is killed."""
    started: list[RunningDemo] = []
    yield started
    for each in started:
        each.kill()


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def processes_naming(text: str) -> set[int]:
    """Live processes whose command line contains ``text``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a file (anything else a process printed is skipped)."""
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [entry for entry in found if isinstance(entry, dict)]


def step(lines: list[str], text: str) -> int:
    """The index of the first line containing ``text`` (fails if there is none)."""
    for index, line in enumerate(lines):
        if text in line:
            return index
    pytest.fail(f"no line with {text!r} in:\n" + "\n".join(lines))


@pytest.mark.slow
def test_demo_tells_the_story_in_steps_and_exits_0_after_every_check(tmp_path: Path) -> None:
    done = demo("--size", "tiny", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    order = [
        step(lines, "round 2: numeraud noticed it"),
        step(lines, "round 2: first training data (v5.2)"),
        step(lines, "round 2: 3/3 models uploaded and accepted"),
        step(lines, "new dataset v5.3 released by the sandbox"),
        step(lines, "round 3: new training data (v5.3): every model trains"),
        step(lines, "killed model-b (pid"),
        step(lines, "supervisor restarted model-b (pid"),
        step(lines, "round 3: 3/3 models trained on v5.3"),
        step(lines, "round 4: 3/3 models uploaded and accepted"),
        step(lines, "scores of rounds 2, 3, 4 collected"),
        step(lines, "numeraud running: pid"),  # numeraudctl status, from the live supervisor
        step(lines, "ROUND  MODEL"),
        step(lines, "demo finished, every check passed"),
    ]
    assert order == sorted(order)
    assert len(lines) < 80  # steps, not every event of the log
    killed = re.search(
        r"killed model-b \(pid (\d+)\) with SIGKILL mid-training \(event (\d+), attempt 1\)", done.stdout
    )
    assert killed is not None, done.stdout
    seq = int(killed.group(2))
    assert f"event {seq} redelivered (attempt 2)" in done.stdout

    where = tmp_path / "numeraud-demo"
    for name in (MARKER, "numeraud.toml", "numeraud.log", "demo.txt", "results.md", "results.csv"):
        assert (where / name).is_file(), name
    chart = where / "state" / "handlers" / "scores" / "scores.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "chart: numeraud-demo/state/handlers/scores/scores.png" in done.stdout
    assert "ROUND  MODEL" in (where / "demo.txt").read_text()

    # The redelivery, from the handler's own state and the daemon's log.
    state = json.loads((where / "state" / "handlers" / "model-b" / "state.json").read_text())["persistent_state"]
    assert state["training_event"] == {"seq": seq, "attempt": 2}
    assert state["dataset_version"] == "v5.3"
    log = json_lines(where / "numeraud.log")
    exits = [(e.get("handler"), e.get("exit_code")) for e in log if e.get("event") == "handler_exited"]
    assert exits == [("model-b", -signal.SIGKILL)]

    # Exactly once per (round, model): the event log, the uploader's ledger, Numerai's side (the table).
    with sqlite3.connect(where / "state" / "numeraud.db") as db:
        uploaded = db.execute(
            "SELECT round, json_extract(payload, '$.model'), count(*) FROM events "
            "WHERE kind = 'submission_uploaded' GROUP BY 1, 2"
        ).fetchall()
        trained = db.execute("SELECT count(*) FROM events WHERE kind = 'new_training_data'").fetchone()[0]
    expected = {(r, m) for r in (2, 3, 4) for m in "abc"}
    assert {(r, m) for r, m, _ in uploaded} == expected
    assert all(count == 1 for _, _, count in uploaded)
    assert trained == 2  # the first data, then v5.3
    with sqlite3.connect(where / "state" / "handlers" / "uploader" / "ledger.sqlite") as ledger:
        rows = ledger.execute("SELECT round, model, status FROM uploads").fetchall()
    assert {(r, m) for r, m, _ in rows} == expected
    assert {status for _, _, status in rows} == {"uploaded"}
    with (where / "results.csv").open() as table:
        results = list(csv.DictReader(table))
    assert len(results) == 9
    assert all(row["uploads"] == row["accepted"] == "1" for row in results)
    assert all(row["corr20v2"] and row["validation_corr"] for row in results)
    assert [row["data_version"] for row in results] == ["v5.2"] * 3 + ["v5.3"] * 6


@pytest.mark.slow
def test_demo_with_stay_keeps_everything_running_until_ctrl_c(tmp_path: Path, running: list[RunningDemo]) -> None:
    run = RunningDemo("--size", "tiny", "--dir", "stay", "--stay", cwd=tmp_path)
    running.append(run)
    run.wait_for_line("press Ctrl-C to stop it all")
    assert "numeraudctl --config stay/numeraud.toml status" in run.output()
    config = tmp_path / "stay" / "numeraud.toml"
    status = subprocess.run(
        [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "numeraud running" in status.stdout
    url = tomllib.loads(config.read_text())["numerai"]["api_url"]
    with urllib.request.urlopen(f"{url}/admin/uploads", timeout=10) as answer:
        uploads: list[dict[str, Any]] = json.load(answer)["uploads"]
    pairs = [(u["round"], u["model"]) for u in uploads]
    assert sorted(pairs) == sorted({(r, m) for r in (2, 3, 4) for m in "abc"})  # each once
    assert all(u["accepted"] for u in uploads)
    children = descendants(run.process.pid)
    assert len(children) >= 6  # the supervisor and its five handlers
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 0, stderr
    assert stderr.strip().splitlines() == ["numeraud demo: stopped by SIGINT; files kept in stay"]
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_stops_every_process_and_exits_non_zero(
    tmp_path: Path, running: list[RunningDemo], signum: signal.Signals
) -> None:
    run = RunningDemo("--size", "tiny", "--dir", "mid", cwd=tmp_path)
    running.append(run)
    run.wait_for_line("training on v5.2")
    wait_for(lambda: len(descendants(run.process.pid)) >= 6, timeout=60, interval=0.1)
    children = descendants(run.process.pid)
    run.process.send_signal(signum)
    code, stderr = run.finish()
    assert code == 128 + signum
    assert stderr.strip().splitlines() == [
        f"numeraud demo: interrupted by {signum.name}; stopped the sandbox, the supervisor and its handlers "
        "(files kept in mid)"
    ]
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=30)
    assert not processes_naming(str(tmp_path / "mid"))


def test_a_directory_with_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    done = demo("--keep", str(mine), cwd=tmp_path)  # --keep: the older name of --dir
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"numeraud demo: {mine} is not a demo directory (it holds other files); choose another with --dir"
    ]
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


def test_a_taken_port_is_refused_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = demo("--port", str(port), "--dir", "d", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"numeraud demo: port {port} is taken by another program; choose another with --port, "
        "or --port 0 for any free one"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "d").exists()


def test_a_directory_where_a_demo_runs_is_refused(tmp_path: Path) -> None:
    held = open_demo_dir(tmp_path / "busy")
    try:
        done = demo("--dir", "busy", cwd=tmp_path)
    finally:
        held.release()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"numeraud demo: another demo is running in busy (pid {os.getpid()}); stop it or choose another --dir"
    ]


def test_a_previous_demos_directory_is_started_afresh(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "state" / "handlers").mkdir(parents=True)
    (old / MARKER).write_text("{}\n")
    (old / "numeraud.log").write_text("yesterday\n")
    reopened = open_demo_dir(old)
    try:
        assert sorted(p.name for p in old.iterdir()) == sorted([MARKER, LOCK])
        assert json.loads((old / MARKER).read_text())["pid"] == os.getpid()
    finally:
        reopened.release()


def test_the_table_flags_a_model_that_numerai_got_twice() -> None:
    uploads = [{"round": 5, "model": "a", "accepted": True}, {"round": 5, "model": "a", "accepted": True}]
    rows = build_rows(
        [5],
        {"model-a": "a"},
        data_versions={5: "v5.3"},
        snapshots={5: {"model-a": {"trained_on": "v5.3", "validation_corr": 0.02}}},
        uploaded_events=[(5, "a")],
        uploads=uploads,
        scores=[{"round": 5, "model": "a", "name": "v2_corr20", "value": 0.01}],
    )
    assert "2 of 2 uploads" in render_text(rows)
    assert problems(rows, new_version="v5.3", release_round=5) == [
        "round 5 model-a: Numerai got 2 uploads and accepted 2, not exactly 1"
    ]
