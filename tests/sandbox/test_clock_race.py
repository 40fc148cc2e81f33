"""Fast-forward against the sandbox's own clock thread: advance() reports every round its jump opened."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from numeraud.sandbox import SandboxOptions
from numeraud.sandbox.clock import VirtualClock
from numeraud.sandbox.core import SandboxCore
from tests.helpers import DEADLINE

WEDNESDAY_1230 = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)


class TickFirstClock(VirtualClock):
    """A real virtual clock that, once moved, holds the mover until the tick thread has read it.

    That is the interleaving of the race: the clock thread sees the new time (and opens the round)
    before the call that moved the clock gets to open anything.
    """

    def __init__(self) -> None:
        super().__init__()
        self.moved = threading.Event()
        self.tick_read = threading.Event()
        self.tick_thread: threading.Thread | None = None

    def advance(self, seconds: float) -> None:
        """Move the clock, then wait (bounded) for the tick thread to read the new time."""
        super().advance(seconds)
        self.moved.set()
        self.tick_read.wait(DEADLINE)

    def virtual(self, real: datetime) -> datetime:
        """The virtual time; a read by the tick thread after the move is signalled."""
        value = super().virtual(real)
        if self.moved.is_set() and threading.current_thread() is self.tick_thread:
            self.tick_read.set()
        return value


def test_advance_reports_the_round_the_clock_thread_opened_first(tmp_path: Path) -> None:
    clock = TickFirstClock()
    core = SandboxCore(SandboxOptions(data_dir=tmp_path, schedule="daily"), now=WEDNESDAY_1230, clock=clock)
    ticked: list[list[int]] = []

    def tick() -> None:
        clock.moved.wait(DEADLINE)
        ticked.append([r.number for r in core.sync(WEDNESDAY_1230)])

    clock.tick_thread = threading.Thread(target=tick, name="sandbox-clock", daemon=True)
    clock.tick_thread.start()
    opened = core.advance(24 * 3600, WEDNESDAY_1230)
    clock.tick_thread.join(DEADLINE)

    assert clock.tick_read.is_set(), "the tick thread never read the moved clock"
    assert ticked == [[2]], "the tick thread, not advance(), opened Thursday's round"
    assert [r.number for r in opened] == [2]
    assert [r.number for r in core.state.rounds] == [1, 2]


def test_a_sync_with_an_earlier_time_than_the_last_one_opens_no_round_again(tmp_path: Path) -> None:
    start = datetime(2026, 11, 24, tzinfo=UTC)
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=10, window=4)
    core = SandboxCore(options, now=start)
    assert [r.number for r in core.sync(start + timedelta(seconds=10.5))] == [2]
    # An advance() whose caller read the time before that tick ran: its "now" is earlier.
    assert core.advance(0, start + timedelta(seconds=9)) == []
    assert core.sync(start + timedelta(seconds=11)) == []
    assert [r.number for r in core.state.rounds] == [1, 2]
