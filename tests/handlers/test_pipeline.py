"""The bundled handlers as a user runs them: ``numeraud init --sandbox`` then ``numeraud run --spawn-handlers``.

Three models over several rounds through real processes: each (round, model) is uploaded exactly
once and accepted, a new dataset version makes every model retrain, and an uploader killed right
after an upload (before it recorded it) does not upload twice when the event comes again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.helpers import wait_for

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]
CTL = [sys.executable, "-m", "numeraud.cli.ctl"]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, subprocess.Popen[bytes]]]:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny")) as sandbox:
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
        log = (tmp_path / "numeraud.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        daemon = subprocess.Popen(
            [*NUMERAUD, "run", "--config", str(config), "--spawn-handlers"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
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
    for number in (1, 2, 3):
        wait_for(lambda number=number: accepted(sandbox, number) == MODELS, timeout=180)  # type: ignore[misc]
        sandbox.close_round()
        if number == 2:
            sandbox.release_dataset("v5.3")
        if number < 3:
            sandbox.open_round()
    counts = collections.Counter((u["round"], u["model"]) for u in sandbox.uploads())
    assert counts == {(r, m): 1 for r in (1, 2, 3) for m in MODELS}
    assert all(u["accepted"] for u in sandbox.uploads())
    for model in MODELS:
        models_dir = root / "state" / "handlers" / f"model-{model}" / "models"
        assert sorted(p.name for p in models_dir.iterdir()) == ["model_round_1.joblib", "model_round_3.joblib"]
        state = json.loads((root / "state" / "handlers" / f"model-{model}" / "state.json").read_text())
        assert state["persistent_state"]["trained_round"] == 3
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
