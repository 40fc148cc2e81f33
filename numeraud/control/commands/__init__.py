"""Control commands, one module each; :data:`COMMANDS` maps a command name to its module."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final

from numeraud.control import ControlError, ControlTarget
from numeraud.control.commands import append, events, pause, poll_now, resume, retry, rewind, skip, status, version

COMMANDS: Final[Mapping[str, ModuleType]] = {
    m.NAME: m for m in (append, events, pause, poll_now, resume, retry, rewind, skip, status, version)
}


def dispatch(target: ControlTarget, command: str, args: Mapping[str, Any]) -> Any:
    """Run ``command``; raises :class:`ControlError` with a stable code on failure."""
    module = COMMANDS.get(command)
    if module is None:
        raise ControlError("unknown_command", f"unknown command {command!r}; known: {', '.join(sorted(COMMANDS))}")
    return module.run(target, args)
