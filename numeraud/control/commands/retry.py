"""Deliver a handler's failed (blocked or backing-off) event again now, with a fresh attempt count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg

NAME: Final = "retry"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler``: the handler to retry."""
    return target.control_retry(handler_arg(args))
