"""The one place numeraud builds its numerapi client and chooses which Numerai it talks to.

numerapi reads the module global ``numerapi.base_api.API_TOURNAMENT_URL`` on every call and has
no constructor argument for it, so pointing it at the sandbox means setting that global; this
module does it, and makes sure loopback traffic never goes through an HTTP proxy.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import numerapi
import numerapi.base_api

NUMERAI_API_URL = "https://api-tournament.numer.ai"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def use_api_url(url: str) -> None:
    """Send every numerapi GraphQL call of this process to ``url`` (Numerai's or a sandbox's)."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"api_url: {url!r} is not an http(s) URL")
    numerapi.base_api.API_TOURNAMENT_URL = url.rstrip("/") if parsed.path in ("", "/") else url
    if parsed.hostname in _LOOPBACK:
        present = [p for p in os.environ.get("NO_PROXY", "").split(",") if p]
        os.environ["NO_PROXY"] = ",".join(dict.fromkeys([*present, *_LOOPBACK]))


def make_client(
    api_url: str = NUMERAI_API_URL, public_id: str | None = None, secret_key: str | None = None
) -> numerapi.NumerAPI:
    """A quiet numerapi client for ``api_url``; without keys it can make public calls only."""
    use_api_url(api_url)
    return numerapi.NumerAPI(  # type: ignore[no-untyped-call]
        public_id=public_id, secret_key=secret_key, verbosity="warning", show_progress_bars=False
    )
