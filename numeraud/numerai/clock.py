"""Our clock against Numerai's, measured from the HTTP ``Date`` header of its answers.

Rounds open and close on Numerai's clock. :func:`measure` turns one answer's ``Date`` header into
an offset (``numeraud doctor`` reports it); :class:`ClockOffset` keeps the median of the recent
ones (the client feeds it every answer), which the follower adds to the local time for every
deadline computation, and which the handlers get in the round events (``clock_offset``) to do
the same (:func:`seconds_left`). Pure logic: times are passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

#: The ``Date`` header has whole seconds: an offset within this is not measured, and not corrected.
RESOLUTION: Final = 1.0
#: Seconds our clock may differ from Numerai's before it is reported (a warning, the doctor's
#: failed check, ``numeraudctl status``). Deadlines are corrected by the offset either way.
LARGE_OFFSET: Final = 5.0


@dataclass(frozen=True)
class OffsetMeasurement:
    """One reading: Numerai's clock minus ours (seconds; positive: ours is behind), +/- ``error``."""

    offset: float
    error: float


def measure(date_header: str | None, received_at: float, elapsed: float) -> OffsetMeasurement | None:
    """The offset one answer shows: its ``Date`` header against our Unix time ``received_at``, when
    its headers arrived ``elapsed`` seconds after the request went out (``None``: no usable header)."""
    if not date_header:
        return None
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - numeraudctl imports this module; email costs it 6 ms

    try:
        theirs = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None
    # Date has whole seconds (truncated): their time was in [D, D + 1) while the request ran.
    ours = received_at - elapsed / 2
    return OffsetMeasurement(offset=theirs + 0.5 - ours, error=0.5 + elapsed / 2)


class ClockOffset:
    """The median of the last ``keep`` measurements (a slow answer or a stray header moves it little)."""

    def __init__(self, keep: int = 9) -> None:
        self._recent: deque[float] = deque(maxlen=keep)

    def observe(self, measurement: OffsetMeasurement | None) -> None:
        """Add one measurement (``None`` is ignored)."""
        if measurement is not None:
            self._recent.append(measurement.offset)

    @property
    def offset(self) -> float | None:
        """Numerai's clock minus ours, in seconds; ``None`` before any answer had a ``Date``."""
        import statistics  # noqa: PLC0415 - for numeraudctl's start-up (see measure)

        return statistics.median(self._recent) if self._recent else None

    @property
    def correction(self) -> float:
        """What to add to our clock to get Numerai's: the offset, or 0 while it is within the
        header's :data:`RESOLUTION` (a second's rounding is not a measured offset)."""
        offset = self.offset
        return offset if offset is not None and abs(offset) > RESOLUTION else 0.0


def describe(offset: float) -> str:
    """``"this clock is 12.3 s behind Numerai's"`` (or ahead of)."""
    direction = "behind" if offset > 0 else "ahead of"
    return f"this clock is {abs(offset):.1f} s {direction} Numerai's"


def seconds_left(deadline: str, clock_offset: float, now: datetime | None = None) -> float:
    """Seconds until ``deadline`` (ISO 8601, Numerai's time) on Numerai's clock: our ``now`` (default
    the wall clock) plus ``clock_offset`` (Numerai's clock minus ours, as the round events carry it)."""
    local = now or datetime.now(UTC)
    return (datetime.fromisoformat(deadline) - local).total_seconds() - clock_offset
