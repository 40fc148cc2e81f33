"""The admin API over HTTP: rounds, datasets, uploads, requests and webhooks."""

from __future__ import annotations

import json
from pathlib import Path

import numerapi
import pandas as pd
import requests

from numeraud.sandbox import Sandbox
from tests.fixtures import JsonReceiver
from tests.helpers import wait_for


def admin(sandbox: Sandbox, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    answer = requests.post(f"{sandbox.url}/admin/{path}", json=body or {}, timeout=60)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_open_close_and_resolve_over_http(sandbox: Sandbox, napi: numerapi.NumerAPI) -> None:
    assert admin(sandbox, "round/close") == {"round": 1}
    assert napi.check_round_open() is False
    assert admin(sandbox, "round/open", {"window": 60}) == {"round": 2}
    assert napi.get_current_round() == 2
    assert admin(sandbox, "round/resolve", {"round": 1}) == {"round": 1, "scores": 0}
    status = requests.get(f"{sandbox.url}/admin/status", timeout=10).json()
    assert [r["status"] for r in status["rounds"]] == ["RESOLVED", "OPEN"]


def test_released_version_is_listed_and_usable_for_submissions(
    sandbox: Sandbox, napi: numerapi.NumerAPI, tmp_path: Path
) -> None:
    result = admin(sandbox, "dataset/release", {"version": "v5.3"})
    assert "v5.3/train.parquet" in result["files"]  # type: ignore[operator]
    assert "v5.3/live.parquet" in napi.list_datasets()
    dest = tmp_path / "live.parquet"
    napi.download_dataset("v5.3/live.parquet", str(dest))
    ids = pd.read_parquet(dest).index
    predictions = pd.DataFrame({"id": ids, "prediction": range(len(ids))}).assign(
        prediction=lambda d: d.prediction / len(d)
    )
    assert napi.upload_predictions(df=predictions, model_id=sandbox.model_ids()["sandbox_model_1"])


def test_releasing_a_version_twice_is_refused(sandbox: Sandbox) -> None:
    answer = requests.post(f"{sandbox.url}/admin/dataset/release", json={"version": "v5.2"}, timeout=10)
    assert answer.status_code == 400
    assert "already released" in answer.json()["error"]["message"]


def test_validation_update_adds_eras(sandbox: Sandbox, public_napi: numerapi.NumerAPI, tmp_path: Path) -> None:
    before = tmp_path / "before.parquet"
    public_napi.download_dataset("v5.2/validation.parquet", str(before))
    admin(sandbox, "dataset/validation-update", {"eras": 2})
    after = tmp_path / "after.parquet"
    public_napi.download_dataset("v5.2/validation.parquet", str(after))
    assert pd.read_parquet(after)["era"].nunique() == pd.read_parquet(before)["era"].nunique() + 2


def test_uploads_and_requests_views(sandbox: Sandbox, napi: numerapi.NumerAPI) -> None:
    napi.get_current_round()
    wait_for(
        lambda: any(
            r["fields"] == ["rounds"]
            for r in requests.get(f"{sandbox.url}/admin/requests", timeout=10).json()["requests"]
        )
    )
    assert requests.get(f"{sandbox.url}/admin/uploads", timeout=10).json() == {"uploads": []}


def test_request_log_never_contains_the_secret(sandbox: Sandbox, napi: numerapi.NumerAPI) -> None:
    napi.get_models()
    wait_for(lambda: any(r["fields"] == ["account"] for r in sandbox.requests()))
    assert "sandbox-secret" not in json.dumps(sandbox.requests())


def test_webhook_is_called_when_a_round_opens(
    sandbox: Sandbox, napi: numerapi.NumerAPI, json_receiver: JsonReceiver
) -> None:
    url, received = f"http://127.0.0.1:{json_receiver.port}/hook", json_receiver.received
    model_id = sandbox.model_ids()["sandbox_model_1"]
    assert napi.set_submission_webhook(model_id, url) is True
    sandbox.open_round()
    wait_for(lambda: len(received) == 1)
    assert received[0]["roundNumber"] == 2
    assert received[0]["modelId"] == model_id
