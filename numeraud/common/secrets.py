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
SECRET_ENV_MARKERS: Final = ("SECRET", "PASSWORD", "TOKEN", "PRIVATE")


def secret_values(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Values of secret-looking environment variables (``NUMERAI_SECRET_KEY``...), 8 chars or more."""
    env = os.environ if env is None else env
    return frozenset(
        value
        for name, value in env.items()
        if len(value) >= 8 and any(marker in name.upper() for marker in SECRET_ENV_MARKERS)
    )


def scrub_text(text: str, secrets: frozenset[str]) -> str:
    """Replace every occurrence of a known secret value in ``text`` with ``[redacted]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
