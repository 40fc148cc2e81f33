"""The sandbox account's API keys: each with its scopes, and only ``upload_submission`` may upload."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import numerapi
import pandas as pd
import pytest
import requests

from numeraud.sandbox import Sandbox, SandboxKey, SandboxOptions

READ_ONLY = SandboxKey("reader-public", "reader-secret", scopes=("read_user_info",), name="reader")


@pytest.fixture
def two_keys(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", extra_keys=(READ_ONLY,))) as running:
        yield running


def client(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, key: SandboxKey) -> numerapi.NumerAPI:
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    return numerapi.NumerAPI(key.public_id, key.secret_key, show_progress_bars=False)


def live_predictions(sandbox: Sandbox) -> pd.DataFrame:
    ids = sandbox.core.live_ids(sandbox.core.current_round().number)
    return pd.DataFrame({"id": ids, "prediction": [(i % 100) / 100 for i in range(len(ids))]})


def test_the_account_lists_every_key_with_its_scopes(two_keys: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    account = client(two_keys, monkeypatch, READ_ONLY).get_account()
    assert account["apiTokens"] == [
        {"name": "sandbox", "public_id": "sandbox-public", "scopes": ["upload_submission"]},
        {"name": "reader", "public_id": "reader-public", "scopes": ["read_user_info"]},
    ]


def test_a_key_without_upload_scope_reads_the_account_but_cannot_upload(
    two_keys: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = client(two_keys, monkeypatch, READ_ONLY)
    model_id = reader.get_models()["sandbox_model_1"]
    with pytest.raises(ValueError, match="upload_submission scope"):
        reader.upload_predictions(df=live_predictions(two_keys), model_id=model_id)
    assert two_keys.uploads() == []


def test_the_main_key_still_uploads(two_keys: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    main = client(two_keys, monkeypatch, two_keys.core.options.keys[0])
    model_id = main.get_models()["sandbox_model_1"]
    assert main.upload_predictions(df=live_predictions(two_keys), model_id=model_id)
    assert [u["accepted"] for u in two_keys.uploads()] == [True]


def test_extra_key_and_date_skew_flags_of_numeraud_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "numeraud.cli.main", "sandbox", "--data-dir", str(tmp_path)),
            *("--extra-key", "nope-public:nope-secret:", "--date-skew", "3600"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", url)
        account = numerapi.NumerAPI("nope-public", "nope-secret", show_progress_bars=False).get_account()
        assert {"name": "extra-1", "public_id": "nope-public", "scopes": []} in account["apiTokens"]
        date = requests.get(f"{url}/health", timeout=10).headers["Date"]
        assert 3598 <= parsedate_to_datetime(date).timestamp() - time.time() <= 3601
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
