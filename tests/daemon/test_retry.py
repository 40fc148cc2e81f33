"""The retry policy: backoff with jitter, Retry-After, deadlines (a fake clock, no waiting)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from numeraud.numerai.client import NumeraiAnswerError, NumeraiRejected, NumeraiUnavailable
from numeraud.numerai.retry import ANSWER_ERROR_ATTEMPTS, Backoff, DeadlinePassed, retry_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception) -> Callable[[], str]:
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "ok"

    return call


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=1, cap=10)
    rng = random.Random(0)
    ceilings = [max(backoff.delay(n, rng) for _ in range(500)) for n in range(6)]
    assert ceilings[0] <= 1 < ceilings[2] <= 4 < ceilings[4] <= 10
    assert ceilings[5] <= 10


def test_transient_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    result: str = retry_until(
        failing(3, NumeraiUnavailable("down")),
        deadline=1000,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result == "ok"
    assert len(clock.sleeps) == 3


def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    retry_until(
        failing(1, NumeraiUnavailable("slow down", retry_after=30)),
        deadline=1000,
        clock=clock,
        sleep=clock.sleep,
    )
    assert clock.sleeps[0] >= 30


def test_gives_up_before_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(DeadlinePassed) as caught:
        retry_until(
            failing(10_000, NumeraiUnavailable("down")),
            deadline=60,
            backoff=Backoff(base=1, cap=8),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.now < 60
    assert isinstance(caught.value.last_error, NumeraiUnavailable)


def test_rejections_are_not_retried() -> None:
    clock = FakeClock()
    with pytest.raises(NumeraiRejected):
        retry_until(
            failing(1, NumeraiRejected("no")),
            deadline=1000,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []


def test_a_graphql_error_is_tried_a_few_times_then_taken_as_final() -> None:
    clock = FakeClock()
    assert retry_until(failing(2, NumeraiAnswerError("hiccup")), deadline=1000, clock=clock, sleep=clock.sleep) == "ok"
    assert len(clock.sleeps) == 2
    clock = FakeClock()
    with pytest.raises(NumeraiAnswerError, match="for good"):
        retry_until(failing(10_000, NumeraiAnswerError("for good")), deadline=1000, clock=clock, sleep=clock.sleep)
    assert len(clock.sleeps) == ANSWER_ERROR_ATTEMPTS - 1
