"""Training the bundled model: in the handler's process, or in a process of its own in the background.

:func:`fit` does the work either way: load the chosen features and target, fit the estimator, save
it with joblib (atomically) and score it on validation. It returns what the model handler keeps in
``persistent_state`` about the model.

:class:`BackgroundTraining` runs :func:`fit` as ``python -m numeraud_handlers.training JOB`` so
that a long training never holds back a round's predictions, its memory goes back to the OS when it
ends, and a crash there costs only the training. Each training has a directory of its own
(``<state>/training/round_<N>``) holding ``job.json`` (what to train), ``pid`` and, once it is
over, ``result.json`` (what :func:`fit` returned, or the error): the handler reads it when it next
runs, so the switch to the new model happens between two events, never inside one. The trainer
gets SIGTERM when its handler dies (a training lost that way is started again). The process
pattern is :mod:`numeraud_handlers.child`'s, which the Model Upload pickles use too.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import joblib
import pandas as pd

from numeraud.common.failpoints import Failpoints
from numeraud.common.files import atomic_path

from .child import ChildJob, child_main
from .data import feature_set, load
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


def fit(
    files: Mapping[str, str],
    options: Mapping[str, Any],
    model_file: Path,
    *,
    log: Any = None,
    failpoints: Failpoints | None = None,
) -> dict[str, Any]:
    """Fit the estimator on ``files["train.parquet"]``, save it to ``model_file``, score it.

    Returns ``{"model_file", "features", "target"}`` and, when ``validation.parquet`` is there,
    ``"validation"`` (per-era CORR and, with the meta model, MMC summaries).
    """
    started = time.monotonic()
    features = feature_set(Path(files["features.json"]), str(options.get("feature_set", "medium")))
    target = str(options.get("target", "target"))
    train = load(Path(files["train.parquet"]), [*features, "era", target], era_step=int(options.get("era_step", 4)))
    train = train.dropna(subset=[target])
    estimator_class = import_estimator(str(options.get("estimator", DEFAULT_ESTIMATOR)))
    params = {**(DEFAULT_PARAMS if "estimator" not in options else {}), **dict(options.get("params", {}))}
    try:
        model = estimator_class(**params)
    except TypeError as exc:
        raise ModelError(f"params: {exc}") from exc
    if log is not None:
        log.info("training", rows=len(train), features=len(features), estimator=estimator_class.__name__)
    model.fit(train[features], train[target])
    del train
    if failpoints is not None:
        failpoints.hit("mid_training")
    hold = float(options.get("min_train_seconds", 0)) - (time.monotonic() - started)
    if hold > 0:
        time.sleep(hold)  # demos and tests only: a training that takes this long
    with atomic_path(model_file) as temp:
        joblib.dump(model, temp)
    result: dict[str, Any] = {"model_file": model_file.name, "features": features, "target": target}
    if "validation.parquet" in files and Path(files["validation.parquet"]).exists():
        result["validation"] = _validate(model, features, target, files)
        if log is not None:
            log.info("validation_scores", **{k: v["mean"] for k, v in result["validation"].items()})
    return result


def _validate(model: Any, features: list[str], target: str, files: Mapping[str, str]) -> dict[str, Any]:
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


class BackgroundTraining(ChildJob):
    """One training in a process of its own (see the module docstring and :class:`ChildJob`)."""

    MODULE: ClassVar[str] = "numeraud_handlers.training"


def main(argv: list[str] | None = None) -> int:
    """The trainer process: ``python -m numeraud_handlers.training DIRECTORY``."""
    return child_main(argv, _train)


def _train(job: dict[str, Any]) -> dict[str, Any]:
    return fit(job["files"], job["options"], Path(job["model_file"]), failpoints=Failpoints())


if __name__ == "__main__":
    raise SystemExit(main())
