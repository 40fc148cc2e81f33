"""The sandbox's Numerai: rounds, models, datasets, uploads and scores, behind one lock.

:class:`SandboxCore` holds the state and implements every operation of the GraphQL API and of the
admin API; the HTTP layer (:mod:`numeraud.sandbox.server`) only translates requests. Time is always
passed in (``now``), so the logic is tested without waiting for a real clock.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from numeraud.common.datasets import is_version, version_key
from numeraud.numerai.submission import SubmissionInvalid, read_predictions_csv, validate_predictions
from numeraud.sandbox.clock import DailySchedule, IntervalSchedule, ManualSchedule, Schedule, VirtualClock
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.faults import FaultPlan
from numeraud.sandbox.scoring import percentiles, score_predictions

CLASSIC = 8
INVALID_SESSION = "Your session is invalid or has expired."
STATIC_FILES = (
    "features.json",
    "train.parquet",
    "validation.parquet",
    "validation_example_preds.parquet",
    "meta_model.parquet",
)
PER_ROUND_FILES = ("live", "live_example_preds")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
SCORE_NAMES = ("v2_corr20", "mmc")
_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4a9b-9a3e-1d2c3b4a5f60")


class ApiError(Exception):
    """An application error, answered as HTTP 200 with a GraphQL ``errors`` list."""


class AdminError(ValueError):
    """A bad admin request; the message says what is wrong."""


#: The scope Numerai requires of a key to upload predictions.
UPLOAD_SCOPE = "upload_submission"


@dataclass(frozen=True)
class SandboxKey:
    """An API key of the sandbox account: its public id, secret key, scopes and display name."""

    public_id: str
    secret_key: str
    scopes: tuple[str, ...] = (UPLOAD_SCOPE,)
    name: str = "sandbox"

    def __repr__(self) -> str:
        return f"SandboxKey(public_id={self.public_id!r}, scopes={self.scopes!r}, name={self.name!r})"


@dataclass(frozen=True)
class SandboxOptions:
    """Everything that shapes a sandbox; the CLI flags map onto these fields."""

    data_dir: Path
    size: str = "tiny"
    seed: int = 0
    train_rows: int | None = None
    public_id: str = "sandbox-public"
    secret_key: str = "sandbox-secret"  # noqa: S105 - the sandbox's documented dummy key
    username: str = "sandbox"
    models: tuple[str, ...] = ("sandbox_model_1", "sandbox_model_2", "sandbox_model_3")
    versions: tuple[str, ...] = ("v5.2",)
    first_round: int = 1
    schedule: str = "manual"
    window: float = 3600.0
    round_every: float | None = None
    resolve_after: float | None = None
    open_at: time = time(12, 0)
    close_at: time = time(13, 0)
    saturday_close_days: int = 1
    saturday_close_at: time = time(14, 0)
    #: More keys of the same account, e.g. one without ``upload_submission`` (``--extra-key``).
    extra_keys: tuple[SandboxKey, ...] = ()
    #: Seconds added to the HTTP ``Date`` header, as if Numerai's clock (or yours) were off.
    date_skew: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in ("manual", "daily", "interval"):
            raise AdminError(f"schedule: {self.schedule!r} is not one of manual, daily, interval")
        if self.schedule == "interval" and not self.round_every:
            raise AdminError("schedule: interval needs --round-every SECONDS")
        if self.first_round < 1:
            raise AdminError("round: must be 1 or more")
        if self.window <= 0:
            raise AdminError("window: must be positive")
        if not self.models:
            raise AdminError("models: at least one model is needed")
        for version in self.versions:
            if not is_version(version, parts=2):
                raise AdminError(f"version: {version!r} does not look like v5.2")
        public_ids = [key.public_id for key in self.keys]
        if len(set(public_ids)) != len(public_ids) or not all(public_ids):
            raise AdminError("keys: every key needs its own non-empty public id")

    @property
    def keys(self) -> tuple[SandboxKey, ...]:
        """Every API key of the account: the main one (with the upload scope) first, then the extra ones."""
        return (SandboxKey(self.public_id, self.secret_key), *self.extra_keys)


@dataclass
class Round:
    """One tournament round; times are real, timezone-aware UTC."""

    number: int
    open_time: datetime
    close_staking_time: datetime
    resolve_time: datetime
    virtual_close: datetime | None = None
    virtual_resolve: datetime | None = None
    resolved: bool = False

    def is_open(self, now: datetime) -> bool:
        """Whether on-time submissions are accepted at ``now``."""
        return self.open_time <= now < self.close_staking_time

    @property
    def score_time(self) -> datetime:
        """When the first score arrives (Numerai: about four days after close)."""
        return self.close_staking_time + timedelta(days=4)

    def status(self, now: datetime) -> str:
        """Numerai's RoundStatus for this round."""
        if self.resolved:
            return "RESOLVED"
        if now < self.open_time:
            return "UPCOMING"
        return "OPEN" if self.is_open(now) else "RESOLVING"


