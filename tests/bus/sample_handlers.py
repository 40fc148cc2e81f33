"""Handler classes the bus tests run in real handler processes."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent


class Recorder(EventHandler):
    """Records every callback as a JSON line in ``options.record``.

    Behaviour options: ``fail_kinds`` (raise on these kinds while ``attempt <= fail_times``),
    ``block_kind`` (wait in the callback until the file ``options.release`` exists),
    ``block_start`` (the same in ``on_start``),
    ``emit_on``/``emit_kind`` (emit an event when handling a kind), ``exit_kind`` (raise SystemExit),
    ``check_log`` (the supervisor's database: note whether the event is in it, read-only, as it arrives).
    """

    def _record(self, callback: str, **extra: Any) -> None:
        line: dict[str, Any] = {"pid": os.getpid(), "callback": callback, "t": time.monotonic(), **extra}
        if self.event is not None:
            line.update(seq=self.event.seq, kind=self.event.kind, round=self.event.round, attempt=self.event.attempt)
            if "check_log" in self.options:
                line["in_log"] = _in_log(self.options["check_log"], self.event.seq)
        with Path(self.options["record"]).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _behave(self) -> None:
        event = self.event
        if event is None:
            return
        self.persistent_state["handled"] = self.persistent_state.get("handled", 0) + 1
        if event.kind == self.options.get("block_kind"):
            release = Path(self.options["release"])
            while not release.exists():
                time.sleep(0.01)
        if event.kind in self.options.get("fail_kinds", ()) and event.attempt <= self.options.get("fail_times", 10**6):
            note = f" ({event.payload['note']})" if "note" in event.payload else ""
            raise RuntimeError(f"poisoned {event.kind} at attempt {event.attempt}{note}")
        if event.kind == self.options.get("exit_kind"):
            raise SystemExit(3)
        if event.kind == self.options.get("emit_on"):
            self.emit(self.options["emit_kind"], path=f"/tmp/predictions_{event.round}.csv")

    def on_start(self) -> None:
        self._record("on_start", state=dict(self.persistent_state))
        if self.options.get("block_start"):
            release = Path(self.options["release"])
            while not release.exists():
                time.sleep(0.01)
            self._record("on_start_done")

    def on_shutdown(self) -> None:
        self._record("on_shutdown")

    def on_round_begin(self, round_number: int) -> None:
        self._record("on_round_begin", round_number=round_number)
        self._behave()

    def on_new_training_data(self, round_number: int) -> None:
        self._record("on_new_training_data", round_number=round_number)
        self._behave()

    def on_new_tournament_data(self, round_number: int) -> None:
        self._record("on_new_tournament_data", round_number=round_number)
        self._behave()

    def on_cleanup(self, round_number: int) -> None:
        self._record("on_cleanup", round_number=round_number)
        self._behave()

    def on_event(self, event: HandlerEvent) -> None:
        self._record("on_event", payload=dict(event.payload))
        self._behave()


def _in_log(database: str, seq: int) -> bool:
    """Whether the supervisor's event log holds ``seq``, as another reader sees it (read-only)."""
    connection = sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT 1 FROM events WHERE seq = ?", (seq,)).fetchone() is not None
    finally:
        connection.close()


class NoOp(EventHandler):
    """Does nothing (the benchmark's handler)."""


# A handler written for numerauto, with only its import line changed
# (``from numerauto.eventhandlers import EventHandler`` -> ``from numeraud import EventHandler``).
class NumerautoStyle(EventHandler):
    """Logs its callbacks to ./numerauto_calls.txt (relative to the working directory, as numerauto did)."""

    def __init__(self, name):
        super().__init__(name)
        self.calls_file = Path("./numerauto_calls.txt")

    def _log(self, text):
        with open(self.calls_file, "a") as f:
            f.write(text + "\n")

    def on_start(self):
        self._log(f"{self.name} on_start")

    def on_shutdown(self):
        self._log(f"{self.name} on_shutdown")

    def on_round_begin(self, round_number):
        self._log(f"{self.name} on_round_begin {round_number}")

    def on_new_training_data(self, round_number):
        self._log(f"{self.name} on_new_training_data {round_number}")

    def on_new_tournament_data(self, round_number):
        self._log(f"{self.name} on_new_tournament_data {round_number}")
