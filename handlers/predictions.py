"""A predictions file on its way to the uploader: checked with Numerai's rules, then announced.

Every handler that makes a predictions file (the model, a Model Upload pickle, a user's script)
hands it on the same way: :func:`announce` emits ``predictions_ready(round, model, path, rows,
live_path, deadline)``, which the uploader (:mod:`numeraud_handlers.uploader`) validates again
and uploads once per (round, Numerai model). :func:`validate_file` is the check both sides make.
"""

from __future__ import annotations

from pathlib import Path

from numeraud import EventHandler
from numeraud.numerai.submission import ValidatedSubmission, read_predictions_csv, validate_predictions

from .data import load


def validate_file(path: Path, live_path: Path) -> ValidatedSubmission:
    """Validate the predictions CSV ``path`` against the live ids of ``live_path`` as Numerai does.

    Raises ``OSError`` (a file cannot be read), :class:`numeraud_handlers.data.DataError` (the live
    file is not usable) or :class:`numeraud.numerai.submission.SubmissionInvalid` (Numerai's message).
    """
    frame = read_predictions_csv(path.read_bytes())
    return validate_predictions(load(live_path, []).index, frame)


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
