"""``POST /admin/compute/run`` and the URLs it hands out, over real HTTP: what they refuse, and
that a run's predictions count once (numerai-predict itself runs in ``test_numerai_tools.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numerapi
import pandas as pd
import pytest
import requests

from numeraud.sandbox import Sandbox

PICKLE = b"\x80\x05not really a pickle: the sandbox never loads it"


def start_run(sandbox: Sandbox, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{sandbox.url}/admin/compute/run", json=body, timeout=30)


@pytest.fixture
def job(sandbox: Sandbox, napi: numerapi.NumerAPI, tmp_path: Path) -> dict[str, Any]:
    """A run of a pickle uploaded with numerapi's ``model_upload`` for sandbox_model_1."""
    path = tmp_path / "model.pkl"
    path.write_bytes(PICKLE)
    napi.model_upload(str(path), model_id=sandbox.model_ids()["sandbox_model_1"])
    answer = start_run(sandbox, {"model": "sandbox_model_1"})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def predictions_csv(sandbox: Sandbox, value: float | None = None) -> bytes:
    ids = sandbox.core.live_ids(1)
    values = [value] * len(ids) if value is not None else [(i + 0.5) / len(ids) for i in range(len(ids))]
    return pd.DataFrame({"prediction": values}, index=pd.Index(ids, name="id")).to_csv().encode()


def post(job: dict[str, Any], content: bytes, **fields: str) -> requests.Response:
    """The predictions POST as numerai-predict sends it: the run's form fields and a ``file`` part."""
    data = {key: values[0] for key, values in parse_qs(job["post_data"]).items()} | fields
    files = {"file": ("live_predictions.csv", content, "text/csv")}
    return requests.post(job["post_url"], data=data, files=files, timeout=30)


def test_a_run_hands_out_numerai_predicts_arguments_for_the_newest_version(
    sandbox: Sandbox, job: dict[str, Any]
) -> None:
    assert job["data_version"] == "v5.2"
    assert job["argv"][:2] == ["--model", job["model_url"]]
    assert job["argv"][2:6] == ["--dataset", "v5.2/live.parquet", "--benchmarks", "v5.2/live_benchmark_models.parquet"]
    assert job["argv"][6:] == ["--post_url", job["post_url"], "--post_data", job["post_data"]]
    assert requests.get(job["model_url"], timeout=30).content == PICKLE


def test_a_run_needs_a_model_the_account_has_with_a_model_upload(sandbox: Sandbox) -> None:
    missing = start_run(sandbox, {})
    assert missing.status_code == 400
    assert "model: required" in missing.json()["error"]["message"]
    unknown = start_run(sandbox, {"model": "someone_else"})
    assert unknown.status_code == 404
    assert "no model named 'someone_else'" in unknown.json()["error"]["message"]
    no_pickle = start_run(sandbox, {"model": "sandbox_model_2"})
    assert no_pickle.status_code == 400
    assert "has no Model Upload" in no_pickle.json()["error"]["message"]


def test_a_model_url_with_another_token_is_forbidden(sandbox: Sandbox, job: dict[str, Any]) -> None:
    answer = requests.get(f"{sandbox.url}/compute/models/not-the-token/model.pkl", timeout=30)
    assert answer.status_code == 403
    assert PICKLE not in answer.content


def test_a_post_with_another_policy_or_key_is_forbidden_and_records_nothing(
    sandbox: Sandbox, job: dict[str, Any]
) -> None:
    assert post(job, predictions_csv(sandbox), policy="forged").status_code == 403
    assert post(job, predictions_csv(sandbox), key="other-model/live_predictions.csv").status_code == 403
    assert sandbox.uploads() == []


def test_a_post_that_is_not_the_form_is_refused(sandbox: Sandbox, job: dict[str, Any]) -> None:
    not_multipart = requests.post(job["post_url"], data=predictions_csv(sandbox), timeout=30)
    assert not_multipart.status_code == 400
    assert "multipart/form-data" in not_multipart.json()["error"]
    fields = {key: values[0] for key, values in parse_qs(job["post_data"]).items()}
    no_file = requests.post(job["post_url"], files={k: (None, v) for k, v in fields.items()}, timeout=30)
    assert no_file.status_code == 400
    assert "no file part" in no_file.json()["error"]
    assert sandbox.uploads() == []


def test_refused_predictions_keep_the_run_open_and_accepted_ones_end_it(sandbox: Sandbox, job: dict[str, Any]) -> None:
    bad = post(job, predictions_csv(sandbox, value=1.5))
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("predictions refused:")
    assert post(job, predictions_csv(sandbox)).status_code == 204
    again = post(job, predictions_csv(sandbox))
    assert again.status_code == 403
    assert requests.get(job["model_url"], timeout=30).status_code == 403
    refused, taken = sandbox.uploads()
    assert (refused["accepted"], taken["accepted"]) == (False, True)
    assert refused["reason"]
    assert taken["model"] == "sandbox_model_1"
    assert [s.id for s in sandbox.core.submissions_of(sandbox.model_ids()["sandbox_model_1"])] == [
        taken["submission_id"]
    ]


def test_the_python_method_starts_another_run_of_the_same_upload(sandbox: Sandbox, job: dict[str, Any]) -> None:
    again = sandbox.compute_run("sandbox_model_1")
    assert again["upload_id"] == job["upload_id"]
    assert again["model_url"] != job["model_url"]
    assert requests.get(again["model_url"], timeout=30).content == PICKLE
