"""Uploads and submissions: upload slots, Numerai's validation of a predictions file, the upload log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from numeraud.common.tournaments import CLASSIC
from numeraud.numerai.submission import SubmissionInvalid, read_predictions_csv, validate_predictions
from numeraud.sandbox.accounts import Accounts
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.records import (
    Model,
    PendingUpload,
    Round,
    RoundTimes,
    SandboxState,
    Submission,
    UploadRecord,
    iso,
)

#: The largest predictions file an upload URL takes.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def _check_classic(tournament: int) -> None:
    if tournament != CLASSIC:
        raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")


class Submissions:
    """``submission_upload_auth``, the PUT it hands out and ``create_submission`` (state under ``lock``)."""

    def __init__(
        self,
        data_dir: Path,
        state: SandboxState,
        *,
        lock: threading.RLock,
        accounts: Accounts,
        current_round: Callable[[], Round],
    ) -> None:
        """Keep uploaded files in ``data_dir/.uploads``; live universes are read from ``data_dir``."""
        self.data_dir = data_dir
        self.state = state
        self.lock = lock
        self.accounts = accounts
        self.current_round = current_round
        self.upload_dir = data_dir / ".uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)

    def upload_auth(self, filename: str, tournament: int, model_id: str | None) -> PendingUpload:
        """Hand out an upload slot (``submission_upload_auth``)."""
        _check_classic(tournament)
        model = self.accounts.model(model_id)
        base = Path(filename).name or "predictions.csv"
        pending = PendingUpload.new(model.id, base, self.upload_dir, suffix=".csv")
        with self.lock:
            self.state.pending[pending.token] = pending
        return pending

    def pending_upload(self, token: str) -> PendingUpload | None:
        """The upload slot behind a PUT URL's token."""
        with self.lock:
            return self.state.pending.get(token)

    def create_submission(self, filename: str, tournament: int, model_id: str | None, now: datetime) -> str:
        """Validate an uploaded file with Numerai's rules and record it (``create_submission``)."""
        _check_classic(tournament)
        model = self.accounts.model(model_id)
        current = self.current_round()

        def check(record: UploadRecord, data: bytes) -> None:
            frame = read_predictions_csv(data)
            record.rows = len(frame)
            validate_predictions(self.live_ids(current.number), frame)

        return record_submission(
            self.state,
            self.lock,
            make=UploadRecord,
            filename=filename,
            model=model,
            current=current,
            now=now,
            check=check,
        ).id

    def live_ids(self, round_number: int) -> pd.Index:
        """The live universe of a round (the ids of its live file)."""
        with self.lock:
            version = self.state.versions[0]
        path = self.data_dir / version / f"live_{round_number}.parquet"
        return pd.read_parquet(path, columns=[]).index

    def submissions_of(self, model_id: str) -> list[Submission]:
        """A model's submissions, oldest first."""
        with self.lock:
            return [s for s in self.state.submissions if s.model_id == model_id]

    def uploads_json(self) -> list[dict[str, Any]]:
        """Every ``create_submission`` seen: model, round, file, rows, accepted or why not,
        when (``submitted_at``) and whether after the round's close (``late``: no stake)."""
        with self.lock:
            return [
                {
                    "model": u.model,
                    "model_id": u.model_id,
                    "round": u.round,
                    "filename": u.filename,
                    "rows": u.rows,
                    "accepted": u.accepted,
                    "reason": u.reason,
                    "submission_id": u.submission_id,
                    "at": iso(u.at),
                    "submitted_at": iso(u.at),
                    "late": u.late,
                }
                for u in self.state.uploads
            ]


R = TypeVar("R", bound=UploadRecord)


class UploadLog(Protocol[R]):
    """The state an upload is recorded in: Classic's (:class:`SandboxState`) or a side tournament's."""

    pending: dict[str, PendingUpload]
    submissions: list[Submission]
    uploads: list[R]


def record_submission(
    state: UploadLog[R],
    lock: threading.RLock,
    *,
    make: type[R],
    filename: str,
    model: Model,
    current: RoundTimes,
    now: datetime,
    check: Callable[[R, bytes], None],
) -> Submission:
    """``create_submission`` of the uploaded file ``filename`` for ``model`` in round ``current``:
    ``check`` reads and validates its bytes (filling the record's ``rows``, and what else the
    tournament records) or raises :class:`SubmissionInvalid`. A refused file is logged with the
    reason and answered with :class:`ApiError`; an accepted one becomes the round's selected
    submission of the model, its slot is used up, and it is logged."""
    with lock:
        pending = next((p for p in state.pending.values() if p.key == filename), None)
    if pending is None or pending.model_id != model.id:
        raise ApiError(f"Upload not found: {filename}")
    record = make(
        model=model.name,
        model_id=model.id,
        round=current.number,
        filename=pending.client_filename,
        rows=None,
        accepted=False,
        reason=None,
        submission_id=None,
        at=now,
        late=now >= current.close_staking_time,
    )
    try:
        if not pending.received:
            raise SubmissionInvalid("invalid_submission_file: no file was uploaded to the upload URL")
        check(record, pending.path.read_bytes())
    except SubmissionInvalid as exc:
        record.reason = str(exc)
        with lock:
            state.uploads.append(record)
        raise ApiError(str(exc)) from exc
    submission = Submission(
        id=str(uuid.uuid4()),
        model_id=model.id,
        round=current.number,
        filename=pending.key,
        path=pending.path,
        inserted_at=now,
        late=record.late,
    )
    with lock:
        for earlier in state.submissions:
            if earlier.model_id == model.id and earlier.round == current.number:
                earlier.selected = False
        state.submissions.append(submission)
        state.pending.pop(pending.token, None)
        record.accepted = True
        record.submission_id = submission.id
        state.uploads.append(record)
    return submission
