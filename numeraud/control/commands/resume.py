"""Resume a paused handler: delivery goes on from its cursor.

Resuming a handler that is not paused succeeds and changes nothing (``changed`` is false).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg

NAME: Final = "resume"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler``: the handler to resume."""
    return target.control_pause(handler_arg(args), False)
