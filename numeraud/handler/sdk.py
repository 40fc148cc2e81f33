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
come again later. The handler runtime (:mod:`numeraud.handler.runtime`) calls these from a worker thread,
one event at a time.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from numeraud.common.datasets import version_key
from numeraud.common.files import atomic_write
from numeraud.common.kinds import TOURNAMENT_KINDS
from numeraud.common.logs import get_logger
from numeraud.common.protocol import KIND_RE, Emitted

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
        atomic_write(self.path, '{"version": 1, "persistent_state": ' + text + "}\n")
        self._last_written = text
        return True


#: Built once: ``json.dumps`` with keyword arguments builds an encoder per call (once per event).
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, allow_nan=False, separators=(",", ":"))


def _canonical(state: Mapping[str, Any]) -> str:
    return _CANONICAL.encode(state)


class NumerautoCompat:
    """``self.numerauto`` for handlers written for numerauto (its read-only helpers).

    What numerauto's daemon object answered, from what the supervisor's events carry: the round
    events' ``tournament_state`` (numerauto's two keys, as they stood in that callback) and the
    dataset files' directory (``data_dir``/``version``).
    """

    #: numerauto's ``persistent_state`` before any round: nothing processed, nothing trained.
    EMPTY_STATE: Final = MappingProxyType({"last_round_processed": None, "last_round_trained": None})

    def __init__(self, handler: EventHandler) -> None:
        self._handler = handler
        self._state: Mapping[str, Any] = self.EMPTY_STATE
        #: The round whose ``cleanup`` was the last round event seen: numerauto counted it processed.
        self._processed: int | None = None
        self._dataset_dirs: dict[int, Path] = {}

    def observe(self, event: HandlerEvent) -> None:
        """Remember what a round event says (called by :meth:`EventHandler.dispatch`)."""
        state = event.get("tournament_state")
        if isinstance(state, Mapping):
            self._state = {key: state.get(key) for key in self.EMPTY_STATE}
            self._processed = event.round if event.kind == "cleanup" else None
        directory = _version_dir(event)
        if directory is not None and event.round is not None:
            self._dataset_dirs[event.round] = directory

    @property
    def persistent_state(self) -> dict[str, Any]:
        """numerauto's daemon state: ``last_round_processed`` and ``last_round_trained``.

        As numerauto showed it in the same callback: ``last_round_trained`` is the current round
        from ``on_new_tournament_data`` on when the round brought new training data, and
        ``last_round_processed`` is the round before until the round's ``cleanup`` is over. In
        events that are not round events (emitted kinds, ``round_closed``), the state the last
        round event told this process; ``None`` values before this process has seen one.
        A copy: changing it changes nothing.
        """
        event = self._handler.event
        if event is not None:
            self.observe(event)
            if isinstance(event.get("tournament_state"), Mapping):
                return dict(self._state)
        state = dict(self._state)
        if self._processed is not None:
            state["last_round_processed"] = self._processed
        return state

    def get_dataset_path(self, round_number: int) -> Path:
        """The directory holding round ``round_number``'s dataset files (numerauto's helper).

        numeraud keeps one directory per dataset version (``DATA_DIR/v5.2/train.parquet``,
        ``DATA_DIR/v5.2/live_{round}.parquet``): for the current event's round, or a round this
        process has seen, the directory of that round's version; for another round, the version
        directory that holds that round's live file; failing that, the current event's version
        directory (the training files of every round since that version was released).
        Raises ``FileNotFoundError`` when none of these is known.
        """
        event = self._handler.event
        if event is not None:
            self.observe(event)
        known = self._dataset_dirs.get(round_number)
        if known is not None:
            return known
        data_dir = self._data_dir()
        if data_dir is not None:
            holding = {p.parent for p in data_dir.glob(f"v*/*_{round_number}.*") if version_key(p.parent.name)}
            if holding:
                return max(holding, key=lambda p: version_key(p.name))
        current = _version_dir(event) if event is not None else None
        if current is not None:
            return current
        raise FileNotFoundError(f"no dataset directory is known for round {round_number} (in {data_dir})")

    def _data_dir(self) -> Path | None:
        event = self._handler.event
        if event is not None and isinstance(event.get("data_dir"), str):
            return Path(event["data_dir"])
        return self._handler._context.data_dir


def _version_dir(event: HandlerEvent) -> Path | None:
    """``data_dir/version`` of a round event's payload (None for events without them)."""
    data_dir, version = event.get("data_dir"), event.get("version")
    if isinstance(data_dir, str) and isinstance(version, str) and version:
        return Path(data_dir) / version
    return None


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
        compat = getattr(self, "numerauto", None)
        if isinstance(compat, NumerautoCompat):
            compat.observe(event)
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
