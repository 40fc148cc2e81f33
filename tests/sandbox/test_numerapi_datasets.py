"""The real numerapi client downloads every sandbox dataset file, resumes and skips like on Numerai."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numerapi
import pandas as pd
import pytest
import requests

from numeraud.sandbox import Sandbox
from tests.helpers import wait_for


def test_list_datasets_names_every_file_of_the_version(public_napi: numerapi.NumerAPI) -> None:
    assert sorted(public_napi.list_datasets()) == sorted(
        f"v5.2/{name}"
        for name in (
            "features.json",
            "train.parquet",
            "train_benchmark_models.parquet",
            "validation.parquet",
            "validation_example_preds.parquet",
            "validation_example_preds.csv",
            "validation_benchmark_models.parquet",
            "meta_model.parquet",
            "live.parquet",
            "live_example_preds.parquet",
            "live_example_preds.csv",
            "live_benchmark_models.parquet",
        )
    )


def test_every_listed_file_downloads_and_reads(public_napi: numerapi.NumerAPI, tmp_path: Path) -> None:
    for name in public_napi.list_datasets():
        dest = tmp_path / name
        public_napi.download_dataset(name, str(dest))
        if name.endswith(".json"):
            assert "feature_sets" in json.loads(dest.read_text())
        elif name.endswith(".csv"):
            assert list(pd.read_csv(dest).columns) == ["id", "prediction"]
        else:
            assert len(pd.read_parquet(dest)) > 0


def test_live_parquet_is_the_current_rounds_file(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    public_napi.download_dataset("v5.2/live.parquet", str(tmp_path / "live.parquet"))
    public_napi.download_dataset("v5.2/live_1.parquet", str(tmp_path / "live_1.parquet"))
    assert (tmp_path / "live.parquet").read_bytes() == (tmp_path / "live_1.parquet").read_bytes()
    sandbox.open_round()
    public_napi.download_dataset("v5.2/live.parquet", str(tmp_path / "live2.parquet"))
    first = pd.read_parquet(tmp_path / "live.parquet")
    second = pd.read_parquet(tmp_path / "live2.parquet")
    assert set(first.index).isdisjoint(second.index)


def test_round_argument_selects_that_rounds_live_file(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.open_round()
    public_napi.download_dataset("v5.2/live.parquet", str(tmp_path / "r1.parquet"), round_num=1)
    public_napi.download_dataset("v5.2/live_1.parquet", str(tmp_path / "live_1.parquet"))
    assert (tmp_path / "r1.parquet").read_bytes() == (tmp_path / "live_1.parquet").read_bytes()


def test_unknown_dataset_is_an_api_error(public_napi: numerapi.NumerAPI, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Dataset not found"):
        public_napi.download_dataset("v5.2/nope.parquet", str(tmp_path / "x"))


def test_live_file_of_a_round_not_yet_open_is_an_api_error(public_napi: numerapi.NumerAPI, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="has not opened"):
        public_napi.download_dataset("v5.2/live_7.parquet", str(tmp_path / "x"))


def test_partial_temp_file_is_resumed_with_a_range_request(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    original = sandbox.core.options.data_dir / "v5.2" / "train.parquet"
    dest = tmp_path / "train.parquet"
    (tmp_path / "train.parquet.temp").write_bytes(original.read_bytes()[:400])
    public_napi.download_dataset("v5.2/train.parquet", str(dest))
    assert dest.read_bytes() == original.read_bytes()
    wait_for(lambda: any(r["route"] == "download" and r["status"] == 206 for r in sandbox.requests()))


def test_existing_complete_file_is_not_downloaded_again(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    dest = tmp_path / "features.json"
    public_napi.download_dataset("v5.2/features.json", str(dest))
    before = dest.stat().st_mtime_ns
    public_napi.download_dataset("v5.2/features.json", str(dest))
    assert dest.stat().st_mtime_ns == before


def test_filtered_download_uses_head_and_ranged_reads(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    dest = tmp_path / "train_era1.parquet"
    public_napi.download_dataset("v5.2/train.parquet", str(dest), filters=[("era", "in", ["0001"])])
    frame = pd.read_parquet(dest)
    assert set(frame["era"]) == {"0001"}
    wait_for(lambda: any(r["method"] == "HEAD" for r in sandbox.requests()))


def test_file_responses_carry_length_etag_and_honour_ranges(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/files/v5.2/features.json"
    full = requests.get(url, timeout=10)
    assert full.status_code == 200
    assert int(full.headers["Content-Length"]) == len(full.content)
    assert full.headers["ETag"]
    part = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206
    assert part.content == full.content[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(full.content)}"
    beyond = requests.get(url, headers={"Range": f"bytes={len(full.content)}-"}, timeout=10)
    assert beyond.status_code == 416


def test_unknown_and_hidden_files_are_404(sandbox: Sandbox) -> None:
    for path in (
        "v5.2/nope.parquet",
        ".hidden/v5.2/live_1.parquet",
        "v5.2/../.uploads/x",
        "v9.9/train.parquet",
    ):
        assert requests.get(f"{sandbox.url}/files/{path}", timeout=10).status_code == 404, path


def test_etag_is_the_files_md5_like_s3(sandbox: Sandbox) -> None:
    path = sandbox.core.options.data_dir / "v5.2" / "features.json"
    answer = requests.get(f"{sandbox.url}/files/v5.2/features.json", timeout=10)
    assert answer.headers["ETag"] == f'"{hashlib.md5(path.read_bytes()).hexdigest()}"'


def test_if_range_with_a_stale_etag_sends_the_whole_file(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/files/v5.2/features.json"
    etag = requests.head(url, timeout=10).headers["ETag"]
    fresh = requests.get(url, headers={"Range": "bytes=10-", "If-Range": etag}, timeout=10)
    assert fresh.status_code == 206
    stale = requests.get(url, headers={"Range": "bytes=10-", "If-Range": '"0000"'}, timeout=10)
    assert stale.status_code == 200
    assert int(stale.headers["Content-Length"]) == len(stale.content) == len(fresh.content) + 10
