"""Pause a handler: it gets no new event until resumed (one in flight finishes and is ACKed).

The pause is kept in the database, so it survives a restart of the supervisor. Pausing a paused
handler succeeds and changes nothing (``changed`` is false in the reply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg

NAME: Final = "pause"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler``: the handler to pause."""
    return target.control_pause(handler_arg(args), True)
