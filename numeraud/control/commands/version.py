"""Show the supervisor's control API version (clients check it before anything else)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from numeraud.control import ControlTarget, version_info

NAME: Final = "version"


def run(target: ControlTarget, args: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{"api": N, "numeraud": "x.y.z"}``."""
    return version_info()
