"""The follower's clock: Numerai's, i.e. the local clock corrected by the offset its answers show.

Every round time Numerai gives (open, close) is on its clock; the follower compares them with
:meth:`NumeraiTime.now`, the local time plus the offset the client measured from the ``Date``
headers (:mod:`numeraud.numerai.clock`), and hands that offset to the handlers in the round events
(``clock_offset``) so that their deadlines are Numerai's too. An offset over
:data:`~numeraud.numerai.clock.LARGE_OFFSET` is logged as a warning (once, and once more when it is
back to normal) and shown in ``numeraudctl status``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from numeraud.numerai.client import NumeraiClient
from numeraud.numerai.clock import LARGE_OFFSET, describe


class NumeraiTime:
    """Numerai's time for the follower (mixed into it: it owns ``client``, ``local_now`` and ``log``)."""

    client: NumeraiClient
    local_now: Callable[[], datetime]
    log: Any
    _clock_reported = False

    def clock_offset(self) -> float:
        """Numerai's clock minus ours, in seconds (0 until an answer had a ``Date`` header, and
        while it is within the header's one-second resolution)."""
        return self.client.clock.correction

    def now(self) -> datetime:
        """The time on Numerai's clock."""
        return self.local_now() + timedelta(seconds=self.clock_offset())

    def clock_warning(self) -> str | None:
        """What is wrong with our clock, or ``None`` (not measured yet, or within the limit)."""
        offset = self.client.clock.offset
        if offset is None or abs(offset) <= LARGE_OFFSET:
            return None
        return f"{describe(offset)} (more than {LARGE_OFFSET:g} s): deadlines follow Numerai's; synchronise the clock"

    def report_clock(self) -> None:
        """Log a large offset once (and that it is over once it is)."""
        warning = self.clock_warning()
        if warning is not None and not self._clock_reported:
            self.log.warning("clock_offset_large", offset=round(self.clock_offset(), 1), problem=warning)
        elif warning is None and self._clock_reported:
            self.log.info("clock_offset_normal", offset=round(self.clock_offset(), 1))
        self._clock_reported = warning is not None

    def clock_status(self) -> dict[str, Any]:
        """For ``numeraudctl status``: the offset (``None``: not measured yet) and any warning."""
        offset = self.client.clock.offset
        return {"clock_offset": round(offset, 1) if offset is not None else None, "clock_warning": self.clock_warning()}
