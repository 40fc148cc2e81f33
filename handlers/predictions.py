"""A predictions file on its way to the uploader: checked with Numerai's rules, then announced.

Every handler that makes a predictions file (the model, a Model Upload pickle, a user's script)
hands it on the same way: :func:`announce` emits ``predictions_ready(round, model, path, rows,
live_path, deadline)``, which the uploader (:mod:`numeraud_handlers.uploader`) validates again
and uploads once per (round, Numerai model). :func:`validate_file` is the check both sides make;
the uploader passes a :class:`LiveIds`, so that the round's live ids are read once, not once per
predictions file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from numeraud import EventHandler
from numeraud.numerai.submission import ValidatedSubmission, read_predictions_csv, validate_predictions

from .data import load


class LiveIds:
    """The ids of live files, each file read once while it stays the same (path, inode, size and
    modification time; the supervisor replaces a file by renaming a new one into place).

    At Numerai's width the live file's footer alone (2,800 columns) takes some 20 ms to parse,
    which the uploader would otherwise pay again for every model's predictions. The ``keep`` files
    read last are kept (a round's live file, and the one before while rounds overlap); safe to use
    from several threads.
    """

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, int, int, int], pd.Index] = {}

    def of(self, live_path: Path) -> pd.Index:
        """The id index of ``live_path``; raises :class:`numeraud_handlers.data.DataError` as :func:`load` does."""
        try:
            stat = live_path.stat()
        except OSError:
            return load(live_path, []).index  # raises DataError naming the file
        key = (str(live_path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            ids = self._ids.get(key)
        if ids is None:
            ids = load(live_path, []).index
            with self._lock:
                self._ids[key] = ids
                while len(self._ids) > self.keep:
                    del self._ids[next(iter(self._ids))]
        return ids


def validate_file(path: Path, live_path: Path, live_ids: LiveIds | None = None) -> ValidatedSubmission:
    """Validate the predictions CSV ``path`` against the live ids of ``live_path`` as Numerai does
    (the ids from ``live_ids`` if given, else read from the file).

    Raises ``OSError`` (a file cannot be read), :class:`numeraud_handlers.data.DataError` (the live
    file is not usable) or :class:`numeraud.numerai.submission.SubmissionInvalid` (Numerai's message).
    """
    frame = read_predictions_csv(path.read_bytes())
    ids = live_ids.of(live_path) if live_ids is not None else load(live_path, []).index
    return validate_predictions(ids, frame)


def announce(handler: EventHandler, *, round_number: int, model: str, path: Path, live_path: str, rows: int) -> None:
    """Emit ``predictions_ready`` for ``path`` (with the current event's deadline and Numerai's
    clock offset, which the uploader's deadline needs) and log it."""
    event = handler.event
    handler.emit(
        "predictions_ready",
        round=round_number,
        model=model,
        path=str(path),
        rows=rows,
        live_path=live_path,
        deadline=event.get("deadline") if event is not None else None,
        clock_offset=event.get("clock_offset") if event is not None else None,
    )
