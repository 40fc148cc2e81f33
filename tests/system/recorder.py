"""A minimal handler for the live systemd tests: it appends each callback to a JSON-lines file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from numeraud import EventHandler


class Recorder(EventHandler):
    """Appends ``{"pid", "callback", ...}`` for every callback to the file ``options.record``."""

    def _record(self, callback: str, **extra: Any) -> None:
        line = {"pid": os.getpid(), "callback": callback, **extra}
        with Path(self.options["record"]).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def on_start(self) -> None:
        """Record the start of the process."""
        self._record("on_start")

    def on_round_begin(self, round_number: int) -> None:
        """Record a round_begin event."""
        self._record("on_round_begin", round_number=round_number)

    def on_shutdown(self) -> None:
        """Record a clean stop."""
        self._record("on_shutdown")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records written so far (none if the file does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
