"""A numeraud installation for end-to-end tests: a config against a sandbox, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from numeraud.common.processes import stop_process
from numeraud.sandbox import Sandbox
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


class Installation:
    """``numeraud run --spawn-handlers`` against a sandbox, with Recorder handlers."""

    def __init__(
        self,
        root: Path,
        sandbox: Sandbox,
        handlers: tuple[str, ...] = ("rec",),
        settings: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or {}
        self.options = options or {}
        self.root = root
        self.sandbox = sandbox
        self.config = root / "numeraud.toml"
        self.data_dir = root / "state" / "data"
        self.handlers = handlers
        self.process: subprocess.Popen[bytes] | None = None
        self.write_config()

    def record_file(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def write_config(self, extra: str = "", poll: str = "idle_interval = 0.3\nfast_interval = 0.3") -> None:
        handlers = "\n".join(
            f'[handlers.{name}]\nclass = "tests.bus.sample_handlers:Recorder"\nretry_backoff = 0.05\n'
            f"{self.settings.get(name, '')}\n"
            f'[handlers.{name}.options]\nrecord = "{self.record_file(name)}"\n{self.options.get(name, "")}\n'
            for name in self.handlers
        )
        self.config.write_text(
            f'[numerai]\napi_url = "{self.sandbox.url}"\n'
            f'[paths]\nstate_dir = "{self.root}/state"\nruntime_dir = "{self.root}/run"\n'
            f"[poll]\n{poll}\n"
            '[data]\ntraining_files = ["features.json", "train.parquet"]\nreserve_bytes = 0\n'
            f"[bus]\nheartbeat_interval = 0.2\n{extra}\n{handlers}"
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "NUMERAUD_FAILPOINT")}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``numeraud run --spawn-handlers ARGS``, with ``env`` added to its environment."""
        log = (self.root / "numeraud.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(self.config), "--spawn-handlers", *args],
            cwd=self.root,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=self.env(),
        )

    def records(self, name: str = "rec") -> list[dict[str, Any]]:
        path = self.record_file(name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def events(self, name: str = "rec") -> list[tuple[str, int]]:
        """(kind, round) of every event the handler handled, in order."""
        return [(r["kind"], r["round"]) for r in self.records(name) if "kind" in r]

    def wait_event(self, kind: str, number: int, name: str = "rec", timeout: float = 60.0) -> None:
        wait_for(lambda: (kind, number) in self.events(name), timeout=timeout)

    def wait(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        wait_for(predicate, timeout=timeout)

    def log_text(self) -> str:
        path = self.root / "numeraud.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_until_exited(process: subprocess.Popen[bytes], timeout: float) -> int:
    """The exit code of ``process`` once it has exited (the test fails after ``timeout`` seconds)."""
    wait_for(lambda: process.poll() is not None, timeout, f"process {process.pid} to exit")
    return process.returncode
