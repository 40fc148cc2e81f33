"""The dispatcher with a real store and real frames (no sockets): commit before send, disk full."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from numeraud.common import config_file, protocol
from numeraud.common.failpoints import Failpoints
from numeraud.supervisor.dispatcher import Dispatcher
from numeraud.supervisor.store import Store

PEER = b"peer-1"


class Wire:
    """Collects what the dispatcher sends; ``on_send`` sees each message at the moment it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, protocol.Message]] = []
        self.on_send: Callable[[protocol.Message], None] | None = None

    def __call__(self, peer: bytes, frames: list[bytes]) -> bool:
        message = protocol.decode(frames)
        if self.on_send is not None:
            self.on_send(message)
        self.sent.append((peer, message))
        return True

    def of(self, kind: type) -> list[protocol.Message]:
        return [m for _, m in self.sent if isinstance(m, kind)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Dispatcher, Wire, Store]]:
    cfg = config_file.parse({"handlers": {"a": {"class": "m:C"}}, "paths": {"state_dir": str(tmp_path)}})
    store = Store(tmp_path / "db.sqlite")
    wire = Wire()
    dispatcher = Dispatcher(store, cfg, wire, structlog.get_logger("test"), Failpoints(env={}))
    dispatcher.on_frames(PEER, protocol.encode(protocol.Hello(name="a", pid=1)), 0.0)
    yield dispatcher, wire, store
    store.close()


def test_an_appended_event_is_committed_before_it_is_sent(setup: tuple[Dispatcher, Wire, Store]) -> None:
    dispatcher, wire, store = setup
    committed_when_sent: list[tuple[int, bool]] = []

    def look_in_the_log(message: protocol.Message) -> None:
        if isinstance(message, protocol.Event):  # another connection sees only what is committed
            reader = Store(store.path, read_only=True)
            try:
                committed_when_sent.append((message.seq, reader.get_event(message.seq) is not None))
            finally:
                reader.close()

    wire.on_send = look_in_the_log
    seq, _ = dispatcher.append("round_begin", 1, {"round": 1})
    assert wire.of(protocol.Event) == []
    dispatcher.pump(0.1)
    assert committed_when_sent == [(seq, True)]


def test_a_full_disk_stops_delivery_acks_nothing_and_recovers(setup: tuple[Dispatcher, Wire, Store]) -> None:
    dispatcher, wire, store = setup
    dispatcher.append("new_tournament_data", 1, {})
    dispatcher.append("cleanup", 1, {})
    dispatcher.pump(0.1)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = protocol.Ack(seq=1, emitted=(protocol.Emitted("predictions_ready", 1, {"x": "y" * 200_000}),))
    dispatcher.on_frames(PEER, protocol.encode(big), 0.2)
    dispatcher.pump(0.3)
    status = dispatcher.status()
    assert status["store"]["ok"] is False
    assert status["store"]["error"]["code"] == "disk_full"
    cursor = store.cursor("a")
    assert cursor is not None
    assert cursor.acked_seq == 0
    assert [m.seq for m in wire.of(protocol.Event) if isinstance(m, protocol.Event)] == [1]

    store._db.execute("PRAGMA max_page_count = 1000000")
    dispatcher.probe_store()
    dispatcher.pump(0.4)
    assert dispatcher.status()["store"]["ok"] is True
    redelivered = wire.of(protocol.Event)[-1]
    assert isinstance(redelivered, protocol.Event)
    assert (redelivered.seq, redelivered.attempt) == (1, 1)


def test_an_event_goes_to_every_handler_and_every_attempt_with_the_same_payload(tmp_path: Path) -> None:
    cfg = config_file.parse(
        {
            "handlers": {"a": {"class": "m:C", "retry_backoff": 0.001}, "b": {"class": "m:C"}},
            "paths": {"state_dir": str(tmp_path)},
        }
    )
    store = Store(tmp_path / "db.sqlite")
    raw: list[tuple[bytes, list[bytes]]] = []

    def send(peer: bytes, frames: list[bytes]) -> bool:
        raw.append((peer, frames))
        return True

    dispatcher = Dispatcher(store, cfg, send, structlog.get_logger("test"), Failpoints(env={}))
    for name, peer in (("a", b"pa"), ("b", b"pb")):
        dispatcher.on_frames(peer, protocol.encode(protocol.Hello(name=name, pid=1)), 0.0)
    payload = {"round": 3, "paths": {"live": "/data/live é.parquet"}}
    dispatcher.append("new_tournament_data", 3, payload)
    dispatcher.pump(0.1)
    dispatcher.on_frames(b"pa", protocol.encode(protocol.Nack(seq=1, error="boom")), 0.2)
    dispatcher.tick(1.0)
    dispatcher.pump(1.0)
    events = [(peer, protocol.decode(frames)) for peer, frames in raw if frames[1] == b"EVENT"]
    assert [(peer, m.seq, m.attempt) for peer, m in events if isinstance(m, protocol.Event)] == [
        (b"pa", 1, 1),
        (b"pb", 1, 1),
        (b"pa", 1, 2),
    ]
    assert all(isinstance(m, protocol.Event) and m.payload == payload for _, m in events)
    store.close()
