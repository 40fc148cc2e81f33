"""Numerai Signals (tournament 11) and Crypto (12) in the sandbox, one :class:`SideTournament` each.

A side tournament follows Classic's calendar: it has a round row of its own for every round
Classic opens, with the same number and the same open and close times (read from Classic's
round, so an admin close or a schedule shift moves all three), and its own resolved state and
scores. It publishes its own dataset versions (``signals/v1.0``, ``signals/v2.0``, ``crypto/v1.0``,
``crypto/v2.0``: :mod:`numeraud.sandbox.signals_data`), has its own models, uploads and
submissions, and validates an upload with numerai-tools' rules for the tournament
(:func:`numeraud.numerai.validation.validate_submission`) against the round's universe.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from numerai_tools.submissions import clean_submission

from numeraud.common.tournaments import TOURNAMENT_NAMES
from numeraud.numerai.validation import read_submission, validate_submission
from numeraud.sandbox.catalogue import per_round_file
from numeraud.sandbox.errors import AdminError, ApiError
from numeraud.sandbox.records import Model, PendingUpload, Round, RoundTimes, Score, Submission, UploadRecord, iso
from numeraud.sandbox.scoring import percentiles, score_predictions
from numeraud.sandbox.signals_data import PER_ROUND_FILES, SIDE_VERSIONS, STATIC_FILES, SideData
from numeraud.sandbox.submissions import record_submission

#: The scores a resolved Signals or Crypto round gives each submission (as Classic's).
SCORE_NAMES = ("v2_corr20", "mmc")
_NAMESPACE = uuid.UUID("0c5e2f4a-7b19-4d36-a8e1-5f9b3c2d7e10")


@dataclass
class SideUpload(UploadRecord):
    """An upload record of a side tournament, with how many ids outside the universe it had."""

    invalid_ids: int = 0


@dataclass(frozen=True)
class SideRound(RoundTimes):
    """A side tournament's row of one round: Classic's times, its own tournament and resolved state."""

    tournament: int
    number: int
    open_time: datetime
    close_staking_time: datetime
    resolve_time: datetime
    resolved: bool
    live_at: datetime | None


@dataclass
class SideState:
    """The mutable state of one side tournament (guarded by the core's lock)."""

    pending: dict[str, PendingUpload] = field(default_factory=dict)
    submissions: list[Submission] = field(default_factory=list)
    uploads: list[SideUpload] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    resolved: dict[int, datetime] = field(default_factory=dict)


class SideTournament:
    """Signals or Crypto (see the module docstring); state under ``lock``, rounds read from Classic's."""

    def __init__(
        self,
        tournament: int,
        *,
        data_dir: Path,
        size: str,
        seed: int,
        public_id: str,
        model_names: tuple[str, ...],
        require_date: bool,
        lock: threading.RLock,
        classic_rounds: Callable[[], list[Round]],
    ) -> None:
        """Serve ``tournament`` with data under ``data_dir``, the models ``model_names``."""
        self.tournament = tournament
        self.name = TOURNAMENT_NAMES[tournament]
        self.data = SideData(data_dir, tournament, size, seed)
        self.versions = SIDE_VERSIONS[tournament]
        self.models = [
            Model(id=str(uuid.uuid5(_NAMESPACE, f"{public_id}/{tournament}/{name}")), name=name) for name in model_names
        ]
        self.require_date = require_date
        self.lock = lock
        self.state = SideState()
        self.upload_dir = data_dir / ".uploads" / self.name
        self._classic_rounds = classic_rounds
        self._resolve_lock = threading.Lock()

    # -- rounds ----------------------------------------------------------------------------------

    def _row(self, classic: Round) -> SideRound:
        resolved_at = self.state.resolved.get(classic.number)
        return SideRound(
            tournament=self.tournament,
            number=classic.number,
            open_time=classic.open_time,
            close_staking_time=classic.close_staking_time,
            resolve_time=min(classic.resolve_time, resolved_at) if resolved_at else classic.resolve_time,
            resolved=resolved_at is not None,
            live_at=classic.live_at,
        )

    def rounds(self) -> list[SideRound]:
        """Every round row, oldest first."""
        with self.lock:
            return [self._row(r) for r in self._classic_rounds()]

    def current_round(self) -> SideRound:
        """The latest opened round (it may already be closed)."""
        return self.rounds()[-1]

    def find_round(self, number: int) -> SideRound:
        """A round row by number; :class:`AdminError` if the round never opened."""
        for row in self.rounds():
            if row.number == number:
                return row
        raise AdminError(f"round {number} has not opened")

    # -- models ----------------------------------------------------------------------------------

    def model(self, model_id: object) -> Model:
        """The tournament's model with this id; :class:`ApiError` otherwise."""
        for candidate in self.models:
            if candidate.id == model_id:
                return candidate
        raise ApiError(f"Model not found: {model_id}")

    def has_model(self, model_id: object) -> bool:
        """Whether ``model_id`` is one of this tournament's models."""
        return any(m.id == model_id for m in self.models)

    # -- datasets --------------------------------------------------------------------------------

    def list_datasets(self) -> list[str]:
        """Every public file name, newest version first (``signals/v2.0/live.parquet``, ...)."""
        names = [*STATIC_FILES[self.tournament], *(f"{s}{x}" for s, x in PER_ROUND_FILES[self.tournament])]
        return [f"{version}/{name}" for version in reversed(self.versions) for name in sorted(names)]

    def _split(self, filename: str) -> tuple[str, str] | None:
        for version in self.versions:
            if filename.startswith(f"{version}/"):
                return version, filename.removeprefix(f"{version}/")
        return None

    def resolve_dataset(self, filename: str, round_number: int | None, now: datetime) -> str:
        """The file served for ``filename`` (``…/live.parquet`` → that round's), relative to the data dir.

        Live files follow Classic's (see :meth:`DatasetCatalogue.resolve_dataset`): a round's are
        served once published; until then the plain name still gives the previous round's.
        """
        split = self._split(filename)
        if split is None:
            raise ApiError(f"Dataset not found: {filename}")
        version, name = split
        if name in STATIC_FILES[self.tournament]:
            self.data.ensure_static(version)
            return filename
        patterns = PER_ROUND_FILES[self.tournament]
        stem, suffix, row = per_round_file(
            filename, name, patterns=patterns, rounds=self.rounds(), round_number=round_number, now=now
        )
        self.data.ensure_live(version, row.number, (row.open_time - timedelta(days=1)).date())
        return f"{version}/{stem}_{row.number}{suffix}"

    def public_file(self, relative: str, now: datetime) -> Path | None:
        """The on-disk path of a public file (``signals/v2.0/live_3.parquet``), or None if it is not one."""
        split = self._split(relative)
        if split is None or not re.fullmatch(r"[A-Za-z0-9_.-]+", split[1]) or split[1].startswith("."):
            return None
        version, name = split
        if name in STATIC_FILES[self.tournament]:
            self.data.ensure_static(version)
        for stem, suffix in PER_ROUND_FILES[self.tournament]:
            match = re.fullmatch(rf"{re.escape(stem)}_(\d+){re.escape(suffix)}", name)
            if match:
                row = next((r for r in self.rounds() if r.number == int(match.group(1))), None)
                if row is None or not row.live_published(now):
                    return None
                self.data.ensure_live(version, row.number, (row.open_time - timedelta(days=1)).date())
        path = self.data.root / version / name
        return path if path.is_file() else None

    # -- uploads ---------------------------------------------------------------------------------

    def upload_auth(self, filename: str, model_id: object) -> PendingUpload:
        """Hand out an upload slot for one of this tournament's models."""
        model = self.model(model_id)
        base = Path(filename).name or "predictions.csv"
        suffix = ".parquet" if base.endswith(".parquet") else ".csv"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        pending = PendingUpload.new(model.id, base, self.upload_dir, kind=f"{self.name}/", suffix=suffix)
        with self.lock:
            self.state.pending[pending.token] = pending
        return pending

    def pending_upload(self, token: str) -> PendingUpload | None:
        """The upload slot behind a PUT URL's token, if it is this tournament's."""
        with self.lock:
            return self.state.pending.get(token)

    def create_submission(self, filename: str, model_id: object, now: datetime) -> Submission:
        """Validate an uploaded file with the tournament's rules and record it; :class:`ApiError` with
        numerai-tools' reason if Numerai would refuse it."""
        model = self.model(model_id)
        current = self.current_round()

        def check(record: SideUpload, data: bytes) -> None:
            frame = read_submission(data, self.tournament)
            record.rows = len(frame)
            universe = self.data.universe(current.number)
            validated = validate_submission(self.tournament, universe, frame, require_date=self.require_date)
            record.invalid_ids = len(validated.invalid_ids)

        return record_submission(
            self.state,
            self.lock,
            make=SideUpload,
            filename=filename,
            model=model,
            current=current,
            now=now,
            check=check,
        )

    def submissions_of(self, model_id: str) -> list[Submission]:
        """A model's submissions, oldest first."""
        with self.lock:
            return [s for s in self.state.submissions if s.model_id == model_id]

    def uploads_json(self) -> list[dict[str, Any]]:
        """Every create seen: tournament, model, round, file, rows, accepted or why not, when, late."""
        with self.lock:
            return [
                {
                    "tournament": self.tournament,
                    "model": u.model,
                    "model_id": u.model_id,
                    "round": u.round,
                    "filename": u.filename,
                    "rows": u.rows,
                    "accepted": u.accepted,
                    "reason": u.reason,
                    "submission_id": u.submission_id,
                    "submitted_at": iso(u.at),
                    "late": u.late,
                    "invalid_ids": u.invalid_ids,
                }
                for u in self.state.uploads
            ]

    # -- resolution ------------------------------------------------------------------------------

    def resolve(self, number: int, now: datetime) -> list[Score]:
        """Score every model's selected submission of round ``number`` (once; again: the same scores)."""
        with self._resolve_lock:
            row = self.find_round(number)
            if row.is_open(now):
                raise AdminError(f"round {number} is still open")
            with self.lock:
                if number in self.state.resolved:
                    return [s for s in self.state.scores if s.round == number]
                chosen = [s for s in self.state.submissions if s.round == number and s.selected]
            universe = self.data.universe(number)
            truth = self.data.truth(number)
            results: dict[str, dict[str, float]] = {name: {} for name in SCORE_NAMES}
            for submission in chosen:
                predictions = self._ranked_predictions(universe, submission)
                score = score_predictions(predictions, truth)
                results["v2_corr20"][submission.id] = score.corr
                results["mmc"][submission.id] = score.mmc
            new_scores = []
            for name, values in results.items():
                ranks = percentiles(values)
                new_scores += [Score(s.model_id, number, s.id, name, values[s.id], ranks[s.id], now) for s in chosen]
            with self.lock:
                self.state.resolved[number] = now
                self.state.scores.extend(new_scores)
            return new_scores

    def _ranked_predictions(self, universe: pd.DataFrame, submission: Submission) -> pd.Series:
        """A submission as Numerai scores it: mapped to the universe's ids, ranked, missing ones 0.5."""
        frame = read_submission(submission.path.read_bytes(), self.tournament)
        validated = validate_submission(self.tournament, universe, frame, require_date=self.require_date)
        accepted = validated.predictions.rename(validated.prediction_column).reset_index()
        return clean_submission(
            universe,
            accepted,
            validated.id_column,
            validated.prediction_column,
            dst_id_col=self.data.id_column,
            dst_signal_col="prediction",
            rank_and_fill=True,
        )

    def scores_of(self, model_id: str) -> list[Score]:
        """A model's scores, by round."""
        with self.lock:
            return sorted((s for s in self.state.scores if s.model_id == model_id), key=lambda s: s.round)
