"""numeraud.common.backoff, and the three users of it keeping their old delays."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from numeraud.common.backoff import ExponentialBackoff, exponential_delay
from numeraud.numerai.retry import Backoff
from numeraud.supervisor.session_policy import Policy

bases = st.floats(min_value=0.001, max_value=100.0, allow_nan=False)
caps = st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False)
attempts = st.integers(min_value=-5, max_value=10_000)


@given(base=bases, cap=caps, attempt=attempts)
def test_delays_are_monotone_non_decreasing_and_never_above_the_cap(base: float, cap: float, attempt: int) -> None:
    now, after = exponential_delay(attempt, base, cap), exponential_delay(attempt + 1, base, cap)
    assert now <= after <= cap


@given(base=bases, cap=caps, attempt=attempts, seed=st.integers())
def test_a_jittered_delay_lies_between_zero_and_the_unjittered_one(
    base: float, cap: float, attempt: int, seed: int
) -> None:
    backoff = ExponentialBackoff(base, cap, jitter=True)
    assert 0.0 <= backoff.delay(attempt, random.Random(seed)) <= backoff.ceiling(attempt) <= cap


@given(base=bases, cap=caps)
def test_the_delay_reaches_the_cap(base: float, cap: float) -> None:
    assert exponential_delay(10_000, base, cap) == min(cap, base * 2**32)


def test_delays_double_from_the_base() -> None:
    assert [exponential_delay(n, 0.5, 30.0) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_the_delivery_policy_waits_nothing_first_then_doubles_to_its_cap() -> None:
    policy = Policy(backoff=1.0, backoff_max=5.0)
    assert [policy.backoff_for(n) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_numerai_retry_backoff_keeps_full_jitter_under_its_old_ceiling() -> None:
    backoff, rng = Backoff(base=1.0, cap=10.0), random.Random(7)
    expected = random.Random(7)
    for attempt in range(6):
        assert backoff.delay(attempt, rng) == expected.uniform(0, min(10.0, 2.0**attempt))
