"""What the sandbox's Numerai knows: rounds, models, uploads, submissions and scores.

:class:`SandboxState` holds them all, guarded by one lock (:attr:`SandboxCore.lock`); the parts
of the core (rounds, accounts, catalogue, submissions, resolution) each read and write their own
fields of it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path


def iso(moment: datetime | None) -> str | None:
    """Numerai's datetime format: ISO 8601 in UTC with a ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RoundTimes:
    """What a round row says of its times, for Classic's rounds and the side tournaments' rows."""

    number: int
    open_time: datetime
    close_staking_time: datetime
    resolved: bool
    #: When the round's live files are published (real time); ``None``: at its open.
    live_at: datetime | None

    def is_open(self, now: datetime) -> bool:
        """Whether on-time submissions are accepted at ``now``."""
        return self.open_time <= now < self.close_staking_time

    def live_published(self, now: datetime) -> bool:
        """Whether the round's live files are listed and served at ``now``."""
        return self.live_at is None or self.live_at <= now

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


@dataclass
class Round(RoundTimes):
    """One tournament round; times are real, timezone-aware UTC."""

    number: int
    open_time: datetime
    close_staking_time: datetime
    resolve_time: datetime
    virtual_close: datetime | None = None
    virtual_resolve: datetime | None = None
    resolved: bool = False
    #: When the round's live files are published (real time); ``None``: at its open.
    live_at: datetime | None = None


@dataclass(frozen=True)
class Model:
    """A model of the sandbox account."""

    id: str
    name: str


@dataclass(frozen=True)
class Webhook:
    """A model's round-open webhook (``setSubmissionWebhook``)."""

    model_id: str
    url: str


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

    @classmethod
    def new(cls, model_id: str, filename: str, upload_dir: Path, *, kind: str = "", suffix: str) -> PendingUpload:
        """A fresh slot for ``filename`` of ``model_id``: a random token (the PUT URL's), an object
        key as Numerai's (``<model>/<kind/><uuid>-<filename>``), stored at ``upload_dir/<token><suffix>``."""
        token = secrets.token_urlsafe(24)
        return cls(
            token=token,
            key=f"{model_id}/{kind}{uuid.uuid4()}-{filename}",
            model_id=model_id,
            client_filename=filename,
            path=upload_dir / f"{token}{suffix}",
        )


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
    #: Made after the round's close (Numerai still scores it, but it counts for no stake).
    late: bool = False


@dataclass
class ModelUpload:
    """A Model Upload pickle accepted by ``createComputePickleUpload`` (kept, never unpickled)."""

    id: str
    model_id: str
    filename: str
    path: Path
    size: int
    data_version: str | None
    docker_image: str | None
    at: datetime


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
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    model_uploads: list[ModelUpload] = field(default_factory=list)
