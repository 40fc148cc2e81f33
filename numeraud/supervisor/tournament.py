"""Following the tournament: what a poll of Numerai means and when to poll next. Pure logic.

The poller (:mod:`numeraud.supervisor.poller`) observes the current round through numerapi and asks this
module what to do: process the round (sync its data, then publish its events), report rounds that
opened and closed while numeraud was not looking, or nothing. A round is processed at most once:
``last_round_processed`` only moves forward.

Polling is adaptive: slow while no round is due, every ``fast_interval`` seconds around the time
the next round is expected. Numerai moves its times, so the expectation is only a guess that
widens the fast window; detection never depends on it (a slow poll still finds every round).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from numeraud.common.config import poll_intervals_problem
from numeraud.common.datasets import parse_version

#: Weekdays (Monday = 0) on which Numerai opens a Classic round.
ROUND_WEEKDAYS = frozenset({1, 2, 3, 4, 5})


@dataclass(frozen=True)
class RoundInfo:
    """One round as Numerai reports it (times are timezone-aware UTC)."""

    number: int
    open_time: datetime
    deadline: datetime
    close_time: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        """Whether on-time submissions are accepted at ``now``."""
        return self.open_time <= now < self.deadline

    def still_open(self, now: datetime) -> bool:
        """Whether Numerai's current round (it reports only rounds that opened) is open at ``now``:
        its deadline has not passed. The open time is not compared: ``now`` is Numerai's time as
        measured from its ``Date`` header, to a second, and a round that has just opened must not
        look not-yet-open (and so missed) because our estimate of Numerai's clock is a little behind."""
        return now < self.deadline

    def guard_time(self, margin: float) -> datetime:
        """When ``round_deadline_near`` is due: ``margin`` seconds before the deadline, but at most
        a sixth of the window (an hour's window keeps 50 minutes, a minute's keeps 50 s)."""
        window = (self.deadline - self.open_time).total_seconds()
        return self.deadline - timedelta(seconds=max(0.0, min(margin, window / 6)))


class Action(Enum):
    """What to do about an observed round."""

    NOTHING = "nothing"
    PROCESS = "process"
    BASELINE = "baseline"
    MISSED = "missed"


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide`: an action for ``round`` and rounds that were missed."""

    action: Action
    round: RoundInfo | None
    missed: tuple[int, ...] = ()


def decide(last_processed: int | None, current: RoundInfo | None, now: datetime) -> Decision:
    """Decide what an observation of the current round means.

    * never processed anything: process the current round if it is open, else just remember it;
    * a newer round, still open: process it (rounds skipped in between were missed);
    * a newer round already closed: it was missed (it opened and closed while we were away);
    * the same or an older round: nothing (a round is never processed twice).
    """
    if current is None:
        return Decision(Action.NOTHING, None)
    if last_processed is None:
        return Decision(Action.PROCESS if current.still_open(now) else Action.BASELINE, current)
    if current.number <= last_processed:
        return Decision(Action.NOTHING, current)
    skipped = tuple(range(last_processed + 1, current.number))
    if current.still_open(now):
        return Decision(Action.PROCESS, current, skipped)
    return Decision(Action.MISSED, current, (*skipped, current.number))


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll: ``idle_interval`` normally, ``fast_interval`` near an expected open."""

    idle_interval: float = 60.0
    fast_interval: float = 2.0
    fast_before: timedelta = timedelta(minutes=10)
    fast_after: timedelta = timedelta(hours=2)
    #: Seconds before a deadline for ``round_deadline_near`` (see :meth:`RoundInfo.guard_time`).
    guard_margin: float = 600.0

    def __post_init__(self) -> None:
        problem = poll_intervals_problem(self.fast_interval, self.idle_interval)
        if problem is not None:
            raise ValueError(f"poll intervals: fast_interval {problem}")

    def next_delay(self, latest: RoundInfo | None, previous_open: datetime | None, now: datetime) -> float:
        """Seconds until the next poll, given the latest round seen and the one before it.

        Never more than a quarter of the latest round's window (nor less than ``fast_interval``):
        whatever the calendar, a round as long as the last one is seen while it is open, even
        before its cadence can be guessed (an hour's window changes nothing at the usual intervals).
        """
        if latest is None:
            return self.fast_interval
        window = (latest.deadline - latest.open_time).total_seconds()
        return min(self._by_calendar(latest, previous_open, now), max(self.fast_interval, window / 4))

    def _by_calendar(self, latest: RoundInfo, previous_open: datetime | None, now: datetime) -> float:
        for expected in expected_next_opens(latest, previous_open):
            if expected - self.fast_before <= now <= expected + self.fast_after:
                return self.fast_interval
            until_window = (expected - self.fast_before - now).total_seconds()
            if 0 < until_window < self.idle_interval:
                return max(self.fast_interval, until_window)
        return self.idle_interval


def expected_next_opens(latest: RoundInfo, previous_open: datetime | None) -> list[datetime]:
    """When the round after ``latest`` is expected to open (guesses, soonest first).

    Two guesses: the next Tuesday-to-Saturday day at the same time of day (Numerai's calendar),
    and the latest open plus the last gap between opens (any regular cadence, such as a sandbox
    compressed into seconds).
    """
    guesses = []
    day = latest.open_time + timedelta(days=1)
    while day.weekday() not in ROUND_WEEKDAYS:
        day += timedelta(days=1)
    guesses.append(day)
    if previous_open is not None and latest.open_time > previous_open:
        guesses.append(latest.open_time + (latest.open_time - previous_open))
    return sorted(guesses)


def latest_version(names: list[str]) -> str | None:
    """The newest dataset version in ``list_datasets()`` output (``v5.10`` beats ``v5.9``)."""
    versions = {name.split("/", 1)[0] for name in names if "/" in name}
    parsed = [(key, version) for version in versions if (key := parse_version(version)) is not None]
    return max(parsed)[1] if parsed else None
