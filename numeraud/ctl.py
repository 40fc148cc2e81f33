"""``numeraudctl``: the operator's tool (placeholder until the supervisor's control socket lands)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``numeraudctl``."""
    print("numeraudctl: the supervisor is not running (LSB status 3)", file=sys.stderr)
    return 3
