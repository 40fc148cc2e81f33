"""The bundled handlers as a user runs them: ``numeraud init --sandbox`` then ``numeraud run --spawn-handlers``.

Three models over several rounds through real processes: each (round, model) is uploaded exactly
once and accepted, a new dataset version makes every model retrain (in the background: the next
round uses the new model), and an uploader killed right
after an upload (before it recorded it) does not upload twice when the event comes again.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.helpers import wait_for

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]
CTL = [sys.executable, "-m", "numeraud.cli.ctl"]


#: End to end with every handler process: each test takes half a minute or more.
pytestmark = pytest.mark.slow


def start_daemon(root: Path) -> subprocess.Popen[bytes]:
    """``numeraud run --spawn-handlers`` on ``root``'s config, appending to ``root``'s log."""
    with (root / "numeraud.log").open("ab") as log:
        return subprocess.Popen(
            [*NUMERAUD, "run", "--config", str(root / "numeraud.toml"), "--spawn-handlers"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, subprocess.Popen[bytes]]]:
    # v5.2 only: the first test releases v5.3 between rounds, as the demo does.
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny", versions=("v5.2",))) as sandbox:
        config = tmp_path / "numeraud.toml"
        subprocess.run(
            [*NUMERAUD, "init", "--sandbox", sandbox.url, "--config", str(config), "--dir", str(tmp_path / "state")],
            check=True,
            capture_output=True,
            timeout=60,
        )
        text = (
            config.read_text()
            .replace("idle_interval = 60", "idle_interval = 0.3")
            .replace("fast_interval = 2", "fast_interval = 0.3")
        )
        config.write_text(text)
        daemon = start_daemon(tmp_path)
        try:
            yield sandbox, tmp_path, daemon
        finally:
            stop_process(daemon)


def accepted(sandbox: Sandbox, number: int) -> list[str]:
    return sorted(u["model"] for u in sandbox.uploads() if u["accepted"] and u["round"] == number)


MODELS = ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]


def uploaded(root: Path, number: int) -> int:
    """How many ``submission_uploaded`` events of round ``number`` the log holds."""
    listing = subprocess.run(
        [*CTL, "--config", str(root / "numeraud.toml"), "--json", "events", "--limit", "1000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return sum(1 for e in json.loads(listing.stdout) if e["kind"] == "submission_uploaded" and e["round"] == number)


def test_three_models_over_several_rounds_upload_exactly_once_and_retrain_on_a_new_version(
    pipeline: tuple[Sandbox, Path, subprocess.Popen[bytes]],
) -> None:
    sandbox, root, _daemon = pipeline
    handler_dirs = [root / "state" / "handlers" / f"model-{model}" for model in MODELS]
    for number in (1, 2, 3, 4):
        wait_for(lambda number=number: accepted(sandbox, number) == MODELS, timeout=180)  # type: ignore[misc]
        sandbox.close_round()
        if number == 2:
            sandbox.release_dataset("v5.3")
        if number == 3:
            # round 3 was predicted at once by the v5.2 models while v5.3 trained in the background
            wait_for(lambda: all((d / "training/round_3/result.json").exists() for d in handler_dirs), timeout=180)
        if number < 4:
            sandbox.open_round()
    counts = collections.Counter((u["round"], u["model"]) for u in sandbox.uploads())
    assert counts == {(r, m): 1 for r in (1, 2, 3, 4) for m in MODELS}
    assert all(u["accepted"] for u in sandbox.uploads())
    for handler_dir in handler_dirs:
        models = sorted(p.name for p in (handler_dir / "models").iterdir())
        assert models == ["model_round_1.joblib", "model_round_3.joblib"]
        state = json.loads((handler_dir / "state.json").read_text())
        # round 4 switched to the model trained on v5.3
        assert state["persistent_state"]["trained_round"] == 3
        assert state["persistent_state"]["model_file"] == "model_round_3.joblib"
        assert state["persistent_state"]["validation"]["corr"]["eras"] > 0


def test_an_uploader_killed_right_after_an_upload_does_not_upload_again(
    pipeline: tuple[Sandbox, Path, subprocess.Popen[bytes]],
) -> None:
    sandbox, root, _daemon = pipeline
    wait_for(lambda: accepted(sandbox, 1) == MODELS, timeout=180)
    # The sandbox accepts an upload before the uploader confirms it: wait until round 1 is done
    # with, so that the slow confirmation below is one of round 2's.
    wait_for(lambda: uploaded(root, 1) == len(MODELS), timeout=60)
    # Hold the uploader in its confirmation call, after Numerai (the sandbox) took the upload.
    sandbox.add_faults({"route": "graphql:submissions", "kind": "slow", "delay": 20, "count": 1})
    sandbox.open_round()
    wait_for(lambda: len(accepted(sandbox, 2)) >= 1, timeout=180)
    status = subprocess.run(
        [*CTL, "--config", str(root / "numeraud.toml"), "--json", "status"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    os.kill(json.loads(status.stdout)["handlers"]["uploader"]["pid"], signal.SIGKILL)
    # The spawner starts a fresh uploader; the event comes again; the ledger and the API agree
    # that the first model's submission exists, so only the other two are uploaded.
    wait_for(lambda: accepted(sandbox, 2) == MODELS, timeout=180)
    counts = collections.Counter((u["round"], u["model"]) for u in sandbox.uploads())
    assert counts == {(r, m): 1 for r in (1, 2) for m in MODELS}
    # Every process of the daemon writes JSON lines to the same log, and their lines may interleave.
    assert '"event": "upload_found_on_numerai"' in (root / "numeraud.log").read_text()


def test_a_model_that_raises_gets_its_fallback_before_the_deadline_then_its_real_predictions(
    pipeline: tuple[Sandbox, Path, subprocess.Popen[bytes]],
) -> None:
    sandbox, root, daemon = pipeline
    wait_for(lambda: accepted(sandbox, 1) == MODELS, timeout=180)
    wait_for(lambda: uploaded(root, 1) == len(MODELS), timeout=60)
    # The user's model breaks: its handler is restarted as FlakyModel, retried every second.
    stop_process(daemon)
    flag = root / "model-is-broken"
    flag.touch()
    config = root / "numeraud.toml"
    document = tomlkit.parse(config.read_text())
    broken = document["handlers"]["model-sandbox_model_2"]
    broken["class"] = "tests.handlers.flaky_model:FlakyModel"
    broken["options"]["fail_while"] = str(flag)
    broken.update({"max_attempts": 100, "retry_backoff": 0.5, "retry_backoff_max": 1.0})
    config.write_text(tomlkit.dumps(document))
    restarted = start_daemon(root)
    try:
        wait_for(lambda: all_connected(root), timeout=120, what="every handler to connect")
        sandbox.close_round()
        number = sandbox.open_round(window=60.0)  # the guard comes 10 s before the deadline
        deadline = time.time() + 60.0
        wait_for(lambda: sorted(accepted(sandbox, number)) == ["sandbox_model_1", "sandbox_model_3"], timeout=60)
        assert "sandbox_model_2" not in accepted(sandbox, number)  # it keeps failing until the guard
        fallback = wait_for(lambda: events(root, "submission_fallback"), timeout=60, what="submission_fallback")
        assert [(e["round"], e["payload"]["model"], e["payload"]["fallback"]) for e in fallback] == [
            (number, "sandbox_model_2", "example")
        ]
        assert time.time() < deadline
        flag.unlink()  # the user fixes the bug: the next retry predicts
        wait_for(lambda: accepted(sandbox, number).count("sandbox_model_2") == 2, timeout=30)
        assert time.time() < deadline, "the real predictions came after the deadline"
        real = [e for e in events(root, "submission_uploaded") if e["round"] == number]
        assert sorted(e["payload"]["model"] for e in real) == MODELS
        ledger = sqlite3.connect(root / "state" / "handlers" / "uploader" / "ledger.sqlite")
        with contextlib.closing(ledger):
            rows = dict(ledger.execute("SELECT model, source FROM uploads WHERE round = ?", (number,)).fetchall())
        assert rows == {model: model for model in MODELS}  # the real predictions replaced the fallback
    finally:
        stop_process(restarted)


def all_connected(root: Path) -> bool:
    """Whether every handler of the config is connected (``numeraudctl --json status``)."""
    status = subprocess.run(
        [*CTL, "--config", str(root / "numeraud.toml"), "--json", "status"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if status.returncode != 0:
        return False
    handlers = json.loads(status.stdout)["handlers"]
    return bool(handlers) and all(h["connected"] for h in handlers.values())


def events(root: Path, kind: str) -> list[dict[str, Any]]:
    """The log's events of ``kind`` (``numeraudctl --json events``)."""
    listing = subprocess.run(
        [*CTL, "--config", str(root / "numeraud.toml"), "--json", "events", "--limit", "1000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [e for e in json.loads(listing.stdout) if e["kind"] == kind]
