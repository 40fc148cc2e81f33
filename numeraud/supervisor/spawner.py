"""``numeraud run --spawn-handlers``: the supervisor starts and restarts the handler processes itself.

For laptops, the demo and the tests, where systemd is not managing ``numeraud-handler@NAME``.
Each handler runs exactly what the systemd unit runs (``numeraud-handler NAME --config FILE``),
so the bus, the ordering and the guarantees are the same. Restart rules follow the unit's:

* exit 0 (``recycle = true`` after an event, or a clean stop) → restarted at once;
* exit 10 (fenced by a newer process) or 78 (bad configuration) → not restarted;
* anything else (a crash, a hung callback, a kill) → restarted with exponential backoff,
  reset once a process has run for a minute.

Children get ``PR_SET_PDEATHSIG`` so they die with the supervisor instead of lingering.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numeraud.common.backoff import exponential_delay
from numeraud.common.exitcodes import NO_RESTART
from numeraud.common.logs import get_logger
from numeraud.common.processes import PARENT_ENV

#: The supervisor's own systemd notification variables: never the children's.
SYSTEMD_ONLY = frozenset({"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})
STABLE_AFTER = 60.0


@dataclass
class Child:
    """One handler process and its restart bookkeeping."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    failures: int = 0
    next_start: float = 0.0
    last_exit: int | None = None
    given_up: bool = False
    history: list[int] = field(default_factory=list)


class HandlerSpawner:
    """Starts, watches and restarts handler processes (see the module docstring)."""

    def __init__(
        self,
        config_path: Path,
        names: list[str],
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.children = {name: Child(name) for name in names}
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.env = env
        self.log = get_logger("spawner")

    def command(self, name: str) -> list[str]:
        """What runs for handler ``name`` (the systemd unit's command)."""
        return [sys.executable, "-m", "numeraud.handler.main", name, "--config", str(self.config_path)]

    def _start(self, child: Child, now: float) -> None:
        env = {k: v for k, v in (os.environ if self.env is None else self.env).items() if k not in SYSTEMD_ONLY}
        env[PARENT_ENV] = str(os.getpid())
        child.process = subprocess.Popen(self.command(child.name), env=env)
        child.started = now
        self.log.info("handler_started", handler=child.name, pid=child.process.pid, restarts=child.restarts)

    def tick(self, now: float | None = None) -> None:
        """Start due children and reap exited ones (called from the supervisor's loop)."""
        now = time.monotonic() if now is None else now
        for child in self.children.values():
            if child.process is not None:
                code = child.process.poll()
                if code is None:
                    continue
                self._exited(child, code, now)
            if not child.given_up and child.process is None and now >= child.next_start:
                self._start(child, now)

    def _exited(self, child: Child, code: int, now: float) -> None:
        child.process = None
        child.last_exit = code
        child.history = [*child.history[-9:], code]
        if code in NO_RESTART:
            child.given_up = True
            self.log.error("handler_not_restarted", handler=child.name, exit_code=code)
            return
        child.restarts += 1
        if code == 0:
            child.failures = 0
            child.next_start = now
        else:
            if now - child.started > STABLE_AFTER:
                child.failures = 0
            delay = exponential_delay(child.failures, self.min_backoff, self.max_backoff)
            child.failures += 1
            child.next_start = now + delay
            self.log.warning("handler_exited", handler=child.name, exit_code=code, restart_in=round(delay, 2))

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, wait up to ``timeout``, then SIGKILL what is left."""
        running = [c.process for c in self.children.values() if c.process is not None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self.children.values():
            child.process = None

    def status(self) -> dict[str, dict[str, Any]]:
        """Per handler: pid, restarts, last exit code."""
        return {
            c.name: {
                "pid": c.process.pid if c.process is not None else None,
                "restarts": c.restarts,
                "last_exit": c.last_exit,
                "given_up": c.given_up,
            }
            for c in self.children.values()
        }
