"""The bundled model handler on sandbox data: trains, scores, predicts valid submissions."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from numeraud.handler.sdk import HandlerContext, build_handler
from numeraud.numerai.submission import validate_predictions
from numeraud.sandbox import Sandbox
from numeraud.testing import HandlerFailed, Result, make_handler, run_event
from numeraud_handlers.model import ModelError, ModelHandler
from tests.helpers import wait_for

FAST = {"estimator": "sklearn.linear_model:Ridge", "params": {"alpha": 10.0}, "feature_set": "medium", "era_step": 1}


def files(sandbox: Sandbox, round_number: int = 1) -> dict[str, Any]:
    root = sandbox.core.options.data_dir / "v5.2"
    return {
        "training_files": {
            name: str(root / name)
            for name in ("features.json", "train.parquet", "validation.parquet", "meta_model.parquet")
        },
        "live_files": {"live.parquet": str(root / f"live_{round_number}.parquet")},
    }


def make(tmp_path: Path, options: dict[str, Any] | None = None) -> ModelHandler:
    handler = make_handler(
        ModelHandler, name="model-a", options=options or FAST, state_dir=tmp_path / "state", start=False
    )
    assert isinstance(handler, ModelHandler)
    return handler


def deliver(handler: ModelHandler, kind: str, round_number: int, payload: dict[str, Any]) -> Result:
    """One event through the runtime's dispatch (numeraud.testing); a failure raises HandlerFailed."""
    return run_event(handler, kind, round=round_number, payload=payload).raise_for_error()


