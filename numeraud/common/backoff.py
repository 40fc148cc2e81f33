"""Exponential backoff with a cap and optional full jitter: one attempt → delay function.

Pure: no clock, no sleep, no I/O. The caller counts attempts and waits. Used by the delivery
policy (``numeraud.supervisor.session.Policy.backoff_for``), the Numerai retry loop
(``numeraud.numerai.retry.Backoff``), the handler spawner's restart delay and the handler
runtime's reconnects.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_EXPONENT", "ExponentialBackoff", "exponential_delay"]

#: ``2**attempt`` stops growing here, so a huge attempt count never overflows a float.
MAX_EXPONENT: Final = 32


def exponential_delay(attempt: int, base: float, cap: float) -> float:
    """``min(cap, base * 2**attempt)``: attempt 0 waits ``base``, each next one twice as long.

    A negative ``attempt`` is treated as 0. The exponent stops at :data:`MAX_EXPONENT`.
    """
    exponent = min(max(attempt, 0), MAX_EXPONENT)
    return float(min(cap, base * (2**exponent)))


@dataclass(frozen=True)
class ExponentialBackoff:
    """Attempt ``n`` (0-based) waits ``min(cap, base * 2**n)``; with ``jitter`` uniform(0, that).

    Full jitter (AWS's name for it) spreads the retries of many clients that failed together.
    """

    base: float = 1.0
    cap: float = 60.0
    jitter: bool = False

    def ceiling(self, attempt: int) -> float:
        """The longest wait for ``attempt``: the un-jittered delay."""
        return exponential_delay(attempt, self.base, self.cap)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 = the first retry)."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0, ceiling)
