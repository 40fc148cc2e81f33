"""What the follower publishes about a round, and when: the tournament-state keys, the
:class:`Publication`, the round's payload and per-round file names, and :class:`RoundDeadlines`,
the part of the follower that watches a published round's deadline (``round_deadline_near`` at its
guard time, ``round_closed`` once it passed) and reports rounds that were missed, saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from numeraud.common.config import DataConfig
from numeraud.supervisor.datasync import DatasetSync, SyncedFile
from numeraud.supervisor.tournament import PollPolicy, RoundInfo

STATE_PROCESSED = "last_round_processed"
STATE_TRAINED = "last_round_trained"
STATE_VERSION = "dataset_version"
STATE_PREVIOUS_OPEN = "previous_round_open"
STATE_PUBLISHED = "last_round_published"
STATE_CLOSED = "last_round_closed"
STATE_PUBLISHED_DEADLINE = "last_round_published_deadline"
STATE_PUBLISHED_VERSION = "last_round_published_version"
STATE_GUARDED = "last_round_guarded"


@dataclass
class Publication:
    """What one poll learned, for the supervisor to commit atomically."""

    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, SyncedFile]] = field(default_factory=list)


def parse_round(raw: Mapping[str, Any] | None) -> RoundInfo | None:
    """A :class:`RoundInfo` from Numerai's ``rounds`` answer (None if there is no round)."""
    if raw is None:
        return None
    close = raw.get("closeTime")
    return RoundInfo(
        number=int(raw["number"]),
        open_time=datetime.fromisoformat(raw["openTime"]),
        deadline=datetime.fromisoformat(raw["closeStakingTime"] or raw["closeTime"]),
        close_time=datetime.fromisoformat(close) if close else None,
    )


def live_name(name: str, round_number: int) -> str:
    """The local name of a per-round file: ``live.parquet`` → ``live_{round}.parquet``."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}_{round_number}.{suffix}"


class RoundDeadlines:
    """The follower's watch of a published round's deadline (mixed into the follower, which owns
    ``state``, ``latest``, ``policy``, ``settings``, ``sync`` and how a publication is committed)."""

    state: dict[str, str]
    latest: RoundInfo | None
    policy: PollPolicy
    settings: DataConfig
    log: Any

    sync: DatasetSync
    #: Numerai's clock minus ours, in seconds (the follower's :class:`~numeraud.supervisor.numerai_time.NumeraiTime`).
    clock_offset: Callable[[], float]

    def _commit(self, publication: Publication) -> None:
        raise NotImplementedError

    def _guard_due(self) -> tuple[int, datetime, datetime] | None:
        """The published round whose ``round_deadline_near`` is still to come: its number, its
        deadline and when the event is due (``None``: none is pending)."""
        pending = self._pending_close()
        if pending is None or self.state.get(STATE_GUARDED) == str(pending[0]):
            return None
        number, deadline = pending
        if self.latest is not None and self.latest.number == number:
            return number, deadline, self.latest.guard_time(self.policy.guard_margin)
        return number, deadline, deadline - timedelta(seconds=self.policy.guard_margin)

    def _guard_if_due(self, now: datetime) -> None:
        """Publish ``round_deadline_near`` once the guard time of the published round has come.

        Handlers with a deadline guard (the uploader's fallbacks) act on it; a round whose
        deadline passed before it was due (numeraud was down) gets only its ``round_closed``.
        """
        due = self._guard_due()
        if due is None:
            return
        number, deadline, guard_at = due
        if now < guard_at or now >= deadline:
            return
        payload: dict[str, Any] = {
            "round": number,
            "deadline": deadline.isoformat(),
            "seconds_left": round((deadline - now).total_seconds(), 1),
            "clock_offset": round(self.clock_offset(), 3),
        }
        version = self.state.get(STATE_PUBLISHED_VERSION)
        if version:
            payload |= {"version": version, "live_files": self._live_files(version, number)}
        self.log.info("round_deadline_near", round=number, seconds_left=payload["seconds_left"])
        self._commit(Publication(events=[("round_deadline_near", number, payload)], state={STATE_GUARDED: str(number)}))

    def _live_files(self, version: str, number: int) -> dict[str, str]:
        """Where round ``number``'s live files of ``version`` are synced."""
        return {name: str(self.sync.data_dir / version / live_name(name, number)) for name in self.settings.live_files}

    def _pending_close(self) -> tuple[int, datetime] | None:
        """The published round whose deadline has not been announced as passed yet."""
        published, deadline = self.state.get(STATE_PUBLISHED), self.state.get(STATE_PUBLISHED_DEADLINE)
        if not published or not deadline or self.state.get(STATE_CLOSED) == published:
            return None
        if self.latest is not None and self.latest.number == int(published):
            return self.latest.number, self.latest.deadline  # Numerai may have moved the deadline
        return int(published), datetime.fromisoformat(deadline)

    def _close_if_due(self, now: datetime) -> None:
        pending = self._pending_close()
        newer_round = self.latest is not None and pending is not None and self.latest.number > pending[0]
        if pending is not None and (now >= pending[1] or newer_round):
            number, deadline = pending
            self.log.info("round_closed", round=number)
            self._commit(
                Publication(
                    events=[("round_closed", number, {"round": number, "deadline": deadline.isoformat()})],
                    state={STATE_CLOSED: str(number)},
                )
            )

    def _report_missed(
        self, numbers: tuple[int, ...], now: datetime, previous_look: datetime | None, latest: RoundInfo | None = None
    ) -> None:
        if not numbers:
            return
        if previous_look is None:
            reason = "opened and closed while numeraud was not running"
        else:  # numeraud ran, but saw Numerai too seldom (or not at all) for this window
            gap = (now - previous_look).total_seconds()
            reason = (
                f"opened and closed between two looks at Numerai {gap:.0f} s apart "
                f"({previous_look.isoformat(timespec='seconds')} and {now.isoformat(timespec='seconds')}): "
                "Numerai could not be reached, or the round's window was shorter than the poll interval"
            )
        publication = Publication(state={STATE_PROCESSED: str(max(numbers))})
        for number in numbers:
            payload: dict[str, Any] = {"round": number, "reason": reason}
            if latest is not None and number == latest.number:
                payload |= round_payload(latest)
            publication.events.append(("round_missed", number, payload))
            self.log.warning("round_missed", round=number)
        self._commit(publication)


def round_payload(info: RoundInfo) -> dict[str, Any]:
    """The round's number and times, as every round event carries them."""
    return {
        "round": info.number,
        "open_time": info.open_time.isoformat(),
        "close_time": info.close_time.isoformat() if info.close_time else None,
        "deadline": info.deadline.isoformat(),
    }