@dataclass(frozen=True)
class Model:
    """A model of the sandbox account."""

    id: str
    name: str


@dataclass
class PendingUpload:
    """An upload slot handed out by ``submission_upload_auth``."""

    token: str
    key: str
    model_id: str
    client_filename: str
    path: Path
    received: bool = False
    size: int = 0


@dataclass
class Submission:
    """An accepted submission."""

    id: str
    model_id: str
    round: int
    filename: str
    path: Path
    inserted_at: datetime
    late: bool
    selected: bool = True


@dataclass
class Score:
    """One score of one submission of a resolved round."""

    model_id: str
    round: int
    submission_id: str
    display_name: str
    value: float
    percentile: float
    date: datetime


@dataclass
class UploadRecord:
    """What the admin API reports for every ``create_submission``."""

    model: str
    model_id: str
    round: int | None
    filename: str
    rows: int | None
    accepted: bool
    reason: str | None
    submission_id: str | None
    at: datetime


def iso(moment: datetime | None) -> str | None:
    """Numerai's datetime format: ISO 8601 in UTC with a ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Webhook:
    model_id: str
    url: str


@dataclass
class SandboxState:
    """The mutable state of the sandbox (guarded by :attr:`SandboxCore.lock`)."""

    rounds: list[Round] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    validation_updates: dict[str, int] = field(default_factory=dict)
    pending: dict[str, PendingUpload] = field(default_factory=dict)
    submissions: list[Submission] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    uploads: list[UploadRecord] = field(default_factory=list)
    webhooks: dict[str, _Webhook] = field(default_factory=dict)


class SandboxCore:
    """The sandbox's Numerai (see the module docstring)."""

    def __init__(
        self, options: SandboxOptions, *, now: datetime | None = None, clock: VirtualClock | None = None
    ) -> None:
        """Build the sandbox's Numerai at ``now`` (default: the wall clock), on ``clock`` if given."""
        self.options = options
        self.lock = threading.RLock()
        self._open_lock = threading.Lock()
        #: Held for a whole resolve: checking ``Round.resolved`` and marking it are one step.
        self._resolve_lock = threading.Lock()
        self.state = SandboxState()
        self.faults = FaultPlan(seed=options.seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._etags: dict[tuple[str, int, int], str] = {}
        self.on_round_open: list[Callable[[int, list[tuple[str, str]]], None]] = []
        self.generator = DatasetGenerator(options.data_dir, options.size, options.seed, train_rows=options.train_rows)
        self.upload_dir = options.data_dir / ".uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.models = [Model(id=self._model_id(name), name=name) for name in options.models]
        self.clock = clock or VirtualClock()
        self.schedule = self._build_schedule(options, now or datetime.now(UTC))
        start = now or datetime.now(UTC)
        self._last_real = start
        self._last_virtual = start
        for version in options.versions:
            self.generator.ensure_version(version)
            self.state.versions.append(version)
        self._open_first_round(start)

    # -- construction -------------------------------------------------------------------------

    def _model_id(self, name: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.options.public_id}/{name}"))

    @staticmethod
    def _build_schedule(options: SandboxOptions, start: datetime) -> Schedule:
        resolve_after = timedelta(seconds=options.resolve_after) if options.resolve_after else None
        if options.schedule == "interval" and options.round_every:
            every = timedelta(seconds=options.round_every)
            return IntervalSchedule(
                every=every,
                window=timedelta(seconds=options.window),
                anchor=start,
                resolve_after=resolve_after or 4 * every,
            )
        if options.schedule == "daily":
            return DailySchedule(
                open_at=options.open_at,
                close_at=options.close_at,
                saturday_close_days=options.saturday_close_days,
                saturday_close_at=options.saturday_close_at,
                resolve_after=resolve_after or timedelta(days=31),
            )
        return ManualSchedule()

    def _open_first_round(self, start: datetime) -> None:
        number = self.options.first_round
        slot = self.schedule.latest_open_at(start)
        if slot is not None:
            self._generate_live(number)
            self.state.rounds.append(
                Round(
                    number=number,
                    open_time=slot.open,
                    close_staking_time=slot.close_staking,
                    resolve_time=slot.resolve,
                    virtual_close=slot.close_staking,
                    virtual_resolve=slot.resolve,
                )
            )
            return
        self._open_manual_round(start, self.options.window, number)

    # -- rounds -------------------------------------------------------------------------------

    def _generate_live(self, number: int) -> None:
        for version in list(self.state.versions):
            self.generator.ensure_live(version, number)

    def _open_manual_round(self, now: datetime, window: float, number: int) -> Round:
        self._generate_live(number)
        new = Round(
            number=number,
            open_time=now,
            close_staking_time=now + timedelta(seconds=window),
            resolve_time=now + timedelta(days=31),
        )
        with self.lock:
            for earlier in self.state.rounds:
                if earlier.close_staking_time > now:
                    earlier.close_staking_time = now
                    earlier.virtual_close = None
            self.state.rounds.append(new)
        return new

    def current_round(self) -> Round:
        """The latest opened round (it may already be closed)."""
        with self.lock:
            return self.state.rounds[-1]

    def find_round(self, number: int) -> Round:
        """A round by number; :class:`AdminError` if it never opened."""
        with self.lock:
            for candidate in self.state.rounds:
                if candidate.number == number:
                    return candidate
        raise AdminError(f"round {number} has not opened")

    def open_round(self, now: datetime, window: float | None = None) -> Round:
        """Open the next round now (closing the current one if still open) and announce it."""
        if window is not None and window <= 0:
            raise AdminError("window: must be positive")
        with self._open_lock:
            number = self.current_round().number + 1
            opened = self._open_manual_round(now, window or self.options.window, number)
        self._announce(opened.number)
        return opened

    def close_round(self, now: datetime) -> Round:
        """Close the current round for on-time submissions now."""
        with self.lock:
            current = self.state.rounds[-1]
            if current.close_staking_time <= now:
                raise AdminError(f"round {current.number} is already closed")
            current.close_staking_time = now
            current.virtual_close = None
            return current

    def advance(self, seconds: float, now: datetime) -> list[Round]:
        """Fast-forward the schedule by ``seconds``; returns every round that opened meanwhile.

        The clock thread may see the new time and open a round before this call's own sync gets
        to it; that round is reported too. Rounds are only ever appended, and this call's sync
        waits for any sync already opening rounds, so the rounds added since the move are all of
        them.
        """
        with self.lock:
            before = len(self.state.rounds)
            self.clock.advance(seconds)
        self.sync(now)
        with self.lock:
            return self.state.rounds[before:]

    def sync(self, now: datetime) -> list[Round]:
        """Apply the schedule up to ``now``: open due rounds, close and resolve due ones."""
        opened: list[Round] = []
        with self._open_lock:
            # A caller's ``now`` may predate a sync that ran first (an advance() read the time,
            # then waited for the tick); going back would open that sync's rounds again.
            now = max(now, self._last_real)
            virtual_now = self.clock.virtual(now)
            slots = self.schedule.slots_between(self._last_virtual, virtual_now)
            floor = self._last_real
            for slot in slots:
                number = self.current_round().number + 1
                self._generate_live(number)
                new = Round(
                    number=number,
                    open_time=self.clock.to_real(slot.open, floor),
                    close_staking_time=self.clock.to_real(slot.close_staking, floor),
                    resolve_time=self.clock.to_real(slot.resolve, floor),
                    virtual_close=slot.close_staking,
                    virtual_resolve=slot.resolve,
                )
                with self.lock:
                    self.state.rounds.append(new)
                opened.append(new)
            with self.lock:
                for known in self.state.rounds:
                    if known.virtual_close is not None:
                        known.close_staking_time = self.clock.to_real(known.virtual_close, floor)
                        if known.virtual_close <= virtual_now:
                            known.virtual_close = None
                    if known.virtual_resolve is not None:
                        known.resolve_time = self.clock.to_real(known.virtual_resolve, floor)
                due = [
                    r.number
                    for r in self.state.rounds
                    if r.virtual_resolve is not None and r.virtual_resolve <= virtual_now and not r.resolved
                ]
                self._last_virtual = virtual_now
                self._last_real = now
        for number in due:
            self.resolve(number, now)
        for new in opened:
            self._announce(new.number)
        return opened

    def _announce(self, number: int) -> None:
        with self.lock:
            hooks = [(hook.model_id, hook.url) for hook in self.state.webhooks.values()]
        for callback in self.on_round_open:
            callback(number, hooks)

    # -- accounts -----------------------------------------------------------------------------

    def authenticate(self, header: str | None) -> SandboxKey | None:
        """Check an ``Authorization: Token PUBLIC$SECRET`` header; raise on a bad one.

        Returns the key it names, or None when there is no header at all (a public call).
        """
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        public, _, secret = token.partition("$")
        found = None
        given_public, given_secret = public.encode(errors="replace"), secret.encode(errors="replace")
        for key in self.options.keys:
            # Compare with every key, so the time taken does not tell which public id exists; as
            # bytes, which compare_digest takes whatever the header holds (str: ASCII only).
            matches = secrets.compare_digest(given_public, key.public_id.encode()) & secrets.compare_digest(
                given_secret, key.secret_key.encode()
            )
            if matches and found is None:
                found = key
        if scheme != "Token" or found is None:
            raise ApiError(INVALID_SESSION)
        return found

    def model(self, model_id: str | None) -> Model:
        """The account's model with this id; :class:`ApiError` otherwise."""
        for candidate in self.models:
            if candidate.id == model_id:
                return candidate
        raise ApiError(f"Model not found: {model_id}")

    def set_webhook(self, model_id: str, url: str | None) -> None:
        """Register (or with ``None`` remove) a model's round-open webhook."""
        self.model(model_id)
        with self.lock:
            if url:
                self.state.webhooks[model_id] = _Webhook(model_id=model_id, url=url)
            else:
                self.state.webhooks.pop(model_id, None)

    # -- datasets -----------------------------------------------------------------------------

    def list_datasets(self) -> list[str]:
        """Every public dataset file name, newest version first."""
        with self.lock:
            versions = sorted(self.state.versions, key=version_key, reverse=True)
        names = []
        for version in versions:
            names += [f"{version}/{name}" for name in STATIC_FILES]
            names += [f"{version}/{stem}.parquet" for stem in PER_ROUND_FILES]
        return names

    def resolve_dataset(self, filename: str, round_number: int | None) -> str:
        """Map a requested dataset name to the file served (``live.parquet`` → that round's file)."""
        version, _, name = filename.partition("/")
        with self.lock:
            known = version in self.state.versions
            opened = {r.number for r in self.state.rounds}
        if not known or not name:
            raise ApiError(f"Dataset not found: {filename}")
        if name in STATIC_FILES:
            return filename
        number = round_number if round_number is not None else self.current_round().number
        for stem in PER_ROUND_FILES:
            match = re.fullmatch(rf"{stem}(?:_(\d+))?\.parquet", name)
            if match:
                wanted = int(match.group(1)) if match.group(1) else number
                if wanted not in opened:
                    raise ApiError(f"Dataset not found: {filename} (round {wanted} has not opened)")
                return f"{version}/{stem}_{wanted}.parquet"
        raise ApiError(f"Dataset not found: {filename}")

    def public_file(self, relative: str) -> Path | None:
        """The on-disk path of a public file, or None if it is not one (no traversal, no hidden)."""
        version, _, name = relative.partition("/")
        if not is_version(version, parts=2) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            return None
        with self.lock:
            if version not in self.state.versions:
                return None
        path = self.options.data_dir / version / name
        return path if path.is_file() else None

    def etag(self, path: Path) -> str:
        """The file's ETag as S3 gives it for a single-part object: its MD5, quoted (cached)."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self.lock:
            cached = self._etags.get(key)
        if cached is None:
            digest = hashlib.md5(usedforsecurity=False)
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
            cached = f'"{digest.hexdigest()}"'
            with self.lock:
                self._etags[key] = cached
        return cached

    def release_dataset(self, version: str, now: datetime) -> list[str]:
        """Publish a new dataset version (generated now, with live data for the current round)."""
        if not is_version(version, parts=2):
            raise AdminError(f"version: {version!r} does not look like v5.3")
        with self._open_lock:
            with self.lock:
                if version in self.state.versions:
                    raise AdminError(f"version {version} is already released")
            files = self.generator.ensure_version(version)
            for known in self.state.rounds:
                files += self.generator.ensure_live(version, known.number)
            with self.lock:
                self.state.versions.append(version)
        return files

    def update_validation(self, version: str | None, eras: int) -> list[str]:
        """Numerai's weekly validation update: ``eras`` more eras in ``version`` (default newest)."""
        if eras < 1:
            raise AdminError("eras: must be a positive integer")
        with self._open_lock:
            with self.lock:
                chosen = version or max(self.state.versions, key=version_key)
                if chosen not in self.state.versions:
                    raise AdminError(f"version {chosen} is not released")
                total = self.state.validation_updates.get(chosen, 0) + eras
            files = self.generator.update_validation(chosen, total)
            with self.lock:
                self.state.validation_updates[chosen] = total
        return files

    # -- uploads ------------------------------------------------------------------------------

    def upload_auth(self, filename: str, tournament: int, model_id: str | None) -> PendingUpload:
        """Hand out an upload slot (``submission_upload_auth``)."""
        if tournament != CLASSIC:
            raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")
        model = self.model(model_id)
        base = Path(filename).name or "predictions.csv"
        token = secrets.token_urlsafe(24)
        key = f"{model.id}/{uuid.uuid4()}-{base}"
        pending = PendingUpload(
            token=token,
            key=key,
            model_id=model.id,
            client_filename=base,
            path=self.upload_dir / f"{token}.csv",
        )
        with self.lock:
            self.state.pending[token] = pending
        return pending

    def pending_upload(self, token: str) -> PendingUpload | None:
        """The upload slot behind a PUT URL's token."""
        with self.lock:
            return self.state.pending.get(token)

    def create_submission(self, filename: str, tournament: int, model_id: str | None, now: datetime) -> str:
        """Validate an uploaded file with Numerai's rules and record it (``create_submission``)."""
        if tournament != CLASSIC:
            raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")
        model = self.model(model_id)
        with self.lock:
            pending = next((p for p in self.state.pending.values() if p.key == filename), None)
        if pending is None or pending.model_id != model.id:
            raise ApiError(f"Upload not found: {filename}")
        current = self.current_round()
        record = UploadRecord(
            model=model.name,
            model_id=model.id,
            round=current.number,
            filename=pending.client_filename,
            rows=None,
            accepted=False,
            reason=None,
            submission_id=None,
            at=now,
        )
        try:
            if not pending.received:
                raise SubmissionInvalid("invalid_submission_file: no file was uploaded to the upload URL")
            frame = read_predictions_csv(pending.path.read_bytes())
            record.rows = len(frame)
            validate_predictions(self.live_ids(current.number), frame)
        except SubmissionInvalid as exc:
            record.reason = str(exc)
            with self.lock:
                self.state.uploads.append(record)
            raise ApiError(str(exc)) from exc
        submission = Submission(
            id=str(uuid.uuid4()),
            model_id=model.id,
            round=current.number,
            filename=pending.key,
            path=pending.path,
            inserted_at=now,
            late=not current.is_open(now),
        )
        with self.lock:
            for earlier in self.state.submissions:
                if earlier.model_id == model.id and earlier.round == current.number:
                    earlier.selected = False
            self.state.submissions.append(submission)
            self.state.pending.pop(pending.token, None)
            record.accepted = True
            record.submission_id = submission.id
            self.state.uploads.append(record)
        return submission.id

    def live_ids(self, round_number: int) -> pd.Index:
        """The live universe of a round (the ids of its live file)."""
        with self.lock:
            version = self.state.versions[0]
        path = self.options.data_dir / version / f"live_{round_number}.parquet"
        return pd.read_parquet(path, columns=[]).index

    def submissions_of(self, model_id: str) -> list[Submission]:
        """A model's submissions, oldest first."""
        with self.lock:
            return [s for s in self.state.submissions if s.model_id == model_id]

    # -- resolution ---------------------------------------------------------------------------

    def resolve(self, number: int, now: datetime) -> list[Score]:
        """Score every model's selected submission for round ``number`` against hidden targets.

        Resolves are serialised: the tick thread and an admin call resolving the same round at
        once score it once, and both get its scores. Other API calls are not held up meanwhile.
        """
        with self._resolve_lock:
            return self._resolve(number, now)

    def _resolve(self, number: int, now: datetime) -> list[Score]:
        target_round = self.find_round(number)
        if target_round.is_open(now):
            raise AdminError(f"round {number} is still open")
        with self.lock:
            if target_round.resolved:
                return [s for s in self.state.scores if s.round == number]
            chosen = [s for s in self.state.submissions if s.round == number and s.selected]
            version = self.state.versions[0]
        truth = self.generator.live_truth(version, number)
        results: dict[str, dict[str, float]] = {name: {} for name in SCORE_NAMES}
        for submission in chosen:
            predictions = validate_predictions(
                truth.index, read_predictions_csv(submission.path.read_bytes())
            ).predictions
            score = score_predictions(predictions, truth)
            results["v2_corr20"][submission.id] = score.corr
            results["mmc"][submission.id] = score.mmc
        new_scores = []
        for name, values in results.items():
            ranks = percentiles(values)
            for submission in chosen:
                new_scores.append(
                    Score(
                        model_id=submission.model_id,
                        round=number,
                        submission_id=submission.id,
                        display_name=name,
                        value=values[submission.id],
                        percentile=ranks[submission.id],
                        date=now,
                    )
                )
        with self.lock:
            target_round.resolved = True
            target_round.virtual_resolve = None
            target_round.resolve_time = min(target_round.resolve_time, now)
            self.state.scores.extend(new_scores)
        return new_scores

    def scores_of(self, model_id: str) -> list[Score]:
        """A model's scores, by round."""
        with self.lock:
            return sorted((s for s in self.state.scores if s.model_id == model_id), key=lambda s: s.round)

    # -- admin views ---------------------------------------------------------------------------

    def uploads_json(self) -> list[dict[str, Any]]:
        """Every ``create_submission`` seen: model, round, file, rows, accepted or why not."""
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
                }
                for u in self.state.uploads
            ]

    def status_json(self, now: datetime) -> dict[str, Any]:
        """A summary of the sandbox for ``GET /admin/status``."""
        with self.lock:
            current = self.state.rounds[-1]
            return {
                "round": current.number,
                "open": current.is_open(now),
                "open_time": iso(current.open_time),
                "close_staking_time": iso(current.close_staking_time),
                "versions": list(self.state.versions),
                "models": {m.name: m.id for m in self.models},
                "schedule": self.options.schedule,
                "clock_offset_seconds": self.clock.offset.total_seconds(),
                "rounds": [
                    {"number": r.number, "status": r.status(now), "open_time": iso(r.open_time)}
                    for r in self.state.rounds
                ],
            }
