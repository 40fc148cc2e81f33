"""What shapes a sandbox: :class:`SandboxOptions` (the CLI flags) and the account's API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path

from numeraud.common.datasets import is_version
from numeraud.sandbox.errors import AdminError

#: The scope Numerai requires of a key to upload predictions.
UPLOAD_SCOPE = "upload_submission"
#: The dataset versions Numerai lists today, oldest first: what a sandbox publishes by default.
NUMERAI_VERSIONS = ("v5.0", "v5.1", "v5.2", "v5.3")


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
    #: Published at start; each version's files are generated on first request.
    versions: tuple[str, ...] = NUMERAI_VERSIONS
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
    #: Seconds after a round's open before its live files are published (``--live-delay``).
    live_delay: float = 0.0
    #: The account's Signals (tournament 11) and Crypto (12) models (``--signals-models``, ``--crypto-models``).
    signals_models: tuple[str, ...] = ()
    crypto_models: tuple[str, ...] = ()
    #: Refuse a Signals file without a date column (numerai-tools' ``assert_date_col``).
    signals_require_date: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in ("manual", "daily", "interval"):
            raise AdminError(f"schedule: {self.schedule!r} is not one of manual, daily, interval")
        if self.schedule == "interval" and not self.round_every:
            raise AdminError("schedule: interval needs --round-every SECONDS")
        if self.first_round < 1:
            raise AdminError("round: must be 1 or more")
        if self.window <= 0:
            raise AdminError("window: must be positive")
        if self.live_delay < 0:
            raise AdminError("live_delay: must be 0 or more seconds")
        if not self.models:
            raise AdminError("models: at least one model is needed")
        names = [*set(self.models), *set(self.signals_models), *set(self.crypto_models)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise AdminError(f"models: a model name is the account's in one tournament only: {', '.join(repeated)}")
        if not self.versions:
            raise AdminError("versions: at least one dataset version is needed")
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
