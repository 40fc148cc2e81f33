"""The sandbox's calendar: Numerai's daily schedule, the compressed one and fast-forward."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from numeraud.sandbox import Sandbox, SandboxOptions
from numeraud.sandbox.clock import DailySchedule, IntervalSchedule, VirtualClock
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import AdminError
from tests.helpers import wait_for

TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)  # a Tuesday


def test_daily_schedule_opens_tuesday_to_saturday_only() -> None:
    slots = DailySchedule().slots_between(
        TUESDAY - timedelta(days=1), TUESDAY + timedelta(days=7) - timedelta(seconds=1)
    )
    assert [s.open.strftime("%a %H:%M") for s in slots] == [
        "Tue 12:00",
        "Wed 12:00",
        "Thu 12:00",
        "Fri 12:00",
        "Sat 12:00",
    ]


def test_weekday_rounds_close_after_an_hour_and_saturday_on_sunday() -> None:
    slots = DailySchedule().slots_between(TUESDAY, TUESDAY + timedelta(days=7))
    assert all(s.close_staking - s.open == timedelta(hours=1) for s in slots[:4])
    saturday = slots[4]
    assert saturday.close_staking.strftime("%a %H:%M") == "Sun 14:00"


def test_daily_times_are_configurable() -> None:
    schedule = DailySchedule(
        open_at=time(13, 0), close_at=time(14, 0), saturday_close_days=2, saturday_close_at=time(14, 0)
    )
    slots = schedule.slots_between(TUESDAY, TUESDAY + timedelta(days=7))
    assert slots[0].open.hour == 13
    assert slots[-1].close_staking.strftime("%a %H:%M") == "Mon 14:00"


def test_interval_schedule_opens_every_n_seconds() -> None:
    schedule = IntervalSchedule(
        every=timedelta(seconds=10), window=timedelta(seconds=4), anchor=TUESDAY, resolve_after=timedelta(seconds=30)
    )
    slots = schedule.slots_between(TUESDAY, TUESDAY + timedelta(seconds=35))
    assert [(s.open - TUESDAY).seconds for s in slots] == [10, 20, 30]
    assert all(s.close_staking - s.open == timedelta(seconds=4) for s in slots)
    latest = schedule.latest_open_at(TUESDAY + timedelta(seconds=25))
    assert latest is not None
    assert latest.open == TUESDAY + timedelta(seconds=20)


def test_virtual_clock_never_goes_backwards() -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_fast_forward_opens_the_next_daily_round_in_real_time(tmp_path: Path) -> None:
    wednesday_1230 = TUESDAY + timedelta(days=1, hours=12, minutes=30)
    core = SandboxCore(SandboxOptions(data_dir=tmp_path, schedule="daily"), now=wednesday_1230)
    first = core.current_round()
    assert first.number == 1
    assert first.is_open(wednesday_1230)
    opened = core.advance(24 * 3600, wednesday_1230)
    assert [r.number for r in opened] == [2]
    second = opened[0]
    # Thursday's round is mapped onto real time: it opens at the jump and closes 30 minutes later.
    assert second.open_time == wednesday_1230
    assert second.close_staking_time == wednesday_1230 + timedelta(minutes=30)
    assert second.is_open(wednesday_1230)
    assert not first.is_open(wednesday_1230)


def test_fast_forward_over_a_weekend_skips_sunday_and_monday(tmp_path: Path) -> None:
    saturday_1230 = TUESDAY + timedelta(days=4, hours=12, minutes=30)
    core = SandboxCore(SandboxOptions(data_dir=tmp_path, schedule="daily", first_round=100), now=saturday_1230)
    opened = core.advance(3 * 24 * 3600, saturday_1230)
    assert [r.number for r in opened] == [101]  # the next Tuesday's round; no Sunday or Monday round
    assert opened[0].is_open(saturday_1230)


def test_reported_times_never_go_backwards_after_a_long_jump(tmp_path: Path) -> None:
    now = TUESDAY + timedelta(hours=12, minutes=10)
    core = SandboxCore(SandboxOptions(data_dir=tmp_path, schedule="daily"), now=now)
    core.advance(7 * 24 * 3600, now)
    opens = [r.open_time for r in core.state.rounds]
    assert opens == sorted(opens)
    assert [r.number for r in core.state.rounds] == list(range(1, 7))


def test_interval_sandbox_opens_rounds_by_itself(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=0.4, window=0.2)
    with Sandbox(options) as sandbox:
        wait_for(lambda: sandbox.core.current_round().number >= 3)
        now = datetime.now(UTC)
        assert not sandbox.core.find_round(1).is_open(now)


def test_interval_sandbox_resolves_rounds_after_resolve_after(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, schedule="interval", round_every=0.3, window=0.1, resolve_after=0.3)
    with Sandbox(options) as sandbox:
        wait_for(lambda: sandbox.core.find_round(1).resolved if sandbox.core.current_round().number > 2 else False)


def test_manual_sandbox_opens_nothing_by_itself(tmp_path: Path) -> None:
    core = SandboxCore(SandboxOptions(data_dir=tmp_path), now=TUESDAY)
    assert core.sync(TUESDAY + timedelta(days=30)) == []
    assert core.current_round().number == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule": "weekly"}, "schedule"),
        ({"schedule": "interval"}, "round-every"),
        ({"first_round": 0}, "round"),
        ({"window": 0}, "window"),
        ({"versions": ("5.2",)}, "version"),
    ],
)
def test_bad_options_are_refused_naming_the_option(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(AdminError, match=message):
        SandboxOptions(data_dir=tmp_path, **changes)  # type: ignore[arg-type]
