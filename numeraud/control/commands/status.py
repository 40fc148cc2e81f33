"""Show the supervisor's state: the log head, each handler's cursor and state, store health."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget

NAME: Final = "status"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """Return the status document."""
    return target.control_status()
