"""What the demo sees of the running daemon, and the story it tells from it.

:class:`Observer` looks, a few times a second, at what an operator would look at: the control
API (what ``numeraudctl status --json`` shows: each handler's state, pid and in-flight event, the
spawner's restarts), the event log (read-only, as ``numeraudctl events`` does when the supervisor
is down) and each handler's state file. It prints one line per step of the story, never one per
event, and turns anything that went wrong (a blocked handler, a failed upload, the supervisor
gone) into :class:`DemoFailed` at once instead of waiting for a timeout.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from numeraud.common.config import Config
from numeraud.control import ControlError
from numeraud.control.client import ControlClient, NoReply, NotRunning
from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import StoredEvent

#: Seconds between two looks at the daemon.
POLL: Final = 0.1
#: How long one step may take before the demo gives up (a slow machine included).
STEP_TIMEOUT: Final = 240.0
#: Events that mean something went wrong: the demo stops at the first one.
PROBLEMS: Final = frozenset({"submission_failed", "submission_missed", "handler_blocked", "round_missed"})


class DemoFailed(Exception):
    """A step of the demo did not happen; the message says which."""


class Story:
    """Prints the story, one line per step with the time since the start, and keeps a copy."""

    def __init__(self, out: TextIO, transcript: Path | None = None) -> None:
        self.out: TextIO | None = out
        self.transcript = transcript
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        """One step."""
        self.plain(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def plain(self, text: str = "") -> None:
        """Text as it is (the status, the table)."""
        if self.out is not None:
            try:
                print(text, file=self.out, flush=True)
            except BrokenPipeError:  # `numeraud demo | head`: the story goes on, in the transcript
                self.out = None
        if self.transcript is not None:
            with self.transcript.open("a", encoding="utf-8") as copy:
                copy.write(text + "\n")


def corr_text(value: object) -> str:
    """A score as ``+0.0123`` (``-`` when there is none)."""
    return f"{value:+.4f}" if isinstance(value, int | float) else "-"


class Observer:
    """Looks at the daemon and narrates (see the module docstring)."""

    def __init__(
        self, config: Config, say: Story, models: Mapping[str, str], supervisor: subprocess.Popen[bytes]
    ) -> None:
        self.say = say
        #: Model handler name -> its Numerai model.
        self.models = dict(models)
        self.supervisor = supervisor
        self.client = ControlClient(config.bus.control_endpoint, timeout=5.0)
        self.database = config.paths.database
        self.state_files = {name: handler.state_dir / "state.json" for name, handler in config.handlers.items()}
        self.status: dict[str, Any] = {}
        self.events: dict[int, StoredEvent] = {}
        self._store: Store | None = None
        self._seen = 0
        self._said: set[Hashable] = set()

    # -- looking -------------------------------------------------------------------------------

    def poll(self) -> None:
        """Look once: the supervisor is alive, the status, new events; narrate what changed."""
        code = self.supervisor.poll()
        if code is not None:
            raise DemoFailed(f"the supervisor exited with code {code}")
        try:
            status = self.client.call("status")
        except (NotRunning, NoReply, ControlError):
            status = None  # still starting (or busy for a moment): look again next time
        if isinstance(status, dict):
            self.status = status
        for event in self._new_events():
            self._on_event(event)
        self._on_status()

    def poll_quietly(self) -> None:
        """Refresh the status if the supervisor still answers (when stopping: nothing raises)."""
        try:
            status = self.client.call("status")
        except (NotRunning, NoReply, ControlError):
            return
        if isinstance(status, dict):
            self.status = status

    def handler_pids(self) -> set[int]:
        """Every handler pid the last status named (the supervisor's own and its spawner's view)."""
        pids = {h.get("pid") for h in self.status.get("handlers", {}).values()}
        pids |= {s.get("pid") for s in self.status.get("spawned", {}).values()}
        return {pid for pid in pids if isinstance(pid, int)}

    def until(self, what: str, condition: Callable[[], bool], timeout: float = STEP_TIMEOUT) -> None:
        """Keep looking (and narrating) until ``condition()`` holds; :class:`DemoFailed` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if condition():
                return
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(POLL)

    def _new_events(self) -> list[StoredEvent]:
        if self._store is None:
            if not self.database.exists():
                return []
            try:
                self._store = Store(self.database, read_only=True)
            except StoreError:
                return []
        try:
            new = self._store.events(after=self._seen, limit=1000)
        except StoreError:
            return []
        for event in new:
            self.events[event.seq] = event
            self._seen = event.seq
        return new

    def close(self) -> None:
        """Close the read-only database."""
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- queries -------------------------------------------------------------------------------

    def handler(self, name: str) -> dict[str, Any]:
        """The handler's entry of the last status (``{}`` before the first)."""
        entry: dict[str, Any] = self.status.get("handlers", {}).get(name, {})
        return entry

    def spawned(self, name: str) -> dict[str, Any]:
        """The spawner's entry for the handler: pid, restarts, last exit code."""
        entry: dict[str, Any] = self.status.get("spawned", {}).get(name, {})
        return entry

    def find(self, kind: str, round_number: int | None = None) -> list[StoredEvent]:
        """The events of a kind (of a round) seen so far, oldest first."""
        return [
            event
            for _, event in sorted(self.events.items())
            if event.kind == kind and (round_number is None or event.round == round_number)
        ]

    def acked(self, name: str, seq: int) -> bool:
        """Whether the handler's cursor is at or past ``seq``."""
        return int(self.handler(name).get("acked_seq", 0)) >= seq

    def caught_up(self) -> bool:
        """Every handler acked the whole log and holds nothing."""
        head = int(self.status.get("head_seq", -1))
        handlers = self.status.get("handlers", {})
        return bool(handlers) and all(
            h.get("acked_seq") == head and h.get("in_flight") is None and h.get("state") == "ready"
            for h in handlers.values()
        )

    def model_state(self, name: str) -> dict[str, Any]:
        """The handler's ``persistent_state`` from its state file (``{}`` if none yet)."""
        try:
            document = json.loads(self.state_files[name].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        state = document.get("persistent_state") if isinstance(document, dict) else None
        return state if isinstance(state, dict) else {}

    def validation_corr(self, name: str) -> float | None:
        """The mean per-era validation CORR of the handler's current model."""
        value = self.model_state(name).get("validation", {}).get("corr", {}).get("mean")
        return float(value) if isinstance(value, int | float) else None

    # -- the story -----------------------------------------------------------------------------

    def once(self, key: Hashable, text: str) -> None:
        """Say ``text`` the first time ``key`` comes up."""
        if key not in self._said:
            self._said.add(key)
            self.say(text)

    def _on_event(self, event: StoredEvent) -> None:
        number = event.round
        version = event.payload.get("version")
        if event.kind in PROBLEMS:
            reason = event.payload.get("reason") or event.payload.get("error") or ""
            detail = event.payload.get("model") or event.payload.get("handler") or ""
            raise DemoFailed(f"{event.kind} in round {number} {detail}: {reason}".strip())
        if event.kind == "round_begin":
            self.once(
                ("begin", number), f"round {number}: numeraud noticed it, synced and verified its data ({version})"
            )
        elif event.kind == "new_training_data":
            first = len(self.find("new_training_data")) == 1
            what = "first training data" if first else "new training data"
            self.once(("training data", number), f"round {number}: {what} ({version}): every model trains")

    def _on_status(self) -> None:
        handlers = self.status.get("handlers", {})
        if handlers and all(h.get("connected") for h in handlers.values()):
            names = ", ".join(sorted(handlers))
            self.once("up", f"all {len(handlers)} handler processes up and on the bus: {names}")
        for name in self.models:
            entry = handlers.get(name, {})
            seq = entry.get("in_flight")
            event = self.events.get(seq) if isinstance(seq, int) else None
            if event is not None and event.kind == "new_training_data":
                attempt = int(entry.get("attempts", 0)) + 1
                if attempt == 1:
                    text = f"{name}: training on {event.payload.get('version')}… (pid {entry.get('pid')}, event {seq})"
                    self.once(("training", name, seq), text)
        for event in self.find("new_training_data"):
            if all(self.acked(name, event.seq) for name in self.models):
                scores = ", ".join(f"{name} {corr_text(self.validation_corr(name))}" for name in self.models)
                self.once(
                    ("trained", event.seq),
                    f"round {event.round}: {len(self.models)}/{len(self.models)} models trained on "
                    f"{event.payload.get('version')} (validation CORR: {scores})",
                )
        for event in self.find("round_begin"):
            ready = {e.payload.get("model") for e in self.find("predictions_ready", event.round)}
            if len(ready) >= len(self.models):
                self.once(
                    ("predicted", event.round),
                    f"round {event.round}: {len(ready)}/{len(self.models)} models predicted its live data",
                )
