"""Numerai-style user code, unchanged but for the API URL, against a default sandbox (issue 14).

The script (``numerai_code/hello_numerai.py``) runs in its own Python process, as a user would run
it; the only thing set from outside is ``numerapi.base_api.API_TOURNAMENT_URL``
(:mod:`tests.sandbox.user_code`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from numeraud.sandbox import Sandbox, SandboxOptions
from tests.sandbox.user_code import run_user_script

SCRIPT = Path(__file__).parent / "numerai_code" / "hello_numerai.py"


@pytest.fixture
def default_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox as ``numeraud sandbox --size small`` starts it: every version Numerai lists."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="small")) as running:
        yield running


def test_hello_numerai_style_code_trains_on_v53_and_its_upload_is_accepted(
    default_sandbox: Sandbox, tmp_path: Path
) -> None:
    workdir = tmp_path / "user"
    result = run_user_script(default_sandbox, SCRIPT, workdir, FEATURE_SET="medium")
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
