"""Typed reading of one TOML table of the configuration, every problem naming its dotted key.

A :class:`Table` remembers the keys it was asked for, so that :meth:`Table.finish` can refuse the
ones nobody reads (unknown keys are errors). Each reader raises a
:class:`~numeraud.common.config.ConfigError` with the dotted key (``handlers.model-a.timeout``)
and the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from numeraud.common.config import ConfigError


class Table:
    """Typed, key-tracking access to one TOML table; every problem names the dotted key."""

    def __init__(self, data: Mapping[str, Any], prefix: str, path: Path | None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(prefix, "must be a table", path)
        self.data = data
        self.prefix = prefix
        self.file = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        """The dotted key of ``name`` in this table."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        """The error for ``name``'s value, naming its dotted key and the file."""
        return ConfigError(self.key(name), problem, self.file)

    def raw(self, name: str, default: Any) -> Any:
        """The value of ``name`` as TOML decoded it (``default`` if absent); marks it read."""
        self.seen.add(name)
        return self.data.get(name, default)

    def string(self, name: str, default: str) -> str:
        """A non-empty string."""
        value = self.raw(name, default)
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a non-empty string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """``true`` or ``false``."""
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def positive_int(self, name: str, default: int) -> int:
        """An integer above zero (a TOML boolean is not one)."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(name, "must be a positive integer")
        return value

    def seconds(self, name: str, default: float) -> float:
        """A positive number of seconds, integer or float."""
        value = self.raw(name, default)
        # TOML has nan and inf; neither is a number of seconds (nan compares false to everything).
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise self.error(name, "must be a positive number of seconds")
        return float(value)

    def optional_seconds(self, name: str, default: float | None) -> float | None:
        """Like :meth:`seconds`, but 0 means "no limit" (``None``)."""
        value = self.raw(name, default)
        if value is None or (value == 0 and not isinstance(value, bool)):
            return None
        return self.seconds(name, value)

    def path(self, name: str, default: Path) -> Path:
        """Like :meth:`optional_path`, with ``default`` when the key is absent."""
        found = self.optional_path(name)
        return default if found is None else found

    def optional_path(self, name: str) -> Path | None:
        """A path (``~`` expanded; a relative one is relative to the file), or ``None`` if absent."""
        value = self.raw(name, None)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a path")
        path = Path(value).expanduser()
        if not path.is_absolute() and self.file is not None:
            path = self.file.parent / path
        return path

    def table(self, name: str) -> Table:
        """The sub-table ``name`` (empty if absent)."""
        return Table(self.raw(name, {}), self.key(name), self.file)

    def finish(self) -> None:
        """Refuse the first key (in sorted order) that no reader asked for."""
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")
