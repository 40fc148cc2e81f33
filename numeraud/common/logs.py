"""Logging set-up shared by every numeraud process.

JSON lines on stdout when it is not a terminal (journald keeps them), readable console lines on a
terminal. Secrets are scrubbed by a processor so that no code path can log one by accident.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from numeraud.common.secrets import REDACTED, SECRET_ENV_MARKERS, SECRET_KEYS, scrub_text, secret_values

__all__ = [
    "REDACTED",
    "SECRET_ENV_MARKERS",
    "SECRET_KEYS",
    "configure",
    "get_logger",
    "redact_secrets",
    "scrub_text",
    "secret_values",
]


#: Every key seen so far, and whether it is a secret one (log lines use a small, fixed set of keys).
_KEY_IS_SECRET: dict[str, bool] = {}


def redact_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of any secret-looking key with ``[redacted]``."""
    known = _KEY_IS_SECRET
    for key in event_dict:
        secret = known.get(key)
        if secret is None:
            secret = known[key] = key.lower() in SECRET_KEYS
            if len(known) > 10_000:  # keys made from data: do not grow without bound
                known.clear()
        if secret:
            event_dict[key] = REDACTED  # a new value for an existing key: iterating is still safe
    return event_dict


class _UTCTimestamp:
    """structlog processor: ``timestamp`` in ISO 8601 UTC with microseconds and ``Z``, as
    ``TimeStamper(fmt="iso", utc=True)`` writes it, formatting the date part once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        now = time.time_ns()
        second, nanos = divmod(now, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event_dict["timestamp"] = f"{self._prefix}.{nanos // 1000:06d}Z"
        return event_dict


def configure(*, json: bool | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging, which numerapi uses) for this process.

    ``json=None`` picks JSON lines unless ``stream`` is a terminal. ``level`` defaults to the
    ``NUMERAUD_LOG_LEVEL`` environment variable, then ``info``.
    """
    out = stream if stream is not None else sys.stdout
    use_json = (not out.isatty()) if json is None else json
    level_name = (level or os.environ.get("NUMERAUD_LOG_LEVEL") or "info").upper()
    numeric_level = logging.getLevelName(level_name)
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _UTCTimestamp(),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # numerapi logs through the stdlib; route it to stderr at WARNING so it cannot drown our lines.
    logging.basicConfig(stream=sys.stderr, level=max(numeric_level, logging.WARNING), force=True)


def get_logger(name: str, **context: Any) -> Any:
    """Return a structlog logger bound to ``component=name`` and any extra context."""
    return structlog.get_logger(name).bind(component=name, **context)
