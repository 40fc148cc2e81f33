"""Append an event to the log (operators replaying an event, and tests). Idempotent per (kind, round)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.common.protocol import KIND_RE
from numeraud.control import ControlError, ControlTarget

NAME: Final = "append"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args.kind``, ``args.round`` (integer or null), ``args.payload`` (object)."""
    kind = args.get("kind")
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise ControlError("invalid_args", "args.kind must be an event kind (lower-case, digits, '_')")
    round_ = args.get("round")
    if round_ is not None and (isinstance(round_, bool) or not isinstance(round_, int) or round_ < 0):
        raise ControlError("invalid_args", "args.round must be a non-negative integer or null")
    payload = args.get("payload", {})
    if not isinstance(payload, dict):
        raise ControlError("invalid_args", "args.payload must be an object")
    return target.control_append(kind, round_, payload)
