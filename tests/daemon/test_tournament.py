"""Round decisions and adaptive polling (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from numeraud.supervisor.tournament import Action, PollPolicy, RoundInfo, decide, expected_next_opens, latest_version

TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def round_at(number: int, opened: datetime, hours: float = 1) -> RoundInfo:
    return RoundInfo(number=number, open_time=opened, deadline=opened + timedelta(hours=hours))


def test_first_start_during_an_open_round_processes_it() -> None:
    decision = decide(None, round_at(7, TUESDAY_NOON), TUESDAY_NOON + timedelta(minutes=5))
    assert decision.action is Action.PROCESS


def test_first_start_between_rounds_only_remembers_the_round() -> None:
    decision = decide(None, round_at(7, TUESDAY_NOON), TUESDAY_NOON + timedelta(hours=3))
    assert decision.action is Action.BASELINE
    assert decision.missed == ()


def test_a_new_open_round_is_processed() -> None:
    decision = decide(6, round_at(7, TUESDAY_NOON), TUESDAY_NOON + timedelta(minutes=1))
    assert (decision.action, decision.missed) == (Action.PROCESS, ())


def test_a_round_just_opened_is_processed_when_our_estimate_of_numerais_clock_is_a_little_behind() -> None:
    # Numerai reports only rounds that opened: an open time "in the future" is our clock's error.
    decision = decide(6, round_at(7, TUESDAY_NOON), TUESDAY_NOON - timedelta(seconds=0.8))
    assert (decision.action, decision.missed) == (Action.PROCESS, ())


def test_a_processed_round_is_never_processed_again() -> None:
    assert decide(7, round_at(7, TUESDAY_NOON), TUESDAY_NOON).action is Action.NOTHING
    assert decide(8, round_at(7, TUESDAY_NOON), TUESDAY_NOON).action is Action.NOTHING


def test_a_round_that_closed_while_down_is_missed() -> None:
    decision = decide(6, round_at(7, TUESDAY_NOON), TUESDAY_NOON + timedelta(hours=2))
    assert (decision.action, decision.missed) == (Action.MISSED, (7,))


def test_rounds_skipped_entirely_are_missed_and_the_open_one_processed() -> None:
    decision = decide(4, round_at(7, TUESDAY_NOON), TUESDAY_NOON)
    assert (decision.action, decision.missed) == (Action.PROCESS, (5, 6))


def test_no_round_means_nothing() -> None:
    assert decide(3, None, TUESDAY_NOON).action is Action.NOTHING


def test_next_open_after_saturday_is_tuesday() -> None:
    saturday = TUESDAY_NOON + timedelta(days=4)
    (guess,) = expected_next_opens(round_at(10, saturday, hours=26), None)
    assert guess == TUESDAY_NOON + timedelta(days=7)


def test_a_regular_cadence_is_guessed_too() -> None:
    latest = round_at(10, TUESDAY_NOON)
    guesses = expected_next_opens(latest, TUESDAY_NOON - timedelta(seconds=30))
    assert TUESDAY_NOON + timedelta(seconds=30) in guesses


def test_polling_is_fast_around_the_expected_open_and_slow_otherwise() -> None:
    policy = PollPolicy(idle_interval=60, fast_interval=2)
    latest = round_at(10, TUESDAY_NOON)
    wednesday_noon = TUESDAY_NOON + timedelta(days=1)
    assert policy.next_delay(latest, None, wednesday_noon - timedelta(minutes=5)) == 2
    assert policy.next_delay(latest, None, wednesday_noon + timedelta(minutes=30)) == 2
    assert policy.next_delay(latest, None, TUESDAY_NOON + timedelta(hours=5)) == 60


def test_polling_wakes_up_in_time_for_the_fast_window() -> None:
    policy = PollPolicy(idle_interval=60, fast_interval=2, fast_before=timedelta(minutes=10))
    latest = round_at(10, TUESDAY_NOON)
    wednesday_window = TUESDAY_NOON + timedelta(days=1) - timedelta(minutes=10)
    assert policy.next_delay(latest, None, wednesday_window - timedelta(seconds=20)) == 20


def test_polling_never_sleeps_past_a_quarter_of_the_latest_window() -> None:
    policy = PollPolicy(idle_interval=60, fast_interval=0.5)
    # a compressed calendar (8 s windows) whose cadence cannot be guessed yet: every 2 s, not 60
    latest = round_at(3, TUESDAY_NOON, hours=8 / 3600)
    assert policy.next_delay(latest, None, TUESDAY_NOON + timedelta(hours=5)) == 2.0
    tiny = round_at(4, TUESDAY_NOON, hours=1 / 3600)  # but never under fast_interval
    assert policy.next_delay(tiny, None, TUESDAY_NOON + timedelta(hours=5)) == 0.5
    # Numerai's hour-long window changes nothing at the usual intervals
    assert policy.next_delay(round_at(5, TUESDAY_NOON), None, TUESDAY_NOON + timedelta(hours=5)) == 60


def test_bad_poll_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="poll intervals"):
        PollPolicy(idle_interval=1, fast_interval=5)


def test_latest_version_compares_numerically() -> None:
    names = ["v5.9/train.parquet", "v5.10/train.parquet", "v4.3/live.parquet", "signals/v1.0/live.parquet"]
    assert latest_version(names) == "v5.10"
    assert latest_version([]) is None
