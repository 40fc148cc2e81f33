"""``self.numerauto`` for numerauto handlers, on the events the supervisor's follower really publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from numeraud import EventHandler
from numeraud.common.config import DataConfig
from numeraud.handler.runtime import Callbacks, Job
from numeraud.handler.sdk import HandlerContext, HandlerEvent, StateFile, build_handler
from numeraud.numerai.retry import Backoff
from numeraud.sandbox import Sandbox
from numeraud.supervisor.following import FollowerService
from numeraud.supervisor.store import Store
from numeraud.supervisor.tournament import PollPolicy


class NumerautoTrainer(EventHandler):
    """Written for numerauto (as its SKLearnModelTrainer uses ``self.numerauto``); notes what it is told."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        #: (callback, round, persistent_state, get_dataset_path(round))
        self.seen: list[tuple[str, int, dict[str, Any], Path | None]] = []
        #: get_dataset_path(last_round_trained), where numerauto's trainer loads its training data
        self.trained_paths: list[Path] = []

    def _note(self, callback: str, round_number: int) -> None:
        self.seen.append(
            (callback, round_number, self.numerauto.persistent_state, self.numerauto.get_dataset_path(round_number))
        )

    def on_round_begin(self, round_number: int) -> None:
        self._note("round_begin", round_number)

    def on_new_training_data(self, round_number: int) -> None:
        self._note("new_training_data", round_number)

    def on_new_tournament_data(self, round_number: int) -> None:
        self._note("new_tournament_data", round_number)
        trained = self.numerauto.persistent_state["last_round_trained"]
        self.trained_paths.append(self.numerauto.get_dataset_path(trained))

    def on_cleanup(self, round_number: int) -> None:
        self._note("cleanup", round_number)

    def on_event(self, event: HandlerEvent) -> None:
        self.seen.append((event.kind, event.round or 0, self.numerauto.persistent_state, None))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "numeraud.db")
    yield opened
    opened.close()


def published(sandbox: Sandbox, store: Store, tmp_path: Path, rounds: int) -> list[HandlerEvent]:
    """The events the follower publishes for ``rounds`` rounds, as committed to the store and sent."""
    service = FollowerService(
        store,
        api_url=sandbox.url,
        data_dir=tmp_path / "data",
        settings=DataConfig(training_files=("features.json", "train.parquet"), reserve_bytes=0),
        policy=PollPolicy(idle_interval=5, fast_interval=0.5),
        stall_after=600,
        publish=store.publish,
    )
    service.follower.backoff = Backoff(base=0.02, cap=0.1)
    for number in range(rounds):
        if number:
            sandbox.open_round()
        service.follower.poll()
        service.drain()
    return [HandlerEvent(e.seq, e.event_id, e.kind, e.round, 1, e.created, e.payload) for e in store.events(after=0)]


def run_handler(events: list[HandlerEvent], tmp_path: Path) -> NumerautoTrainer:
    context = HandlerContext(name="trainer", state_dir=tmp_path / "trainer", data_dir=tmp_path / "data")
    handler = build_handler(NumerautoTrainer, context)
    assert isinstance(handler, NumerautoTrainer)
    callbacks = Callbacks(handler, StateFile(tmp_path / "trainer" / "state.json"), structlog.get_logger("test"))
    for event in events:
        result = callbacks.run(Job("event", event), 0.0)
        assert result.ok, result.error
    return handler


def test_numerautos_persistent_state_is_what_numerauto_showed_in_each_callback(
    sandbox: Sandbox, store: Store, tmp_path: Path
) -> None:
    handler = run_handler(published(sandbox, store, tmp_path, rounds=2), tmp_path)
    states = [(callback, number, state) for callback, number, state, _path in handler.seen]
    assert states == [
        ("round_begin", 1, {"last_round_processed": None, "last_round_trained": None}),
        ("new_training_data", 1, {"last_round_processed": None, "last_round_trained": None}),
        ("new_tournament_data", 1, {"last_round_processed": None, "last_round_trained": 1}),
        ("cleanup", 1, {"last_round_processed": None, "last_round_trained": 1}),
        ("round_closed", 1, {"last_round_processed": 1, "last_round_trained": 1}),
        ("round_begin", 2, {"last_round_processed": 1, "last_round_trained": 1}),
        ("new_tournament_data", 2, {"last_round_processed": 1, "last_round_trained": 1}),
        ("cleanup", 2, {"last_round_processed": 1, "last_round_trained": 1}),
    ]


def test_get_dataset_path_is_the_directory_holding_the_rounds_synced_files(
    sandbox: Sandbox, store: Store, tmp_path: Path
) -> None:
    events = published(sandbox, store, tmp_path, rounds=2)
    handler = run_handler(events, tmp_path)
    version_dir = tmp_path / "data" / "v5.2"
    assert {path for _c, _n, _s, path in handler.seen if path is not None} == {version_dir}
    assert handler.trained_paths == [version_dir, version_dir]
    served = sandbox.core.options.data_dir / "v5.2"
    for name in ("train.parquet", "live_1.parquet", "live_2.parquet"):
        assert (version_dir / name).read_bytes() == (served / name).read_bytes()
    # A process that never saw round 1's events finds its directory by the round's live file.
    fresh = run_handler([e for e in events if e.round == 2 and e.kind == "round_begin"], tmp_path)
    assert fresh.numerauto.get_dataset_path(1) == version_dir
