"""The supervisor's follower service: its thread and its health, against the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from numeraud.common.config import DataConfig
from numeraud.common.failpoints import Failpoints
from numeraud.numerai.retry import Backoff
from numeraud.sandbox import Sandbox
from numeraud.supervisor.following import FollowerService
from numeraud.supervisor.store import Store
from numeraud.supervisor.tournament import PollPolicy
from tests.daemon.test_poller import listings, unlisted
from tests.helpers import wait_for


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "numeraud.db")
    yield opened
    opened.close()


def make_service(
    sandbox: Sandbox, store: Store, tmp_path: Path, stall_after: float = 600.0, failpoint: str = ""
) -> FollowerService:
    service = FollowerService(
        store,
        api_url=sandbox.url,
        data_dir=tmp_path / "data",
        settings=DataConfig(reserve_bytes=0),
        policy=PollPolicy(idle_interval=5, fast_interval=0.5),
        stall_after=stall_after,
        publish=store.publish,
        failpoints=Failpoints(env={"NUMERAUD_FAILPOINT": failpoint}),
    )
    service.follower.backoff = Backoff(base=0.02, cap=0.1)
    return service


def test_a_follower_retrying_within_the_round_is_healthy_for_longer_than_stall_after(
    sandbox: Sandbox, store: Store, tmp_path: Path
) -> None:
    sandbox.open_round(window=30)
    service = make_service(sandbox, store, tmp_path, stall_after=1.0)
    started = time.monotonic()

    def retried_past_stall_after_while_healthy() -> bool:
        assert service.healthy(), "a follower retrying Numerai was taken for a stalled one"
        return time.monotonic() - started > 3 * service.stall_after

    try:
        with unlisted(sandbox):
            service.start()
            wait_for(retried_past_stall_after_while_healthy)
            assert listings(sandbox) > 3
    finally:
        service.stop()


def test_a_follower_whose_thread_died_is_unhealthy_and_its_status_says_why(
    sandbox: Sandbox, store: Store, tmp_path: Path
) -> None:
    service = make_service(sandbox, store, tmp_path, failpoint="exit_follower_thread@2")
    service.start()
    try:
        wait_for(lambda: service.follower.last_poll is not None and not service.busy)
        assert service.healthy()  # alive and polling: healthy
        service.poll_now()  # the second poll's failpoint ends the thread
        service.thread.join(timeout=10)
        assert not service.thread.is_alive()
        assert not service.healthy()
        problem = service.status()["problem"]
        assert problem == (
            "the follower thread died (SystemExit: failpoint exit_follower_thread): nothing polls Numerai"
        )
    finally:
        service.stop()


def test_stop_ends_a_follower_waiting_to_retry_at_once(sandbox: Sandbox, store: Store, tmp_path: Path) -> None:
    sandbox.open_round(window=600)
    service = make_service(sandbox, store, tmp_path)
    service.follower.backoff = Backoff(base=60.0, cap=60.0, jitter=False)  # a minute before each retry
    with unlisted(sandbox):
        service.start()
        wait_for(lambda: service.follower.last_error is not None)  # the first listing failed: waiting
        started = time.monotonic()
        service.stop()
        stopped_in = time.monotonic() - started
    assert not service.thread.is_alive(), "the follower thread still waits to retry after stop()"
    assert stopped_in < 2.0, f"stop() took {stopped_in:.1f} s"
    assert service.died is None
    assert not service.busy
