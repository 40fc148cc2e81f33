"""Waiting for a round's live data: Numerai may publish it minutes after the round opens.

Until it does, Numerai's dataset query says "Dataset not found" for the round's file, or its URL
still serves the previous round's file (the data sync raises
:class:`~numeraud.supervisor.datasync.LiveDataPending` for either). The round is never processed
with the previous round's file: :class:`LiveDataWait` asks again every ``fast_interval`` until the
file is there, or the deadline is too close (:class:`LiveDataLate`, and the round is missed with
that reason).
"""

from __future__ import annotations

import time
from typing import Any

from numeraud.supervisor.datasync import KnownFile, LiveDataPending, SyncedFile
from numeraud.supervisor.round_events import live_name
from numeraud.supervisor.tournament import PollPolicy, RoundInfo


class LiveDataLate(Exception):
    """The round's deadline came before Numerai published its live data."""


class LiveDataWait:
    """The follower's wait for live data (mixed into the follower, which owns ``known``, ``policy``,
    the fetch with its retries and the stoppable pause)."""

    known: dict[str, KnownFile]
    policy: PollPolicy
    log: Any
    activity: str
    last_error: str | None
    last_progress: float

    def _fetch(
        self, remote: str, local: str, info: RoundInfo, deadline: float, *, stale: KnownFile | None = None
    ) -> tuple[str, SyncedFile]:
        raise NotImplementedError

    def _pause(self, seconds: float) -> None:
        raise NotImplementedError

    def _fetch_live(self, version: str, name: str, info: RoundInfo, deadline: float) -> tuple[str, SyncedFile]:
        """Sync round ``info``'s copy of live file ``name`` (monotonic ``deadline``), waiting for it
        to be published; :class:`LiveDataLate` if the deadline comes first."""
        remote, local = f"{version}/{name}", f"{version}/{live_name(name, info.number)}"
        stale = self._previous_live(version, name, info.number)
        waiting_since: float | None = None
        while True:
            try:
                return self._fetch(remote, local, info, deadline, stale=stale)
            except LiveDataPending as exc:
                self.last_error = str(exc)
                now = time.monotonic()
                if waiting_since is None:
                    waiting_since = now
                    self.log.warning("live_data_pending", round=info.number, file=remote, reason=str(exc))
                if now + self.policy.fast_interval >= deadline:
                    raise LiveDataLate(f"{exc}; waited {now - waiting_since:.0f} s") from exc
                self.activity = f"waiting for round {info.number}'s live data (not published yet)"
                self.last_progress = now  # waiting for Numerai is not a stall
                self._pause(self.policy.fast_interval)

    def _previous_live(self, version: str, name: str, number: int) -> KnownFile | None:
        """The synced copy of live file ``name`` of the newest round before ``number``, if any."""
        stem, _, suffix = name.rpartition(".")
        prefix, ending = f"{version}/{stem}_", f".{suffix}"
        best: tuple[int, KnownFile] | None = None
        for key, known in self.known.items():
            middle = key[len(prefix) : -len(ending)] if key.startswith(prefix) and key.endswith(ending) else ""
            if middle.isdigit() and int(middle) < number and (best is None or int(middle) > best[0]):
                best = (int(middle), known)
        return best[1] if best is not None else None
