"""The configuration as frozen dataclasses, one per TOML section, and :class:`ConfigError`.

:mod:`numeraud.common.config_file` reads the file into a :class:`Config`; every problem is a
:class:`ConfigError` naming the dotted key and the file, e.g.
``handlers.model-a.max_attempts: must be a positive integer (in /etc/numeraud/numeraud.toml)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final


class ConfigError(Exception):
    """The configuration is invalid; ``key`` is the dotted key at fault, ``path`` the file."""

    def __init__(self, key: str, problem: str, path: Path | None = None) -> None:
        where = f" (in {path})" if path is not None else ""
        super().__init__(f"{key}: {problem}{where}" if key else f"{problem}{where}")
        self.key = key
        self.problem = problem
        self.path = path


@dataclass(frozen=True)
class NumeraiConfig:
    """``[numerai]``: which API and tournament."""

    api_url: str = "https://api-tournament.numer.ai"
    tournament: int = 8


@dataclass(frozen=True)
class PathsConfig:
    """``[paths]``: where state, sockets and data live."""

    state_dir: Path = Path("/var/lib/numeraud")
    runtime_dir: Path = Path("/run/numeraud")
    data_dir: Path = Path("/var/lib/numeraud/data")

    @property
    def database(self) -> Path:
        """The supervisor's SQLite database."""
        return self.state_dir / "numeraud.db"


@dataclass(frozen=True)
class CurveConfig:
    """``[bus.curve]``: ZeroMQ CURVE key files, required for ``tcp://`` endpoints.

    The supervisor needs ``server_key`` (its secret certificate) and ``authorized_keys_dir``
    (the public certificates of the handlers it admits); a remote handler needs
    ``server_public_key`` and ``client_key`` (its own secret certificate). Certificates are
    the files ``zmq.auth.create_certificates`` writes.
    """

    server_key: Path | None = None
    server_public_key: Path | None = None
    client_key: Path | None = None
    authorized_keys_dir: Path | None = None


@dataclass(frozen=True)
class BusConfig:
    """``[bus]``: endpoints, heartbeats and the cross-handler ordering rule."""

    endpoint: str
    control_endpoint: str
    heartbeat_interval: float = 1.0
    heartbeat_liveness: int = 5
    serial: bool = False
    curve: CurveConfig = field(default_factory=CurveConfig)

    @property
    def heartbeat_ms(self) -> int:
        """The heartbeat interval in milliseconds."""
        return max(1, round(self.heartbeat_interval * 1000))


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: which dataset version and files to keep in sync, and for how long."""

    version: str = "latest"
    training_files: tuple[str, ...] = ("features.json", "train.parquet", "validation.parquet")
    live_files: tuple[str, ...] = ("live.parquet",)
    retention: int = 10
    validation_updates: bool = False
    reserve_bytes: int = 1024**3


@dataclass(frozen=True)
class PollConfig:
    """``[poll]``: following the tournament (see :class:`numeraud.supervisor.tournament.PollPolicy`)."""

    enabled: bool = True
    idle_interval: float = 60.0
    fast_interval: float = 2.0
    fast_before: float = 600.0
    fast_after: float = 7200.0
    #: ``round_deadline_near`` is published this long before each round's deadline (at most a sixth
    #: of the round's window, so a short window keeps most of its time for the real predictions).
    guard_margin: float = 600.0
    #: ``HOST:PORT`` to listen on for "poll now" POSTs; port 0 takes any free port, which
    #: ``numeraudctl status`` shows (``webhook.address``) and the ``webhook listening`` log line names.
    webhook: str | None = None


#: Numerai guarantees every round's submission window at least an hour.
SHORTEST_WINDOW: Final = 3600.0


def poll_intervals_problem(fast_interval: float, idle_interval: float) -> str | None:
    """The one rule for the two poll intervals, ``0 < fast_interval <= idle_interval``.

    Returns what is wrong with ``fast_interval`` (e.g. ``"must not be longer than idle_interval"``)
    or ``None``; ``[poll]`` parsing and :class:`numeraud.supervisor.tournament.PollPolicy` both
    check with it.
    """
    if not fast_interval > 0:
        return "must be positive"
    if fast_interval > idle_interval:
        return "must not be longer than idle_interval"
    return None


@dataclass(frozen=True)
class HandlerConfig:
    """``[handlers.NAME]``: one handler process."""

    name: str
    class_path: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    after: tuple[str, ...] = ()
    timeout: float | None = 6 * 3600.0
    max_attempts: int = 5
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0
    recycle: bool = False
    state_dir: Path = Path()


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path | None
    numerai: NumeraiConfig
    paths: PathsConfig
    bus: BusConfig
    handlers: Mapping[str, HandlerConfig]
    data: DataConfig = field(default_factory=DataConfig)
    poll: PollConfig = field(default_factory=PollConfig)

    def handler(self, name: str) -> HandlerConfig:
        """The ``[handlers.NAME]`` table, or a ConfigError naming it."""
        try:
            return self.handlers[name]
        except KeyError:
            raise ConfigError(f"handlers.{name}", "no such handler table", self.path) from None

    def require_server_curve(self) -> None:
        """For a ``tcp://`` bus the supervisor needs its secret key and the admitted client keys."""
        if self.bus.endpoint.startswith("tcp://"):
            curve = self.bus.curve
            if curve.server_key is None or curve.authorized_keys_dir is None:
                raise ConfigError(
                    "bus.endpoint",
                    "tcp:// is refused without CURVE: set bus.curve.server_key and bus.curve.authorized_keys_dir",
                    self.path,
                )

    def require_client_curve(self) -> None:
        """For a ``tcp://`` bus a handler needs the server's public key and its own secret key."""
        if self.bus.endpoint.startswith("tcp://"):
            curve = self.bus.curve
            if curve.server_public_key is None or curve.client_key is None:
                raise ConfigError(
                    "bus.endpoint",
                    "tcp:// needs CURVE: set bus.curve.server_public_key and bus.curve.client_key",
                    self.path,
                )


__all__ = [
    "BusConfig",
    "Config",
    "ConfigError",
    "CurveConfig",
    "DataConfig",
    "HandlerConfig",
    "NumeraiConfig",
    "PathsConfig",
    "PollConfig",
    "poll_intervals_problem",
]
