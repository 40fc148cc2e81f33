"""numeraudctl as a new user meets it: a model broken on purpose, seen in status, fixed, retried, in history.

``numeraud init --sandbox`` then ``numeraud run --spawn-handlers``: the bundled model handlers,
uploader and scores collector as real processes against the sandbox; one model handler is a
subclass that raises in ``on_new_tournament_data`` while a file exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]
CTL = [sys.executable, "-m", "numeraud.cli.ctl"]
MODELS = ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]
BROKEN = "sandbox_model_2"


class Running:
    def __init__(self, root: Path, sandbox: Sandbox) -> None:
        self.root, self.sandbox = root, sandbox
        self.config = root / "numeraud.toml"
        self.break_file = root / "break-model-2"

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [*CTL, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )

    def status(self) -> dict[str, Any]:
        """The status document of the running supervisor ({} while it starts)."""
        done = self.ctl("status", "--json", "--warn-minutes", "0")
        if done.returncode == 3 and "numeraud is not running" in done.stderr:
            return {}
        assert done.returncode in (0, 6), done.stderr
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["model"]: row for row in self.status().get("models", [])}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny")) as sandbox:
        run = Running(tmp_path, sandbox)
        subprocess.run(
            [
                *NUMERAUD,
                "init",
                "--sandbox",
                sandbox.url,
                "--config",
                str(run.config),
                "--dir",
                str(tmp_path / "state"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        text = (
            run.config.read_text()
            .replace("idle_interval = 60", "idle_interval = 0.3")
            .replace("fast_interval = 2", "fast_interval = 0.3")
        )
        broken = f'[handlers.model-{BROKEN}]\nclass = "numeraud_handlers.model:ModelHandler"'
        assert broken in text
        text = text.replace(
            broken, f'[handlers.model-{BROKEN}]\nclass = "tests.daemon.broken_model:BrokenModel"\nretry_backoff = 0.05'
        ).replace(
            f"options = {{ model = {json.dumps(BROKEN)}, ",
            f'options = {{ model = {json.dumps(BROKEN)}, break_file = "{run.break_file}", ',
        )
        run.config.write_text(text)
        run.break_file.touch()
        log = (tmp_path / "numeraud.log").open("ab")
        daemon = subprocess.Popen(
            [*NUMERAUD, "run", "--config", str(run.config), "--spawn-handlers"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        log.close()
        try:
            yield run
        finally:
            stop_process(daemon)


@pytest.mark.slow
def test_a_broken_model_shows_in_status_with_exit_6_and_a_retry_after_the_fix_completes_the_round(
    running: Running,
) -> None:
    handler = f"model-{BROKEN}"
    # The broken model is blocked after its attempts and says why; the uploader is not `after` the
    # models, so the good ones upload meanwhile.
    rows = wait_for(
        lambda: (r := running.rows()) and r[BROKEN]["status"] == "blocked" and r["sandbox_model_1"]["uploaded"] and r,
        timeout=240,
        what=lambda: f"model 2 blocked and model 1 uploaded: {running.rows()}",
    )
    assert rows["sandbox_model_1"]["status"] == "uploaded"
    assert rows["sandbox_model_1"]["submission_id"]
    assert rows[BROKEN]["predictions_ready"] is False
    assert "broken on purpose for round 1" in rows[BROKEN]["why"]
    assert rows[BROKEN]["next"] == f"fix it, then numeraudctl retry {handler}"
    screen = running.ctl("status")
    assert screen.returncode == 6, screen.stderr
    assert "NEEDS YOU" in screen.stdout
    assert f"handler {handler} is blocked on seq" in screen.stdout
    assert "\033[" not in screen.stdout  # piped: no colour
    doc = running.status()
    assert doc["round"]["number"] == 1
    assert doc["round"]["open"] is True
    assert doc["round"]["seconds_left"] > 0
    assert doc["handlers"][handler]["state"] == "blocked"
    assert doc["handlers"][handler]["blocked_seq"]

    # A skip of another event than the blocked one is refused and changes nothing.
    seq = doc["handlers"][handler]["blocked_seq"]
    wrong = running.ctl("skip", handler, str(seq - 1))
    assert wrong.returncode == 1
    assert f"blocked on seq {seq}, not {seq - 1}" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    # Fixed: retry, and the round completes.
    running.break_file.unlink()
    retried = running.ctl("retry", handler)
    assert retried.returncode == 0, retried.stderr
    wait_for(lambda: all(r["status"] == "uploaded" for r in running.rows().values()), timeout=240, what="all uploaded")
    done = running.ctl("status", "--warn-minutes", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all well" in done.stdout

    watched = running.ctl("watch", "--interval", "0.05", "--count", "2")
    assert watched.returncode == 0
    assert watched.stdout.count("numeraud running: pid") == 2

    history = json.loads(running.ctl("history", "--json").stdout)
    round_one = {r["model"]: r for r in history if r["round"] == 1}
    assert sorted(round_one) == MODELS
    assert all(r["status"] == "uploaded" and r["accepted"] and r["uploaded_at"] for r in round_one.values())
    assert all(r["validation_corr"] is not None for r in round_one.values())
    only = json.loads(running.ctl("history", "--json", "--model", "sandbox_model_3").stdout)
    assert {r["model"] for r in only} == {"sandbox_model_3"}
    table = running.ctl("history")
    assert table.returncode == 0
    assert "ROUND  MODEL" in table.stdout

    # A rewind of the uploader over the uploaded round: it gets round 1's predictions again, and its
    # ledger keeps Numerai from getting any of them twice.
    uploads = running.sandbox.uploads()
    log = running.root / "numeraud.log"
    seen = log.read_text().count("already_uploaded")
    ready = json.loads(running.ctl("events", "--json", "--kind", "predictions_ready", "--round", "1").stdout)
    first = min(e["seq"] for e in ready)
    acked = running.status()["handlers"]["uploader"]["acked_seq"]

    def rewind() -> subprocess.CompletedProcess[str] | None:
        done = running.ctl("rewind", "uploader", "--to", str(first), "--json")
        return done if done.returncode == 0 else None

    rewound = wait_for(
        rewind,
        what=lambda: f"the uploader idle for a rewind: {running.ctl('rewind', 'uploader', '--to', str(first)).stderr}",
    )
    doc = json.loads(rewound.stdout)
    assert doc["old_cursor"] >= acked
    assert doc["new_cursor"] == first - 1
    wait_for(
        lambda: running.status()["handlers"]["uploader"]["acked_seq"] >= doc["old_cursor"],
        timeout=120,
        what="the uploader to catch up again",
    )
    # Each mapped model's predictions came again and the ledger answered "already uploaded".
    wait_for(lambda: log.read_text().count("already_uploaded") >= seen + len(MODELS), what="the ledger's answers")
    assert running.sandbox.uploads() == uploads
    assert all(r["status"] == "uploaded" for r in running.rows().values())
