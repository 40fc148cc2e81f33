"""The SQLite event log on real files."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from numeraud.supervisor.store import Store
from numeraud.supervisor.store_connection import StoreError
from numeraud.supervisor.store_records import Ack, DatasetFile, NewEvent
from numeraud.supervisor.store_schema import MIGRATIONS, SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "numeraud.db")
    yield s
    s.close()


def test_a_new_database_gets_the_current_schema_version_in_wal_mode(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    assert s.schema_version == SCHEMA_VERSION
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()


def test_appended_events_get_contiguous_seqs(store: Store) -> None:
    seqs = [store.append_event("round_begin", r, {"round": r})[0] for r in (1, 2, 3)]
    assert seqs == [1, 2, 3]
    assert store.head_seq() == 3


def test_appending_the_same_kind_and_round_twice_yields_one_event(store: Store) -> None:
    first = store.append_event("round_begin", 7, {"a": 1})
    again = store.append_event("round_begin", 7, {"a": 2})
    assert first == (1, True)
    assert again == (1, False)
    assert store.head_seq() == 1
    event = store.get_event(1)
    assert event is not None
    assert event.payload == {"a": 1}


def test_a_duplicate_append_does_not_leave_a_gap_in_seqs(store: Store) -> None:
    store.append_event("round_begin", 7, {})
    store.append_event("round_begin", 7, {})
    assert store.append_event("new_tournament_data", 7, {})[0] == 2


def test_ack_moves_the_cursor_and_commits_emitted_events_together(store: Store) -> None:
    store.ensure_cursor("model-a", 0)
    store.append_event("new_tournament_data", 9, {})
    seqs = store.ack("model-a", 1, [NewEvent("predictions_ready", None, {"path": "/p.csv"})])
    assert seqs == [2]
    cursor = store.cursor("model-a")
    assert cursor is not None
    assert cursor.acked_seq == 1
    emitted = store.get_event(2)
    assert emitted is not None
    assert (emitted.kind, emitted.round, emitted.source, emitted.parent_seq) == ("predictions_ready", 9, "model-a", 1)


def test_an_out_of_order_ack_commits_nothing(store: Store) -> None:
    store.ensure_cursor("model-a", 0)
    for r in (1, 2):
        store.append_event("round_begin", r, {})
    with pytest.raises(StoreError) as info:
        store.ack("model-a", 2, [NewEvent("predictions_ready", None, {})])
    assert info.value.code == "constraint"
    assert store.head_seq() == 2
    cursor = store.cursor("model-a")
    assert cursor is not None
    assert cursor.acked_seq == 0


def test_emitting_the_same_kind_from_two_handlers_keeps_both(store: Store) -> None:
    store.ensure_cursor("a", 0)
    store.ensure_cursor("b", 0)
    store.append_event("new_tournament_data", 3, {})
    store.ack("a", 1, [NewEvent("predictions_ready", None, {})])
    store.ack("b", 1, [NewEvent("predictions_ready", None, {})])
    assert [e.source for e in store.events(after=1)] == ["a", "b"]


def test_cursor_bookkeeping_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    s = Store(path)
    s.ensure_cursor("m", 0)
    s.save_cursor("m", acked_seq=0, state="blocked", attempts=5, last_error="boom")
    s.close()
    s = Store(path)
    cursor = s.cursor("m")
    assert cursor is not None
    assert (cursor.state, cursor.attempts, cursor.last_error) == ("blocked", 5, "boom")
    s.close()


def test_ensure_cursor_does_not_move_an_existing_cursor(store: Store) -> None:
    store.ensure_cursor("m", 0)
    assert store.ensure_cursor("m", 99).acked_seq == 0


def test_tournament_state_and_dataset_files_round_trip(store: Store) -> None:
    store.set_state("last_round_processed", "512")
    store.set_state("last_round_processed", "513")
    store.record_file(DatasetFile("v5.0", "train.parquet", 10, "ab" * 32, None, "t"))
    assert store.tournament_state() == {"last_round_processed": "513"}
    assert [f.name for f in store.dataset_files("v5.0")] == ["train.parquet"]


def test_read_only_open_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    s = Store(path)
    s.append_event("round_begin", 1, {})
    s.close()
    ro = Store(path, read_only=True)
    assert ro.head_seq() == 1
    with pytest.raises(StoreError) as info:
        ro.append_event("round_begin", 2, {})
    assert info.value.code == "read_only"
    ro.close()


def test_read_only_open_of_a_missing_database_is_cant_open(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "missing.db", read_only=True)
    assert info.value.code == "cant_open"
    assert not (tmp_path / "missing.db").exists()


def test_a_database_from_a_newer_numeraud_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert info.value.code == "schema_too_new"


def test_a_full_disk_is_a_typed_error_and_nothing_is_half_committed(store: Store) -> None:
    store.ensure_cursor("m", 0)
    store.append_event("new_tournament_data", 1, {})
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError) as info:
        store.ack("m", 1, [NewEvent("blob", None, {"x": "y" * 100_000})])
    assert info.value.code == "disk_full"
    cursor = store.cursor("m")
    assert cursor is not None
    assert cursor.acked_seq == 0
    assert store.head_seq() == 1


def test_a_plain_ack_is_durable_in_one_statement(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    s = Store(path)
    s.ensure_cursor("m", 0)
    s.append_event("round_begin", 1, {})
    assert s.ack("m", 1) == []
    assert not s._db.in_transaction
    s.close()
    reopened = Store(path, read_only=True)
    try:
        cursor = reopened.cursor("m")
        assert cursor is not None
        assert (cursor.acked_seq, cursor.state, cursor.attempts, cursor.last_error) == (1, "ready", 0, None)
    finally:
        reopened.close()


def test_a_plain_out_of_order_ack_changes_nothing(store: Store) -> None:
    store.ensure_cursor("m", 0)
    for r in (1, 2):
        store.append_event("round_begin", r, {})
    before = store.cursor("m")
    with pytest.raises(StoreError) as info:
        store.ack("m", 2)
    assert info.value.code == "constraint"
    assert store.cursor("m") == before
    assert not store._db.in_transaction


def test_group_commit_of_plain_acks_is_all_or_nothing(store: Store) -> None:
    store.ensure_cursor("a", 0)
    store.ensure_cursor("b", 0)
    store.append_event("round_begin", 1, {})
    with pytest.raises(StoreError):
        store.ack_many([Ack("a", 1), Ack("b", 2)])
    assert [store.cursor(h).acked_seq for h in ("a", "b")] == [0, 0]  # type: ignore[union-attr]
    assert store.ack_many([Ack("a", 1), Ack("b", 1)]) == [[], []]
    assert [store.cursor(h).acked_seq for h in ("a", "b")] == [1, 1]  # type: ignore[union-attr]


def test_a_read_only_store_refuses_a_plain_ack(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Store(path).close()
    ro = Store(path, read_only=True)
    try:
        with pytest.raises(StoreError) as info:
            ro.ack("m", 1)
        assert info.value.code == "read_only"
    finally:
        ro.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_store_refuses_use_from_a_thread_other_than_the_one_that_opened_it(tmp_path: Path, read_only: bool) -> None:
    Store(tmp_path / "db.sqlite").close()
    store = Store(tmp_path / "db.sqlite", read_only=read_only)
    errors: list[BaseException] = []

    def use() -> None:
        try:
            store.head_seq()
        except BaseException as exc:  # whatever it is, the test reports it
            errors.append(exc)

    other = threading.Thread(target=use)
    other.start()
    other.join(timeout=10)
    try:
        assert len(errors) == 1
        assert isinstance(errors[0], StoreError)
        assert "thread" in str(errors[0])
        assert store.head_seq() == 0  # the owning thread still can
    finally:
        store.close()


def test_a_new_database_and_its_wal_and_shm_are_0640_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "numeraud.db")
        store.append_event("round_begin", 1, {})
    finally:
        os.umask(old)
    try:
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        store.close()
    assert modes == {"numeraud.db": 0o640, "numeraud.db-wal": 0o640, "numeraud.db-shm": 0o640}


def test_a_pause_is_saved_read_back_and_kept_by_an_ack(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    s = Store(path)
    s.append_event("round_begin", 1, {})
    assert s.ensure_cursor("m", 0).paused is False
    s.save_cursor("m", acked_seq=0, state="busy", attempts=0, last_error=None, paused=True)
    s.ack("m", 1)  # the ACK of the event in flight when it was paused writes state 'ready'
    s.close()
    s = Store(path)
    cursor = s.cursor("m")
    assert cursor is not None
    assert (cursor.acked_seq, cursor.state, cursor.paused) == (1, "ready", True)
    assert s.cursors()["m"].paused is True
    s.close()


def test_a_database_of_schema_1_is_upgraded_and_keeps_its_cursors(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as db:  # what numeraud before schema 2 wrote
        db.executescript(MIGRATIONS[0])
        db.execute(
            "INSERT INTO cursors (handler, acked_seq, state, attempts, last_error, updated)"
            " VALUES ('m', 7, 'blocked', 3, 'boom', '2026-01-01T00:00:00+00:00')"
        )
        db.execute("PRAGMA user_version = 1")
    db.close()
    with pytest.raises(StoreError, match="has schema 1; start numeraud to migrate it"):
        Store(path, read_only=True)
    s = Store(path)
    assert s.schema_version == SCHEMA_VERSION == 2
    cursor = s.cursor("m")
    assert cursor is not None
    assert (cursor.acked_seq, cursor.state, cursor.attempts, cursor.last_error, cursor.paused) == (
        7,
        "blocked",
        3,
        "boom",
        False,
    )
    s.close()
