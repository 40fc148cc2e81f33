"""One chaos scenario's numeraud installation on its own sandbox.

:class:`Rig` is one scenario's installation in its own directory: a sandbox in this process (a
few models, an API secret and a notification URL of its own, so that a leak can be looked for),
a configuration with the bundled model handlers, the uploader, the notifier and the checking
handler (:mod:`bench.chaosrun.checker`), and ``numeraud run --spawn-handlers`` as a subprocess
(the helpers of ``bench/round_latency.py``). What a run left is counted by :mod:`bench.chaosrun.audit`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from bench.chaosrun import audit
from bench.chaosrun.common import CHECKER, Secrets, Watchdog, say
from bench.processes import Daemon, start_daemon, tail, wait_for_status
from numeraud.cli.starter import handler_name
from numeraud.common.config_file import load
from numeraud.common.processes import cmdline, process_alive
from numeraud.control.client import ControlClient
from numeraud.sandbox import Sandbox, SandboxOptions
from tests.fixtures import JsonReceiver
from tests.helpers import wait_for


@dataclass
class RigOptions:
    """What a scenario's installation has."""

    models: int = 3
    uploader: bool = True
    notifier: bool = True
    checkers: int = 1
    poll: float = 0.2
    window: float = 3600.0
    #: Sandbox rounds polled (False: no [numerai] at all, the load scenario's bus-only rig).
    follow: bool = True
    #: Failures before a handler is parked: high, as kills are not the handler's fault.
    max_attempts: int = 100
    uploader_retry: float = 0.2
    watchdog_usec: int = 0
    #: The model handlers' class, and TOML fields added to their options (e.g. ``retrain = "before"``).
    model_class: str = "numeraud_handlers.model:ModelHandler"
    model_options: str = ""
    #: TOML fields added to the uploader's options (e.g. ``fallback = "example"``).
    uploader_options: str = ""
    #: The uploader ``after`` the model handlers (a hung model then holds back the deadline guard).
    uploader_after: bool = True
    #: Lines added to ``[poll]`` (e.g. ``guard_margin = 2``), and the live files synced.
    poll_extra: str = ""
    live_files: tuple[str, ...] = ("live.parquet",)


