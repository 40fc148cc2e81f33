"""Several uploads of one event at once: a small bounded thread pool for the uploader.

One ``predictions_ready`` can map to several Numerai models, and the deadline guard may have to
upload a fallback for every model that has none; against Numerai each upload takes about a second
(authorise, PUT, create, confirm), so one after another they add up. :class:`FanOut` runs one
task per item on at most ``workers`` threads and waits for all of them before the callback
returns, so the event is still ACKed only after every upload it started is confirmed or recorded
as failed. What the tasks emit is held per task and emitted afterwards in the order of the items,
so the events a callback emits do not depend on which upload finished first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
#: An emitted event held by a task: its kind and payload.
Held = tuple[str, dict[str, Any]]


class FanOut:
    """Runs the tasks of one callback, ``workers`` at a time (1: one after another, in the caller's thread)."""

    def __init__(self, workers: int, *, initializer: Callable[[], None] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self._local = threading.local()
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload", initializer=initializer)
            if workers > 1
            else None
        )

    @property
    def local(self) -> threading.local:
        """Per-thread storage of the pool's threads (e.g. each thread's own API client)."""
        return self._local

    def held(self) -> list[Held] | None:
        """The calling task's held events, or None outside a pool task (emit directly then)."""
        held: list[Held] | None = getattr(self._local, "held", None)
        return held

    def run(self, task: Callable[[T], object], items: Sequence[T], emit: Callable[[str, dict[str, Any]], None]) -> None:
        """``task(item)`` for every item; returns when all have ended. The first exception a task
        raised is raised here (after all ended); otherwise what they emitted goes to ``emit``, in
        item order."""
        if self._pool is None or len(items) < 2:
            for item in items:
                task(item)
            return
        futures = [self._pool.submit(self._held_run, task, item) for item in items]
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        for future in futures:
            for kind, payload in future.result():
                emit(kind, payload)

    def _held_run(self, task: Callable[[T], object], item: T) -> list[Held]:
        held: list[Held] = []
        self._local.held = held
        try:
            task(item)
        finally:
            del self._local.held
        return held

    def close(self) -> None:
        """Wait for running tasks and stop the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
