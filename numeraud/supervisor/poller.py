"""The tournament follower: polls Numerai, syncs the round's data, hands events to the supervisor.

It runs in its own thread so that a multi-gigabyte download never blocks the supervisor's loop
(heartbeats, handler traffic, the watchdog). It never touches the store: everything it learns
goes out as a :class:`Publication` that the supervisor's loop commits in one transaction
(events, tournament state, dataset files), so a crash can never leave events without state.

Per round, in numerauto's order, and only once the files are complete and verified on disk:
``round_begin``, ``new_training_data`` (first run, a new dataset version, or, if configured, a
validation update), ``new_tournament_data``, ``cleanup``; then ``round_deadline_near`` at the
round's guard time (``[poll] guard_margin`` before the deadline, at most a sixth of the window)
and ``round_closed`` once its submission deadline has passed. Their payloads carry the round's
times and deadline, the dataset ``version``, ``data_dir``, the verified ``training_files`` and ``live_files``, and
``tournament_state``: numerauto's ``last_round_processed`` and ``last_round_trained`` as its
handlers saw them in that callback (what ``self.numerauto.persistent_state`` returns).

A round that opened and closed while numeraud was away is published as ``round_missed``; so is a
round whose data could not be had before its deadline, with the reason. Numerai's trouble on the
way (errors, timeouts, an empty dataset listing) is retried with backoff until that deadline,
never taken as the round's end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from numeraud.common.config import DataConfig
from numeraud.common.failpoints import Failpoints
from numeraud.common.logs import get_logger
from numeraud.numerai.client import NumeraiClient, NumeraiError, NumeraiRejected, NumeraiUnavailable
from numeraud.numerai.retry import Backoff, DeadlinePassed, retry_until
from numeraud.supervisor.datasync import DatasetSync, DiskFull, KnownFile, SyncedFile, intact
from numeraud.supervisor.tournament import Action, PollPolicy, RoundInfo, decide, latest_version

ROUND_QUERY = """
query ($tournament: Int!) {
  rounds(tournament: $tournament, number: 0) { number openTime closeTime closeStakingTime }
}
"""
STATE_PROCESSED = "last_round_processed"
STATE_TRAINED = "last_round_trained"
STATE_VERSION = "dataset_version"
STATE_PREVIOUS_OPEN = "previous_round_open"
STATE_PUBLISHED = "last_round_published"
STATE_CLOSED = "last_round_closed"
STATE_PUBLISHED_DEADLINE = "last_round_published_deadline"
STATE_PUBLISHED_VERSION = "last_round_published_version"
STATE_GUARDED = "last_round_guarded"


class FollowerStopped(Exception):
    """The follower was stopped in the middle of a poll; the poll's work is left undone, not failed."""


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


