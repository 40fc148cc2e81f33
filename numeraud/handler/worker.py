"""The handler runtime's worker thread: it runs the handler's callbacks, one at a time.

It talks to the main thread (:mod:`numeraud.handler.runtime`) only over an ``inproc://`` PAIR
socket, and never touches the bus: it receives a :class:`Job`, runs it through
:class:`Callbacks` and sends back the :class:`Result` (what was emitted, or the error). Both are
Python objects passed within the process (``send_pyobj``); nothing of it is stored.
"""

from __future__ import annotations

import copy
import importlib
import time
import traceback
from dataclasses import dataclass
from typing import Any

import zmq

from numeraud.common import protocol
from numeraud.common.config import Config, ConfigError, HandlerConfig
from numeraud.common.logs import scrub_text, secret_values
from numeraud.handler.sdk import EventHandler, HandlerContext, HandlerEvent, StateFile, build_handler


def load_handler_class(config: Config, handler: HandlerConfig) -> type[EventHandler]:
    """Import the class named by ``[handlers.NAME] class``; a failure is a ConfigError."""
    module_name, _, attr = handler.class_path.partition(":")
    key = f"handlers.{handler.name}.class"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(key, f"cannot import {module_name}: {type(exc).__name__}: {exc}", config.path) from None
    cls: object = module
    for part in attr.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ConfigError(key, f"{module_name} has no {attr}", config.path)
    if not isinstance(cls, type) or not issubclass(cls, EventHandler):
        raise ConfigError(key, f"{handler.class_path} is not a subclass of numeraud.EventHandler", config.path)
    return cls


def build_callbacks(config: Config, name: str, log: Any) -> Callbacks:
    """The handler ``[handlers.NAME]`` configures, with its saved state; a failure is a ConfigError."""
    spec = config.handler(name)
    cls = load_handler_class(config, spec)
    state = StateFile(spec.state_dir / "state.json")
    try:
        saved = state.load()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"handlers.{name}.state_dir", f"cannot read saved state: {exc}", config.path) from None
    context = HandlerContext(
        name=name,
        options=spec.options,
        state_dir=spec.state_dir,
        data_dir=config.paths.data_dir,
        persistent_state=saved,
        api_url=config.numerai.api_url,
    )
    handler = build_handler(cls, context)
    handler.log = log
    return Callbacks(handler, state, log)


@dataclass
class Job:
    """A callback to run: ``start``, ``event`` or ``shutdown``."""

    kind: str
    event: HandlerEvent | None = None


@dataclass
class Result:
    """What a callback did. ``fatal``: it raised SystemExit (or another BaseException) and the
    worker thread has ended."""

    kind: str
    ok: bool
    duration: float
    seq: int = 0
    error: str | None = None
    emitted: tuple[protocol.Emitted, ...] = ()
    fatal: bool = False


class Callbacks:
    """Runs the handler's callbacks and saves ``persistent_state`` after each event handled."""

    def __init__(self, handler: EventHandler, state: StateFile, log: Any) -> None:
        self.handler = handler
        self.state = state
        self.log = log
        self._secrets = secret_values()

    def run(self, job: Job, started: float) -> Result:
        """Run ``job``'s callback; an exception becomes a failed :class:`Result` (text scrubbed).

        An event's callback that fails leaves ``persistent_state`` as it was before the callback
        (restored in place, so references to the dict stay valid): a failed attempt's changes are
        never saved by the next event that succeeds.
        """
        handler = self.handler
        event = job.event
        seq = event.seq if event is not None else 0
        try:
            if event is not None:
                state = handler.persistent_state
                before = copy.deepcopy(state)
                handler.event = event
                handler._emitted = []
                handler.log = self.log.bind(seq=seq, round=event.round, kind=event.kind, attempt=event.attempt)
                try:
                    handler.dispatch(event)
                    self.state.save(handler.persistent_state)
                except BaseException:
                    state.clear()
                    state.update(before)
                    handler.persistent_state = state
                    raise
                finally:
                    handler.event = None
                    handler.log = self.log
                return Result("event", True, time.monotonic() - started, seq, None, tuple(handler._emitted))
            if job.kind == "start":
                handler.on_start()
            elif job.kind == "shutdown":
                handler.on_shutdown()
            return Result(job.kind, True, time.monotonic() - started, seq=seq)
        except Exception as exc:
            return Result(job.kind, False, time.monotonic() - started, seq=seq, error=self._failed(job, seq, exc))

    def _failed(self, job: Job, seq: int, exc: BaseException) -> str:
        text = scrub_text("".join(traceback.format_exception_only(type(exc), exc)).strip(), self._secrets)
        trace = scrub_text("".join(traceback.format_exception(exc)), self._secrets)
        self.log.error("callback raised", job=job.kind, seq=seq or None, error=text, traceback=trace)
        return text

    def serve(self, ctx: zmq.Context[Any], address: str) -> None:
        """The worker thread's body: connect a PAIR socket to ``address``, then for every
        :class:`Job` received send back its :class:`Result`, until ``None`` comes or a callback
        raises a BaseException (a fatal Result is the thread's last word)."""
        pair: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        pair.connect(address)
        try:
            while (job := pair.recv_pyobj()) is not None:
                started = time.monotonic()
                seq = job.event.seq if job.event is not None else 0
                try:
                    result = self.run(job, started)
                except BaseException as exc:  # SystemExit from a callback: answer, then end
                    error = f"{type(exc).__name__} in the callback: the handler process exits"
                    self._failed(job, seq, exc)
                    pair.send_pyobj(Result(job.kind, False, time.monotonic() - started, seq, error, fatal=True))
                    return
                pair.send_pyobj(result)
        finally:
            pair.close()
