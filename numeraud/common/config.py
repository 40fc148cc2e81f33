"""The TOML configuration, validated into frozen dataclasses.

Every error is a :class:`ConfigError` naming the dotted key and the file, e.g.
``handlers.model-a.max_attempts: must be a positive integer (in /etc/numeraud/numeraud.toml)``.
Unknown keys are errors. Secrets never go in this file: they come from the environment, a file or
systemd credentials.

A section is one parser in :data:`SECTIONS`; adding ``[data]`` or ``[poll]`` means writing a
dataclass, a ``_parse_x(table, key)`` function and one entry there.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from numeraud.common.datasets import is_version
from numeraud.common.exitcodes import EX_CONFIG
from numeraud.common.protocol import NAME_RE
from numeraud.common.secrets import SECRET_KEYS

DEFAULT_PATH: Final = Path("/etc/numeraud/numeraud.toml")


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


class _Table:
    """Typed, key-tracking access to one TOML table; every problem names the dotted key."""

    def __init__(self, data: Mapping[str, Any], prefix: str, path: Path | None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(prefix, "must be a table", path)
        self.data = data
        self.prefix = prefix
        self.file = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.key(name), problem, self.file)

    def raw(self, name: str, default: Any) -> Any:
        self.seen.add(name)
        return self.data.get(name, default)

    def string(self, name: str, default: str) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a non-empty string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def positive_int(self, name: str, default: int) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(name, "must be a positive integer")
        return value

    def seconds(self, name: str, default: float) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(name, "must be a positive number of seconds")
        return float(value)

    def optional_seconds(self, name: str, default: float | None) -> float | None:
        """Like :meth:`seconds`, but 0 means "no limit" (``None``)."""
        value = self.raw(name, default)
        if value is None or (value == 0 and not isinstance(value, bool)):
            return None
        return self.seconds(name, value)

    def path(self, name: str, default: Path) -> Path:
        found = self.optional_path(name)
        return default if found is None else found

    def optional_path(self, name: str) -> Path | None:
        value = self.raw(name, None)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a path")
        path = Path(value).expanduser()
        if not path.is_absolute() and self.file is not None:
            path = self.file.parent / path
        return path

    def table(self, name: str) -> _Table:
        return _Table(self.raw(name, {}), self.key(name), self.file)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _parse_numerai(t: _Table) -> NumeraiConfig:
    api_url = t.string("api_url", NumeraiConfig.api_url)
    if not api_url.startswith(("http://", "https://")):
        raise t.error("api_url", "must be an http:// or https:// URL")
    out = NumeraiConfig(api_url=api_url, tournament=t.positive_int("tournament", NumeraiConfig.tournament))
    t.finish()
    return out


def _parse_paths(t: _Table) -> PathsConfig:
    state_dir = t.path("state_dir", PathsConfig.state_dir)
    runtime_dir = t.path("runtime_dir", PathsConfig.runtime_dir)
    data_dir = t.path("data_dir", state_dir / "data")
    t.finish()
    return PathsConfig(state_dir=state_dir, runtime_dir=runtime_dir, data_dir=data_dir)


def _endpoint(t: _Table, name: str, default: str, *, tcp: bool) -> str:
    value = t.string(name, default)
    schemes = ("ipc://", "tcp://") if tcp else ("ipc://",)
    if not value.startswith(schemes):
        raise t.error(name, f"must start with {' or '.join(schemes)}")
    return value


def _parse_bus(t: _Table, paths: PathsConfig) -> BusConfig:
    c = t.table("curve")
    curve = CurveConfig(
        server_key=c.optional_path("server_key"),
        server_public_key=c.optional_path("server_public_key"),
        client_key=c.optional_path("client_key"),
        authorized_keys_dir=c.optional_path("authorized_keys_dir"),
    )
    c.finish()
    interval = t.seconds("heartbeat_interval", 1.0)
    bus = BusConfig(
        endpoint=_endpoint(t, "endpoint", f"ipc://{paths.runtime_dir}/bus.sock", tcp=True),
        control_endpoint=_endpoint(t, "control_endpoint", f"ipc://{paths.runtime_dir}/control.sock", tcp=False),
        heartbeat_interval=interval,
        heartbeat_liveness=t.positive_int("heartbeat_liveness", 5),
        serial=t.boolean("serial", False),
        curve=curve,
    )
    t.finish()
    return bus


def _file_names(t: _Table, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = t.raw(name, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "/" not in v for v in value):
        raise t.error(name, 'must be a list of file names such as "train.parquet"')
    return tuple(value)


def _parse_data(t: _Table, _paths: PathsConfig) -> DataConfig:
    version = t.string("version", DataConfig.version)
    if version != "latest" and not is_version(version):
        raise t.error("version", 'must be "latest" or a version such as "v5.2"')
    training = _file_names(t, "training_files", DataConfig.training_files)
    live = _file_names(t, "live_files", DataConfig.live_files)
    if not live:
        raise t.error("live_files", "needs at least live.parquet")
    reserve = t.raw("reserve_bytes", DataConfig.reserve_bytes)
    if isinstance(reserve, bool) or not isinstance(reserve, int) or reserve < 0:
        raise t.error("reserve_bytes", "must be a number of bytes (0 or more)")
    out = DataConfig(
        version=version,
        training_files=training,
        live_files=live,
        retention=t.positive_int("retention", DataConfig.retention),
        validation_updates=t.boolean("validation_updates", DataConfig.validation_updates),
        reserve_bytes=reserve,
    )
    t.finish()
    return out


def _parse_poll(t: _Table, _paths: PathsConfig) -> PollConfig:
    webhook = t.raw("webhook", None)
    if webhook is not None:
        host, _, port = str(webhook).rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise t.error("webhook", 'must be "HOST:PORT", e.g. "127.0.0.1:8765" (port 0: any free port)')
    out = PollConfig(
        enabled=t.boolean("enabled", PollConfig.enabled),
        idle_interval=t.seconds("idle_interval", PollConfig.idle_interval),
        fast_interval=t.seconds("fast_interval", PollConfig.fast_interval),
        fast_before=t.seconds("fast_before", PollConfig.fast_before),
        fast_after=t.seconds("fast_after", PollConfig.fast_after),
        guard_margin=t.seconds("guard_margin", PollConfig.guard_margin),
        webhook=str(webhook) if webhook is not None else None,
    )
    problem = poll_intervals_problem(out.fast_interval, out.idle_interval)
    if problem is not None:
        raise t.error("fast_interval", problem)
    if out.guard_margin >= SHORTEST_WINDOW:
        raise t.error("guard_margin", f"must be shorter than Numerai's shortest window ({SHORTEST_WINDOW:g} s)")
    t.finish()
    return out


def _parse_handler(t: _Table, name: str, paths: PathsConfig) -> HandlerConfig:
    if not NAME_RE.match(name):
        raise ConfigError(t.prefix, "handler names are letters, digits, '.', '_' or '-' (at most 64)", t.file)
    class_path = t.string("class", "")
    module, _, attr = class_path.partition(":")
    if not module or not attr:
        raise t.error("class", 'must be "package.module:ClassName"')
    options = t.raw("options", {})
    if not isinstance(options, Mapping):
        raise t.error("options", "must be a table")
    for key in options:
        if str(key).lower() in SECRET_KEYS:
            raise t.error(
                f"options.{key}",
                "secrets never go in the TOML: use the environment, a file or systemd credentials",
            )
    after = t.raw("after", [])
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise t.error("after", "must be a list of handler names")
    timeout = t.optional_seconds("timeout", HandlerConfig.timeout)
    backoff = t.seconds("retry_backoff", HandlerConfig.retry_backoff)
    backoff_max = t.seconds("retry_backoff_max", HandlerConfig.retry_backoff_max)
    state_dir = t.path("state_dir", paths.state_dir / "handlers" / name)
    out = HandlerConfig(
        name=name,
        class_path=class_path,
        options=MappingProxyType(dict(options)),
        after=tuple(after),
        timeout=timeout,
        max_attempts=t.positive_int("max_attempts", HandlerConfig.max_attempts),
        retry_backoff=backoff,
        retry_backoff_max=backoff_max,
        recycle=t.boolean("recycle", False),
        state_dir=state_dir,
    )
    t.finish()
    return out


def _check_order(handlers: Mapping[str, HandlerConfig], path: Path | None) -> None:
    for h in handlers.values():
        for dep in h.after:
            if dep == h.name:
                raise ConfigError(f"handlers.{h.name}.after", "a handler cannot wait for itself", path)
            if dep not in handlers:
                raise ConfigError(f"handlers.{h.name}.after", f"unknown handler {dep!r}", path)
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            raise ConfigError(f"handlers.{name}.after", f"cycle: {cycle}", path)
        state[name] = 1
        for dep in handlers[name].after:
            visit(dep, [*trail, name])
        state[name] = 2

    for name in handlers:
        visit(name, [])


#: Top-level sections other than ``[handlers]``; each parser takes its table and the paths.
SECTIONS: Final[dict[str, Callable[[_Table, PathsConfig], Any]]] = {
    "numerai": lambda t, _paths: _parse_numerai(t),
    "bus": _parse_bus,
    "data": _parse_data,
    "poll": _parse_poll,
}


def parse(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate a decoded TOML document."""
    root = _Table(data, "", path)
    paths = _parse_paths(root.table("paths"))
    parsed = {name: parser(root.table(name), paths) for name, parser in SECTIONS.items()}
    handlers_table = root.table("handlers")
    handlers: dict[str, HandlerConfig] = {}
    for name in handlers_table.data:
        handlers[name] = _parse_handler(handlers_table.table(name), name, paths)
    root.finish()
    _check_order(handlers, path)
    return Config(
        path=path,
        numerai=parsed["numerai"],
        paths=paths,
        bus=parsed["bus"],
        handlers=MappingProxyType(handlers),
        data=parsed["data"],
        poll=parsed["poll"],
    )


def load(path: Path | str | None = None) -> Config:
    """Read and validate the configuration file (default :data:`DEFAULT_PATH`, or ``$NUMERAUD_CONFIG``)."""
    if path is None:
        path = os.environ.get("NUMERAUD_CONFIG") or DEFAULT_PATH
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("", "configuration file not found", path) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read: {exc.strerror}", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", path) from None
    return parse(data, path.resolve())


__all__ = [
    "EX_CONFIG",
    "BusConfig",
    "Config",
    "ConfigError",
    "CurveConfig",
    "DataConfig",
    "HandlerConfig",
    "NumeraiConfig",
    "PathsConfig",
    "PollConfig",
    "load",
    "parse",
    "poll_intervals_problem",
]
