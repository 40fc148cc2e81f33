"""List the newest events of the log (``args.limit``, default 20, at most 1000)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlError, ControlTarget

NAME: Final = "events"


def run(target: ControlTarget, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return events oldest first."""
    limit = args.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ControlError("invalid_args", "args.limit must be an integer from 1 to 1000")
    return target.control_events(limit)