class TournamentFollower:
    """Follows the tournament for the supervisor (see the module docstring)."""

    def __init__(
        self,
        client: NumeraiClient,
        sync: DatasetSync,
        settings: DataConfig,
        policy: PollPolicy,
        *,
        publish: Callable[[Publication], None],
        state: Mapping[str, str],
        known_files: Mapping[str, KnownFile],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff: Backoff = Backoff(base=1.0, cap=30.0),
        failpoints: Failpoints | None = None,
    ) -> None:
        self.failpoints = failpoints if failpoints is not None else Failpoints(env={})
        self.client = client
        self.sync = sync
        self.settings = settings
        self.policy = policy
        self.publish = publish
        self.state = dict(state)
        self.known = dict(known_files)
        self.now = now
        self.backoff = backoff
        self.log = get_logger("poller")
        self.wake = threading.Event()
        #: Set by :meth:`stop`: a wait before a retry ends at once with :class:`FollowerStopped`.
        self.stopping = threading.Event()
        self.failures = 0
        self.latest: RoundInfo | None = None
        self.last_poll: float | None = None
        #: When this follower last heard from Numerai (``None``: not yet in this process).
        self.last_look: datetime | None = None
        self.last_error: str | None = None
        #: Monotonic time of the follower's last sign of life: a poll began, or a call is retried.
        self.last_progress = time.monotonic()
        self.activity = "starting"

    # -- one poll ----------------------------------------------------------------------------

    def observe(self) -> RoundInfo | None:
        """The current round, from Numerai (one call, may raise :class:`NumeraiError`)."""
        try:
            answer = self.client.raw_query(ROUND_QUERY, {"tournament": self.client.tournament_id})
        except NumeraiRejected as exc:
            # Numerai answers an error, not a null, between rounds at times.
            self.log.info("no_current_round", reason=str(exc))
            return None
        rounds = answer["data"]["rounds"] or [None]
        return parse_round(rounds[0])

    def poll(self) -> float:
        """Observe, decide, sync and publish; returns the seconds until the next poll."""
        self.last_poll = self.last_progress = time.monotonic()
        self.activity = "polling"
        try:
            current = self.observe()
        except NumeraiError as exc:
            self.failures += 1
            self.last_error = str(exc)
            delay = min(self.policy.idle_interval, self.backoff.delay(self.failures - 1) + self.policy.fast_interval)
            self.log.warning("poll_failed", error=str(exc), failures=self.failures, retry_in=round(delay, 1))
            self.activity = "waiting after a failed poll"
            return delay
        self.failures = 0
        self.last_error = None
        self.failpoints.hit("mid_poll")
        now = self.now()
        previous_look, self.last_look = self.last_look, now
        if current is not None:
            if self.latest is not None and current.number != self.latest.number:
                self.state[STATE_PREVIOUS_OPEN] = self.latest.open_time.isoformat()
            self.latest = current  # always the newest observation: Numerai moves its times
        self._guard_if_due(now)
        self._close_if_due(now)  # before a newer round's events, so round_closed keeps log order
        processed = self.state.get(STATE_PROCESSED)
        decision = decide(int(processed) if processed else None, current, now)
        if decision.action is Action.PROCESS and decision.round is not None:
            self._report_missed(decision.missed, now, previous_look)
            self._process(decision.round)
        elif decision.action is Action.MISSED and decision.round is not None:
            self._report_missed(decision.missed, now, previous_look, latest=decision.round)
        elif decision.action is Action.BASELINE and decision.round is not None:
            self.log.info("round_baseline", round=decision.round.number, reason="closed when first seen")
            self._commit(Publication(state={STATE_PROCESSED: str(decision.round.number)}))
        self._guard_if_due(self.now())
        self._close_if_due(self.now())
        previous = self.state.get(STATE_PREVIOUS_OPEN)
        self.activity = "waiting for the next round"
        delay = self.policy.next_delay(self.latest, datetime.fromisoformat(previous) if previous else None, self.now())
        pending = self._pending_close()
        if pending is not None:
            delay = min(delay, max(0.05, (pending[1] - self.now()).total_seconds() + 0.05))
        guard_at = self._guard_due_at()
        if guard_at is not None:
            delay = min(delay, max(0.05, (guard_at - self.now()).total_seconds() + 0.05))
        return delay

    def _guard_due_at(self) -> datetime | None:
        """When the published round's ``round_deadline_near`` is due (``None``: none is pending)."""
        pending = self._pending_close()
        if pending is None or self.state.get(STATE_GUARDED) == str(pending[0]):
            return None
        number, deadline = pending
        if self.latest is not None and self.latest.number == number:
            return self.latest.guard_time(self.policy.guard_margin)
        return deadline - timedelta(seconds=self.policy.guard_margin)

    def _guard_if_due(self, now: datetime) -> None:
        """Publish ``round_deadline_near`` once the guard time of the published round has come.

        Handlers with a deadline guard (the uploader's fallbacks) act on it; a round whose
        deadline passed before it was due (numeraud was down) gets only its ``round_closed``.
        """
        guard_at, pending = self._guard_due_at(), self._pending_close()
        if guard_at is None or pending is None or now < guard_at or now >= pending[1]:
            return
        number, deadline = pending
        payload: dict[str, Any] = {
            "round": number,
            "deadline": deadline.isoformat(),
            "seconds_left": round((deadline - now).total_seconds(), 1),
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

    def _commit(self, publication: Publication) -> None:
        self.publish(publication)
        self.state.update(publication.state)
        for name, synced in publication.files:
            self.known[name] = KnownFile(synced.size, synced.sha256, synced.etag)

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
                payload |= _round_payload(latest)
            publication.events.append(("round_missed", number, payload))
            self.log.warning("round_missed", round=number)
        self._commit(publication)

    def _process(self, info: RoundInfo) -> None:
        deadline = time.monotonic() + (info.deadline - self.now()).total_seconds()
        log = self.log.bind(round=info.number)
        log.info("round_opened", deadline=info.deadline.isoformat())
        stage = "the deadline passed before Numerai listed a dataset version"
        try:
            version = self._version(deadline)
            stage = "data not synced: the deadline passed first"
            files: list[tuple[str, SyncedFile]] = []
            new_training = self._sync_training(version, info, deadline, files)
            for name in self.settings.live_files:
                files.append(
                    self._fetch(f"{version}/{name}", f"{version}/{live_name(name, info.number)}", info, deadline)
                )
        except DeadlinePassed as exc:
            reason = f"{stage} ({exc})"
            log.error("round_data_unavailable", error=reason)
            self._commit(
                Publication(
                    events=[("round_missed", info.number, _round_payload(info) | {"reason": reason})],
                    state={STATE_PROCESSED: str(info.number)},
                )
            )
            return
        except DiskFull as exc:
            self.last_error = str(exc)
            log.error("disk_full", error=str(exc))
            return
        self._commit(self._round_publication(info, version, new_training, files))
        log.info("round_published", version=version, new_training_data=new_training)
        self._prune(version, info.number)

    def _round_publication(
        self, info: RoundInfo, version: str, new_training: bool, files: list[tuple[str, SyncedFile]]
    ) -> Publication:
        payload = _round_payload(info) | {
            "version": version,
            "data_dir": str(self.sync.data_dir),
            "files": {name: str(synced.path) for name, synced in files},
            "training_files": {name: str(self.sync.data_dir / version / name) for name in self.settings.training_files},
            "live_files": self._live_files(version, info.number),
        }
        # numerauto's daemon state as its handlers saw it in each callback: last_round_trained is
        # this round once new_training_data has been handled, last_round_processed only after cleanup.
        processed, trained = _number(self.state.get(STATE_PROCESSED)), _number(self.state.get(STATE_TRAINED))
        before = payload | {"tournament_state": {"last_round_processed": processed, "last_round_trained": trained}}
        after = payload | {
            "tournament_state": {
                "last_round_processed": processed,
                "last_round_trained": info.number if new_training else trained,
            }
        }
        events = [("round_begin", info.number, before)]
        state = {
            STATE_PROCESSED: str(info.number),
            STATE_PUBLISHED: str(info.number),
            STATE_PUBLISHED_DEADLINE: info.deadline.isoformat(),
            STATE_PUBLISHED_VERSION: version,
        }
        if new_training:
            events.append(("new_training_data", info.number, before))
            state |= {STATE_TRAINED: str(info.number), STATE_VERSION: version}
        events += [("new_tournament_data", info.number, after), ("cleanup", info.number, after)]
        return Publication(events=events, state=state, files=files)

    def _version(self, deadline: float) -> str:
        """The dataset version to sync: the pinned one, or the newest Numerai lists.

        An empty listing (or one without a version) is Numerai being wrong for a moment, not a
        verdict on the round: it is retried like any other unavailability until the deadline.
        """
        if self.settings.version != "latest":
            return self.settings.version
        self.activity = "listing dataset versions"

        def newest() -> str:
            version = latest_version(list(self.client.list_datasets() or []))
            if version is None:
                raise NumeraiUnavailable("Numerai listed no dataset version")
            return version

        result: str = self._retry(newest, deadline)
        return result

    def _sync_training(
        self, version: str, info: RoundInfo, deadline: float, files: list[tuple[str, SyncedFile]]
    ) -> bool:
        names = [f"{version}/{name}" for name in self.settings.training_files]
        for name in names:
            if name in self.known and not intact(self.sync.data_dir / name, self.known[name].size):
                self.log.warning("file_damaged", file=name, reason="its size or footer changed since it was synced")
                del self.known[name]  # fetched whole again, not taken as unchanged for its ETag
        missing = [name for name in names if name not in self.known or not (self.sync.data_dir / name).exists()]
        new_version = self.state.get(STATE_VERSION) != version
        if new_version or missing:
            for name in names:
                files.append(self._fetch(name, name, info, deadline))
            return True
        validation = f"{version}/validation.parquet"
        if self.settings.validation_updates and validation in names:
            synced = self._fetch(validation, validation, info, deadline)[1]
            if synced.changed:
                files.append((validation, synced))
                return True
        return False

    def _fetch(self, remote: str, local: str, info: RoundInfo, deadline: float) -> tuple[str, SyncedFile]:
        self.activity = f"downloading {remote}"
        round_number = info.number if local != remote else None
        synced = self._retry(
            lambda: self.sync.fetch(remote, local, round_number=round_number, known=self.known.get(local)), deadline
        )
        self.log.info(
            "file_synced", round=info.number, file=local, size=synced.size, changed=synced.changed, sha256=synced.sha256
        )
        return local, synced

    def _retry(self, call: Callable[[], Any], deadline: float) -> Any:
        def on_retry(attempt: int, error: BaseException, wait: float) -> None:
            self.last_progress = time.monotonic()  # retrying until the deadline is not a stall
            self.last_error = str(error)
            self.log.warning("retrying", attempt=attempt, error=str(error), wait=round(wait, 1))

        return retry_until(call, deadline=deadline, backoff=self.backoff, on_retry=on_retry, sleep=self._pause)

    def _pause(self, seconds: float) -> None:
        """The wait before a retry; it ends early, raising :class:`FollowerStopped`, on :meth:`stop`."""
        if self.stopping.wait(seconds):
            raise FollowerStopped("the follower was stopped while it waited to retry")

    def stop(self) -> None:
        """Ask the follower to stop: a poll under way gives up at its next wait (thread-safe)."""
        self.stopping.set()
        self.wake.set()

    def _prune(self, version: str, current: int) -> None:
        keep_from = current - self.settings.retention + 1
        for name in self.settings.live_files:
            stem, _, suffix = name.rpartition(".")
            for path in (self.sync.data_dir / version).glob(f"{stem}_*.{suffix}"):
                number = path.name[len(stem) + 1 : -len(suffix) - 1]
                if number.isdigit() and int(number) < keep_from:
                    path.unlink(missing_ok=True)
                    self.log.info("file_pruned", file=str(path))

    def status(self) -> dict[str, Any]:
        """What the follower is doing, for ``numeraudctl status``."""
        return {
            "activity": self.activity,
            "round": self.latest.number if self.latest else None,
            # The round's window as Numerai last gave it (numeraudctl shows the time left).
            "open_time": self.latest.open_time.isoformat() if self.latest else None,
            "close_time": self.latest.close_time.isoformat() if self.latest and self.latest.close_time else None,
            "deadline": self.latest.deadline.isoformat() if self.latest else None,
            "last_round_processed": self.state.get(STATE_PROCESSED),
            "last_round_trained": self.state.get(STATE_TRAINED),
            "dataset_version": self.state.get(STATE_VERSION),
            "last_error": self.last_error,
            "consecutive_failures": self.failures,
        }


def _number(value: str | None) -> int | None:
    """A round number kept as text in the tournament state (``None`` when not set)."""
    return int(value) if value else None


def _round_payload(info: RoundInfo) -> dict[str, Any]:
    return {
        "round": info.number,
        "open_time": info.open_time.isoformat(),
        "close_time": info.close_time.isoformat() if info.close_time else None,
        "deadline": info.deadline.isoformat(),
    }
