"""PickleHandler on sandbox data: a Model Upload pickle run as numerai-predict runs it, or refused with the reason.

Each round runs the pickle in a real child process (memory cap, timeout); the pickles are made
here, from a small scikit-learn model, with cloudpickle.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from numeraud.common.processes import cmdline
from numeraud.numerai.submission import validate_predictions
from numeraud.sandbox import Sandbox
from numeraud.testing import HandlerFailed, Result, make_handler, run_event
from numeraud_handlers.pickle import PickleHandler
from tests.handlers.pickles import benchmark_models, dump, model_upload_pickle

DEADLINE = "2030-01-01T13:00:00+00:00"


def data(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A copy of the sandbox's v5.2 files, as the daemon's data directory holds them."""
    target = tmp_path / "data" / "v5.2"
    shutil.copytree(sandbox.core.options.data_dir / "v5.2", target)
    return target


def payload(version_dir: Path, round_number: int = 1, version: str = "v5.2") -> dict[str, Any]:
    return {
        "version": version,
        "deadline": DEADLINE,
        "data_dir": str(version_dir.parent),
        "live_files": {"live.parquet": str(version_dir / f"live_{round_number}.parquet")},
    }


def predict_round(tmp_path: Path, pickle: Path, version_dir: Path, **options: Any) -> Result:
    """One ``new_tournament_data`` through a fresh PickleHandler."""
    return run_event(
        PickleHandler,
        "new_tournament_data",
        round=1,
        payload=payload(version_dir),
        options={"path": str(pickle), "model": "my_model", **options},
        state_dir=tmp_path / "state",
    )


@pytest.mark.parametrize("parameters", [1, 2])
def test_a_pickle_with_either_signature_predicts_the_round_and_announces_it(
    sandbox: Sandbox, tmp_path: Path, parameters: int
) -> None:
    version_dir = data(sandbox, tmp_path)
    benchmark_models(version_dir / "live_1.parquet", version_dir / "live_benchmark_models_1.parquet")
    pickle = model_upload_pickle(version_dir / "train.parquet", tmp_path / "model.pkl", parameters)
    result = predict_round(tmp_path, pickle, version_dir).raise_for_error()
    (emitted,) = result.emitted
    assert emitted.kind == "predictions_ready"
    assert emitted.payload["model"] == "my_model"
    assert emitted.payload["round"] == 1
    assert emitted.payload["deadline"] == DEADLINE
    assert emitted.payload["live_path"] == str(version_dir / "live_1.parquet")
    frame = pd.read_csv(emitted.payload["path"], dtype={"id": str})
    assert list(frame.columns) == ["id", "prediction"]
    assert emitted.payload["rows"] == len(frame) == 200
    validate_predictions(sandbox.core.live_ids(1), frame)


def test_a_two_argument_pickle_without_the_benchmark_file_is_refused_naming_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    version_dir = data(sandbox, tmp_path)
    for synced in version_dir.glob("live_benchmark_models*"):  # the sandbox serves it; not synced here
        synced.unlink()
    pickle = model_upload_pickle(version_dir / "train.parquet", tmp_path / "model.pkl", 2)
    result = predict_round(tmp_path, pickle, version_dir)
    assert result.error is not None
    assert "live_benchmark_models_1.parquet is not in" in result.error
    assert "[data] live_files" in result.error
    assert result.emitted == ()


def returning(value: Any) -> Any:
    """A pickled predict returning ``value`` built from the live features (made by value, in here)."""

    def predict(live_features: pd.DataFrame) -> Any:
        return value(live_features)

    return predict


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda live: live.index.to_series().map(lambda _: 0.5), "returned Series instead of pd.DataFrame"),
        (lambda live: pd.DataFrame({"a": 0.5, "b": 0.5}, index=live.index), "returned 2 columns"),
        (lambda live: pd.DataFrame({"prediction": 0.5}, index=live.index[:10]), "lacks 190 of the 200 live ids"),
        (lambda live: pd.DataFrame({"prediction": np.nan}, index=live.index), "200 NaN prediction(s)"),
        (lambda live: pd.DataFrame({"prediction": 7.0}, index=live.index), "outside [0, 1]"),
    ],
    ids=["series", "two-columns", "missing-ids", "nan", "out-of-range"],
)
def test_a_result_of_the_wrong_shape_is_refused_with_the_reason(
    sandbox: Sandbox, tmp_path: Path, make: Any, reason: str
) -> None:
    version_dir = data(sandbox, tmp_path)
    pickle = dump(returning(make), tmp_path / "model.pkl")
    result = predict_round(tmp_path, pickle, version_dir)
    assert result.error is not None
    assert reason in result.error
    assert result.emitted == ()
    assert not (tmp_path / "state/predictions/my_model_round_1.csv").exists()


