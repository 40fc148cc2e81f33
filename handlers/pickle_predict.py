"""Running a Model Upload pickle on a round's live data, as numerai-predict does: the child's work.

``python -m numeraud_handlers.pickle_predict DIRECTORY`` (started by
:class:`numeraud_handlers.pickle.PickleHandler` through :class:`numeraud_handlers.child.ChildJob`,
under a memory cap) does what Numerai's ``numerai-predict`` does with an uploaded pickle:

1. load it (``cloudpickle``; a pickle made with ``cloudpickle.dump`` of a function, as in Numerai's
   example notebooks);
2. count the parameters of what it loaded: one means ``predict(live_features)``, two means
   ``predict(live_features, live_benchmark_models)``, anything else is refused;
3. read the round's live file (every column, as ``pd.read_parquet`` gives it) and, for two
   parameters, the round's ``live_benchmark_models`` file;
4. call it and check the result as numerai-predict does (a ``pd.DataFrame``, not empty, no NaN,
   values in [0, 1]), and more: one column only and indexed by exactly the live ids, since Numerai
   accepts nothing else;
5. write it as ``id,prediction`` CSV (atomically) to the job's ``output``.

Every refusal is an exception whose message says what was wrong; :func:`numeraud_handlers.child.child_main`
reports it to the handler.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd

from numeraud.common.files import atomic_path

from .child import Refused, child_main


class PickleRefused(Refused, ValueError):
    """The pickle cannot be used for this round; the message says why."""


def load_pickle(path: Path) -> Any:
    """What ``path`` unpickles to (running the pickle's code: only ever the user's own file)."""
    try:
        with path.open("rb") as source:
            return cloudpickle.load(source)
    except FileNotFoundError as exc:
        raise PickleRefused(f"the pickle {path} does not exist") from exc
    except Exception as exc:  # any error of the pickle's own code while it loads
        raise PickleRefused(f"the pickle {path} could not be loaded: {type(exc).__name__}: {exc}") from exc


def arity(model: Any) -> int:
    """How many parameters ``model`` takes (numerai-predict: ``len(signature(model).parameters)``)."""
    if not callable(model):
        raise PickleRefused(f"the pickle holds a {type(model).__name__}, not a predict function")
    try:
        count = len(inspect.signature(model).parameters)
    except (TypeError, ValueError) as exc:
        raise PickleRefused(f"the signature of the pickled {type(model).__name__} cannot be read ({exc})") from exc
    if count not in (1, 2):
        raise PickleRefused(
            f"the pickled function takes {count} parameters; it must take 1 (live_features) "
            "or 2 (live_features, live_benchmark_models)"
        )
    return count


def check(predictions: Any, live_ids: pd.Index) -> pd.Series:
    """``predictions`` as the ``prediction`` series to submit, or :class:`PickleRefused` saying what is wrong."""
    if predictions is None:
        raise PickleRefused("predict returned None")
    if type(predictions) is not pd.DataFrame:
        raise PickleRefused(f"predict returned {type(predictions).__name__} instead of pd.DataFrame")
    if len(predictions) == 0:
        raise PickleRefused("predict returned 0 predictions")
    if predictions.shape[1] != 1:
        raise PickleRefused(
            f"predict returned {predictions.shape[1]} columns ({', '.join(map(str, predictions.columns[:5]))}); "
            "it must return one prediction column"
        )
    column = predictions.iloc[:, 0]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise PickleRefused(f"predict returned {column.dtype} values, not numbers")
    if column.isna().any():
        raise PickleRefused(f"predict returned {int(column.isna().sum())} NaN prediction(s)")
    if not column.between(0, 1).all():
        raise PickleRefused(
            f"predict returned values outside [0, 1] (from {column.min():g} to {column.max():g}); "
            "Numerai takes values between 0 and 1"
        )
    index = predictions.index
    if index.has_duplicates:
        raise PickleRefused(f"predict returned {int(index.duplicated().sum())} duplicate id(s) in its index")
    missing, extra = live_ids.difference(index), index.difference(live_ids)
    if len(missing) or len(extra):
        raise PickleRefused(
            f"the index of predict's result must be the live ids: it lacks {len(missing)} of the "
            f"{len(live_ids)} live ids and has {len(extra)} other(s)" + (f" (e.g. {extra[0]!r})" if len(extra) else "")
        )
    return column.reindex(live_ids).rename("prediction").rename_axis("id")


def predict(job: dict[str, Any]) -> dict[str, Any]:
    """The child's work: load, call, check, write (see the module docstring)."""
    model = load_pickle(Path(job["pickle"]))
    parameters = arity(model)
    live = pd.read_parquet(job["live"])
    arguments = [live]
    if parameters == 2:
        benchmarks = Path(job["benchmarks"])
        if not benchmarks.exists():
            raise PickleRefused(
                f"predict takes live_benchmark_models, but {benchmarks.name} is not in {benchmarks.parent}: "
                'add "live_benchmark_models.parquet" to [data] live_files (Numerai, or the sandbox, must serve it)'
            )
        arguments.append(pd.read_parquet(benchmarks))
    try:
        predictions = model(*arguments)
    except MemoryError:
        raise
    except Exception as exc:  # the user's predict raised: its error is the reason
        raise PickleRefused(f"predict raised {type(exc).__name__}: {exc}") from exc
    series = check(predictions, live.index)
    with atomic_path(Path(job["output"])) as temp:
        series.to_csv(temp, header=True)
    return {"rows": len(series), "parameters": parameters}


def main(argv: list[str] | None = None) -> int:
    """The predicting process: ``python -m numeraud_handlers.pickle_predict DIRECTORY``."""
    return child_main(argv, predict)


if __name__ == "__main__":
    raise SystemExit(main())
