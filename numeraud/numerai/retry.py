"""Retrying calls to Numerai: exponential backoff with full jitter, Retry-After, and a deadline.

Pure policy plus one small loop; the clock and the sleep are injectable, so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from numeraud.common.backoff import ExponentialBackoff
from numeraud.numerai.client import NumeraiAnswerError, NumeraiUnavailable

T = TypeVar("T")
#: Attempts in all for a call Numerai answers with a GraphQL error (:class:`NumeraiAnswerError`).
ANSWER_ERROR_ATTEMPTS = 3


class DeadlinePassed(Exception):
    """Gave up: the deadline came before a call succeeded. ``last_error`` is the last failure."""

    def __init__(self, message: str, last_error: BaseException | None) -> None:
        super().__init__(message)
        self.last_error = last_error


@dataclass(frozen=True)
class Backoff(ExponentialBackoff):
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)).

    :class:`numeraud.common.backoff.ExponentialBackoff` with ``jitter`` on by default.
    """

    jitter: bool = True


def retry_until(
    call: Callable[[], T],
    *,
    deadline: float | None,
    backoff: Backoff = Backoff(),
    retry_on: tuple[type[BaseException], ...] = (NumeraiUnavailable,),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``call`` until it succeeds, retrying the ``retry_on`` errors until ``deadline``.

    ``deadline`` is on ``clock`` (monotonic seconds) or None for no deadline. A server's
    Retry-After is honoured (never retrying sooner). A GraphQL error (:class:`NumeraiAnswerError`)
    is tried :data:`ANSWER_ERROR_ATTEMPTS` times in all, then raised as it is: mostly final, it must
    not hold the caller until the deadline. Raises :class:`DeadlinePassed` when the next attempt
    could not start before the deadline; other errors propagate at once.
    """
    catch: tuple[type[BaseException], ...] = (*retry_on, NumeraiAnswerError)
    attempt = 0
    while True:
        try:
            return call()
        except catch as exc:
            if not isinstance(exc, retry_on) and attempt + 1 >= ANSWER_ERROR_ATTEMPTS:
                raise
            wait = backoff.delay(attempt)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                wait = max(wait, float(retry_after))
            if deadline is not None and clock() + wait >= deadline:
                raise DeadlinePassed(f"gave up after {attempt + 1} attempt(s): {exc}", exc) from exc
            if on_retry is not None:
                on_retry(attempt + 1, exc, wait)
            sleep(wait)
            attempt += 1
