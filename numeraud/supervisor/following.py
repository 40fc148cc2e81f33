"""The supervisor's side of the tournament follower: its thread, its queue, its health.

The follower (:mod:`numeraud.supervisor.poller`) runs in a thread and hands each :class:`Publication` to a
queue (a deque: appends and pops are atomic), then wakes the supervisor's loop (``wake``, the
loop's socketpair); :meth:`FollowerService.drain`, run by the loop, hands each one to ``publish``
(the dispatcher's :meth:`~numeraud.supervisor.dispatcher.Dispatcher.publish`: events checked like
any append, committed with the tournament state and dataset files in one transaction): the store
never leaves the loop's thread, and a failed commit is the log's degraded state in status.

The service is healthy while the follower keeps polling: a follower thread that died, or one
stuck longer than its slowest possible poll, makes the supervisor stop feeding the systemd
watchdog (systemd then restarts numeraud), and ``numeraudctl status`` says which.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from numeraud.common.config import DataConfig
from numeraud.common.failpoints import Failpoints
from numeraud.common.logs import get_logger
from numeraud.numerai.client import NumeraiClient
from numeraud.supervisor.datasync import DatasetSync, KnownFile, Progress
from numeraud.supervisor.poller import FollowerStopped, TournamentFollower
from numeraud.supervisor.round_events import Publication
from numeraud.supervisor.store import DatasetFile, Store, StoreError
from numeraud.supervisor.tournament import PollPolicy

#: What commits a publication: ``publish(events, state, files) -> seqs`` (the dispatcher's).
PublishFn = Callable[
    [Sequence[tuple[str, int | None, Mapping[str, Any]]], Mapping[str, str], Sequence[DatasetFile]], list[int]
]


class FollowerService:
    """Runs a :class:`TournamentFollower` for the supervisor (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        api_url: str,
        data_dir: Any,
        settings: DataConfig,
        policy: PollPolicy,
        stall_after: float,
        publish: PublishFn,
        wake: Callable[[], None] | None = None,
        failpoints: Failpoints | None = None,
    ) -> None:
        self.publish = publish
        self.wake = wake
        self.failpoints = failpoints if failpoints is not None else Failpoints(env={})
        #: Why the thread ended while it was meant to run (``None`` while it runs).
        self.died: str | None = None
        self.log = get_logger("follower")
        self.pending: collections.deque[Publication] = collections.deque()
        self.progress: Progress | None = None
        client = NumeraiClient(api_url)
        sync = DatasetSync(
            client,
            data_dir,
            progress=self._on_progress,
            reserve_bytes=settings.reserve_bytes,
            failpoints=self.failpoints,
        )
        known = {f"{f.version}/{f.name}": KnownFile(f.size, f.sha256, f.etag) for f in store.dataset_files()}
        self.follower = TournamentFollower(
            client,
            sync,
            settings,
            policy,
            publish=self._queue,
            state=store.tournament_state(),
            known_files=known,
            failpoints=self.failpoints,
        )
        self.stall_after = stall_after
        self.thread = threading.Thread(target=self._run, name="follower", daemon=True)
        self._last_alive = time.monotonic()
        #: True while a poll (and its downloads) is under way.
        self.busy = False
        #: Wall-clock times (Unix seconds) of the last poll's start and of the next one, for status.
        self.last_poll_at: float | None = None
        self.next_poll_at: float | None = None

    def _queue(self, publication: Publication) -> None:
        """The follower thread's hand-over: queue, then wake the loop to commit it."""
        self.pending.append(publication)
        if self.wake is not None:
            self.wake()

    def _on_progress(self, progress: Progress) -> None:
        self.progress = progress
        self._last_alive = time.monotonic()
        self.log.info(
            "download_progress",
            file=progress.name,
            done=progress.done,
            total=progress.total,
            rate_mb_s=round(progress.rate / 1e6, 2),
        )

    def _run(self) -> None:
        try:
            while not self.follower.stopping.is_set():
                self._last_alive = time.monotonic()
                self.busy = True
                self.last_poll_at, self.next_poll_at = time.time(), None
                self.failpoints.hit("exit_follower_thread")
                try:
                    delay = self.follower.poll()
                except FollowerStopped:
                    self.busy = False
                    break
                except Exception as exc:  # a bug must not end the thread: log, wait, poll again
                    self.log.exception("poll_crashed", error=str(exc))
                    delay = self.follower.policy.idle_interval
                self._last_alive = time.monotonic()
                self.busy = False
                self.next_poll_at = time.time() + delay
                self.follower.wake.wait(delay)
                self.follower.wake.clear()
        except BaseException as exc:  # SystemExit from a library, or a bug outside the poll
            self.died = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.busy = False
            self.log.critical("follower_thread_died", error=self.died, exc_info=True)  # and the thread ends

    def start(self) -> None:
        """Start polling in the background."""
        self.thread.start()

    def stop(self) -> None:
        """Stop polling: a poll waiting to retry gives up at once; a call or download under way
        ends first (their timeouts bound it)."""
        self.follower.stop()
        self.thread.join(timeout=5)

    def poll_now(self) -> None:
        """Poll at once (``numeraudctl poll-now``, the webhook)."""
        self.follower.wake.set()

    def problem(self) -> str | None:
        """What is wrong with the follower, or ``None``: its thread is not running (it died, or was
        never started), or it made no progress for ``stall_after`` seconds (a download's progress
        and a retry count as progress)."""
        if not self.thread.is_alive():
            if self.died is not None:
                return f"the follower thread died ({self.died}): nothing polls Numerai"
            return "the follower thread is not running: nothing polls Numerai"
        idle = time.monotonic() - max(self._last_alive, self.follower.last_progress)
        if idle >= self.stall_after:
            return f"the follower made no progress for {idle:.0f} s"
        return None

    def healthy(self) -> bool:
        """Whether the supervisor may feed the watchdog on the follower's behalf (no :meth:`problem`)."""
        return self.problem() is None

    def drain(self, _now: float = 0.0) -> None:
        """Commit every queued publication (the supervisor loop's timer callback).

        A publication that cannot be committed (disk full) stays first in the queue and is tried
        again at the next call; nothing behind it overtakes it. One the log refuses (a bad kind,
        an oversized payload: ``ValueError``) is dropped with a log line, like a refused append.
        """
        while self.pending:
            publication = self.pending[0]
            files = [
                DatasetFile(
                    version=name.split("/", 1)[0],
                    name=name.split("/", 1)[1],
                    size=synced.size,
                    sha256=synced.sha256,
                    etag=synced.etag,
                    synced_at=datetime.now(UTC).isoformat(),
                )
                for name, synced in publication.files
            ]
            try:
                self.publish(publication.events, publication.state, files)
            except StoreError as exc:
                self.log.error("publish_failed", error=str(exc), waiting=len(self.pending))
                return
            except ValueError as exc:
                self.pending.popleft()
                self.log.error("publish_refused", error=str(exc), events=[k for k, _r, _p in publication.events])
                continue
            self.pending.popleft()
            for kind, number, _payload in publication.events:
                self.log.info("event_published", kind=kind, round=number)

    def status(self) -> dict[str, Any]:
        """For ``numeraudctl status``: the follower's activity and any download in progress."""
        status = self.follower.status()
        status["problem"] = self.problem()
        status["last_poll_at"] = _iso(self.last_poll_at)
        status["next_poll_at"] = _iso(self.next_poll_at)
        if self.progress is not None and self.progress.done < self.progress.total:
            status["download"] = {
                "file": self.progress.name,
                "done": self.progress.done,
                "total": self.progress.total,
                "rate_mb_s": round(self.progress.rate / 1e6, 2),
            }
        return status


def _iso(unix: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC (``None`` stays ``None``)."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds") if unix is not None else None
