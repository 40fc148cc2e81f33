"""The handler SDK: :class:`EventHandler`, the class users subclass.

numerauto's callbacks keep their names and arguments::

    from numeraud import EventHandler

    class MyModel(EventHandler):
        def on_start(self): ...
        def on_round_begin(self, round_number): ...
        def on_new_training_data(self, round_number): ...
        def on_new_tournament_data(self, round_number): ...
        def on_cleanup(self, round_number): ...
        def on_shutdown(self): ...

Any other event kind (what handlers emit, e.g. ``predictions_ready``) goes to ``on_<kind>(event)``
if the class defines it, else to :meth:`EventHandler.on_event`, which ignores it by default.
A callback that returns normally acknowledges the event; one that raises makes it fail (NACK) and
come again later. The handler runtime (:mod:`numeraud.runtime`) calls these from a worker thread,
one event at a time.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from numeraud.logs import get_logger
from numeraud.protocol import KIND_RE, Emitted
from numeraud.store import TOURNAMENT_KINDS

#: Event kinds mapped to numerauto's callbacks, which take the round number.
ROUND_CALLBACKS: Final = {
    "round_begin": "on_round_begin",
    "new_training_data": "on_new_training_data",
    "new_tournament_data": "on_new_tournament_data",
    "cleanup": "on_cleanup",
}


@dataclass(frozen=True)
class HandlerEvent:
    """The event being handled, as ``self.event``.

    ``payload`` holds what the supervisor knows: round number, open and close times, the
    submission deadline, dataset version and file paths (see the poller's documentation).
    """

    seq: int
    event_id: str
    kind: str
    round: int | None
    attempt: int
    created: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """``event["deadline"]`` reads the payload."""
        return self.payload[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``event.get("paths", {})`` reads the payload with a default."""
        return self.payload.get(key, default)


@dataclass
class HandlerContext:
    """What the runtime gives a handler before its ``__init__`` runs."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    state_dir: Path | None = None
    data_dir: Path | None = None
    persistent_state: dict[str, Any] = field(default_factory=dict)
    api_url: str | None = None


class StateFile:
    """``persistent_state`` on disk: one JSON file written atomically (temp file, fsync, rename).

    The file is rewritten only when the state changed, so a handler that keeps no state costs no
    disk write per event.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last_written: str | None = None

    def load(self) -> dict[str, Any]:
        """The saved state, or ``{}`` if there is none yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("persistent_state"), dict):
            raise ValueError(f"{self.path}: not a numeraud handler state file")
        self._last_written = _canonical(data["persistent_state"])
        state: dict[str, Any] = data["persistent_state"]
        return state

    def save(self, state: Mapping[str, Any]) -> bool:
        """Write ``state`` if it changed; returns whether a write happened.

        Raises ``TypeError``/``ValueError`` when the state is not JSON-serialisable.
        """
        text = _canonical(state)
        if text == self._last_written:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write('{"version": 1, "persistent_state": ' + text + "}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._last_written = text
        return True


#: Built once: ``json.dumps`` with keyword arguments builds an encoder per call (once per event).
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",", ":"))


def _canonical(state: Mapping[str, Any]) -> str:
    return _CANONICAL.encode(state)


class NumerautoCompat:
    """``self.numerauto`` for handlers written for numerauto (read-only helpers only)."""

    def __init__(self, handler: EventHandler) -> None:
        self._handler = handler

    @property
    def persistent_state(self) -> dict[str, Any]:
        """numerauto's daemon state as far as the current event tells it (``last_round_trained``...)."""
        event = self._handler.event
        state = event.get("tournament_state", {}) if event is not None else {}
        return dict(state) if isinstance(state, Mapping) else {}

    def get_dataset_path(self, round_number: int) -> Path:
        """The directory holding the dataset files of the current event (numerauto's helper)."""
        event = self._handler.event
        if event is not None and isinstance(event.get("dataset_dir"), str):
            return Path(event["dataset_dir"])
        data_dir = self._handler._context.data_dir or Path()
        return data_dir / f"round_{round_number}"


class EventHandler:
    """Base class of numeraud handlers; override the ``on_*`` callbacks you need.

    Attributes available in every callback (and already in ``__init__`` when the runtime builds the
    handler):

    ``name``              the handler's name (its ``[handlers.NAME]`` table)
    ``options``           the table's ``options`` (a read-only mapping)
    ``event``             the :class:`HandlerEvent` being handled (``None`` outside events)
    ``persistent_state``  a dict saved as JSON in the handler's state directory after each event
                          handled without error, and loaded again on start; a callback that raises
                          has its changes rolled back; it must hold only JSON values (no pickle)
    ``log``               a structlog logger bound to handler, seq and round
    ``state_dir``         the handler's own directory for files
    ``numerai_api_url``   ``[numerai] api_url`` of the configuration (Numerai's, or a sandbox's)
    """

    _context: HandlerContext

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        if not name:
            raise ValueError("name can not be empty")
        context = getattr(self, "_context", None)
        if context is None:
            self._context = HandlerContext(name=name)
        self.name = name
        self.options: Mapping[str, Any] = self._context.options
        self.state_dir: Path | None = self._context.state_dir
        self.numerai_api_url: str | None = self._context.api_url
        self.persistent_state: dict[str, Any] = self._context.persistent_state
        self.event: HandlerEvent | None = None
        self.log: Any = get_logger("handler", handler=name)
        self.numerauto = NumerautoCompat(self)
        self._emitted: list[Emitted] = []

    # ---- numerauto's callbacks ----

    def on_start(self) -> None:
        """Called once when the handler process starts, before its first event."""

    def on_shutdown(self) -> None:
        """Called once when the handler process stops cleanly."""

    def on_round_begin(self, round_number: int) -> None:
        """A new round opened."""

    def on_new_training_data(self, round_number: int) -> None:
        """New training data is on disk (a new dataset version)."""

    def on_new_tournament_data(self, round_number: int) -> None:
        """This round's live (tournament) data is on disk, verified."""

    def on_cleanup(self, round_number: int) -> None:
        """The round is over; remove what is no longer needed."""

    def on_event(self, event: HandlerEvent) -> None:
        """Any other kind without an ``on_<kind>`` method; ignored by default."""

    # ---- API ----

    def emit(self, kind: str, **payload: Any) -> None:
        """Emit an event, committed together with this event's ACK (dropped if the callback raises).

        ``round`` in ``payload`` sets the event's round; it defaults to the current event's round.
        """
        if not KIND_RE.match(kind):
            raise ValueError(f"invalid event kind {kind!r}: lower-case letters, digits and '_'")
        if kind in TOURNAMENT_KINDS:
            raise ValueError(f"{kind!r} is reserved for the supervisor")
        round_ = payload.get("round")
        if round_ is not None and (isinstance(round_, bool) or not isinstance(round_, int) or round_ < 0):
            raise ValueError("round must be a non-negative integer")
        json.dumps(payload, allow_nan=False)  # fail in the handler's callback, not later on the wire
        self._emitted.append(Emitted(kind=kind, round=round_, payload=payload))

    def dispatch(self, event: HandlerEvent) -> None:
        """Run the callback for ``event`` (called by the runtime)."""
        callback_name = ROUND_CALLBACKS.get(event.kind)
        if callback_name is not None:
            round_number = event.round if event.round is not None else event.get("round")
            getattr(self, callback_name)(round_number)
            return
        callback: Callable[[HandlerEvent], None] | None = getattr(self, f"on_{event.kind}", None)
        if callback is not None and callable(callback):
            callback(event)
        else:
            self.on_event(event)


def build_handler(cls: type[EventHandler], context: HandlerContext) -> EventHandler:
    """Instantiate a handler class the numerauto way, ``cls(name)``, with the runtime's context
    (options, state directory, saved state) already in place when its ``__init__`` runs.

    If ``__init__`` takes more named parameters (numerauto handlers such as
    ``SKLearnModelTrainer(name, model_factory)``), options of the same names are passed to them.
    """
    handler = cls.__new__(cls)
    handler._context = context
    parameters = inspect.signature(cls.__init__).parameters
    extra = {
        key: value
        for key, value in context.options.items()
        if key in parameters
        and key not in ("self", "name")
        and parameters[key].kind is not inspect.Parameter.VAR_KEYWORD
    }
    cls.__init__(handler, context.name, **extra)
    return handler
