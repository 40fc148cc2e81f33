"""The tournament follower: polls Numerai, syncs the round's data, hands events to the supervisor.

It runs in its own thread so that a multi-gigabyte download never blocks the supervisor's loop
(heartbeats, handler traffic, the watchdog). It never touches the store: everything it learns
goes out as a :class:`Publication` that the supervisor's loop commits in one transaction
(events, tournament state, dataset files), so a crash can never leave events without state.

Per round, in numerauto's order, and only once the files are complete and verified on disk:
``round_begin``, ``new_training_data`` (first run, a new dataset version, or, if configured, a
validation update), ``new_tournament_data``, ``cleanup``; then ``round_deadline_near`` at the
round's guard time (``[poll] guard_margin`` before the deadline, at most a sixth of the window)
and ``round_closed`` once its submission deadline has passed. Every time is Numerai's: the local
clock corrected by the offset of Numerai's ``Date`` headers (:mod:`~numeraud.supervisor.numerai_time`).
Their payloads carry the round's times and deadline (Numerai's), ``clock_offset`` (Numerai's clock
minus ours, for the handlers' own deadline arithmetic), the dataset ``version``, ``data_dir``,
the verified ``training_files`` and ``live_files``, and
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
from datetime import UTC, datetime
from typing import Any

from numeraud.common.config import DataConfig
from numeraud.common.failpoints import Failpoints
from numeraud.common.logs import get_logger
from numeraud.numerai.client import NumeraiClient, NumeraiError, NumeraiRejected, NumeraiUnavailable
from numeraud.numerai.retry import Backoff, DeadlinePassed, retry_until
from numeraud.supervisor.datasync import DatasetSync, DiskFull, KnownFile, SyncedFile, intact
from numeraud.supervisor.live_wait import LiveDataLate, LiveDataWait
from numeraud.supervisor.numerai_time import NumeraiTime
from numeraud.supervisor.round_events import (
    STATE_PREVIOUS_OPEN,
    STATE_PROCESSED,
    STATE_PUBLISHED,
    STATE_PUBLISHED_DEADLINE,
    STATE_PUBLISHED_VERSION,
    STATE_TRAINED,
    STATE_VERSION,
    Publication,
    RoundDeadlines,
    parse_round,
    round_payload,
)
from numeraud.supervisor.tournament import Action, PollPolicy, RoundInfo, decide, latest_version

ROUND_QUERY = """
query ($tournament: Int!) {
  rounds(tournament: $tournament, number: 0) { number openTime closeTime closeStakingTime }
}
"""


#: The share of a round's remaining time that a new training dataset may take to sync when a
#: synced version can stand in for it (see :meth:`TournamentFollower._training_or_fallback`).
TRAINING_SYNC_SHARE = 0.5


class FollowerStopped(Exception):
    """The follower was stopped in the middle of a poll; the poll's work is left undone, not failed."""


class TournamentFollower(RoundDeadlines, LiveDataWait, NumeraiTime):
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
        #: The local clock; :meth:`now` is Numerai's (this plus the measured offset).
        self.local_now = now
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
        self.report_clock()
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
        due = self._guard_due()
        if due is not None:
            delay = min(delay, max(0.05, (due[2] - self.now()).total_seconds() + 0.05))
        return delay

    def _commit(self, publication: Publication) -> None:
        self.publish(publication)
        self.state.update(publication.state)
        for name, synced in publication.files:
            self.known[name] = KnownFile(synced.size, synced.sha256, synced.etag)

    def _process(self, info: RoundInfo) -> None:
        deadline = time.monotonic() + (info.deadline - self.now()).total_seconds()
        log = self.log.bind(round=info.number)
        log.info("round_opened", deadline=info.deadline.isoformat())
        stage = "the deadline passed before Numerai listed a dataset version"
        try:
            version = self._version(deadline)
            stage = "data not synced: the deadline passed first"
            files: list[tuple[str, SyncedFile]] = []
            version, new_training = self._training_or_fallback(version, info, deadline, files)
            for name in self.settings.live_files:
                files.append(self._fetch_live(version, name, info, deadline))
        except (DeadlinePassed, LiveDataLate) as exc:
            if isinstance(exc, LiveDataLate):
                stage = f"Numerai had not published round {info.number}'s live data by the deadline"
            reason = f"{stage} ({exc})"
            log.error("round_data_unavailable", error=reason)
            self._commit(
                Publication(
                    events=[("round_missed", info.number, round_payload(info) | {"reason": reason})],
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
        payload = round_payload(info) | {
            "clock_offset": round(self.clock_offset(), 3),
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

    def _training_or_fallback(
        self, version: str, info: RoundInfo, deadline: float, files: list[tuple[str, SyncedFile]]
    ) -> tuple[str, bool]:
        """Sync the training files; on failure, fall back to the version already synced.

        With a version on disk, the new one's files get :data:`TRAINING_SYNC_SHARE` of the time
        left: a release that cannot be had (Numerai failing on one of its files, a download too slow
        for the window) must not hold back the round's live data. The round then goes on with the
        synced version, without ``new_training_data``, and the new version is tried again (resuming
        its partial copies) next round. Without a synced version there is nothing to fall back to:
        the training files are waited for until the deadline.
        """
        synced = self.state.get(STATE_VERSION)
        if synced is None:
            return version, self._sync_training(version, info, deadline, files)
        budget = time.monotonic() + max(0.0, deadline - time.monotonic()) * TRAINING_SYNC_SHARE
        try:
            return version, self._sync_training(version, info, budget, files)
        except (DeadlinePassed, NumeraiError) as exc:  # an error on a file of the new version too
            files.clear()
            last = getattr(exc, "last_error", None)
            error = f"{exc} ({last})" if last else str(exc)
            self.last_error = f"training data {version} not synced: {error}"
            self.log.warning("training_sync_deferred", round=info.number, version=version, using=synced, error=error)
            return synced, False

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

    def _fetch(
        self, remote: str, local: str, info: RoundInfo, deadline: float, *, stale: KnownFile | None = None
    ) -> tuple[str, SyncedFile]:
        self.activity = f"downloading {remote}"
        round_number = info.number if local != remote else None
        synced = self._retry(
            lambda: self.sync.fetch(remote, local, round_number=round_number, known=self.known.get(local), stale=stale),
            deadline,
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
            **self.clock_status(),
        }


def _number(value: str | None) -> int | None:
    """A round number kept as text in the tournament state (``None`` when not set)."""
    return int(value) if value else None
