"""ScriptHandler on sandbox data: the user's command run per round in a real subprocess, its file announced."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from numeraud.common.processes import process_alive, stop_process
from numeraud.numerai.submission import validate_predictions
from numeraud.sandbox import Sandbox
from numeraud.testing import HandlerFailed, Result, make_handler, run_event
from numeraud_handlers.script import ScriptHandler, file_variable
from tests.handlers.scripts import predict_script
from tests.helpers import wait_for

DEADLINE = "2030-01-01T13:00:00+00:00"


def payload(sandbox: Sandbox, tmp_path: Path) -> dict[str, Any]:
    """A new_tournament_data payload over a copy of the sandbox's files (a data directory's)."""
    version_dir = tmp_path / "data" / "v5.2"
    shutil.copytree(sandbox.core.options.data_dir / "v5.2", version_dir)
    return {
        "version": "v5.2",
        "deadline": DEADLINE,
        "clock_offset": 2.0,
        "data_dir": str(version_dir.parent),
        "training_files": {
            name: str(version_dir / name)
            for name in ("features.json", "train.parquet", "validation.parquet", "meta_model.parquet", "absent.parquet")
        },
        "live_files": {"live.parquet": str(version_dir / "live_1.parquet")},
    }


def run_script(sandbox: Sandbox, tmp_path: Path, **options: Any) -> Result:
    return run_event(
        ScriptHandler,
        "new_tournament_data",
        round=1,
        payload=payload(sandbox, tmp_path),
        options={"model": "my_model", **options},
        state_dir=tmp_path / "state",
    )


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMERAI_PUBLIC_ID", "public-id-of-the-user")
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "secret-key-of-the-user")
    monkeypatch.setenv("MY_API_TOKEN", "token-of-the-user")


def test_the_script_gets_the_round_and_its_files_and_its_predictions_are_announced(
    sandbox: Sandbox, tmp_path: Path, secrets: None
) -> None:
    work = tmp_path / "project"
    predict_script(work)
    result = run_script(
        sandbox, tmp_path, command=[sys.executable, "predict.py"], cwd=str(work), env={"MY_SETTING": "7"}
    ).raise_for_error()
    (emitted,) = result.emitted
    output = tmp_path / "state/predictions/my_model_round_1.csv"
    assert emitted.kind == "predictions_ready"
    assert emitted.payload == {
        "round": 1,
        "model": "my_model",
        "path": str(output),
        "rows": 200,
        "live_path": str(tmp_path / "data/v5.2/live_1.parquet"),
        "deadline": DEADLINE,
        "clock_offset": 2.0,  # Numerai's clock against ours, for the uploader's deadline
    }
    validate_predictions(sandbox.core.live_ids(1), pd.read_csv(output, dtype={"id": str}))
    seen = json.loads((work / "environment.json").read_text())
    version_dir = tmp_path / "data" / "v5.2"
    assert {k: v for k, v in seen.items() if k.startswith("NUMERAUD_")} == {
        "NUMERAUD_ROUND": "1",
        "NUMERAUD_DEADLINE": DEADLINE,
        "NUMERAUD_OUTPUT": str(output),
        "NUMERAUD_MODEL": "my_model",
        "NUMERAUD_DATA_VERSION": "v5.2",
        "NUMERAUD_DATA_DIR": str(version_dir),
        "NUMERAUD_LIVE": str(version_dir / "live_1.parquet"),
        "NUMERAUD_FEATURES": str(version_dir / "features.json"),
        "NUMERAUD_TRAIN": str(version_dir / "train.parquet"),
        "NUMERAUD_VALIDATION": str(version_dir / "validation.parquet"),
        "NUMERAUD_META_MODEL": str(version_dir / "meta_model.parquet"),
    }
    assert seen["MY_SETTING"] == "7"
    assert "PATH" in seen
    # numeraud uploads: the script gets no keys unless the configuration names them
    assert not {"NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY", "MY_API_TOKEN"} & set(seen)


def test_keys_reach_the_script_only_when_env_names_them(sandbox: Sandbox, tmp_path: Path, secrets: None) -> None:
    work = tmp_path / "project"
    predict_script(work)
    env = {"NUMERAI_PUBLIC_ID": True, "NUMERAI_SECRET_KEY": True}
    run_script(sandbox, tmp_path, command=f"{sys.executable} predict.py", cwd=str(work), env=env).raise_for_error()
    seen = json.loads((work / "environment.json").read_text())
    assert seen["NUMERAI_PUBLIC_ID"] == "public-id-of-the-user"
    assert seen["NUMERAI_SECRET_KEY"] == "secret-key-of-the-user"
    assert "MY_API_TOKEN" not in seen


def test_a_failing_script_fails_the_event_with_its_exit_code_and_stderr(sandbox: Sandbox, tmp_path: Path) -> None:
    code = (
        "import sys; print('loading the model', file=sys.stderr); "
        "print('model.txt: no such file', file=sys.stderr); sys.exit(3)"
    )
    result = run_script(sandbox, tmp_path, command=[sys.executable, "-c", code])
    assert result.error is not None
    assert "round 1: the script exited with code 3: loading the model | model.txt: no such file" in result.error
    assert result.emitted == ()


def test_a_script_past_its_timeout_is_killed_with_its_process_group(sandbox: Sandbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    result = run_script(sandbox, tmp_path, command=["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], timeout=2)
    assert result.error is not None
    assert "round 1: the script timed out after 2 s (its process group was killed)" in result.error
    sleeper = int(pid_file.read_text())
    wait_for(lambda: not process_alive(sleeper), timeout=10, what="the script's own child to be killed")


def test_a_script_that_writes_no_predictions_fails_the_event(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run_script(sandbox, tmp_path, command=["true"])
    assert result.error is not None
    assert "the script exited 0 but wrote no predictions to" in result.error
    assert "(NUMERAUD_OUTPUT)" in result.error


def test_a_script_whose_predictions_numerai_would_refuse_fails_the_event(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run_script(
        sandbox, tmp_path, command=["sh", "-c", 'printf "id,prediction\\nn1,0.5\\n" > "$NUMERAUD_OUTPUT"']
    )
    assert result.error is not None
    assert "the script's predictions were refused: invalid_submission_ids" in result.error


def test_a_command_that_is_not_there_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(HandlerFailed, match=r"options\.command: 'no-such-program-here' is not found"):
        make_handler(ScriptHandler, options={"command": ["no-such-program-here"]}, state_dir=tmp_path)


def test_file_variables_are_named_after_the_files() -> None:
    assert file_variable("live_benchmark_models.parquet") == "NUMERAUD_LIVE_BENCHMARK_MODELS"
    assert file_variable("features.json") == "NUMERAUD_FEATURES"


def test_a_script_gets_sigterm_when_its_handler_process_dies(tmp_path: Path) -> None:
    pid_file = tmp_path / "script.pid"
    handler = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys; from numeraud_handlers.child import run_logged; "
            "run_logged(sys.argv[1:], env=dict(os.environ), timeout=600)",
            "sh",
            "-c",
            f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 300",
        ]
    )
    try:
        script = int(
            wait_for(lambda: pid_file.read_text() if pid_file.exists() else None, timeout=30, what="the script")
        )
        assert process_alive(script)
        handler.kill()  # SIGKILL: the handler gets no chance to stop the script itself
        handler.wait()
        wait_for(lambda: not process_alive(script), timeout=10, what="the script to end with its handler")
    finally:
        stop_process(handler)