def test_training_saves_the_model_and_positive_validation_scores(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    assert (tmp_path / "state/models/model_round_1.joblib").exists()
    validation = handler.persistent_state["validation"]
    assert validation["corr"]["mean"] > 0.01
    assert validation["corr"]["eras"] > 0
    assert set(validation["corr"]) == {"mean", "std", "sharpe", "max_drawdown", "eras"}
    assert "mmc" in validation


def test_predictions_are_valid_for_numerai_and_announced(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    (emitted,) = deliver(handler, "new_tournament_data", 1, files(small_sandbox)).emitted
    assert emitted.kind == "predictions_ready"
    assert emitted.payload["model"] == "model-a"
    frame = pd.read_csv(emitted.payload["path"])
    assert list(frame.columns) == ["id", "prediction"]
    validate_predictions(small_sandbox.core.live_ids(1), frame)


def test_training_records_the_dataset_version_and_the_delivery_that_trained(sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    run_event(
        handler, "new_training_data", round=3, seq=14, attempt=2, payload={**files(sandbox), "version": "v5.2"}
    ).raise_for_error()
    assert handler.persistent_state["dataset_version"] == "v5.2"
    assert handler.persistent_state["training_event"] == {"seq": 14, "attempt": 2}


def test_min_train_seconds_makes_training_last_at_least_that_long(sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path, {**FAST, "min_train_seconds": 1.5})
    started = time.monotonic()
    deliver(handler, "new_training_data", 1, files(sandbox))
    assert time.monotonic() - started >= 1.5
    assert (tmp_path / "state/models/model_round_1.joblib").exists()


def test_a_missing_model_is_retrained_from_the_synced_files(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    assert deliver(handler, "new_tournament_data", 1, files(small_sandbox)).emitted[0].kind == "predictions_ready"


def test_a_corrupt_model_file_is_retrained(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    (tmp_path / "state/models/model_round_1.joblib").write_bytes(b"not a model")
    assert deliver(handler, "new_tournament_data", 1, files(small_sandbox)).emitted[0].kind == "predictions_ready"


def test_unknown_feature_set_names_the_available_ones(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path, {**FAST, "feature_set": "huge"})
    with pytest.raises(HandlerFailed, match=r"DataError: feature set 'huge' is not in .*available: .*medium"):
        deliver(handler, "new_training_data", 1, files(small_sandbox))


@pytest.mark.parametrize(
    ("estimator", "message"),
    [("nowhere.module:Model", "cannot import"), ("sklearn.linear_model:Nope", "has no class"), ("Ridge", "expected")],
)
def test_a_bad_estimator_path_fails_at_start(tmp_path: Path, estimator: str, message: str) -> None:
    handler = make(tmp_path, {**FAST, "estimator": estimator})
    with pytest.raises(ModelError, match=message):
        handler.on_start()


def test_bad_params_are_reported(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path, {**FAST, "params": {"colour": "red"}})
    with pytest.raises(HandlerFailed, match=r"ModelError: .*params"):
        deliver(handler, "new_training_data", 1, files(small_sandbox))


def test_a_live_file_without_some_features_is_refused(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    live = pd.read_parquet(files(small_sandbox)["live_files"]["live.parquet"])
    broken = tmp_path / "live_broken.parquet"
    live.drop(columns=handler.persistent_state["features"][:3]).to_parquet(broken)
    with pytest.raises(HandlerFailed, match=r"ModelError: .*lacks 3 column"):
        deliver(handler, "new_tournament_data", 1, {"live_files": {"live.parquet": str(broken)}})


def test_lightgbm_trains_scores_and_predicts_like_any_estimator(small_sandbox: Sandbox, tmp_path: Path) -> None:
    # What most Numerai models are; the README says it works the same as scikit-learn's.
    options = {
        "estimator": "lightgbm:LGBMRegressor",
        "params": {"n_estimators": 50, "learning_rate": 0.05, "num_leaves": 15, "colsample_bytree": 0.1, "verbose": -1},
        "feature_set": "medium",
        "era_step": 1,
    }
    handler = make(tmp_path, options)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    assert handler.persistent_state["validation"]["corr"]["mean"] > 0.005
    (emitted,) = deliver(handler, "new_tournament_data", 1, files(small_sandbox)).emitted
    frame = pd.read_csv(emitted.payload["path"])
    validate_predictions(small_sandbox.core.live_ids(1), frame)
    # a restarted process (same saved state) loads the saved booster instead of retraining
    model_file = tmp_path / "state/models/model_round_1.joblib"
    written = model_file.stat().st_mtime_ns
    context = HandlerContext(
        name="model-a", options=options, state_dir=tmp_path / "state", persistent_state=dict(handler.persistent_state)
    )
    reloaded = build_handler(ModelHandler, context)
    assert isinstance(reloaded, ModelHandler)
    again = pd.read_csv(deliver(reloaded, "new_tournament_data", 1, files(small_sandbox)).emitted[0].payload["path"])
    assert again["prediction"].tolist() == frame["prediction"].tolist()
    assert model_file.stat().st_mtime_ns == written


def slow(seconds: float) -> dict[str, Any]:
    """FAST options whose trainings last at least ``seconds``."""
    return {**FAST, "min_train_seconds": seconds}


def test_an_existing_model_retrains_in_the_background_and_the_next_round_uses_the_new_one(
    small_sandbox: Sandbox, tmp_path: Path
) -> None:
    handler = make(tmp_path, slow(3.0))
    deliver(handler, "new_training_data", 1, files(small_sandbox))  # the first training: in the callback
    assert handler.persistent_state["model_file"] == "model_round_1.joblib"
    started = time.monotonic()
    deliver(handler, "new_training_data", 2, files(small_sandbox))
    assert time.monotonic() - started < 3.0, "the callback waited for the training"
    training = handler.persistent_state["training"]
    assert training["round"] == 2
    assert training["pid"] not in (0, os.getpid())  # a process of its own
    # the round's predictions come at once, from the model there is
    (ready,) = deliver(handler, "new_tournament_data", 2, files(small_sandbox)).emitted
    assert ready.kind == "predictions_ready"
    assert handler.persistent_state["model_file"] == "model_round_1.joblib"
    result = tmp_path / "state/training/round_2/result.json"
    wait_for(result.exists, timeout=120, what="the background training to finish")
    deliver(handler, "new_tournament_data", 3, files(small_sandbox))
    state = handler.persistent_state
    assert (state["model_file"], state["trained_round"]) == ("model_round_2.joblib", 2)
    assert "training" not in state
    assert state["validation"]["corr"]["eras"] > 0
    assert (tmp_path / "state/models/model_round_2.joblib").exists()


def test_retrain_before_keeps_numerautos_order(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path, {**FAST, "retrain": "before"})
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    deliver(handler, "new_training_data", 2, files(small_sandbox))
    assert handler.persistent_state["model_file"] == "model_round_2.joblib"
    assert "training" not in handler.persistent_state


def test_a_background_training_that_fails_keeps_the_model_and_says_why(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    broken = files(small_sandbox)
    broken["training_files"]["train.parquet"] = str(tmp_path / "missing.parquet")
    deliver(handler, "new_training_data", 2, broken)
    wait_for((tmp_path / "state/training/round_2/result.json").exists, timeout=120, what="the training to fail")
    emitted = deliver(handler, "new_tournament_data", 2, files(small_sandbox)).emitted
    assert [e.kind for e in emitted] == ["model_failed", "predictions_ready"]
    assert "missing.parquet" in emitted[0].payload["reason"]
    assert handler.persistent_state["model_file"] == "model_round_1.joblib"
    assert "training" not in handler.persistent_state


def test_a_background_training_lost_with_its_process_is_started_again(small_sandbox: Sandbox, tmp_path: Path) -> None:
    handler = make(tmp_path)
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    handler.options = slow(600.0)  # the trainer reads the options: this training outlasts the test
    deliver(handler, "new_training_data", 2, files(small_sandbox))
    first = handler.persistent_state["training"]["pid"]
    os.kill(first, signal.SIGKILL)
    os.waitpid(first, 0)  # the trainer is this process's child here
    deliver(handler, "new_tournament_data", 2, files(small_sandbox))
    again = handler.persistent_state["training"]["pid"]
    try:
        assert again not in (first, 0)
        assert b"numeraud_handlers.training" in Path(f"/proc/{again}/cmdline").read_bytes()
    finally:
        os.kill(again, signal.SIGKILL)
        os.waitpid(again, 0)


def test_an_unknown_retrain_value_fails_at_start(tmp_path: Path) -> None:
    handler = make(tmp_path, {**FAST, "retrain": "sometimes"})
    with pytest.raises(ModelError, match=r"options\.retrain: must be one of background, before"):
        handler.on_start()


@pytest.mark.parametrize(("threads", "expected"), [(None, 1), (3, 3)])
def test_predictions_use_predict_threads_native_threads(
    small_sandbox: Sandbox, tmp_path: Path, threads: int | None, expected: int
) -> None:
    record = tmp_path / "threads.json"
    options = {**FAST, "estimator": "tests.handlers.thread_probe:ThreadProbe", "params": {"record": str(record)}}
    if threads is not None:
        options["predict_threads"] = threads
    handler = make(tmp_path, options)
    handler.on_start()
    deliver(handler, "new_training_data", 1, files(small_sandbox))
    deliver(handler, "new_tournament_data", 1, files(small_sandbox))
    seen = json.loads(record.read_text())
    assert seen["openmp"], "no OpenMP runtime loaded: the test proves nothing"
    assert set(seen["openmp"]) == {expected}
    if threads is None:
        assert set(seen.get("blas", [])) <= {1}


@pytest.mark.parametrize("value", [0, "2", True])
def test_a_bad_predict_threads_fails_at_start(tmp_path: Path, value: object) -> None:
    handler = make(tmp_path, {**FAST, "predict_threads": value})
    with pytest.raises(ModelError, match=r"options\.predict_threads"):
        handler.on_start()
