"""Give up on a handler's failed event: move its cursor past it (logged as a warning) and go on.

With ``args.seq``, only if that is the event it failed on (its cursor + 1): ``wrong_event``
otherwise, ``out_of_range`` for a seq the log does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg, seq_arg

NAME: Final = "skip"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler``: the handler whose failed event is skipped; ``args.seq`` (optional): that event."""
    seq = None if args.get("seq") is None else seq_arg(args)
    return target.control_skip(handler_arg(args), seq)
