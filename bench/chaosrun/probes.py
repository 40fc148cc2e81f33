"""Handler classes the bad-input and security scenarios run in real handler processes.

Kept apart from the scenarios so that a handler process imports only this and numeraud.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent


def sha256_of(path: Path) -> str | None:
    """The SHA-256 of a file, or ``None`` when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class Recorder(EventHandler):
    """Appends ``{"kind", "round", "seq", "attempt"}`` to ``options.record`` for every event."""

    def _note(self, **extra: Any) -> None:
        event = self.event
        assert event is not None
        line = {"kind": event.kind, "round": event.round, "seq": event.seq, "attempt": event.attempt, **extra}
        with Path(self.options["record"]).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def on_event(self, event: HandlerEvent) -> None:
        self._note()

    def on_round_begin(self, round_number: int) -> None:
        self._note()

    def on_new_training_data(self, round_number: int) -> None:
        self._note()

    def on_new_tournament_data(self, round_number: int) -> None:
        self._note()

    def on_cleanup(self, round_number: int) -> None:
        self._note()


class Checker(Recorder):
    """Checks every data file an event names against the sandbox's own copy (size and SHA-256).

    ``options.sandbox_dir`` is the sandbox's data directory; a local ``v5.2/live_7.parquet`` is the
    sandbox's file of the same name. Each file checked is recorded (``file``, ``ok``); a file that
    differs is refused: the callback raises, as a model would on a file it cannot use.
    """

    def _check(self) -> None:
        event = self.event
        assert event is not None
        data_dir = Path(str(event.get("data_dir", "")))
        files = {**dict(event.get("training_files") or {}), **dict(event.get("live_files") or {})}
        bad = []
        for path_text in files.values():
            path = Path(str(path_text))
            name = path.relative_to(data_dir).as_posix()
            ok = sha256_of(path) == sha256_of(Path(self.options["sandbox_dir"]) / name)
            self._note(file=name, ok=ok)
            if not ok:
                bad.append(name)
        if bad:
            raise RuntimeError(f"refused: {', '.join(bad)} differ from Numerai's")

    def on_round_begin(self, round_number: int) -> None:
        self._check()

    def on_new_training_data(self, round_number: int) -> None:
        self._check()

    def on_new_tournament_data(self, round_number: int) -> None:
        self._check()


class Predictor(EventHandler):
    """Predicts the live file's ids in order (a rank, no model) and emits ``predictions_ready``."""

    def on_new_tournament_data(self, round_number: int) -> None:
        from numeraud_handlers.data import load  # noqa: PLC0415 - pandas only in the handler process

        live = Path(str(self.event["live_files"]["live.parquet"])) if self.event else Path()
        ids = load(live, []).index
        out = (self.state_dir or Path(".")) / f"predictions_{round_number}.csv"
        rows = "".join(f"{i},{(n + 0.5) / len(ids):.6f}\n" for n, i in enumerate(ids))
        out.write_text("id,prediction\n" + rows, encoding="utf-8")
        deadline = self.event["deadline"] if self.event else None
        self.emit(
            "predictions_ready",
            round=round_number,
            model=self.name,
            path=str(out),
            live_path=str(live),
            deadline=deadline,
        )


class Crasher(EventHandler):
    """Crashes on ``round_begin`` with the process's secrets in the exception (and its traceback),
    as a careless handler would: what numeraud makes of it must not show them."""

    def on_round_begin(self, round_number: int) -> None:
        secret = os.environ.get("NUMERAI_SECRET_KEY", "")
        urls = os.environ.get("NUMERAUD_NOTIFY_URLS", "")
        raise RuntimeError(f"crashed while holding the key {secret} and the notification URL {urls}")
