"""Numerai's own tools, unchanged but for the API URL and keys, against a default sandbox (issue 14).

* numerai-predict (``tests/vendored/numerai_predict/predict.py``, byte for byte) runs the pickle of
  Numerai's example model (``numerai_code/example_model.py``) with the arguments Numerai's Compute
  gives it, from ``POST /admin/compute/run``;
* numerai-cli's example node (``tests/vendored/numerai_cli/predict.py``) trains, predicts and uploads;
* numerblox's downloader, submitter and Model Upload (``numerai_code/numerblox_pipeline.py``).

Each runs in its own process (:mod:`tests.sandbox.user_code`) on a sandbox as ``numeraud sandbox``
starts by default (tiny data, every version Numerai lists), and each ends in an accepted upload.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from numeraud.sandbox import Sandbox, SandboxOptions
from tests.sandbox.user_code import run_user_script

HERE = Path(__file__).parent
VENDORED = HERE.parent / "vendored"
NUMERAI_PREDICT = VENDORED / "numerai_predict" / "predict.py"
NUMERAI_CLI_NODE = VENDORED / "numerai_cli" / "predict.py"
EXAMPLE_MODEL = HERE / "numerai_code" / "example_model.py"
NUMERBLOX = HERE / "numerai_code" / "numerblox_pipeline.py"


@pytest.fixture
def default_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox as a bare ``numeraud sandbox`` starts it."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox")) as running:
        yield running


def compute_run(sandbox: Sandbox, model: str) -> dict[str, Any]:
    """What Numerai's Compute would run numerai-predict with for ``model``'s latest pickle."""
    answer = requests.post(f"{sandbox.url}/admin/compute/run", json={"model": model}, timeout=30)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


def run_numerai_predict(sandbox: Sandbox, job: dict[str, Any], workdir: Path) -> None:
    """numerai-predict with the run's arguments, and a scratch ``--output_dir`` as in its container."""
    output = workdir / "out"
    output.mkdir(parents=True)
    result = run_user_script(sandbox, NUMERAI_PREDICT, workdir, *job["argv"], "--output_dir", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HTTP Response Status: 204" in result.stderr
    assert list(output.glob("live_predictions-*.csv"))


def accepted(sandbox: Sandbox, model: str) -> dict[str, Any]:
    """The one upload recorded for ``model``, checked to be accepted for the whole live universe."""
    (upload,) = [u for u in sandbox.uploads() if u["model"] == model]
    assert upload["accepted"] is True, upload["reason"]
    assert upload["rows"] == len(sandbox.core.live_ids(1))
    assert upload["round"] == 1
    return upload


def test_numerai_predict_runs_the_example_models_pickle_to_an_accepted_upload(
    default_sandbox: Sandbox, tmp_path: Path
) -> None:
    user = run_user_script(default_sandbox, EXAMPLE_MODEL, tmp_path / "user")
    assert user.returncode == 0, user.stderr[-3000:]
    (upload,) = default_sandbox.core.state.model_uploads
    assert f"upload {upload.id}" in user.stdout
    job = compute_run(default_sandbox, "sandbox_model_1")
    assert job["upload_id"] == upload.id
    assert job["dataset"] == "v5.3/live.parquet"
    run_numerai_predict(default_sandbox, job, tmp_path / "compute")
    accepted(default_sandbox, "sandbox_model_1")
    paths = [r["path"] for r in default_sandbox.requests()]
    # the two-argument predict got the benchmark models, downloaded through numerapi
    assert "/files/v5.3/live_benchmark_models_1.parquet" in paths
    assert any(p.startswith("/compute/models/") for p in paths)


def test_numerai_clis_example_node_trains_predicts_and_its_upload_is_accepted(
    default_sandbox: Sandbox, tmp_path: Path
) -> None:
    model_id = default_sandbox.model_ids()["sandbox_model_2"]
    node = tmp_path / "node"
    result = run_user_script(default_sandbox, NUMERAI_CLI_NODE, node, MODEL_ID=model_id)
    assert result.returncode == 0, result.stderr[-3000:]
    accepted(default_sandbox, "sandbox_model_2")
    assert (node / f"trained_model_{model_id}").is_file()
    assert (node / "v5.3" / "train.parquet").is_file()


def test_numerblox_downloads_submits_and_its_model_upload_runs_in_numerai_predict(
    default_sandbox: Sandbox, tmp_path: Path
) -> None:
    user = tmp_path / "user"
    result = run_user_script(
        default_sandbox,
        NUMERBLOX,
        user,
        NUMERAI_MODEL_NAME="sandbox_model_1",
        NUMERAI_UPLOAD_MODEL_NAME="sandbox_model_3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    accepted(default_sandbox, "sandbox_model_1")
    for name in ("train_val/train.parquet", "train_val/validation.parquet", "live/live.parquet"):
        assert (user / "numerblox_data" / name).is_file()
    (upload,) = default_sandbox.core.state.model_uploads
    assert f"model upload {upload.id}" in result.stdout
    # numerblox's pickle takes live_features only; numerai-predict runs it like the example model's
    run_numerai_predict(default_sandbox, compute_run(default_sandbox, "sandbox_model_3"), tmp_path / "compute")
    accepted(default_sandbox, "sandbox_model_3")
    assert "/files/v5.3/live_benchmark_models_1.parquet" not in [r["path"] for r in default_sandbox.requests()]
