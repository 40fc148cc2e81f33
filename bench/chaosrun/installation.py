"""One numeraud installation for the bad-input and security scenarios, and their check counter.

:class:`Installation` is a config written in a directory of its own with ``numeraud run
--spawn-handlers`` started on it (the handlers named in the config); :class:`Checks` counts
named checks and names each failure on stderr.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.processes import Daemon, wait_for_status  # noqa: E402
from numeraud.control.client import ControlClient  # noqa: E402

PROBES = "bench.chaosrun.probes"


class Checks:
    """Counts checks; a failed one is named on stderr as ``<scenario>: FAILED <name>: <detail>``."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.tried = 0
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Count ``name``; report it when not ``ok``."""
        self.tried += 1
        if not ok:
            self.failed.append(name)
            print(f"{self.scenario}: FAILED {name}: {detail}", file=sys.stderr, flush=True)
        return ok


def short_root(prefix: str) -> Path:
    """A short directory under /tmp: an ``ipc://`` path must fit in about 100 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a numeraud process: no systemd variables, this checkout importable."""
    skip = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "NUMERAUD_FAILPOINT", "NUMERAI_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in skip and k != "NUMERAUD_NOTIFY_URLS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@dataclass
class Installation:
    """One numeraud installation: a config in ``root``, a supervisor with its handlers."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    daemon: Daemon | None = None

    @property
    def config(self) -> Path:
        return self.root / "numeraud.toml"

    @property
    def log(self) -> Path:
        return self.root / "numeraud.log"

    def write(
        self,
        api_url: str,
        handlers: Mapping[str, Mapping[str, Any]],
        *,
        bus: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the config: the sandbox at ``api_url``, a fast poll, ``handlers`` by name."""
        doc: dict[str, Any] = {
            "numerai": {"api_url": api_url},
            "paths": {
                "state_dir": str(self.root / "state"),
                "runtime_dir": str(self.root / "run"),
                "data_dir": str(self.root / "data"),
            },
            "data": {"training_files": ["features.json"], "live_files": ["live.parquet"], **(data or {})},
            "poll": {"idle_interval": 0.25, "fast_interval": 0.25},
            "bus": {"heartbeat_interval": 0.25, **(bus or {})},
            "handlers": {name: dict(table) for name, table in handlers.items()},
        }
        self.config.write_text(tomlkit.dumps(doc))
        return self.config

    def start(self, *, timeout: float = 120.0) -> Daemon:
        """``numeraud run --spawn-handlers``, until every handler is connected."""
        argv = [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(self.config), "--spawn-handlers"]
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                argv, env=child_env(self.env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.daemon = Daemon(self.config, self.log, process)
        wait_for_status(self.daemon, time.monotonic() + timeout)
        return self.daemon

    def stop(self) -> None:
        """Stop the supervisor and the handlers it spawned."""
        if self.daemon is not None:
            with contextlib.suppress(Exception):
                self.daemon.status(timeout=1.0)  # learn the pids of the latest handler processes
            self.daemon.stop()
            self.daemon = None

    def call(self, command: str, **args: Any) -> Any:
        """One control request."""
        return ControlClient(f"ipc://{self.root}/run/control.sock", timeout=10.0).call(command, **args)

    def events(self) -> list[dict[str, Any]]:
        """The whole event log, oldest first."""
        found: list[dict[str, Any]] = self.call("events", limit=1000)
        return sorted(found, key=lambda e: int(e["seq"]))

    def answers(self) -> bool:
        """Whether the supervisor answers a control request."""
        try:
            self.call("status")
        except Exception:
            return False
        return True

    def snapshot(self) -> dict[str, Any]:
        """What garbage must not change: the log's head and every handler's cursor and state."""
        status = self.call("status")
        return {
            "head_seq": status["head_seq"],
            "handlers": {n: (h["acked_seq"], h["state"], h.get("pid")) for n, h in status["handlers"].items()},
        }

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``numeraudctl`` as an operator runs it: without the daemon's secrets in its environment."""
        argv = [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(self.config), *args]
        return subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=60, check=False)


def exits_78(argv: list[str], config: Path, expected: str) -> tuple[bool, str]:
    """Run ``argv --config config``: whether it exited 78 with one stderr line naming the file and ``expected``."""
    result = subprocess.run(
        [*argv, "--config", str(config)], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ok = result.returncode == 78 and len(lines) == 1 and expected in lines[0] and str(config) in lines[0]
    return ok, f"exit {result.returncode}, stderr {result.stderr.strip()[-300:]!r}"


def mode_of(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)
