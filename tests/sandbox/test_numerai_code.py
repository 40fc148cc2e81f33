"""Numerai-style user code, unchanged but for the API URL, against a default sandbox (issue 14).

The script (``numerai_code/hello_numerai.py``) runs in its own Python process, as a user would run
it; the only thing set from outside is ``numerapi.base_api.API_TOURNAMENT_URL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from numeraud.sandbox import Sandbox, SandboxOptions

SCRIPT = Path(__file__).parent / "numerai_code" / "hello_numerai.py"
RUNNER = (
    "import runpy, sys, numerapi.base_api\n"
    "numerapi.base_api.API_TOURNAMENT_URL = sys.argv[1]\n"
    "runpy.run_path(sys.argv[2], run_name='__main__')\n"
)


@pytest.fixture
def default_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox as ``numeraud sandbox --size small`` starts it: every version Numerai lists."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="small")) as running:
        yield running


def run_user_code(sandbox: Sandbox, workdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    options = sandbox.core.options
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")},
        "NUMERAI_PUBLIC_ID": options.public_id,
        "NUMERAI_SECRET_KEY": options.secret_key,
        "NUMERAI_MODEL_NAME": "sandbox_model_1",
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", RUNNER, sandbox.url, str(SCRIPT)],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_hello_numerai_style_code_trains_on_v53_and_its_upload_is_accepted(
    default_sandbox: Sandbox, tmp_path: Path
) -> None:
    workdir = tmp_path / "user"
    result = run_user_code(default_sandbox, workdir, FEATURE_SET="medium")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "quantum" in result.stdout
    (upload,) = default_sandbox.uploads()
    assert upload["accepted"] is True, upload["reason"]
    assert upload["model"] == "sandbox_model_1"
    assert upload["rows"] == len(default_sandbox.core.live_ids(1))
    assert f"submission {upload['submission_id']}" in result.stdout
    meta = pd.read_parquet(workdir / "v4.3" / "meta_model.parquet")
    validation = pd.read_parquet(workdir / "v5.3" / "validation.parquet", columns=["era"])
    assert meta.index.equals(validation.index)


def test_a_default_sandbox_lists_every_version_with_its_12_files(default_sandbox: Sandbox) -> None:
    names = default_sandbox.core.list_datasets()
    versions = sorted({name.split("/")[0] for name in names})
    assert versions == ["v5.0", "v5.1", "v5.2", "v5.3"]
    for version in versions:
        assert len([n for n in names if n.startswith(f"{version}/")]) == 12
    assert "v4.3/meta_model.parquet" not in names


def test_only_the_first_version_is_generated_at_start_the_rest_on_first_request(default_sandbox: Sandbox) -> None:
    root = default_sandbox.core.options.data_dir
    assert (root / "v5.0" / "train.parquet").is_file()
    assert not (root / "v5.3" / "train.parquet").exists()
    assert not (root / "v5.3" / "live_1.parquet").exists()
    default_sandbox.core.resolve_dataset("v5.3/live.parquet", None)
    assert (root / "v5.3" / "live_1.parquet").is_file()
    assert not (root / "v5.3" / "train.parquet").exists()
    path = default_sandbox.core.public_file("v5.3/train_benchmark_models.parquet")
    assert path is not None
    assert path.is_file()
    assert (root / "v5.3" / "train.parquet").is_file()
