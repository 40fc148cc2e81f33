"""The bundled model handler: train a scikit-learn-compatible estimator, predict every round.

Configure it in ``[handlers.NAME]``::

    [handlers.model-a]
    class = "numeraud_handlers.model:ModelHandler"
    options = { feature_set = "medium", target = "target", era_step = 4,
                estimator = "sklearn.ensemble:HistGradientBoostingRegressor",
                params = { max_iter = 300, learning_rate = 0.05, max_leaf_nodes = 31 } }

* ``on_new_training_data``: loads only the chosen features (int8) and target of every
  ``era_step``-th era, fits the estimator, saves it with joblib in the handler's state directory
  (versioned by training round) and scores it per era on validation with numerai-tools (CORR and,
  with the meta model, MMC: mean, sharpe, max drawdown), kept in ``persistent_state`` with the
  dataset version and the delivery (``training_event``: seq and attempt) that trained it;
* ``on_new_tournament_data``: predicts the round's live file, ranks to (0, 1], writes the
  predictions CSV atomically and emits ``predictions_ready(round, model, path)``.

The model file is only ever loaded from the handler's own state directory.

``min_train_seconds`` (default 0) is for demos and tests only: training then lasts at least that
long (it waits after fitting, before the model is saved), so that ``numeraud demo`` can kill the
process while it trains and show the event delivered again.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from numeraud import EventHandler
from numeraud.common.failpoints import Failpoints
from numeraud.common.files import atomic_path

from .data import DataError, feature_set, load
from .metrics import per_era_corr, per_era_mmc, summarize

DEFAULT_ESTIMATOR = "sklearn.ensemble:HistGradientBoostingRegressor"
DEFAULT_PARAMS: dict[str, Any] = {
    "max_iter": 300,
    "learning_rate": 0.05,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 200,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}


class ModelError(RuntimeError):
    """The model cannot be trained or used; the message says why."""


def import_estimator(path: str) -> type:
    """Import an estimator class from ``"package.module:Class"`` (or ``"package.module.Class"``)."""
    module_name, _, class_name = path.rpartition(":") if ":" in path else path.rpartition(".")
    if not module_name or not class_name:
        raise ModelError(f"estimator {path!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"estimator {path!r}: cannot import {module_name} ({exc})") from exc
    estimator = getattr(module, class_name, None)
    if not isinstance(estimator, type):
        raise ModelError(f"estimator {path!r}: {module_name} has no class {class_name}")
    return estimator


class ModelHandler(EventHandler):
    """Trains and predicts with one scikit-learn-compatible model (see the module docstring)."""

    #: The process's failpoints (read from its environment in ``on_start``; tests only).
    failpoints = Failpoints(env={})

    def on_start(self) -> None:
        """Check the options early, so a typo fails at start, not at the first round."""
        self.failpoints = Failpoints()
        import_estimator(str(self.options.get("estimator", DEFAULT_ESTIMATOR)))

    @property
    def model_name(self) -> str:
        """The name this model's predictions go by (the uploader maps it to Numerai models)."""
        return str(self.options.get("model", self.name))

    def _dir(self) -> Path:
        if self.state_dir is None:
            raise ModelError("the handler has no state directory")
        return self.state_dir

    def _files(self, group: str) -> dict[str, str]:
        files = self.event.get(group, {}) if self.event is not None else {}
        if not isinstance(files, dict):
            raise ModelError(f"the event carries no {group}")
        return files

    def on_new_training_data(self, round_number: int) -> None:
        """Train on the synced training data and score on validation."""
        self.train(round_number, self._files("training_files"))

    def train(self, round_number: int, files: dict[str, str]) -> None:
        """Fit the estimator on ``files["train.parquet"]`` and save it, with validation scores."""
        started = time.monotonic()
        features = feature_set(Path(files["features.json"]), str(self.options.get("feature_set", "medium")))
        target = str(self.options.get("target", "target"))
        train = load(
            Path(files["train.parquet"]), [*features, "era", target], era_step=int(self.options.get("era_step", 4))
        )
        train = train.dropna(subset=[target])
        estimator_class = import_estimator(str(self.options.get("estimator", DEFAULT_ESTIMATOR)))
        params = {**(DEFAULT_PARAMS if "estimator" not in self.options else {}), **dict(self.options.get("params", {}))}
        try:
            model = estimator_class(**params)
        except TypeError as exc:
            raise ModelError(f"params: {exc}") from exc
        self.log.info("training", rows=len(train), features=len(features), estimator=estimator_class.__name__)
        model.fit(train[features], train[target])
        del train
        self.failpoints.hit("mid_training")
        hold = float(self.options.get("min_train_seconds", 0)) - (time.monotonic() - started)
        if hold > 0:
            time.sleep(hold)  # demos only: a window to kill the process mid-training
        model_file = self._dir() / "models" / f"model_round_{round_number}.joblib"
        with atomic_path(model_file) as temp:
            joblib.dump(model, temp)
        event = self.event
        self.persistent_state.update(
            {
                "model_file": model_file.name,
                "trained_round": round_number,
                "features": features,
                "target": target,
                "dataset_version": event.get("version") if event is not None else None,
                "training_event": {"seq": event.seq, "attempt": event.attempt} if event is not None else None,
            }
        )
        if "validation.parquet" in files and Path(files["validation.parquet"]).exists():
            self.persistent_state["validation"] = self._validate(model, features, target, files)
            self.log.info("validation_scores", **{k: v["mean"] for k, v in self.persistent_state["validation"].items()})

    def _validate(self, model: Any, features: list[str], target: str, files: dict[str, str]) -> dict[str, Any]:
        validation = load(Path(files["validation.parquet"]), [*features, "era", target], data_type="validation")
        validation = validation.dropna(subset=[target])
        validation["prediction"] = model.predict(validation[features])
        scores = {"corr": summarize(per_era_corr(validation, target=target)).as_dict()}
        meta_path = files.get("meta_model.parquet")
        if meta_path and Path(meta_path).exists():
            meta = pd.read_parquet(meta_path, columns=["numerai_meta_model"])
            joined = validation[["era", "prediction", target]].join(meta, how="inner")
            if len(joined):
                scores["mmc"] = summarize(per_era_mmc(joined, target=target)).as_dict()
        return scores

    def load_model(self) -> Any:
        """The fitted model saved by the last training (from the state directory only)."""
        name = self.persistent_state.get("model_file")
        if not name:
            raise ModelError("no trained model yet: waiting for new_training_data (or run `numeraudctl retrain`)")
        path = self._dir() / "models" / str(name)
        try:
            return joblib.load(path)
        except (OSError, EOFError, ValueError, KeyError, ImportError) as exc:
            raise ModelError(f"the model file {path} is missing or corrupt ({exc}); it will be retrained") from exc

    def on_new_tournament_data(self, round_number: int) -> None:
        """Predict this round's live data and emit ``predictions_ready``."""
        files = self._files("live_files")
        try:
            model = self.load_model()
        except ModelError:
            training = self._files("training_files")
            if not all(Path(path).exists() for path in training.values()):
                raise
            self.log.warning("retraining", reason="no usable model file")
            self.train(round_number, training)
            model = self.load_model()
        features: list[str] = list(self.persistent_state["features"])
        try:
            live = load(Path(files["live.parquet"]), features)
        except DataError as exc:
            raise ModelError(f"live data for round {round_number}: {exc}") from exc
        self.failpoints.hit("mid_predict")
        predictions = pd.Series(model.predict(live[features]), index=live.index, name="prediction").rank(pct=True)
        path = self._dir() / "predictions" / f"{self.model_name}_round_{round_number}.csv"
        with atomic_path(path) as temp:
            predictions.rename_axis("id").to_csv(temp, header=True)
        self.log.info("predictions_written", rows=len(predictions), path=str(path))
        self.failpoints.hit("after_predictions_file")
        self.emit(
            "predictions_ready",
            round=round_number,
            model=self.model_name,
            path=str(path),
            rows=len(predictions),
            live_path=files["live.parquet"],
            deadline=self.event.get("deadline") if self.event is not None else None,
        )
