"""Harness for the bus tests: real supervisor and handler processes on real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from numeraud.control import ControlError
from numeraud.control.client import ControlClient, NoReply, NotRunning
from tests.helpers import DEADLINE, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Bus:
    """One test's numeraud installation: a config, a supervisor, handler processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "numeraud.toml"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.handlers: dict[str, str] = {}
        self.bus_settings: dict[str, Any] = {"heartbeat_interval": 0.2, "heartbeat_liveness": 5}

    # ---- configuration ----

    def record_file(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def add_handler(self, name: str, cls: str = "tests.bus.sample_handlers:Recorder", **settings: Any) -> None:
        options = settings.pop("options", {})
        options.setdefault("record", str(self.record_file(name)))
        options.setdefault("release", str(self.root / f"{name}.release"))
        settings.setdefault("retry_backoff", 0.05)
        settings.setdefault("retry_backoff_max", 0.2)
        lines = [f"[handlers.{name}]", f"class = {json.dumps(cls)}"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        lines.append(f"[handlers.{name}.options]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
        self.handlers[name] = "\n".join(lines)
        self.write_config()

    def write_config(self, extra: str = "") -> None:
        bus = "\n".join(f"{k} = {json.dumps(v)}" for k, v in self.bus_settings.items())
        text = (
            f'[paths]\nstate_dir = "{self.root}/state"\nruntime_dir = "{self.root}/run"\n'
            # No [numerai] here: these tests must never poll the real Numerai.
            "[poll]\nenabled = false\n"
            f"[bus]\n{bus}\n{extra}\n" + "\n".join(self.handlers.values()) + "\n"
        )
        self.config_path.write_text(text)

    # ---- processes ----

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "NUMERAUD_FAILPOINT")}
        env["PYTHONPATH"] = str(ROOT)
        env["NUMERAUD_LOG_LEVEL"] = env.get("NUMERAUD_TEST_LOG_LEVEL", "info")
        env.update(extra or {})
        return env

    def spawn(self, argv: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = (self.root / log).open("ab")
        proc = subprocess.Popen(argv, cwd=self.root, env=self._env(env), stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(proc)
        return proc

    def start_supervisor(self, env: dict[str, str] | None = None, *, wait: bool = True) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(self.config_path)]
        self.supervisor = self.spawn(argv, "supervisor.log", env)
        if wait:
            wait_for(self.try_status, what="the supervisor to answer")
        return self.supervisor

    def start_handler(
        self, name: str, env: dict[str, str] | None = None, *, wait: bool = True
    ) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "numeraud.handler.main", name, "--config", str(self.config_path)]
        proc = self.spawn(argv, f"handler-{name}.log", env)
        if wait:
            wait_for(lambda: self.handler_status(name).get("pid") == proc.pid, what=f"handler {name} to connect")
        return proc

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=DEADLINE)

    # ---- control ----

    def client(self, timeout: float = 5.0) -> ControlClient:
        return ControlClient(f"ipc://{self.root}/run/control.sock", timeout=timeout)

    def call(self, command: str, **args: Any) -> Any:
        return self.client().call(command, **args)

    def try_status(self) -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = self.client(timeout=1.0).call("status")
        except (NotRunning, NoReply, ControlError):
            return None
        return status

    def handler_status(self, name: str) -> dict[str, Any]:
        status = self.try_status()
        return status["handlers"][name] if status else {}

    def append(self, kind: str, round_: int | None = 1, **payload: Any) -> int:
        seq: int = self.call("append", kind=kind, round=round_, payload=payload)["seq"]
        return seq

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(self.config_path), *args]
        return subprocess.run(argv, env=self._env(None), capture_output=True, text=True, timeout=60, check=False)

    # ---- observation ----

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.record_file(name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def event_records(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records(name) if "seq" in r]

    def wait_acked(self, name: str, seq: int, timeout: float = DEADLINE) -> None:
        wait_for(lambda: self.handler_status(name).get("acked_seq", -1) >= seq, timeout, f"{name} to ack {seq}")

    def release(self, name: str) -> None:
        (self.root / f"{name}.release").touch()

    def log_lines(self, log: str) -> list[dict[str, Any]]:
        out = []
        for line in (self.root / log).read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@pytest.fixture
def bus() -> Iterator[Bus]:
    # ipc:// paths are limited to about 100 bytes, so the directory is short and under /tmp.
    root = Path(tempfile.mkdtemp(prefix="nb-", dir="/tmp"))
    b = Bus(root)
    try:
        yield b
    finally:
        b.stop_all()
        shutil.rmtree(root, ignore_errors=True)
