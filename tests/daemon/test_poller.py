"""The tournament follower against the sandbox with the real numerapi-based client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from numeraud.common.config import DataConfig
from numeraud.numerai.client import NumeraiClient
from numeraud.numerai.retry import Backoff
from numeraud.sandbox import Sandbox
from numeraud.supervisor.datasync import DatasetSync
from numeraud.supervisor.poller import TournamentFollower
from numeraud.supervisor.round_events import Publication
from numeraud.supervisor.tournament import PollPolicy
from tests.helpers import wait_for

ROUND_KINDS = ["round_begin", "new_training_data", "new_tournament_data", "cleanup"]


class Recorder:
    """Collects publications the way the supervisor would commit them."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []

    def __call__(self, publication: Publication) -> None:
        self.publications.append(publication)

    def events(self) -> list[tuple[str, int]]:
        return [(kind, number) for p in self.publications for kind, number, _ in p.events]

    def payload(self, kind: str, number: int) -> dict[str, object]:
        for publication in self.publications:
            for event_kind, event_round, payload in publication.events:
                if (event_kind, event_round) == (kind, number):
                    return payload
        raise KeyError((kind, number))


def listings(sandbox: Sandbox) -> int:
    """How many ``listDatasets`` calls the sandbox has answered."""
    return sum("listDatasets" in r["fields"] for r in sandbox.requests())


@contextmanager
def unlisted(sandbox: Sandbox) -> Iterator[threading.Event]:
    """Numerai lists no dataset at all until the yielded event is set (or the block ends)."""
    core = sandbox.core
    with core.lock:
        versions = list(core.state.versions)
        core.state.versions.clear()
    relist = threading.Event()

    def restore() -> None:
        relist.wait()
        with core.lock:
            core.state.versions[:] = versions

    thread = threading.Thread(target=restore, daemon=True)
    thread.start()
    try:
        yield relist
    finally:
        relist.set()
        thread.join(timeout=10)


def make_follower(
    sandbox: Sandbox, tmp_path: Path, recorder: Recorder, settings: DataConfig | None = None, **state: str
) -> TournamentFollower:
    client = NumeraiClient(sandbox.url, timeout=(2.0, 2.0))
    sync = DatasetSync(client, tmp_path / "data", timeout=(2.0, 1.0), reserve_bytes=0)
    return TournamentFollower(
        client,
        sync,
        settings or DataConfig(),
        PollPolicy(idle_interval=5, fast_interval=0.5),
        publish=recorder,
        state=state,
        known_files={},
        backoff=Backoff(base=0.02, cap=0.1),
    )


