"""Numerai moving its times in the sandbox: ``POST /admin/schedule`` and ``Sandbox.shift_schedule``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numerapi
import pytest
import requests

from numeraud.sandbox import Sandbox, SandboxOptions
from numeraud.sandbox.clock import IntervalSchedule
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import AdminError
from numeraud.sandbox.schedule_shifts import ShiftedSchedule, parse_shift
from tests.helpers import wait_for

TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)
EVERY = IntervalSchedule(
    every=timedelta(seconds=10), window=timedelta(seconds=4), anchor=TUESDAY, resolve_after=timedelta(seconds=30)
)


def opens(schedule: ShiftedSchedule | IntervalSchedule, seconds: float) -> list[float]:
    return [
        (s.open - TUESDAY).total_seconds()
        for s in schedule.slots_between(TUESDAY, TUESDAY + timedelta(seconds=seconds))
    ]


def test_a_shift_moves_the_next_open_and_every_later_one() -> None:
    later = ShiftedSchedule(EVERY, pivot=TUESDAY + timedelta(seconds=12), shift=timedelta(seconds=3))
    assert opens(later, 45) == [10, 23, 33, 43]
    earlier = ShiftedSchedule(EVERY, pivot=TUESDAY + timedelta(seconds=12), shift=timedelta(seconds=-5))
    assert opens(earlier, 45) == [10, 15, 25, 35, 45]
    latest = earlier.latest_open_at(TUESDAY + timedelta(seconds=16))
    assert latest is not None
    assert latest.open == TUESDAY + timedelta(seconds=15)
    assert latest.close_staking == TUESDAY + timedelta(seconds=19)  # the window moves with the open


def test_the_next_open_moved_earlier_opens_it_in_real_time(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=100, window=50)
    core = SandboxCore(options, now=TUESDAY)
    answer = core.shift_schedule(parse_shift({"next_open_in": 5}), TUESDAY + timedelta(seconds=1))
    assert answer["next_open"] == "2026-11-24T00:00:06Z"
    assert core.sync(TUESDAY + timedelta(seconds=5)) == []
    (opened,) = core.sync(TUESDAY + timedelta(seconds=6))
    assert opened.open_time == TUESDAY + timedelta(seconds=6)
    assert opened.close_staking_time == TUESDAY + timedelta(seconds=56)
    (after,) = core.sync(TUESDAY + timedelta(seconds=106))  # the calendar moved with it
    assert after.open_time == TUESDAY + timedelta(seconds=106)


def test_a_shift_into_the_past_opens_the_round_at_the_next_tick(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=100, window=50)
    core = SandboxCore(options, now=TUESDAY)
    core.shift_schedule(parse_shift({"shift": -1000}), TUESDAY + timedelta(seconds=1))
    (opened,) = core.sync(TUESDAY + timedelta(seconds=1.2))
    assert opened.number == 2


def test_the_next_open_moved_later_waits(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=100, window=50)
    core = SandboxCore(options, now=TUESDAY)
    core.shift_schedule(parse_shift({"shift": 30}), TUESDAY + timedelta(seconds=1))
    assert core.sync(TUESDAY + timedelta(seconds=129)) == []
    (opened,) = core.sync(TUESDAY + timedelta(seconds=130))
    assert opened.open_time == TUESDAY + timedelta(seconds=130)


def test_a_scheduled_rounds_close_moves_and_stays_moved(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=100, window=50)
    core = SandboxCore(options, now=TUESDAY)
    answer = core.shift_schedule(parse_shift({"window": 80}), TUESDAY + timedelta(seconds=1))
    assert answer == {"next_open": "2026-11-24T00:01:40Z", "round": 1, "close_staking_time": "2026-11-24T00:01:20Z"}
    core.sync(TUESDAY + timedelta(seconds=60))  # the tick re-maps scheduled closes: it keeps the moved one
    assert core.current_round().is_open(TUESDAY + timedelta(seconds=79))
    core.shift_schedule(parse_shift({"close_in": 0}), TUESDAY + timedelta(seconds=61))
    assert not core.current_round().is_open(TUESDAY + timedelta(seconds=61))


def test_over_http_numerapi_sees_the_moved_close(sandbox: Sandbox, public_napi: numerapi.NumerAPI) -> None:
    answer = requests.post(f"{sandbox.url}/admin/schedule", json={"close_in": 120}, timeout=10)
    assert answer.status_code == 200, answer.text
    query = "query { rounds(tournament: 8, number: 0) { number closeStakingTime } }"
    current = public_napi.raw_query(query)["data"]["rounds"][0]
    close = datetime.fromisoformat(current["closeStakingTime"])
    assert abs((close - datetime.now(UTC)).total_seconds() - 120) < 5
    assert answer.json()["close_staking_time"] == current["closeStakingTime"]


def test_the_python_method_does_what_the_route_does(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=3600, window=600)
    with Sandbox(options) as sandbox:
        answer = sandbox.shift_schedule(next_open_in=0.3, window=30)
        assert answer["round"] == 1
        wait_for(lambda: sandbox.core.current_round().number == 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "schedule: give shift"),
        ({"shift": "soon"}, "shift: must be a number"),
        ({"shift": 1, "next_open_in": 2}, "shift: give shift or next_open_in"),
        ({"next_open_in": -1}, "next_open_in: must be 0 or more"),
        ({"window": 0}, "window: must be positive"),
        ({"window": 10, "close_in": 10}, "window: give window or close_in"),
        ({"round": 1}, "round: names the round"),
        ({"round": "1", "window": 5}, "round: must be a round number"),
        ({"round": 9, "window": 5}, "round 9 has not opened"),
        ({"close_in": -(10**6)}, "close_in: round 1's close would come before its open"),
        ({"open_in": 5}, "open_in: not a schedule field"),
        ({"next_open_in": 5}, "next_open_in: this schedule has no next round"),
    ],
)
def test_bad_shifts_are_refused_naming_the_field(sandbox: Sandbox, body: dict[str, object], message: str) -> None:
    answer = requests.post(f"{sandbox.url}/admin/schedule", json=body, timeout=10)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]
    with pytest.raises(AdminError, match=re.escape(message)):
        sandbox.shift_schedule(**body)  # type: ignore[arg-type]
