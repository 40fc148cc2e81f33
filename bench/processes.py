"""The benchmarks' processes: ``numeraud run --spawn-handlers`` as a subprocess (:class:`Daemon`,
:func:`start_daemon`, :func:`wait_for_status`), its memory, free ports, and SIGTERM as an exit.

Shared by ``bench/round_latency.py`` and the chaos scenarios (``bench/chaosrun/``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from numeraud.common.config_file import load  # noqa: E402
from numeraud.common.processes import cmdline, stop_process  # noqa: E402
from numeraud.control.client import ControlClient  # noqa: E402

# -- processes ------------------------------------------------------------------------------------


def stop_pids(pids: set[int], marker: str, timeout: float = 10.0) -> None:
    """SIGTERM then SIGKILL the given pids, but only while their command line contains ``marker``."""
    live = {pid for pid in pids if marker.encode() in cmdline(pid)}
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        live = {pid for pid in live if marker.encode() in cmdline(pid)}
        time.sleep(0.05)
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` in MB: its own pages plus its share of those it shares
    (the libraries every handler process maps), so that summing processes counts each page once."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no Pss for pid {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Daemon:
    """One ``numeraud run --spawn-handlers`` subprocess and what is needed to stop it cleanly."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes]
    handler_pids: set[int] = field(default_factory=set)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        result: dict[str, Any] = ControlClient(load(self.config).bus.control_endpoint, timeout=timeout).call("status")
        for spawned in (result.get("spawned") or {}).values():
            if spawned.get("pid"):
                self.handler_pids.add(int(spawned["pid"]))
        return result

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"numeraud run exited with {code}; see {self.log}:\n{tail(self.log)}")

    def stop(self) -> int:
        code = stop_process(self.process, timeout=20.0)
        stop_pids(self.handler_pids, str(self.config))
        return code


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_daemon(config: Path, log: Path, extra_env: dict[str, str] | None = None) -> Daemon:
    """``numeraud run --config CONFIG --spawn-handlers``, output in ``log``, ``extra_env`` added."""
    exe = shutil.which("numeraud")
    command = [exe] if exe else [sys.executable, "-m", "numeraud.cli.main"]
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra_env or {})
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "run", "--config", str(config), "--spawn-handlers"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config.parent,
        )
    return Daemon(config, log, process)


def wait_for_status(daemon: Daemon, deadline: float) -> dict[str, Any]:
    """The supervisor's status once it answers, with every handler connected."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        daemon.check_alive()
        try:
            status = daemon.status(timeout=2.0)
        except Exception as exc:  # not up yet
            last = exc
        else:
            if status["handlers"] and all(h["connected"] for h in status["handlers"].values()):
                return status
        time.sleep(0.1)
    raise TimeoutError(f"numeraud did not become ready ({last}); see {daemon.log}:\n{tail(daemon.log)}")


# -- the benchmark process --------------------------------------------------------------------


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit here, so every ``finally`` (processes, temp dirs) still runs."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
