"""What every resolver gets: the core, the caller's key, the time and the base URL; shared checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.options import SandboxKey

AUTH_REQUIRED = "You must be authenticated to perform this action."
ID_NAMESPACE = uuid.UUID("1b7c3f0e-2a47-4b55-8d0a-7e8f9a1b2c3d")


@dataclass
class Context:
    """What a resolver may use: the core, the caller's key (None: no key), the time, URLs."""

    core: SandboxCore
    key: SandboxKey | None
    now: datetime
    base_url: str

    @property
    def authenticated(self) -> bool:
        """Whether the call came with a valid key."""
        return self.key is not None

    def require_auth(self) -> None:
        """Raise the error Numerai gives an unauthenticated call to a private field."""
        if not self.authenticated:
            raise ApiError(AUTH_REQUIRED)

    def require_scope(self, scope: str) -> None:
        """Raise unless the caller's key has ``scope`` (e.g. ``upload_submission``)."""
        self.require_auth()
        if self.key is not None and scope not in self.key.scopes:
            raise ApiError(f"This API key does not have the {scope} scope.")


Resolver = Callable[[Context, dict[str, Any]], Any]


def check_tournament(args: dict[str, Any]) -> None:
    """Refuse a ``tournament`` argument other than Classic's (8 or ``classic``)."""
    tournament = args.get("tournament")
    if tournament is not None and tournament not in (CLASSIC, "classic"):
        raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")
