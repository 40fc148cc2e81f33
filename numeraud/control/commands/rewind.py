"""Deliver a handler's events again from ``args.seq`` on: its cursor moves back to ``seq - 1``.

Attempts start over and a blocked handler is unblocked; logged as a warning with the old and
new cursor. Refused (stable codes) for a seq the log does not hold (``out_of_range``), one past
the handler's next event (``not_behind``), and while an event is in flight to it (``in_flight``:
try again when it is answered). The uploader's ledger keeps a replayed upload from going twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, handler_arg, seq_arg

NAME: Final = "rewind"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.handler`` and ``args.seq``: the first event it gets again."""
    return target.control_rewind(handler_arg(args), seq_arg(args))
