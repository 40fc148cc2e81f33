"""Model Upload pickles made in the tests, as Numerai's example notebooks make them.

A small scikit-learn model is trained on the sandbox's train file and wrapped in a ``predict``
function defined inside :func:`model_upload_pickle`, so that cloudpickle pickles the function by
value (its code travels in the file, as in a real Model Upload) and only scikit-learn and pandas by
reference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

#: Benchmark model columns as Numerai names them (a few; the test file has one per name).
BENCHMARK_COLUMNS = ["v52_lgbm_ender20", "v52_lgbm_teager2b20"]


def train_model(train_path: Path) -> tuple[Ridge, list[str]]:
    """A Ridge regression on every feature of the sandbox's train file."""
    train = pd.read_parquet(train_path)
    features = [c for c in train.columns if c.startswith("feature_")]
    return Ridge(alpha=1.0).fit(train[features], train["target"]), features


def model_upload_pickle(train_path: Path, destination: Path, parameters: int = 1) -> Path:
    """Write a Model Upload pickle whose ``predict`` takes ``parameters`` (1 or 2) arguments."""
    model, features = train_model(train_path)

    if parameters == 1:

        def predict(live_features: pd.DataFrame) -> pd.DataFrame:
            live_predictions = model.predict(live_features[features])
            submission = pd.Series(live_predictions, index=live_features.index)
            return submission.rank(pct=True).to_frame("prediction")

        return dump(predict, destination)

    def predict_with_benchmarks(live_features: pd.DataFrame, live_benchmark_models: pd.DataFrame) -> pd.DataFrame:
        ours = pd.Series(model.predict(live_features[features]), index=live_features.index).rank(pct=True)
        benchmark = live_benchmark_models[BENCHMARK_COLUMNS[0]].reindex(live_features.index).rank(pct=True)
        return ((ours + benchmark) / 2).rank(pct=True).to_frame("prediction")

    return dump(predict_with_benchmarks, destination)


def dump(function: Callable[..., Any], destination: Path) -> Path:
    """cloudpickle ``function`` to ``destination`` (the way the example notebooks save a Model Upload)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(cloudpickle.dumps(function))
    return destination


def benchmark_models(live_path: Path, destination: Path) -> Path:
    """A ``live_benchmark_models`` file for the live file ``live_path``: one column per benchmark model."""
    ids = pd.read_parquet(live_path, columns=[]).index
    generator = np.random.default_rng(0)
    frame = pd.DataFrame({c: generator.random(len(ids)) for c in BENCHMARK_COLUMNS}, index=ids)
    frame.to_parquet(destination)
    return destination
