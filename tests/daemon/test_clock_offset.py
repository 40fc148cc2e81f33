"""Our clock against Numerai's: measured from its ``Date`` headers, used for every deadline."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from numeraud.numerai.client import NumeraiClient
from numeraud.numerai.clock import ClockOffset, OffsetMeasurement, measure, seconds_left
from numeraud.sandbox import Sandbox, SandboxOptions
from numeraud.supervisor.poller import ROUND_QUERY
from tests.daemon.installation import Installation
from tests.daemon.test_poller import Recorder, make_follower
from tests.helpers import wait_for

SKEW = 20.0


@pytest.fixture
def skewed(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose ``Date`` header runs :data:`SKEW` seconds ahead of this machine's clock."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", date_skew=SKEW)) as running:
        yield running


def test_one_reading_is_the_date_header_against_our_time() -> None:
    now = time.time()
    header = format_datetime(datetime.fromtimestamp(int(now) + 30, UTC), usegmt=True)
    reading = measure(header, received_at=now, elapsed=0.2)
    assert reading is not None
    assert abs(reading.offset - 30) <= reading.error
    assert measure(None, now, 0.1) is None
    assert measure("not a date", now, 0.1) is None


def test_the_offset_is_the_median_of_recent_readings() -> None:
    clock = ClockOffset(keep=3)
    assert clock.offset is None
    for value in (1.0, 100.0, 2.0, 3.0):  # the stray 100 s reading moves nothing
        clock.observe(OffsetMeasurement(value, 0.5))
    assert clock.offset == 3.0


def test_seconds_left_is_on_numerais_clock() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    deadline = (now + timedelta(seconds=100)).isoformat()
    assert seconds_left(deadline, 0.0, now) == 100
    assert seconds_left(deadline, 30.0, now) == 70  # Numerai's clock is 30 s ahead: 30 s less left


def test_the_client_measures_the_offset_from_every_answer(skewed: Sandbox) -> None:
    client = NumeraiClient(skewed.url)
    before = client.clock.offset
    client.raw_query(ROUND_QUERY, {"tournament": 8})
    after = client.clock.offset
    assert before is None
    assert after is not None
    assert abs(after - SKEW) < 1.6


def test_the_deadline_guard_fires_on_numerais_time_not_the_local_clock(skewed: Sandbox, tmp_path: Path) -> None:
    number = skewed.open_round(window=30)
    recorder = Recorder()
    follower = make_follower(skewed, tmp_path, recorder)
    deadline = skewed.core.find_round(number).close_staking_time
    # guard time: a sixth of the 30 s window before the deadline, on Numerai's clock (SKEW ahead).
    local_guard = deadline - timedelta(seconds=5)
    numerai_guard = local_guard - timedelta(seconds=SKEW)

    def guarded() -> datetime | None:
        follower.poll()
        return datetime.now(UTC) if ("round_deadline_near", number) in recorder.events() else None

    fired = wait_for(guarded, timeout=30, what="round_deadline_near", interval=0.1)
    assert fired >= numerai_guard - timedelta(seconds=1.6)
    assert fired < local_guard - timedelta(seconds=SKEW / 2), "the guard waited for the local clock's guard time"
    payload = recorder.payload("round_deadline_near", number)
    assert abs(float(payload["clock_offset"]) - SKEW) < 1.6  # type: ignore[arg-type]
    assert abs(float(recorder.payload("new_tournament_data", number)["clock_offset"]) - SKEW) < 1.6  # type: ignore[arg-type]
    status = follower.status()
    assert "ahead of" not in str(status["clock_warning"])
    assert "behind Numerai's" in str(status["clock_warning"])


def test_a_large_offset_is_logged_and_shown_in_numeraudctl_status(skewed: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "nd").mkdir()
    installation = Installation(tmp_path / "nd", skewed)
    installation.start()
    try:
        installation.wait_event("cleanup", 1)
        status = installation.ctl("status")
        assert re.search(r"clock: this clock is \d+\.\d s behind Numerai's \(more than 5 s\)", status.stdout), (
            status.stdout + status.stderr
        )
        wait_for(lambda: "clock_offset_large" in installation.log_text())
    finally:
        installation.stop()


def test_an_offset_within_the_headers_resolution_is_not_corrected() -> None:
    clock = ClockOffset()
    clock.observe(OffsetMeasurement(0.4, 0.5))
    assert clock.offset == 0.4
    assert clock.correction == 0.0
    clock.observe(OffsetMeasurement(30.0, 0.5))
    clock.observe(OffsetMeasurement(30.2, 0.5))
    assert clock.correction == 30.0
