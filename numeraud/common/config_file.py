"""The configuration file: read, parsed section by section, validated into a :class:`Config`.

Every error is a :class:`ConfigError` naming the dotted key and the file, e.g.
``handlers.model-a.max_attempts: must be a positive integer (in /etc/numeraud/numeraud.toml)``.
Unknown keys are errors. Secrets never go in this file: they come from the environment, a file or
systemd credentials.

A section is one parser in :data:`SECTIONS`; adding one means writing its dataclass (in
:mod:`numeraud.common.config`), a ``_parse_x(table, paths)`` function and one entry there.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from numeraud.common.config import (
    SHORTEST_WINDOW,
    BusConfig,
    Config,
    ConfigError,
    CurveConfig,
    DataConfig,
    HandlerConfig,
    NumeraiConfig,
    PathsConfig,
    PollConfig,
    poll_intervals_problem,
)
from numeraud.common.config_table import Table
from numeraud.common.datasets import is_version
from numeraud.common.protocol import NAME_RE
from numeraud.common.secrets import SECRET_KEYS

DEFAULT_PATH: Final = Path("/etc/numeraud/numeraud.toml")


def _parse_numerai(t: Table) -> NumeraiConfig:
    api_url = t.string("api_url", NumeraiConfig.api_url)
    if not api_url.startswith(("http://", "https://")):
        raise t.error("api_url", "must be an http:// or https:// URL")
    out = NumeraiConfig(api_url=api_url, tournament=t.positive_int("tournament", NumeraiConfig.tournament))
    t.finish()
    return out


def _parse_paths(t: Table) -> PathsConfig:
    state_dir = t.path("state_dir", PathsConfig.state_dir)
    runtime_dir = t.path("runtime_dir", PathsConfig.runtime_dir)
    data_dir = t.path("data_dir", state_dir / "data")
    t.finish()
    return PathsConfig(state_dir=state_dir, runtime_dir=runtime_dir, data_dir=data_dir)


def _endpoint(t: Table, name: str, default: str, *, tcp: bool) -> str:
    value = t.string(name, default)
    schemes = ("ipc://", "tcp://") if tcp else ("ipc://",)
    if not value.startswith(schemes):
        raise t.error(name, f"must start with {' or '.join(schemes)}")
    return value


def _parse_bus(t: Table, paths: PathsConfig) -> BusConfig:
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


def _file_names(t: Table, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = t.raw(name, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "/" not in v for v in value):
        raise t.error(name, 'must be a list of file names such as "train.parquet"')
    return tuple(value)


def _parse_data(t: Table, _paths: PathsConfig) -> DataConfig:
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


def _parse_poll(t: Table, _paths: PathsConfig) -> PollConfig:
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


def _parse_handler(t: Table, name: str, paths: PathsConfig) -> HandlerConfig:
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
SECTIONS: Final[dict[str, Callable[[Table, PathsConfig], Any]]] = {
    "numerai": lambda t, _paths: _parse_numerai(t),
    "bus": _parse_bus,
    "data": _parse_data,
    "poll": _parse_poll,
}


def parse(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate a decoded TOML document."""
    root = Table(data, "", path)
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
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes itself, and lets this through
        raise ConfigError("", f"not valid TOML: not UTF-8 (byte {exc.start})", path) from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError("", "not valid TOML: nested too deeply", path) from None
    config = parse(data, path.resolve())
    _refuse_readable_secret_files(config)
    return config


def _refuse_readable_secret_files(config: Config) -> None:
    """Refuse a file named here that holds a secret (a CURVE secret certificate, the uploader's
    ``secret_key_file``, the notifier's ``urls_file``) when its group or others may access it, as
    ssh refuses such a private key. A file that is not there (or not ours to stat) is left to its reader."""
    named = [(f"bus.curve.{k}", getattr(config.bus.curve, k)) for k in ("server_key", "client_key")]
    for handler in config.handlers.values():
        for option in ("secret_key_file", "urls_file"):
            if isinstance(handler.options.get(option), str):
                named.append((f"handlers.{handler.name}.options.{option}", Path(handler.options[option])))
    for key, secret in named:
        try:
            mode = stat.S_IMODE(secret.stat().st_mode) if secret is not None else 0
        except OSError:
            continue
        if mode & 0o077:
            problem = f"{secret} holds a secret but its mode {mode:04o} lets the group or others access it"
            raise ConfigError(key, f"{problem}: chmod 0600 {secret}", config.path)
