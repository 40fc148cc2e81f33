"""Numerai API keys: from systemd credentials, the environment, or files; never from the TOML.

Looked up in this order, the first complete pair wins:

1. systemd credentials: ``$CREDENTIALS_DIRECTORY/numerai_public_id`` and ``numerai_secret_key``
   (``LoadCredential=`` in the unit; readable only by the service);
2. the environment: ``NUMERAI_PUBLIC_ID`` and ``NUMERAI_SECRET_KEY``;
3. files named by the handler options ``public_id_file`` and ``secret_key_file``.

Only the process that uploads (the uploader handler) calls this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CredentialsError(Exception):
    """Keys were configured but cannot be read; the message names where, never the value."""


@dataclass(frozen=True)
class NumeraiKeys:
    """A public id and secret key. ``repr`` never shows the secret."""

    public_id: str
    secret_key: str
    source: str

    def __repr__(self) -> str:
        return f"NumeraiKeys(public_id={self.public_id!r}, secret_key='[redacted]', source={self.source!r})"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from exc


def load_keys(options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> NumeraiKeys | None:
    """The Numerai keys (see the module docstring), or None when none are configured anywhere."""
    env = os.environ if env is None else env
    options = options or {}
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        public, secret = Path(credentials) / "numerai_public_id", Path(credentials) / "numerai_secret_key"
        if public.exists() and secret.exists():
            return NumeraiKeys(_read(public), _read(secret), "systemd credentials")
    if env.get("NUMERAI_PUBLIC_ID") and env.get("NUMERAI_SECRET_KEY"):
        return NumeraiKeys(env["NUMERAI_PUBLIC_ID"], env["NUMERAI_SECRET_KEY"], "environment")
    public_file, secret_file = options.get("public_id_file"), options.get("secret_key_file")
    if public_file and secret_file:
        return NumeraiKeys(_read(Path(str(public_file))), _read(Path(str(secret_file))), "key files")
    if public_file or secret_file:
        raise CredentialsError("options public_id_file and secret_key_file go together")
    return None