def test_an_open_round_is_published_in_numerautos_order_with_verified_files(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    assert recorder.events() == [(kind, 1) for kind in ROUND_KINDS]
    payload = recorder.payload("new_tournament_data", 1)
    live = Path(payload["live_files"]["live.parquet"])  # type: ignore[index]
    assert live.name == "live_1.parquet"
    assert live.read_bytes() == (sandbox.core.options.data_dir / "v5.2/live_1.parquet").read_bytes()
    for path in payload["training_files"].values():  # type: ignore[attr-defined]
        assert Path(path).exists()
    assert payload["version"] == "v5.2"
    assert payload["deadline"]
    assert follower.state["last_round_processed"] == "1"
    assert follower.state["last_round_trained"] == "1"


def test_polling_again_publishes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    follower.poll()
    assert len(recorder.events()) == 4


def test_the_next_round_brings_tournament_data_but_no_training_data(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    sandbox.open_round()
    follower.poll()
    assert recorder.events()[4:] == [
        ("round_closed", 1),
        ("round_begin", 2),
        ("new_tournament_data", 2),
        ("cleanup", 2),
    ]


def test_a_new_dataset_version_gives_exactly_one_new_training_data(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    sandbox.release_dataset("v5.3")
    sandbox.open_round()
    follower.poll()
    sandbox.open_round()
    follower.poll()
    training = [e for e in recorder.events() if e[0] == "new_training_data"]
    assert training == [("new_training_data", 1), ("new_training_data", 2)]
    assert recorder.payload("new_training_data", 2)["version"] == "v5.3"
    assert (tmp_path / "data/v5.3/train.parquet").exists()


def test_a_pinned_version_ignores_newer_releases(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder, DataConfig(version="v5.2"))
    follower.poll()
    sandbox.release_dataset("v5.3")
    sandbox.open_round()
    follower.poll()
    assert ("new_training_data", 2) not in recorder.events()


def test_validation_updates_count_as_training_data_when_configured(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder, DataConfig(validation_updates=True))
    follower.poll()
    sandbox.validation_update()
    sandbox.open_round()
    follower.poll()
    assert ("new_training_data", 2) in recorder.events()
    validation = pd.read_parquet(tmp_path / "data/v5.2/validation.parquet")
    assert (
        validation["era"].nunique()
        == pd.read_parquet(sandbox.core.options.data_dir / "v5.2/validation.parquet")["era"].nunique()
    )


def test_first_start_between_rounds_publishes_no_round(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.close_round()
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    assert recorder.events() == []
    assert follower.state["last_round_processed"] == "1"


def test_a_round_that_closed_while_away_is_reported_missed(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    make_follower(sandbox, tmp_path, recorder).poll()
    sandbox.open_round()
    sandbox.open_round()
    sandbox.close_round()
    restarted = make_follower(sandbox, tmp_path, recorder, last_round_processed="1")
    restarted.poll()
    assert recorder.events()[4:] == [("round_missed", 2), ("round_missed", 3)]
    assert restarted.state["last_round_processed"] == "3"
    assert recorder.payload("round_missed", 2)["reason"] == "opened and closed while numeraud was not running"


def test_a_round_missed_while_numeraud_ran_says_it_was_between_two_looks(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    sandbox.open_round()
    sandbox.open_round()  # round 2 opens and closes before the follower looks again
    sandbox.close_round()
    follower.poll()
    assert ("round_missed", 2) in recorder.events()
    for number in (2, 3):
        reason = str(recorder.payload("round_missed", number)["reason"])
        assert reason.startswith("opened and closed between two looks at Numerai")
        assert "not running" not in reason


@pytest.mark.parametrize("kind", ["http_503", "malformed_json", "graphql_error", "reset", "hang"])
def test_a_failed_poll_is_survived_and_retried(sandbox: Sandbox, tmp_path: Path, kind: str) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    sandbox.add_faults({"route": "graphql:rounds", "kind": kind, "count": 1, "message": "Current round not open"})
    delay = follower.poll()
    assert 0 < delay <= 5
    assert recorder.events() == []
    follower.poll()
    assert recorder.events() == [(kind, 1) for kind in ROUND_KINDS]


@pytest.mark.parametrize("kind", ["truncate", "corrupt", "http_503", "http_429", "reset"])
def test_download_faults_are_retried_within_the_round(sandbox: Sandbox, tmp_path: Path, kind: str) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    sandbox.add_faults({"route": "download", "kind": kind, "count": 3})
    follower.poll()
    assert recorder.events() == [(kind, 1) for kind in ROUND_KINDS]


def test_data_that_cannot_be_had_before_the_deadline_makes_the_round_missed(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.open_round(window=1.5)
    sandbox.add_faults({"route": "download", "kind": "http_503"})
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    assert recorder.events() == [("round_missed", 2)]
    assert "data not synced" in str(recorder.payload("round_missed", 2)["reason"])
    assert not list((tmp_path / "data").rglob("live_2.parquet"))


def test_an_empty_dataset_listing_is_retried_within_the_round(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.open_round(window=30)
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    with unlisted(sandbox) as relist:

        def relist_after_three_empty_listings() -> None:
            wait_for(lambda: listings(sandbox) >= 3)
            relist.set()

        watcher = threading.Thread(target=relist_after_three_empty_listings)
        watcher.start()
        follower.poll()
        watcher.join(timeout=10)
    assert recorder.events() == [(kind, 2) for kind in ROUND_KINDS]
    assert listings(sandbox) >= 4  # three empty listings, then the one that named a version


def test_a_listing_still_empty_at_the_deadline_makes_the_round_missed_saying_so(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.open_round(window=1.5)
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    with unlisted(sandbox):
        follower.poll()
    assert recorder.events() == [("round_missed", 2)]
    reason = str(recorder.payload("round_missed", 2)["reason"])
    assert "deadline passed before Numerai listed a dataset version" in reason
    assert "Numerai listed no dataset version" in reason
    assert listings(sandbox) > 1  # retried until the deadline, not given up on the first answer


def test_old_live_files_are_pruned_by_retention(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder, DataConfig(retention=2))
    for _ in range(3):
        follower.poll()
        sandbox.open_round()
    follower.poll()
    assert sorted(p.name for p in (tmp_path / "data/v5.2").glob("live_*.parquet")) == [
        "live_3.parquet",
        "live_4.parquet",
    ]


def test_round_closed_is_published_once_the_deadline_passes(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    follower.poll()
    assert ("round_closed", 1) not in recorder.events()
    sandbox.close_round()
    follower.poll()
    follower.poll()
    assert recorder.events()[4:] == [("round_closed", 1)]


def test_the_poll_after_processing_wakes_up_at_the_deadline(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.open_round(window=3.0)
    follower = make_follower(sandbox, tmp_path, Recorder())
    assert follower.poll() <= 3.1


def test_round_closed_is_published_even_when_the_next_round_opened_in_between(sandbox: Sandbox, tmp_path: Path) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    sandbox.open_round()
    follower.poll()
    assert recorder.events()[4:6] == [("round_closed", 1), ("round_begin", 2)]


def test_round_deadline_near_is_published_once_at_the_guard_time_with_the_live_files(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = sandbox.open_round(window=6.0)  # a sixth of the window: the guard is due 1 s before the deadline
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    delay = follower.poll()
    assert recorder.events() == [(kind, number) for kind in ROUND_KINDS]
    assert delay <= 5.1, "the next poll must come by the guard time"

    def guarded() -> bool:
        follower.poll()
        return ("round_deadline_near", number) in recorder.events()

    wait_for(guarded, timeout=10, what="round_deadline_near")
    payload = recorder.payload("round_deadline_near", number)
    assert 0 < float(payload["seconds_left"]) <= 1.0  # type: ignore[arg-type]
    assert payload["deadline"] == recorder.payload("round_begin", number)["deadline"]
    live = Path(payload["live_files"]["live.parquet"])  # type: ignore[index]
    assert live == Path(recorder.payload("new_tournament_data", number)["live_files"]["live.parquet"])  # type: ignore[index]
    assert live.exists()
    follower.poll()
    assert recorder.events().count(("round_deadline_near", number)) == 1


def test_round_deadline_near_is_not_published_for_a_deadline_that_passed_unseen(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    number = sandbox.open_round(window=6.0)
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    sandbox.close_round()  # the deadline comes before the guard was looked at (numeraud was busy or down)
    follower.poll()
    assert ("round_closed", number) in recorder.events()
    assert ("round_deadline_near", number) not in recorder.events()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("train.parquet", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        ("validation.parquet", lambda p: p.write_bytes(p.read_bytes()[:-8] + b"\0" * 8)),
        ("features.json", lambda p: p.write_bytes(b"\0" * p.stat().st_size)),
    ],
    ids=["truncated", "footer_overwritten", "zeroed_same_size"],
)
def test_a_training_file_damaged_between_rounds_is_downloaded_again_before_the_next_round(
    sandbox: Sandbox, tmp_path: Path, name: str, damage: Callable[[Path], object]
) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()
    path = tmp_path / "data" / "v5.2" / name
    damage(path)
    sandbox.open_round()
    follower.poll()
    assert path.read_bytes() == (sandbox.core.options.data_dir / "v5.2" / name).read_bytes()
    assert ("new_training_data", 2) in recorder.events()


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "throttle", "delay": 60},  # every read outlasts the client's timeout: too slow for the window
        {"kind": "http_500"},  # Numerai failing on the new version's files
    ],
)
def test_a_new_dataset_that_cannot_be_synced_in_time_does_not_hold_back_the_round(
    sandbox: Sandbox, tmp_path: Path, fault: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    follower = make_follower(sandbox, tmp_path, recorder)
    follower.poll()  # round 1 on v5.2, the version synced
    sandbox.release_dataset("v5.3")
    sandbox.open_round(window=6)
    sandbox.add_faults({"route": "download", **fault})
    threading.Timer(3.3, sandbox.clear_faults).start()  # Numerai recovers once half the window is gone
    started = time.monotonic()
    follower.poll()
    assert time.monotonic() - started < 6
    assert [kind for kind, number in recorder.events() if number == 2] == [
        "round_begin",
        "new_tournament_data",
        "cleanup",
    ]
    assert recorder.payload("new_tournament_data", 2)["version"] == "v5.2"
    assert (tmp_path / "data/v5.2/live_2.parquet").exists()
    deferred = [line for line in capsys.readouterr().out.splitlines() if "training_sync_deferred" in line]
    assert len(deferred) == 1
    assert "version=v5.3" in deferred[0]
    assert "using=v5.2" in deferred[0]
    sandbox.open_round(window=30)
    follower.poll()  # the new version is tried again, and had
    assert recorder.payload("new_training_data", 3)["version"] == "v5.3"
    assert recorder.payload("new_tournament_data", 3)["version"] == "v5.3"
