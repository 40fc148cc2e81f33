"""Numerai moving its times, in the sandbox: the next open earlier or later, a round's close moved.

``POST /admin/schedule`` (and :meth:`numeraud.sandbox.app.Sandbox.shift_schedule`) takes, each part
optional but at least one given:

* ``shift`` (seconds, negative is earlier) or ``next_open_in`` (seconds from now): moves the next
  scheduled open, and every later one with it (the calendar moves, as when Numerai changes its
  times). An open moved into the past happens at the next tick. Only the daily and interval
  schedules have a next open; the manual one opens rounds through ``POST /admin/round/open``.
* ``window`` (seconds from the round's open) or ``close_in`` (seconds from now): moves the close
  (the submission deadline) of round ``round`` (default: the latest opened). A close moved into the
  past closes the round now.

:class:`ShiftedSchedule` is pure logic on virtual time, like :mod:`numeraud.sandbox.clock`; the
parsing of a request is :func:`parse_shift`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from numeraud.sandbox.clock import Schedule, Slot
from numeraud.sandbox.errors import AdminError

#: How far ahead to look for the next scheduled open (the daily calendar skips Sunday and Monday).
LOOK_AHEAD = timedelta(days=8)
#: A moment after the pivot: an open moved into the past happens at the next tick, not never.
JUST_AFTER = timedelta(microseconds=1)


@dataclass(frozen=True)
class ShiftedSchedule:
    """``base`` with every slot opening after ``pivot`` moved by ``shift`` (open, close and resolve)."""

    base: Schedule
    pivot: datetime
    shift: timedelta

    def _moved(self, slot: Slot) -> Slot:
        return Slot(slot.open + self.shift, slot.close_staking + self.shift, slot.resolve + self.shift)

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Slots opening in ``(start, end]``: the base's up to the pivot, the moved ones after it."""
        kept = self.base.slots_between(start, min(end, self.pivot)) if start < self.pivot else []
        moved = [
            self._moved(slot)
            for slot in self.base.slots_between(max(start - self.shift, self.pivot), end - self.shift)
            if slot.open > self.pivot
        ]
        return sorted(kept + moved, key=lambda slot: slot.open)

    def latest_open_at(self, moment: datetime) -> Slot | None:
        """The slot with the latest open at or before ``moment``."""
        candidates = [self.base.latest_open_at(min(moment, self.pivot))]
        later = self.base.latest_open_at(moment - self.shift)
        if later is not None and later.open > self.pivot:
            candidates.append(self._moved(later))
        found = [slot for slot in candidates if slot is not None]
        return max(found, key=lambda slot: slot.open) if found else None


def next_slot(schedule: Schedule, after: datetime) -> Slot | None:
    """The first slot opening after ``after`` (within :data:`LOOK_AHEAD`), if any."""
    found = schedule.slots_between(after, after + LOOK_AHEAD)
    return found[0] if found else None


def shifted(schedule: Schedule, virtual_now: datetime, seconds: float) -> ShiftedSchedule:
    """``schedule`` with its next open (after ``virtual_now``) moved by ``seconds``, and all later ones.

    An open moved to or before ``virtual_now`` is moved to just after it: the next tick opens it.
    """
    upcoming = next_slot(schedule, virtual_now)
    if upcoming is None:
        raise AdminError("shift: this schedule has no next round to move (open one with POST /admin/round/open)")
    shift = timedelta(seconds=seconds)
    earliest = virtual_now + JUST_AFTER - upcoming.open
    return ShiftedSchedule(base=schedule, pivot=virtual_now, shift=max(shift, earliest))


@dataclass(frozen=True)
class ShiftRequest:
    """A parsed ``POST /admin/schedule``: each part ``None`` when not asked for."""

    shift: float | None = None
    next_open_in: float | None = None
    window: float | None = None
    close_in: float | None = None
    round: int | None = None

    @property
    def moves_open(self) -> bool:
        """Whether the next open moves."""
        return self.shift is not None or self.next_open_in is not None

    @property
    def moves_close(self) -> bool:
        """Whether a round's close moves."""
        return self.window is not None or self.close_in is not None


KNOWN_FIELDS = ("shift", "next_open_in", "window", "close_in", "round")


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(f"{key}: must be a number of seconds")
    return float(value)


def parse_shift(body: dict[str, Any]) -> ShiftRequest:
    """Check a ``POST /admin/schedule`` body; :class:`AdminError` naming the field otherwise."""
    unknown = sorted(set(body) - set(KNOWN_FIELDS))
    if unknown:
        raise AdminError(f"{unknown[0]}: not a schedule field (use {', '.join(KNOWN_FIELDS)})")
    number = body.get("round")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 1):
        raise AdminError("round: must be a round number (1 or more)")
    request = ShiftRequest(
        shift=_seconds(body, "shift"),
        next_open_in=_seconds(body, "next_open_in"),
        window=_seconds(body, "window"),
        close_in=_seconds(body, "close_in"),
        round=number,
    )
    if request.shift is not None and request.next_open_in is not None:
        raise AdminError("shift: give shift or next_open_in, not both")
    if request.window is not None and request.close_in is not None:
        raise AdminError("window: give window or close_in, not both")
    if request.next_open_in is not None and request.next_open_in < 0:
        raise AdminError("next_open_in: must be 0 or more seconds")
    if request.window is not None and request.window <= 0:
        raise AdminError("window: must be positive")
    if request.round is not None and not request.moves_close:
        raise AdminError("round: names the round whose close moves; give window or close_in too")
    if not request.moves_open and not request.moves_close:
        raise AdminError("schedule: give shift or next_open_in, and/or window or close_in")
    return request
