"""Unit-testing a handler without a supervisor: run one event through it and see what it did.

The event goes through the handler runtime's own callback runner
(:class:`numeraud.handler.runtime.Callbacks`), so a test sees what a real delivery does: ``self.event``
set, the callback chosen by ``dispatch``, ``persistent_state`` saved after success and rolled back
after an exception, emitted events dropped with a failure::

    from numeraud.testing import run_event

    def test_predictions_are_announced(tmp_path):
        result = run_event(MyModel, "new_tournament_data", round=1, payload={...}, state_dir=tmp_path)
        assert result.error is None
        assert [e.kind for e in result.emitted] == ["predictions_ready"]
        assert result.persistent_state["last_round"] == 1

Pass a class to get a fresh handler (built as the runtime builds it, with the state saved in
``state_dir`` loaded and ``on_start`` run), or a handler from :func:`make_handler` to send it
several events in turn.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from numeraud.common.protocol import Emitted
from numeraud.handler.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler
from numeraud.handler.worker import Callbacks, Job

__all__ = ["STATE_FILE", "HandlerFailed", "Result", "deliver", "make_event", "make_handler", "run_event"]

#: The file in a handler's state directory that holds ``persistent_state`` (as the runtime names it).
STATE_FILE: Final = "state.json"

_seqs = itertools.count(1)


class HandlerFailed(AssertionError):
    """A callback raised; the message is the error text the supervisor would have got in its NACK."""


@dataclass(frozen=True)
class Result:
    """What one delivery did.

    ``emitted``           the events the callback emitted (empty if it failed: they are dropped)
    ``persistent_state``  a copy of the handler's state afterwards (rolled back if it failed)
    ``error``             ``None``, or the error text (``"ValueError: ..."``, secrets scrubbed)
    ``saved_state``       what the state file holds afterwards (``None`` without a state directory)
    ``handler``           the handler, to send it the next event
    """

    emitted: tuple[Emitted, ...]
    persistent_state: dict[str, Any]
    error: str | None
    saved_state: dict[str, Any] | None
    handler: EventHandler = field(repr=False)

    @property
    def ok(self) -> bool:
        """Whether the callback returned without raising."""
        return self.error is None

    def raise_for_error(self) -> Result:
        """Raise :class:`HandlerFailed` if the callback failed; else return this result."""
        if self.error is not None:
            raise HandlerFailed(self.error)
        return self


class _Unsaved(StateFile):
    """A state file for a handler without a state directory: checks the state is JSON, keeps nothing."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))

    def save(self, state: Mapping[str, Any]) -> bool:
        """Serialise ``state`` (so a non-JSON state fails as it would for real); write nothing."""
        json.dumps(state, allow_nan=False)
        return False


def _state_file(state_dir: Path | None) -> StateFile:
    return StateFile(state_dir / STATE_FILE) if state_dir is not None else _Unsaved()


def make_handler(
    cls: type[EventHandler],
    *,
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    state_dir: Path | None = None,
    data_dir: Path | None = None,
    api_url: str | None = None,
    start: bool = True,
) -> EventHandler:
    """Build ``cls`` as the handler runtime does: options, state directory and saved state in place
    before its ``__init__`` runs; then ``on_start`` (unless ``start=False``; an error in it raises
    :class:`HandlerFailed`)."""
    context = HandlerContext(
        name=name or cls.__name__.lower(),
        options=dict(options or {}),
        state_dir=state_dir,
        data_dir=data_dir,
        persistent_state=_state_file(state_dir).load() if state_dir is not None else {},
        api_url=api_url,
    )
    handler = build_handler(cls, context)
    if start:
        result = Callbacks(handler, _state_file(state_dir), handler.log).run(Job("start"), 0.0)
        if not result.ok:
            raise HandlerFailed(result.error or "on_start failed")
    return handler


def make_event(
    kind: str,
    *,
    round: int | None = None,
    payload: Mapping[str, Any] | None = None,
    seq: int | None = None,
    attempt: int = 1,
    event_id: str | None = None,
) -> HandlerEvent:
    """A :class:`HandlerEvent` as the supervisor would deliver it (``seq`` counts up if not given)."""
    seq = next(_seqs) if seq is None else seq
    return HandlerEvent(
        seq=seq,
        event_id=event_id or f"test-{seq}",
        kind=kind,
        round=round,
        attempt=attempt,
        created=datetime.now(UTC).isoformat(),
        payload=dict(payload or {}),
    )


def deliver(handler: EventHandler, event: HandlerEvent) -> Result:
    """Deliver ``event`` to ``handler`` through the runtime's callback runner."""
    state = _state_file(handler.state_dir)
    outcome = Callbacks(handler, state, handler.log).run(Job("event", event), 0.0)
    saved = state.load() if handler.state_dir is not None else None
    return Result(
        emitted=tuple(outcome.emitted),
        persistent_state=copy.deepcopy(handler.persistent_state),
        error=outcome.error,
        saved_state=saved,
        handler=handler,
    )


def run_event(
    handler: EventHandler | type[EventHandler],
    kind: str,
    *,
    round: int | None = None,
    payload: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    state_dir: Path | None = None,
    data_dir: Path | None = None,
    attempt: int = 1,
    seq: int | None = None,
) -> Result:
    """Run one event of ``kind`` through ``handler`` (a handler, or a class to build with
    :func:`make_handler` from ``options``, ``state_dir`` and ``data_dir``)."""
    if isinstance(handler, type):
        handler = make_handler(handler, options=options, state_dir=state_dir, data_dir=data_dir)
    elif options is not None or state_dir is not None or data_dir is not None:
        raise TypeError("options, state_dir and data_dir are for a handler class; this handler is built already")
    return deliver(handler, make_event(kind, round=round, payload=payload, attempt=attempt, seq=seq))
