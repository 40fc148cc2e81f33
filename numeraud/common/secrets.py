"""What counts as a secret, and scrubbing one out of a text: shared by the logs and numeraudctl.

Kept apart from :mod:`numeraud.common.logs` so that reading the configuration or printing a
status (``numeraudctl``) loads no logging library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

#: Keys whose values are never written to a log line, whatever logged them.
SECRET_KEYS: Final = frozenset(
    {"secret_key", "secret", "password", "token", "authorization", "numerai_secret_key", "api_key"}
)
REDACTED: Final = "[redacted]"
#: Environment variables whose values are secrets wherever they turn up (error texts, status).
#: ``NUMERAUD_NOTIFY_URLS`` holds Apprise URLs, which carry the services' tokens.
SECRET_ENV_MARKERS: Final = ("SECRET", "PASSWORD", "TOKEN", "PRIVATE", "NOTIFY_URLS")


def secret_values(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Values of secret-looking environment variables (``NUMERAI_SECRET_KEY``...), 8 chars or more;
    a value of several words (``NUMERAUD_NOTIFY_URLS``: URLs apart by spaces) also gives each word."""
    env = os.environ if env is None else env
    found: set[str] = set()
    for name, value in env.items():
        if any(marker in name.upper() for marker in SECRET_ENV_MARKERS):
            found.update(v for v in (value, *value.split()) if len(v) >= 8)
    return frozenset(found)


def scrub_text(text: str, secrets: frozenset[str]) -> str:
    """Replace every occurrence of a known secret value in ``text`` with ``[redacted]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
