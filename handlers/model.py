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
  dataset version and the delivery (``training_event``: seq and attempt) that trained it.
  That happens here and now the first time; once a model exists, ``retrain = "background"`` (the
  default) trains in a process of its own (:mod:`numeraud_handlers.training`) while the current
  model goes on predicting, and ``retrain = "before"`` keeps numerauto's order (the round's
  predictions wait for the training);
* ``on_new_tournament_data``: switches to the model a background training finished (logged:
  ``switched_model``), predicts the round's live file (only the model's features are read), ranks
  to (0, 1], writes the predictions CSV atomically and emits ``predictions_ready(round, model,
  path)``. It predicts on ``predict_threads`` threads (default 1): every model has a handler
  process of its own, and ten of them each starting an OpenMP team as wide as the machine on the
  same cores spend about half their CPU waiting on one another (raise it for one big model alone).

The model file is only ever loaded from the handler's own state directory.

``min_train_seconds`` (default 0) is for demos and tests only: training then lasts at least that
long (it waits after fitting, before the model is saved), so that ``numeraud demo`` can kill the
process while it trains and show the event delivered again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from threadpoolctl import threadpool_limits

from numeraud import EventHandler
from numeraud.common.failpoints import Failpoints
from numeraud.common.files import atomic_path

from .data import DataError, load
from .predictions import announce
from .training import DEFAULT_ESTIMATOR, BackgroundTraining, ModelError, fit, import_estimator

__all__ = ["RETRAIN", "ModelError", "ModelHandler", "import_estimator"]

#: How a model handler that already has a model retrains on new training data.
RETRAIN = ("background", "before")


class ModelHandler(EventHandler):
    """Trains and predicts with one scikit-learn-compatible model (see the module docstring)."""

    #: The process's failpoints (read from its environment in ``on_start``; tests only).
    failpoints = Failpoints(env={})

    def on_start(self) -> None:
        """Check the options early, so a typo fails at start, not at the first round."""
        self.failpoints = Failpoints()
        import_estimator(str(self.options.get("estimator", DEFAULT_ESTIMATOR)))
        if self.retrain not in RETRAIN:
            raise ModelError(f"options.retrain: must be one of {', '.join(RETRAIN)}, not {self.retrain!r}")
        threads = self.options.get("predict_threads", 1)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ModelError(f"options.predict_threads: must be a whole number >= 1, not {threads!r}")

    @property
    def retrain(self) -> str:
        """``"background"`` (the default) or ``"before"`` (numerauto's order: train, then predict)."""
        return str(self.options.get("retrain", "background"))

    @property
    def predict_threads(self) -> int:
        """The threads a prediction may use (``options.predict_threads``, default 1)."""
        return int(self.options.get("predict_threads", 1))

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
        """Train on the synced training data: here and now the first time (or with ``retrain =
        "before"``), else in the background while the current model keeps predicting."""
        files = self._files("training_files")
        if self.retrain == "background" and self.persistent_state.get("model_file"):
            self._retrain_in_background(round_number, files)
        else:
            self.train(round_number, files)

    def train(self, round_number: int, files: dict[str, str]) -> None:
        """Fit the estimator on ``files["train.parquet"]`` here and now, save it, score it."""
        model_file = self._dir() / "models" / f"model_round_{round_number}.joblib"
        result = fit(files, self.options, model_file, log=self.log, failpoints=self.failpoints)
        self._adopt(result | self._provenance(round_number))

    def _provenance(self, round_number: int) -> dict[str, Any]:
        """What the model state says of the training: its round, dataset version and delivery."""
        event = self.event
        return {
            "trained_round": round_number,
            "dataset_version": event.get("version") if event is not None else None,
            "training_event": {"seq": event.seq, "attempt": event.attempt} if event is not None else None,
        }

    def _adopt(self, result: dict[str, Any]) -> None:
        """Make a finished training's model the one that predicts (one update of the state)."""
        self.persistent_state.pop("validation", None)
        self.persistent_state.update(result)

    # ---- training in the background ----

    def _retrain_in_background(self, round_number: int, files: dict[str, str]) -> None:
        job = BackgroundTraining(self._dir() / "training" / f"round_{round_number}")
        pid = job.start(
            {
                "files": files,
                "options": dict(self.options),
                "model_file": str(self._dir() / "models" / f"model_round_{round_number}.joblib"),
                "keep": self._provenance(round_number),
            }
        )
        self.persistent_state["training"] = {"round": round_number, "directory": str(job.directory), "pid": pid}
        self.log.info(
            "retraining_in_background",
            round=round_number,
            pid=pid,
            predicting_with=self.persistent_state.get("model_file"),
        )

    def _check_background_training(self) -> None:
        """Switch to the model a background training finished; start a lost one again."""
        training = self.persistent_state.get("training")
        if not isinstance(training, dict):
            return
        job = BackgroundTraining(Path(str(training["directory"])))
        running = job.pid()  # first: a trainer that ended is reaped here
        result = job.result()
        if result is None:
            if running is None:  # its handler died and took it along: train again
                self.log.warning("background_training_lost", round=training["round"])
                job_spec = json.loads((job.directory / "job.json").read_text())
                training["pid"] = job.start(job_spec)
            return
        del self.persistent_state["training"]
        if "error" in result:
            self.log.error("background_training_failed", round=training["round"], error=result["error"])
            self.emit("model_failed", model=self.model_name, reason=f"background training: {result['error']}")
            return
        previous = self.persistent_state.get("model_file")
        result.pop("traceback", None)
        self._adopt(result)
        self.log.info("switched_model", round=training["round"], previous=previous, model_file=result["model_file"])

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
        self._check_background_training()
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
        with threadpool_limits(limits=self.predict_threads):
            raw = model.predict(live[features])
        predictions = pd.Series(raw, index=live.index, name="prediction").rank(pct=True)
        path = self._dir() / "predictions" / f"{self.model_name}_round_{round_number}.csv"
        with atomic_path(path) as temp:
            predictions.rename_axis("id").to_csv(temp, header=True)
        self.log.info("predictions_written", rows=len(predictions), path=str(path))
        self.failpoints.hit("after_predictions_file")
        announce(
            self,
            round_number=round_number,
            model=self.model_name,
            path=path,
            live_path=files["live.parquet"],
            rows=len(predictions),
        )
