"""What every doctor check shares: the result of one check, and what earlier checks learnt.

A check is a function of :class:`Doctor` that returns its :class:`CheckResult` lines. Checks run
in order; one that needs what an earlier one found (the configuration, a reachable Numerai, the
account) reads it from the :class:`Doctor` and is skipped, with the reason, when it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from numeraud.common.config import Config

if TYPE_CHECKING:
    from numeraud.numerai.client import NumeraiClient

#: The bundled uploader: the one handler that needs the secret key and the upload scope.
UPLOADER_CLASS: Final = "numeraud_handlers.uploader:UploaderHandler"
#: (connect, read) seconds for one call to Numerai: a doctor says "unreachable" quickly.
TIMEOUT: Final = (5.0, 20.0)


class Status(StrEnum):
    """How a check came out."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: what was checked, how it came out, and how to fix a failure."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """The result as a JSON object: name, status, detail, fix (null unless it failed)."""
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix}


def passed(name: str, detail: str) -> CheckResult:
    """A check that passed."""
    return CheckResult(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> CheckResult:
    """A check that failed; ``fix`` says what to do about it."""
    return CheckResult(name, Status.FAIL, detail, fix)


def skipped(name: str, reason: str) -> CheckResult:
    """A check that does not apply here, or cannot run; ``reason`` says why."""
    return CheckResult(name, Status.SKIP, reason)


@dataclass(frozen=True)
class NumeraiProbe:
    """Numerai answered: the client used and what its HTTP ``Date`` header said, when."""

    api_url: str
    client: NumeraiClient
    round_number: int | None
    date_header: str | None
    #: time.time() when the answer's headers arrived, and how long the request took (seconds).
    received_at: float
    elapsed: float


@dataclass(frozen=True)
class DatasetPlan:
    """The dataset files the configuration keeps in sync, and their sizes at Numerai."""

    version: str
    training: Mapping[str, int | None]
    live: Mapping[str, int | None]


@dataclass
class Doctor:
    """The run's context: the configuration (once loaded) and what the checks learnt so far."""

    config_path: Path | None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config: Config | None = None
    #: Why checks that need the configuration are skipped (until it loads).
    no_config: str = "the configuration did not load (see the config line)"
    numerai: NumeraiProbe | None = None
    #: Why checks that need Numerai are skipped (until it answers).
    no_numerai: str = "Numerai was not asked (see the numerai line)"
    datasets: DatasetPlan | None = None
    #: Per uploader handler: the Numerai account document, once the keys were accepted.
    accounts: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Per uploader handler: the client holding its keys.
    clients: dict[str, NumeraiClient] = field(default_factory=dict)
    #: Secret values met on the way; the report never shows them.
    secrets: set[str] = field(default_factory=set)

    def config_file(self) -> str:
        """The configuration file's name, for fixes that say where to edit."""
        if self.config is not None and self.config.path is not None:
            return str(self.config.path)
        return str(self.config_path) if self.config_path is not None else "the configuration file"


#: A check: returns its lines (one, or one per item such as an uploader handler).
Check = Callable[[Doctor], list[CheckResult]]


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (where it would be created)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):  # any error (no permission) counts as "not there"
            return candidate
    return Path("/")


def human_bytes(count: int) -> str:
    """A byte count for people: ``7.67 GB``, ``9.5 MB``, ``812 B`` (decimal units, as Numerai's docs)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{count} B"  # pragma: no cover - the loop always returns
