"""Numerai moving its times, end to end: the real supervisor (``numeraud run``) against the sandbox.

Each shift is made on the sandbox while numeraud runs, and the event's commit time in the
supervisor's log (``events.created``) is compared with the moment it became due.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from numeraud.sandbox import Sandbox, SandboxOptions
from tests.daemon.installation import Installation
from tests.helpers import wait_for

FAST = 0.5
#: What a detection may take beyond the poll interval: the poll itself, the sync of tiny files, the commit.
SLACK = 1.0
EVERY, WINDOW = 16.0, 12.0
POLL = f"idle_interval = 3\nfast_interval = {FAST}\nfast_before = 3\nfast_after = 10"

pytestmark = pytest.mark.slow


def logged(installation: Installation) -> dict[tuple[str, int], tuple[datetime, dict[str, Any]]]:
    """(kind, round) → (commit time, payload) of every event in the supervisor's log so far."""
    path = installation.root / "state" / "numeraud.db"
    if not path.exists():
        return {}
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute("SELECT kind, round, created, payload FROM events").fetchall()
    except sqlite3.OperationalError:  # the supervisor is still creating it
        return {}
    return {
        (kind, number): (datetime.fromisoformat(created), json.loads(payload))
        for kind, number, created, payload in rows
    }


def committed(installation: Installation, kind: str, number: int, timeout: float = 60.0) -> datetime:
    """When ``kind`` of round ``number`` was committed (waits for it)."""
    found = wait_for(
        lambda: logged(installation).get((kind, number)), timeout=timeout, what=f"{kind} of round {number}"
    )
    return found[0]


@pytest.fixture
def interval_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    options = SandboxOptions(data_dir=tmp_path / "sandbox", schedule="interval", round_every=EVERY, window=WINDOW)
    with Sandbox(options) as running:
        yield running


@pytest.fixture
def running(interval_sandbox: Sandbox, tmp_path: Path) -> Iterator[Installation]:
    (tmp_path / "nd").mkdir()
    installation = Installation(tmp_path / "nd", interval_sandbox)
    installation.write_config(poll=POLL)
    installation.start()
    yield installation
    installation.stop()


def opened(sandbox: Sandbox, number: int) -> datetime:
    return wait_for(
        lambda: sandbox.core.find_round(number).open_time if sandbox.core.current_round().number >= number else None
    )


def test_opens_earlier_and_later_than_expected_and_moved_closes_are_each_seen_within_fast_interval(
    interval_sandbox: Sandbox, running: Installation
) -> None:
    sandbox = interval_sandbox
    first = sandbox.core.current_round().number
    committed(running, "cleanup", first + 1)  # two rounds seen: the follower expects the cadence
    open_2 = sandbox.core.find_round(first + 1).open_time
    expected_3 = open_2 + timedelta(seconds=EVERY)

    # An open 2.5 s earlier than the cadence says.
    early = expected_3 - timedelta(seconds=2.5)
    sandbox.shift_schedule(next_open_in=(early - datetime.now(UTC)).total_seconds())
    open_3 = opened(sandbox, first + 2)
    assert open_3 < expected_3 - timedelta(seconds=2)
    seen_3 = committed(running, "round_begin", first + 2)
    assert (seen_3 - open_3).total_seconds() < FAST + SLACK, f"an early open was seen {seen_3 - open_3} late"

    # An open 5 s later than expected (the cadence now says open_3 + (open_3 - open_2)).
    expected_4 = open_3 + (open_3 - open_2)
    late = expected_4 + timedelta(seconds=5)
    sandbox.shift_schedule(next_open_in=(late - datetime.now(UTC)).total_seconds())
    open_4 = opened(sandbox, first + 3)
    assert open_4 > expected_4 + timedelta(seconds=4)
    seen_4 = committed(running, "round_begin", first + 3)
    assert (seen_4 - open_4).total_seconds() < FAST + SLACK, f"a late open was seen {seen_4 - open_4} late"

    # Round 4's close moves 3 s later while it is open: round_closed waits for the new one.
    moved = sandbox.shift_schedule(window=WINDOW + 3)
    new_close = datetime.fromisoformat(moved["close_staking_time"])
    assert moved["round"] == first + 3
    closed_4 = committed(running, "round_closed", first + 3)
    assert closed_4 >= new_close, "round_closed came at the old deadline"
    assert (closed_4 - new_close).total_seconds() < FAST + SLACK
    assert logged(running)[("round_closed", first + 3)][1]["deadline"] == new_close.isoformat()

    # Round 5's close moves earlier while it is open (inside the fast stretch after its expected
    # open, as Numerai's 1-hour windows are inside the default fast_after of 2 hours).
    committed(running, "round_begin", first + 4)
    moved = sandbox.shift_schedule(window=5)
    early_close = datetime.fromisoformat(moved["close_staking_time"])
    assert moved["round"] == first + 4
    assert early_close > datetime.now(UTC), "the test's shortened close is already past"
    closed_5 = committed(running, "round_closed", first + 4)
    assert early_close <= closed_5, "round_closed came before the deadline"
    assert (closed_5 - early_close).total_seconds() < FAST + SLACK, (
        f"a close moved earlier was seen {closed_5 - early_close} late"
    )
    near_5 = committed(running, "round_deadline_near", first + 4)
    assert near_5 < early_close  # the guard followed the new deadline too
    assert not [e for e in logged(running) if e[0] == "round_missed"]


def test_live_data_published_after_the_open_is_synced_within_fast_interval_and_not_the_previous_rounds(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "nd").mkdir()
    installation = Installation(tmp_path / "nd", sandbox)
    installation.write_config(poll=POLL)
    installation.start()
    try:
        committed(installation, "cleanup", 1)
        sandbox.set_live_delay(3.0)
        number = sandbox.open_round(window=60)
        live_at = sandbox.core.find_round(number).live_at
        assert live_at is not None
        seen = committed(installation, "new_tournament_data", number)
        assert seen >= live_at, "the round was published before its live data was"
        assert (seen - live_at).total_seconds() < FAST + SLACK, f"late live data was seen {seen - live_at} late"
        payload = logged(installation)[("new_tournament_data", number)][1]
        synced = Path(payload["live_files"]["live.parquet"]).read_bytes()
        assert synced == (sandbox.core.options.data_dir / f"v5.2/live_{number}.parquet").read_bytes()
        assert synced != (sandbox.core.options.data_dir / f"v5.2/live_{number - 1}.parquet").read_bytes()
        round_begin = logged(installation)[("round_begin", number)][0]
        assert round_begin >= live_at  # the round's events wait for its data, in numerauto's order

        # Live data that never comes before the deadline: the round is missed, saying so.
        sandbox.set_live_delay(3600.0)
        never = sandbox.open_round(window=3)
        committed(installation, "round_missed", never)
        reason = logged(installation)[("round_missed", never)][1]["reason"]
        assert f"Numerai had not published round {never}'s live data by the deadline" in reason
        assert ("new_tournament_data", never) not in logged(installation)
    finally:
        installation.stop()
