"""Give up on a handler's failed event: move its cursor past it (logged as a warning) and go on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg

NAME: Final = "skip"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler``: the handler whose failed event is skipped."""
    return target.control_skip(handler_arg(args))