def test_a_pickle_that_raises_is_refused_with_its_error(sandbox: Sandbox, tmp_path: Path) -> None:
    version_dir = data(sandbox, tmp_path)

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("the model file is gone")

    result = predict_round(tmp_path, dump(predict, tmp_path / "model.pkl"), version_dir)
    assert result.error is not None
    assert "predict raised ValueError: the model file is gone" in result.error


def test_a_file_that_is_no_pickle_is_refused_as_unloadable(sandbox: Sandbox, tmp_path: Path) -> None:
    version_dir = data(sandbox, tmp_path)
    pickle = tmp_path / "model.pkl"
    pickle.write_bytes(b"this is not a pickle")
    result = predict_round(tmp_path, pickle, version_dir)
    assert result.error is not None
    assert f"the pickle {pickle} could not be loaded: UnpicklingError" in result.error


def test_a_pickle_that_runs_past_its_timeout_is_killed_and_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    version_dir = data(sandbox, tmp_path)

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        time.sleep(300)
        return live_features

    started = time.monotonic()
    result = predict_round(tmp_path, dump(predict, tmp_path / "model.pkl"), version_dir, timeout=3)
    assert result.error is not None
    assert "the pickle timed out after 3 s (its process group was killed)" in result.error
    assert time.monotonic() - started < 60
    run_dir = str(tmp_path / "state/runs/round_1").encode()
    assert not any(run_dir in cmdline(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())


def test_a_pickle_that_wants_more_than_its_memory_cap_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    version_dir = data(sandbox, tmp_path)

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        hoard = np.ones((3 * 1024**3) // 8)  # 3 GB
        return pd.DataFrame({"prediction": hoard[: len(live_features)] / 2}, index=live_features.index)

    result = predict_round(tmp_path, dump(predict, tmp_path / "model.pkl"), version_dir, memory_mb=1024)
    assert result.error is not None
    assert "MemoryError: it needed more than its memory cap of 1024 MB" in result.error


def test_a_round_of_another_dataset_version_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    version_dir = data(sandbox, tmp_path)
    pickle = model_upload_pickle(version_dir / "train.parquet", tmp_path / "model.pkl", 1)
    result = predict_round(tmp_path, pickle, version_dir, data_version="v5.3")
    assert result.error is not None
    assert (
        'the pickle is for v5.3 (options.data_version) but this round\'s data is v5.2: set [data] version = "v5.3"'
        in (result.error)
    )


def test_a_missing_pickle_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(HandlerFailed, match=r"options.path: .*nothing.pkl is not a file"):
        make_handler(PickleHandler, options={"path": str(tmp_path / "nothing.pkl")}, state_dir=tmp_path)


def test_the_pickle_runs_without_the_keys_of_the_handler(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMERAI_PUBLIC_ID", "public-id-of-the-user")
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "secret-key-of-the-user")
    version_dir = data(sandbox, tmp_path)
    seen = tmp_path / "environment.txt"

    def predict(live_features: pd.DataFrame) -> pd.DataFrame:
        seen.write_text("\n".join(os.environ))
        return pd.DataFrame({"prediction": np.linspace(0, 1, len(live_features))}, index=live_features.index)

    result = predict_round(tmp_path, dump(predict, tmp_path / "model.pkl"), version_dir)
    result.raise_for_error()
    names = set(seen.read_text().split("\n"))
    assert "PATH" in names
    assert not {"NUMERAI_PUBLIC_ID", "NUMERAI_SECRET_KEY"} & names
