"""The sandbox's rounds: the first one, the schedule's, the admin's, fast-forward and the tick.

:class:`RoundBook` opens, closes and (through the resolver it is given) resolves rounds: by the
schedule of :mod:`numeraud.sandbox.clock` read on the virtual clock, or when the admin API says
so. Opening a round generates its live files first and then announces it to the round-open
callbacks (webhooks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from numeraud.sandbox.clock import DailySchedule, IntervalSchedule, ManualSchedule, Schedule, VirtualClock
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.errors import AdminError
from numeraud.sandbox.options import SandboxOptions
from numeraud.sandbox.records import Round, SandboxState, iso
from numeraud.sandbox.schedule_shifts import ShiftRequest, next_slot, shifted

#: Called with a newly opened round's number and every (model id, webhook URL).
RoundOpenCallback = Callable[[int, list[tuple[str, str]]], None]


def build_schedule(options: SandboxOptions, start: datetime) -> Schedule:
    """The schedule ``options`` ask for; an interval schedule counts from ``start``."""
    resolve_after = timedelta(seconds=options.resolve_after) if options.resolve_after else None
    if options.schedule == "interval" and options.round_every:
        every = timedelta(seconds=options.round_every)
        return IntervalSchedule(
            every=every,
            window=timedelta(seconds=options.window),
            anchor=start,
            resolve_after=resolve_after or 4 * every,
        )
    if options.schedule == "daily":
        return DailySchedule(
            open_at=options.open_at,
            close_at=options.close_at,
            saturday_close_days=options.saturday_close_days,
            saturday_close_at=options.saturday_close_at,
            resolve_after=resolve_after or timedelta(days=31),
        )
    return ManualSchedule()


class RoundBook:
    """Every round of the sandbox and the clock they follow (see the module docstring).

    ``lock`` guards ``state``; ``open_lock`` is held while rounds open (and while the dataset
    catalogue writes files for every round), so round numbers and live files never race.
    """

    def __init__(
        self,
        options: SandboxOptions,
        state: SandboxState,
        *,
        lock: threading.RLock,
        open_lock: threading.Lock,
        generator: DatasetGenerator,
        clock: VirtualClock,
        start: datetime,
        resolve: Callable[[int, datetime], object],
    ) -> None:
        """Open the first round at ``start``: the schedule's latest, or a manual one."""
        self.options = options
        self.state = state
        self.lock = lock
        self.open_lock = open_lock
        self.generator = generator
        self.clock = clock
        self.schedule = build_schedule(options, start)
        self.on_round_open: list[RoundOpenCallback] = []
        #: Seconds after its open before a round opened from now on has its live files published.
        self.live_delay = options.live_delay
        self._resolve = resolve
        self._last_real = start
        self._last_virtual = start
        self._open_first_round(start)

    def _open_first_round(self, start: datetime) -> None:
        number = self.options.first_round
        slot = self.schedule.latest_open_at(start)
        if slot is None:
            self._open_manual_round(start, self.options.window, number)
            return
        self._generate_live(number)
        self.state.rounds.append(
            Round(
                number=number,
                open_time=slot.open,
                close_staking_time=slot.close_staking,
                resolve_time=slot.resolve,
                virtual_close=slot.close_staking,
                virtual_resolve=slot.resolve,
                live_at=self._live_at(slot.open),
            )
        )

    def _generate_live(self, number: int) -> None:
        # The first version's live files hold the universe and the truth scoring reads; the other
        # versions' are generated when first asked for (DatasetCatalogue), with the same content.
        self.generator.ensure_live(self.state.versions[0], number)

    def _open_manual_round(self, now: datetime, window: float, number: int) -> Round:
        self._generate_live(number)
        new = Round(
            number=number,
            open_time=now,
            close_staking_time=now + timedelta(seconds=window),
            resolve_time=now + timedelta(days=31),
            live_at=self._live_at(now),
        )
        with self.lock:
            for earlier in self.state.rounds:
                if earlier.close_staking_time > now:
                    earlier.close_staking_time = now
                    earlier.virtual_close = None
            self.state.rounds.append(new)
        return new

    def _live_at(self, opened: datetime) -> datetime | None:
        return opened + timedelta(seconds=self.live_delay) if self.live_delay else None

    def current_round(self) -> Round:
        """The latest opened round (it may already be closed)."""
        with self.lock:
            return self.state.rounds[-1]

    def find_round(self, number: int) -> Round:
        """A round by number; :class:`AdminError` if it never opened."""
        with self.lock:
            for candidate in self.state.rounds:
                if candidate.number == number:
                    return candidate
        raise AdminError(f"round {number} has not opened")

    def open_round(self, now: datetime, window: float | None = None) -> Round:
        """Open the next round now (closing the current one if still open) and announce it."""
        if window is not None and window <= 0:
            raise AdminError("window: must be positive")
        with self.open_lock:
            number = self.current_round().number + 1
            opened = self._open_manual_round(now, window or self.options.window, number)
        self._announce(opened.number)
        return opened

    def close_round(self, now: datetime) -> Round:
        """Close the current round for on-time submissions now."""
        with self.lock:
            current = self.state.rounds[-1]
            if current.close_staking_time <= now:
                raise AdminError(f"round {current.number} is already closed")
            current.close_staking_time = now
            current.virtual_close = None
            return current

    def shift(self, request: ShiftRequest, now: datetime) -> dict[str, Any]:
        """Move the next open and/or a round's close (see :mod:`numeraud.sandbox.schedule_shifts`).

        Everything is checked before anything moves; returns the next scheduled open and the
        moved round's close (real times).
        """
        with self.open_lock:
            now = max(now, self._last_real)
            virtual_now = self.clock.virtual(now)
            schedule = self.schedule
            if request.next_open_in is not None:
                upcoming = next_slot(schedule, virtual_now)
                if upcoming is None:
                    raise AdminError("next_open_in: this schedule has no next round (use POST /admin/round/open)")
                wanted = virtual_now + timedelta(seconds=request.next_open_in)
                schedule = shifted(schedule, virtual_now, (wanted - upcoming.open).total_seconds())
            elif request.shift is not None:
                schedule = shifted(schedule, virtual_now, request.shift)
            with self.lock:
                target = self.find_round(request.round) if request.round is not None else self.state.rounds[-1]
                close = None
                if request.window is not None:
                    close = target.open_time + timedelta(seconds=request.window)
                elif request.close_in is not None:
                    close = now + timedelta(seconds=request.close_in)
                    if close <= target.open_time:
                        raise AdminError(f"close_in: round {target.number}'s close would come before its open")
                self.schedule = schedule
                if close is not None:
                    target.close_staking_time = max(close, now)
                    target.virtual_close = self.clock.virtual(close) if close > now else None
                upcoming = next_slot(self.schedule, virtual_now)
                return {
                    "next_open": iso(self.clock.to_real(upcoming.open, now)) if upcoming else None,
                    "round": target.number,
                    "close_staking_time": iso(target.close_staking_time),
                }

    def publish_live(self, now: datetime, in_seconds: float, number: int | None) -> Round:
        """Publish round ``number``'s (default: the latest) live files ``in_seconds`` from now."""
        if in_seconds < 0:
            raise AdminError("publish_in: must be 0 or more seconds")
        with self.lock:
            target = self.find_round(number) if number is not None else self.state.rounds[-1]
            target.live_at = now + timedelta(seconds=in_seconds)
            return target

    def set_live_delay(self, seconds: float) -> None:
        """Rounds opened from now on have their live files published ``seconds`` after their open."""
        if seconds < 0:
            raise AdminError("delay: must be 0 or more seconds")
        self.live_delay = seconds

    def advance(self, seconds: float, now: datetime) -> list[Round]:
        """Fast-forward the schedule by ``seconds``; returns every round that opened meanwhile.

        The clock thread may see the new time and open a round before this call's own sync gets
        to it; that round is reported too. Rounds are only ever appended, and this call's sync
        waits for any sync already opening rounds, so the rounds added since the move are all of
        them.
        """
        with self.lock:
            before = len(self.state.rounds)
            self.clock.advance(seconds)
        self.sync(now)
        with self.lock:
            return self.state.rounds[before:]

    def sync(self, now: datetime) -> list[Round]:
        """Apply the schedule up to ``now``: open due rounds, close and resolve due ones."""
        opened: list[Round] = []
        with self.open_lock:
            # A caller's ``now`` may predate a sync that ran first (an advance() read the time,
            # then waited for the tick); going back would open that sync's rounds again.
            now = max(now, self._last_real)
            virtual_now = self.clock.virtual(now)
            floor = self._last_real
            for slot in self.schedule.slots_between(self._last_virtual, virtual_now):
                number = self.current_round().number + 1
                self._generate_live(number)
                opened_at = self.clock.to_real(slot.open, floor)
                new = Round(
                    number=number,
                    open_time=opened_at,
                    close_staking_time=self.clock.to_real(slot.close_staking, floor),
                    resolve_time=self.clock.to_real(slot.resolve, floor),
                    virtual_close=slot.close_staking,
                    virtual_resolve=slot.resolve,
                    live_at=self._live_at(opened_at),
                )
                with self.lock:
                    self.state.rounds.append(new)
                opened.append(new)
            with self.lock:
                due = self._apply_deadlines(virtual_now, floor)
                self._last_virtual = virtual_now
                self._last_real = now
        for number in due:
            self._resolve(number, now)
        for new in opened:
            self._announce(new.number)
        return opened

    def _apply_deadlines(self, virtual_now: datetime, floor: datetime) -> list[int]:
        """Re-map pending deadlines onto real time (forgetting passed closes); returns the rounds to resolve."""
        for known in self.state.rounds:
            if known.virtual_close is not None:
                known.close_staking_time = self.clock.to_real(known.virtual_close, floor)
                if known.virtual_close <= virtual_now:
                    known.virtual_close = None
            if known.virtual_resolve is not None:
                known.resolve_time = self.clock.to_real(known.virtual_resolve, floor)
        return [
            r.number
            for r in self.state.rounds
            if r.virtual_resolve is not None and r.virtual_resolve <= virtual_now and not r.resolved
        ]

    def _announce(self, number: int) -> None:
        with self.lock:
            hooks = [(hook.model_id, hook.url) for hook in self.state.webhooks.values()]
        for callback in self.on_round_open:
            callback(number, hooks)
