"""The sandbox's calendar: when rounds open, close and resolve. Pure logic, no I/O, no wall clock.

Three schedules:

* :class:`ManualSchedule` — nothing happens until the admin API says so (the default);
* :class:`DailySchedule` — Numerai's calendar: a round Tuesday to Saturday, opening and closing at
  configurable UTC times, the Saturday round closing on Sunday;
* :class:`IntervalSchedule` — the calendar compressed into real seconds: a round every N seconds,
  open for M seconds.

A schedule is evaluated on *virtual* time, which is wall-clock time plus an offset that the admin
API can move forward ("fast-forward"). Everything the API reports is real wall-clock time: a slot
crossed by a jump is mapped onto the moment of the jump, so reported times never go backwards and
clients need no special clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

#: Weekdays (Monday = 0) on which Numerai opens a Classic round.
ROUND_WEEKDAYS = (1, 2, 3, 4, 5)
SATURDAY = 5


@dataclass(frozen=True)
class Slot:
    """One scheduled round, in virtual time."""

    open: datetime
    close_staking: datetime
    resolve: datetime


class Schedule(Protocol):
    """A source of scheduled round slots."""

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Slots whose open time is in ``(start, end]``, in order."""

    def latest_open_at(self, moment: datetime) -> Slot | None:
        """The slot with the latest open time at or before ``moment``, if any."""


class ManualSchedule:
    """No scheduled rounds: rounds open and close only through the admin API."""

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Always empty."""
        return []

    def latest_open_at(self, moment: datetime) -> Slot | None:
        """Always ``None``."""
        return None


@dataclass(frozen=True)
class IntervalSchedule:
    """A round opens every ``every`` and stays open for ``window``, counting from ``anchor``."""

    every: timedelta
    window: timedelta
    anchor: datetime
    resolve_after: timedelta

    def __post_init__(self) -> None:
        if self.every <= timedelta(0) or self.window <= timedelta(0):
            raise ValueError("round interval and window must be positive")

    def _slot(self, index: int) -> Slot:
        opened = self.anchor + index * self.every
        closed = opened + self.window
        return Slot(open=opened, close_staking=closed, resolve=closed + self.resolve_after)

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Slots opening in ``(start, end]``."""
        first = max(0, int((start - self.anchor) / self.every) - 1)
        slots: list[Slot] = []
        index = first
        while True:
            slot = self._slot(index)
            if slot.open > end:
                return slots
            if slot.open > start:
                slots.append(slot)
            index += 1

    def latest_open_at(self, moment: datetime) -> Slot | None:
        """The latest slot opened at or before ``moment``."""
        if moment < self.anchor:
            return None
        return self._slot(int((moment - self.anchor) / self.every))


@dataclass(frozen=True)
class DailySchedule:
    """Numerai's Classic calendar: rounds Tuesday to Saturday (times in UTC).

    Defaults follow Numerai's documented times: open 12:00, close 13:00, and the Saturday round
    closing on Sunday at 14:00. Numerai notes that real times vary; every value is configurable.
    """

    open_at: time = time(12, 0)
    close_at: time = time(13, 0)
    saturday_close_days: int = 1
    saturday_close_at: time = time(14, 0)
    resolve_after: timedelta = timedelta(days=31)

    def _slot_on(self, day: datetime) -> Slot:
        opened = datetime.combine(day.date(), self.open_at, tzinfo=UTC)
        if day.weekday() == SATURDAY:
            closed_day = day.date() + timedelta(days=self.saturday_close_days)
            closed = datetime.combine(closed_day, self.saturday_close_at, tzinfo=UTC)
        else:
            closed = datetime.combine(day.date(), self.close_at, tzinfo=UTC)
        if closed <= opened:
            closed += timedelta(days=1)
        return Slot(open=opened, close_staking=closed, resolve=opened + self.resolve_after)

    def slots_between(self, start: datetime, end: datetime) -> list[Slot]:
        """Slots opening in ``(start, end]``."""
        slots = []
        day = datetime.combine(start.date(), time(0), tzinfo=UTC)
        while day <= end:
            if day.weekday() in ROUND_WEEKDAYS:
                slot = self._slot_on(day)
                if start < slot.open <= end:
                    slots.append(slot)
            day += timedelta(days=1)
        return slots

    def latest_open_at(self, moment: datetime) -> Slot | None:
        """The latest slot opened at or before ``moment`` (looks back at most a week)."""
        found = self.slots_between(moment - timedelta(days=8), moment)
        return found[-1] if found else None


class VirtualClock:
    """Wall-clock time plus a forward-only offset; the schedule is read on this clock."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def virtual(self, real: datetime) -> datetime:
        """The virtual time at real time ``real``."""
        return real + self.offset

    def to_real(self, virtual: datetime, floor: datetime) -> datetime:
        """Map a virtual time to real time, never earlier than ``floor`` (the last sync)."""
        return max(virtual - self.offset, floor)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset += timedelta(seconds=seconds)
