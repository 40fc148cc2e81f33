"""Dataset sync against the sandbox: only complete, verified files appear, whatever the network does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from numeraud.numerai.client import NumeraiClient, NumeraiRejected
from numeraud.sandbox import Sandbox
from numeraud.supervisor.datasync import (
    DatasetSync,
    DiskFull,
    DownloadFailed,
    KnownFile,
    LiveDataPending,
    Progress,
    VerificationFailed,
)
from tests.helpers import wait_for


@pytest.fixture
def sync(sandbox: Sandbox, tmp_path: Path) -> DatasetSync:
    return DatasetSync(NumeraiClient(sandbox.url), tmp_path / "data", timeout=(2.0, 1.0), reserve_bytes=0)


def sandbox_bytes(sandbox: Sandbox, name: str) -> bytes:
    return (sandbox.core.options.data_dir / name).read_bytes()


def test_fetch_writes_the_exact_file_with_its_digest(sync: DatasetSync, sandbox: Sandbox) -> None:
    synced = sync.fetch("v5.2/live.parquet", "v5.2/live_1.parquet")
    original = sandbox_bytes(sandbox, "v5.2/live_1.parquet")
    assert synced.path.read_bytes() == original
    assert synced.sha256 == hashlib.sha256(original).hexdigest()
    assert synced.size == len(original)
    assert synced.changed is True
    assert not list(sync.partial_dir.rglob("*.part"))


def test_unchanged_file_is_not_downloaded_again(sync: DatasetSync) -> None:
    first = sync.fetch("v5.2/features.json", "v5.2/features.json")
    before = first.path.stat().st_mtime_ns
    again = sync.fetch(
        "v5.2/features.json", "v5.2/features.json", known=KnownFile(first.size, first.sha256, first.etag)
    )
    assert again.changed is False
    assert first.path.stat().st_mtime_ns == before


def test_truncated_transfer_leaves_no_final_file_and_the_next_attempt_resumes(
    small_sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox = small_sandbox
    sync = DatasetSync(NumeraiClient(sandbox.url), tmp_path / "data", reserve_bytes=0)
    sandbox.add_faults({"route": "download", "kind": "truncate", "count": 1})
    final = sync.data_dir / "v5.2/train.parquet"
    with pytest.raises(DownloadFailed):
        sync.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert not final.exists()
    partial = sync.partial_dir / "v5.2/train.parquet.part"
    assert 0 < partial.stat().st_size < len(sandbox_bytes(sandbox, "v5.2/train.parquet"))
    synced = sync.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    whole = sandbox_bytes(sandbox, "v5.2/train.parquet")
    assert synced.path.read_bytes() == whole
    assert synced.sha256 == hashlib.sha256(whole).hexdigest()  # the resumed prefix is in the digest
    wait_for(lambda: any(r["route"] == "download" and r["status"] == 206 for r in sandbox.requests()))


def test_corrupted_bytes_are_caught_by_the_md5_and_refetched_whole(sync: DatasetSync, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "download", "kind": "corrupt", "count": 1})
    with pytest.raises(VerificationFailed, match="MD5"):
        sync.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert not (sync.data_dir / "v5.2/train.parquet").exists()
    assert not (sync.partial_dir / "v5.2/train.parquet.part").exists()
    synced = sync.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert synced.path.read_bytes() == sandbox_bytes(sandbox, "v5.2/train.parquet")


def test_partial_copy_of_a_changed_file_is_replaced_not_appended(sync: DatasetSync, sandbox: Sandbox) -> None:
    part = sync.partial_dir / "v5.2/train.parquet.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"bytes of an older version of the file")
    (sync.partial_dir / "v5.2/train.parquet.part.json").write_text(json.dumps({"etag": '"0123"', "total": 10**6}))
    synced = sync.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert synced.path.read_bytes() == sandbox_bytes(sandbox, "v5.2/train.parquet")


@pytest.mark.parametrize("kind", ["http_503", "http_429", "reset"])
def test_server_faults_on_download_are_transient(sync: DatasetSync, sandbox: Sandbox, kind: str) -> None:
    sandbox.add_faults({"route": "download", "kind": kind, "count": 1})
    with pytest.raises(DownloadFailed):
        sync.fetch("v5.2/live.parquet", "v5.2/live_1.parquet")
    assert sync.fetch("v5.2/live.parquet", "v5.2/live_1.parquet").changed


def test_a_stalled_download_times_out_instead_of_hanging(sync: DatasetSync, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "download", "kind": "hang", "count": 1})
    with pytest.raises(DownloadFailed):
        sync.fetch("v5.2/live.parquet", "v5.2/live_1.parquet")


def test_not_enough_disk_is_refused_before_writing(sandbox: Sandbox, tmp_path: Path) -> None:
    greedy = DatasetSync(NumeraiClient(sandbox.url), tmp_path / "data", reserve_bytes=2**62)
    with pytest.raises(DiskFull, match="free"):
        greedy.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert not (tmp_path / "data/v5.2/train.parquet").exists()


def test_unknown_file_is_a_rejection(sync: DatasetSync) -> None:
    with pytest.raises(NumeraiRejected, match="Dataset not found"):
        sync.fetch("v5.2/nope.parquet", "v5.2/nope.parquet")


def test_progress_is_reported_with_the_total(sandbox: Sandbox, tmp_path: Path) -> None:
    seen: list[Progress] = []
    reporting = DatasetSync(NumeraiClient(sandbox.url), tmp_path / "data", reserve_bytes=0, progress=seen.append)
    synced = reporting.fetch("v5.2/train.parquet", "v5.2/train.parquet")
    assert seen[-1].done == seen[-1].total == synced.size


def test_a_complete_partial_copy_left_by_a_kill_is_fetched_again(sync: DatasetSync, sandbox: Sandbox) -> None:
    original = sandbox_bytes(sandbox, "v5.2/features.json")
    part = sync.partial_dir / "v5.2/features.json.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(original)  # every byte arrived, then the process died before the rename
    etag = sandbox.core.etag(sandbox.core.options.data_dir / "v5.2/features.json")
    (sync.partial_dir / "v5.2/features.json.part.json").write_text(json.dumps({"etag": etag, "total": len(original)}))
    assert sync.fetch("v5.2/features.json", "v5.2/features.json").path.read_bytes() == original


def test_a_partial_copy_longer_than_the_file_is_discarded(sync: DatasetSync, sandbox: Sandbox) -> None:
    original = sandbox_bytes(sandbox, "v5.2/features.json")
    part = sync.partial_dir / "v5.2/features.json.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(original + b"trailing garbage")
    etag = sandbox.core.etag(sandbox.core.options.data_dir / "v5.2/features.json")
    (sync.partial_dir / "v5.2/features.json.part.json").write_text(json.dumps({"etag": etag, "total": 1}))
    with pytest.raises(VerificationFailed):
        sync.fetch("v5.2/features.json", "v5.2/features.json")
    assert sync.fetch("v5.2/features.json", "v5.2/features.json").path.read_bytes() == original


def test_a_live_file_not_published_yet_is_pending_whether_not_found_or_the_previous_rounds(
    sync: DatasetSync, sandbox: Sandbox
) -> None:
    first = sync.fetch("v5.2/live.parquet", "v5.2/live_1.parquet", round_number=1)
    previous = KnownFile(first.size, first.sha256, first.etag)
    sandbox.set_live_delay(3600)
    number = sandbox.open_round(window=600)
    with pytest.raises(LiveDataPending, match="not published yet"):  # Numerai: "Dataset not found"
        sync.fetch("v5.2/live.parquet", f"v5.2/live_{number}.parquet", round_number=number, stale=previous)
    with pytest.raises(LiveDataPending, match="still serves the previous round's file"):  # the plain name
        sync.fetch("v5.2/live.parquet", f"v5.2/live_{number}.parquet", stale=previous)
    assert not (sync.data_dir / f"v5.2/live_{number}.parquet").exists()
    sandbox.publish_live()
    synced = sync.fetch("v5.2/live.parquet", f"v5.2/live_{number}.parquet", round_number=number, stale=previous)
    assert synced.path.read_bytes() == sandbox_bytes(sandbox, f"v5.2/live_{number}.parquet")