class Rig:
    """One scenario's numeraud installation on its own sandbox (see the module docstring)."""

    def __init__(self, workdir: Path, seed: int, options: RigOptions) -> None:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # the sandbox: errors only
        self.root = workdir
        self.root.mkdir(parents=True, exist_ok=True)
        self.options = options
        self.secrets = Secrets()
        self.models = [f"chaos_{chr(ord('a') + i)}" for i in range(options.models)]
        self.model_handlers = [handler_name(m) for m in self.models]
        self.checkers = [f"check-{i}" for i in range(options.checkers)]
        self.armed = self.root / "armed"
        self.armed.mkdir(exist_ok=True)
        self.records = self.root / "records"
        self.records.mkdir(exist_ok=True)
        self.log = self.root / "numeraud.log"
        self.ctl_dir = self.root / "ctl"
        self.ctl_dir.mkdir(exist_ok=True)
        self.sandbox = Sandbox(
            SandboxOptions(
                data_dir=self.root / "sandbox",
                size="tiny",
                seed=seed,
                public_id=self.secrets.public_id,
                secret_key=self.secrets.secret_key,
                models=tuple(self.models) or ("chaos_a",),
                window=options.window,
                versions=("v5.2",),  # the kills scenario releases v5.3, v5.4, ...
            )
        )
        self.receiver: JsonReceiver | None = None
        self.watchdog: Watchdog | None = None
        self.daemon: Daemon | None = None
        self.supervisor_starts = 0
        self.config = self.root / "numeraud.toml"
        self._armed: list[str] = []

    # -- set-up ----------------------------------------------------------------------------------

    def __enter__(self) -> Rig:
        self.sandbox.start()
        self.receiver = JsonReceiver()
        if self.options.watchdog_usec:
            self.watchdog = Watchdog(self.root / "notify.sock")
        self.write_config()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.sandbox.stop()
        if self.receiver is not None:
            self.receiver.close()
        if self.watchdog is not None:
            self.watchdog.close()

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def database(self) -> Path:
        return self.state_dir / "numeraud.db"

    def write_config(self) -> None:
        """The installation's TOML (secrets in key files and the environment, never here)."""
        o = self.options
        keys = self.root / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        for name, value in (("public_id", self.secrets.public_id), ("secret_key", self.secrets.secret_key)):
            (keys / name).write_text(value + "\n")
            (keys / name).chmod(0o600)
        lines = [
            f'[paths]\nstate_dir = "{self.state_dir}"\nruntime_dir = "{self.root}/run"\ndata_dir = "{self.data_dir}"\n'
        ]
        if o.follow:
            lines.append(
                f'[numerai]\napi_url = "{self.sandbox.url}"\n\n[data]\nversion = "latest"\n'
                'training_files = ["features.json", "train.parquet"]\n'
                f"live_files = {json.dumps(list(o.live_files))}\n\n"
                f"[poll]\nidle_interval = {o.poll}\nfast_interval = {o.poll}\n{o.poll_extra}"
            )
        else:
            lines.append("[poll]\nenabled = false\n")
        common = f"max_attempts = {o.max_attempts}\nretry_backoff = 0.05\nretry_backoff_max = 0.5\n"
        extra = o.model_options + ", " if o.model_options else ""
        for model, name in zip(self.models, self.model_handlers, strict=True):
            lines.append(
                f'[handlers.{name}]\nclass = "{o.model_class}"\n{common}'
                f'options = {{ model = "{model}", feature_set = "small", era_step = 1, {extra}'
                "params = { max_iter = 10, max_leaf_nodes = 7, random_state = 0 } }\n"
            )
        if o.uploader and self.models:
            mapping = ", ".join(f'"{m}" = "{m}"' for m in self.models)
            after = ", ".join(f'"{n}"' for n in self.model_handlers) if o.uploader_after else ""
            lines.append(
                f'[handlers.uploader]\nclass = "numeraud_handlers.uploader:UploaderHandler"\nafter = [{after}]\n'
                f'{common}options = {{ models = {{ {mapping} }}, public_id_file = "{keys / "public_id"}", '
                f'secret_key_file = "{keys / "secret_key"}", retry_base = {o.uploader_retry}, retry_cap = 2.0'
                f"{', ' + o.uploader_options if o.uploader_options else ''} }}\n"
            )
        if o.notifier:
            lines.append(
                f'[handlers.notifier]\nclass = "numeraud_handlers.notifier:NotifierHandler"\n{common}'
                "options = { min_interval = 0 }\n"
            )
        for name in self.checkers:
            lines.append(
                f'[handlers.{name}]\nclass = "{CHECKER}"\n{common}'
                f'options = {{ record = "{self.records / name}.jsonl", data_dir = "{self.data_dir}", '
                f'sandbox_dir = "{self.root / "sandbox"}" }}\n'
            )
        self.config.write_text("\n".join(lines))

    def env(self) -> dict[str, str]:
        """What the supervisor (and so every handler it spawns) gets in its environment."""
        env = {"NUMERAUD_FAILPOINT_DIR": str(self.armed), "NUMERAUD_LOG_LEVEL": "info"}
        if self.receiver is not None:
            env["NUMERAUD_NOTIFY_URLS"] = self.secrets.notify_url(self.receiver.port)
        if self.watchdog is not None:
            env |= {"NOTIFY_SOCKET": str(self.watchdog.path), "WATCHDOG_USEC": str(self.options.watchdog_usec)}
        return env

    # -- the supervisor ----------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> dict[str, Any]:
        """Start ``numeraud run --spawn-handlers``; return its status once every handler is connected."""
        self.daemon = start_daemon(self.config, self.log, self.env())
        self.supervisor_starts += 1
        return wait_for_status(self.daemon, time.monotonic() + timeout)

    def stop(self) -> None:
        """Stop the supervisor and its handlers (SIGTERM, then SIGKILL)."""
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def supervisor(self) -> Daemon:
        if self.daemon is None:
            raise RuntimeError("the supervisor is not running")
        return self.daemon

    def kill_supervisor(self, timeout: float = 30.0) -> int:
        """SIGKILL the supervisor now; its handlers die with it (PR_SET_PDEATHSIG)."""
        daemon = self.supervisor()
        with contextlib.suppress(ProcessLookupError):
            daemon.process.send_signal(signal.SIGKILL)
        return self.reap(timeout)

    def reap(self, timeout: float = 30.0) -> int:
        """Wait for the supervisor to have exited (a failpoint SIGKILLs it); its exit code."""
        daemon = self.supervisor()
        code = daemon.process.wait(timeout=timeout)
        wait_for(
            lambda: not any(process_alive(pid) for pid in daemon.handler_pids if self._ours(pid)),
            30.0,
            "the killed supervisor's handlers to die with it",
        )
        self.daemon = None
        return code

    def _ours(self, pid: int) -> bool:
        return str(self.config).encode() in cmdline(pid)

    def status(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.supervisor().status(timeout=timeout)

    def try_status(self) -> dict[str, Any] | None:
        try:
            return self.status(timeout=2.0)
        except Exception:
            return None

    def check_alive(self) -> None:
        self.supervisor().check_alive()

    def append(self, kind: str, round_: int, **payload: Any) -> int:
        """An event appended through the control API (``numeraudctl append``)."""
        reply = ControlClient(load(self.config).bus.control_endpoint, timeout=5.0).call(
            "append", kind=kind, round=round_, payload=payload
        )
        return int(reply["seq"])

    def handler_pid(self, name: str) -> int | None:
        """The pid of handler ``name``'s process, checked against its command line."""
        status = self.try_status() or {}
        pid = (status.get("spawned", {}).get(name) or {}).get("pid")
        if isinstance(pid, int) and process_alive(pid) and f"\0{name}\0".encode() in cmdline(pid):
            return pid
        return None

    def kill_handler(self, name: str) -> bool:
        """SIGKILL handler ``name``'s process (the spawner restarts it); whether one was killed."""
        pid = self.handler_pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    # -- failpoints ------------------------------------------------------------------------------

    def arm(self, name: str) -> None:
        """Arm a failpoint: the first process to reach it is SIGKILLed there."""
        (self.armed / name).touch()
        self._armed.append(name)

    def armed_names(self) -> list[str]:
        """The failpoints armed since the last :meth:`disarm_all` (fired or not)."""
        return list(self._armed)

    def is_armed(self, name: str) -> bool:
        return (self.armed / name).exists()

    def disarm_all(self) -> list[str]:
        """Remove every armed failpoint; returns those that never fired."""
        left = sorted(p.name for p in self.armed.iterdir())
        for name in left:
            (self.armed / name).unlink(missing_ok=True)
        self._armed.clear()
        return left

    # -- rounds ----------------------------------------------------------------------------------

    def current_round(self) -> int:
        return int(self.sandbox.core.current_round().number)

    def open_round(self) -> int:
        return self.sandbox.open_round(window=self.options.window)

    def caught_up(self) -> bool:
        """Every handler acked the whole log and holds nothing."""
        status = self.try_status()
        if not status:
            return False
        head = status.get("head_seq")
        handlers = status.get("handlers", {})
        return bool(handlers) and all(
            h.get("acked_seq") == head and h.get("in_flight") is None and h.get("connected") for h in handlers.values()
        )

    def blocked(self) -> list[str]:
        status = self.try_status() or {}
        return sorted(n for n, h in status.get("handlers", {}).items() if h.get("state") == "blocked")

    def wait_round(self, number: int, timeout: float = 180.0, *, during: Callable[[], None] | None = None) -> bool:
        """Wait until every model of round ``number`` is uploaded (or reported missed) and every
        handler caught up; ``during`` runs at each look. False after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if during is not None:
                during()
            if self.daemon is not None:
                self.check_alive()
            done = "pending" not in audit.round_outcome(self, number).values() if self.models else True
            if done and self.caught_up():
                return True
            if self.blocked():
                say(f"blocked handlers {self.blocked()} in round {number}")
                return False
            time.sleep(0.1)
        outcome = audit.round_outcome(self, number)
        say(f"round {number} not done after {timeout:g} s: {outcome}; log {self.log}:\n{tail(self.log)}")
        return False
