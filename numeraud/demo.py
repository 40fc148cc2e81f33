"""The end-to-end demo behind ``numeraud demo``: the whole daemon on an embedded sandbox.

It starts a sandbox (a local Numerai with three models), writes the configuration
``numeraud init --sandbox`` would write, and runs ``numeraud run --spawn-handlers``: the supervisor
and one process per handler (three model handlers, the uploader, the scores collector). Then it
plays the tournament: a round opens, the supervisor notices it, syncs and verifies the data,
the models train and predict, the uploader validates and uploads for every model and confirms;
the round closes and resolves, the next one opens, and the scores come back. It narrates from
the event log as it goes and ends with ``numeraudctl status`` and ``numeraudctl scores``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from numeraud import ctl
from numeraud.sandbox import Sandbox, SandboxOptions
from numeraud.spawner import stop_process
from numeraud.starter import StarterOptions, render, runtime_dir_for, write_sandbox_keys
from numeraud.store import Store, StoreError

#: How long one round may take before the demo gives up (training on a slow machine included).
ROUND_TIMEOUT = 300.0


class DemoFailed(Exception):
    """A step of the demo did not happen in time; the message says which."""


@dataclass
class DemoReport:
    """What the demo achieved; ``ok`` is what its exit code says."""

    rounds: int = 0
    uploads: dict[int, list[str]] = field(default_factory=dict)
    scored: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def ok(self) -> bool:
        """Every round had an accepted upload for every model, and the scores came back."""
        return self.failure is None and bool(self.uploads) and bool(self.scored)


class _Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.seen = 0

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)

    def events(self, database: Path) -> None:
        """Print the events committed since the last call."""
        if not database.exists():
            return
        try:
            store = Store(database, read_only=True)
        except StoreError:
            return
        try:
            for event in store.events(after=self.seen, limit=200):
                self.seen = event.seq
                detail = {k: event.payload[k] for k in ("model", "submission_id", "reason") if k in event.payload}
                extra = f" {json.dumps(detail)}" if detail else ""
                self(f"  event {event.seq:3d} {event.kind:<20} round {event.round} from {event.source}{extra}")
        finally:
            store.close()


def _wait(what: str, condition: Callable[[], bool], narrate: Callable[[], None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        narrate()
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.2)
    narrate()


def run_demo(data_dir: Path, out: TextIO, *, size: str = "small", seed: int = 0, rounds: int = 2) -> DemoReport:
    """Run the demo scenario in ``data_dir``, narrating to ``out``.

    ``rounds`` is at least 2: the scores collector looks for resolved rounds when the next opens.
    """
    if rounds < 2:
        raise ValueError("rounds: the demo needs at least 2 rounds to show scores")
    say = _Narrator(out)
    report = DemoReport()
    say(f"generating the sandbox's synthetic Numerai data ({size})")
    options = SandboxOptions(data_dir=data_dir / "sandbox", size=size, seed=seed)
    with Sandbox(options) as sandbox:
        models = tuple(sorted(sandbox.model_ids()))
        say(f"sandbox serving Numerai's API at {sandbox.url}; account models: {', '.join(models)}")
        config = _write_config(data_dir, sandbox.url, models)
        say(f"configuration written to {config} (what `numeraud init --sandbox {sandbox.url}` writes)")
        database = data_dir / "state" / "numeraud.db"
        log_path = data_dir / "numeraud.log"
        with log_path.open("ab") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "numeraud.cli", "run", "--config", str(config), "--spawn-handlers"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NUMERAUD_LOG_LEVEL": "warning"},
            )
        say(f"started `numeraud run --spawn-handlers` (pid {daemon.pid}; its log: {log_path})")
        try:
            _play(sandbox, config=config, database=database, models=models, rounds=rounds, say=say, report=report)
            print(file=out)
            ctl.main(["--config", str(config), "status"], stdout=out)
            print(file=out)
            ctl.main(["--config", str(config), "scores"], stdout=out)
            print(file=out)
        except DemoFailed as exc:
            report.failure = str(exc)
            say(f"DEMO FAILED: {exc}; the daemon's log is {log_path}")
        finally:
            stop_process(daemon)
    say(
        "demo finished: every model submitted every round and was scored"
        if report.ok
        else "demo finished: SOMETHING WENT WRONG"
    )
    return report


def _write_config(data_dir: Path, url: str, models: tuple[str, ...]) -> Path:
    state_dir = data_dir / "state"
    key_files = write_sandbox_keys(data_dir / "keys")
    config = data_dir / "numeraud.toml"
    config.write_text(
        render(
            StarterOptions(
                models=models,
                api_url=url,
                state_dir=state_dir,
                runtime_dir=runtime_dir_for(state_dir),
                key_files=key_files,
                sandbox=True,
                idle_interval=1,
                fast_interval=1,
            )
        ),
        encoding="utf-8",
    )
    return config


def _play(
    sandbox: Sandbox,
    *,
    config: Path,
    database: Path,
    models: tuple[str, ...],
    rounds: int,
    say: _Narrator,
    report: DemoReport,
) -> None:
    def narrate() -> None:
        say.events(database)

    for index in range(rounds):
        number = sandbox.core.current_round().number
        say(f"round {number} is open; waiting for numeraud to notice it, sync its data and submit")

        def uploaded(number: int = number) -> list[str]:
            return sorted(u["model"] for u in sandbox.uploads() if u["accepted"] and u["round"] == number)

        _wait(f"uploads for round {number}", lambda: len(uploaded()) >= len(models), narrate, ROUND_TIMEOUT)
        report.uploads[number] = uploaded()
        report.rounds += 1
        say(f"round {number}: Numerai (the sandbox) accepted submissions for {', '.join(uploaded())}")
        sandbox.close_round()
        sandbox.resolve(number)
        say(f"round {number} closed and resolved: the sandbox scored the submissions (CORR20v2, MMC)")
        if index < rounds - 1:
            sandbox.open_round()
            ctl.main(["--config", str(config), "poll-now"], stdout=io.StringIO())

    scores = config.parent / "state" / "handlers" / "scores" / "scores.json"

    def scored() -> bool:
        if not scores.exists():
            return False
        report.scored = sorted({row["model"] for row in json.loads(scores.read_text())})
        return len(report.scored) >= len(models)

    _wait("the scores collector", scored, narrate, ROUND_TIMEOUT)
    say(f"scores collected for {', '.join(report.scored)}; chart: {scores.with_name('scores.png')}")
