"""Poll Numerai now instead of at the next scheduled poll (a round just opened, say)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget

NAME: Final = "poll-now"


def run(target: ControlTarget, args: Mapping[str, Any]) -> Any:
    """No arguments."""
    return target.control_hook(NAME, args)
