"""``numeraud-handler NAME --config FILE`` (placeholder until the handler runtime lands)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``numeraud-handler``."""
    print("numeraud-handler: not available in this build", file=sys.stderr)
    return 1
