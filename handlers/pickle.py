"""Run a Model Upload pickle every round: the file made for Numerai's hosted Model Uploads, as it is.

Configure it in ``[handlers.NAME]``::

    [handlers.my-pickle]
    class = "numeraud_handlers.pickle:PickleHandler"
    timeout = 900          # the callback's own limit: more than options.timeout
    options = { path = "/home/me/numerai/model.pkl", model = "my_model", data_version = "v5.2" }

On each round's ``new_tournament_data`` it runs, in a process of its own
(:mod:`numeraud_handlers.pickle_predict`, the child pattern of :mod:`numeraud_handlers.child`),
what Numerai's ``numerai-predict`` runs: load the pickle with cloudpickle, call it as
``predict(live_features)`` or ``predict(live_features, live_benchmark_models)`` (by its number of
parameters) on the round's verified live file, and check what it returned. The child has a memory
cap (``memory_mb``, default 4096: Numerai's 4 GB) and a timeout (``timeout``, default 600 s:
Numerai's 10 minutes), after which its whole process group is killed. Good predictions are written
as ``id,prediction`` CSV to ``<state>/predictions/<model>_round_<N>.csv``, checked with Numerai's
rules and announced as ``predictions_ready`` for the uploader.

A pickle that does not load, raises, runs too long, wants more memory or returns the wrong thing
fails the event with the reason (``numeraudctl events``, the handler's log); the event is retried
like any failed callback, and the uploader's deadline guard gives the model its fallback.

Options: ``path`` (the pickle, required), ``model`` (the predictions' name that the uploader maps
to Numerai models; default the handler's name), ``data_version`` (the dataset version the pickle
was made for: a round synced with another version is refused instead of fed columns the model
does not know; default: whatever ``[data] version`` syncs), ``memory_mb``, ``timeout``.

``predict(live_features, live_benchmark_models)`` needs the round's benchmark models: add
``"live_benchmark_models.parquet"`` to ``[data] live_files``; without the file the round is refused
with a reason naming it.

The predicting process gets the handler's environment without keys or secrets, as Numerai's runs
without the user's keys.

**Loading a pickle runs its code.** This handler loads only the file its configuration names (the
user's own pickle, under the user's own account), never anything downloaded; nothing in the event
or from Numerai can point it at another file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from numeraud import EventHandler
from numeraud.common.datasets import is_version

from .child import ChildFailed, ChildJob
from .data import DataError
from .predictions import announce, validate_file

#: Numerai's limits for Model Uploads: 4 GB of memory, 10 minutes.
DEFAULT_MEMORY_MB = 4096
DEFAULT_TIMEOUT = 600.0
BENCHMARKS = "live_benchmark_models.parquet"


class PickleError(RuntimeError):
    """The pickle could not predict this round; the message says why."""


class PredictRun(ChildJob):
    """One round's run of the pickle in a process of its own."""

    MODULE: ClassVar[str] = "numeraud_handlers.pickle_predict"


class PickleHandler(EventHandler):
    """Predicts every round with a Model Upload pickle (see the module docstring)."""

    def on_start(self) -> None:
        """Check the options early, so a typo fails at start, not at the first round."""
        path = self.pickle_path
        if not path.is_file():
            raise PickleError(f"options.path: {path} is not a file")
        version = self.options.get("data_version")
        if version is not None and not is_version(version):
            raise PickleError(f"options.data_version: {version!r} is not a dataset version such as 'v5.2'")
        if self.memory_mb < 256:
            raise PickleError(f"options.memory_mb: {self.memory_mb} is too little for Python and pandas (256 or more)")
        if not self.timeout > 0:
            raise PickleError("options.timeout: must be a positive number of seconds")
        self.log.info("pickle_ready", path=str(path), memory_mb=self.memory_mb, timeout=self.timeout)

    @property
    def pickle_path(self) -> Path:
        """The user's pickle (``options.path``; ``~`` expanded)."""
        raw = self.options.get("path")
        if not isinstance(raw, str) or not raw:
            raise PickleError("options.path: the Model Upload pickle to run is required")
        return Path(raw).expanduser()

    @property
    def model_name(self) -> str:
        """The name this handler's predictions go by (the uploader maps it to Numerai models)."""
        return str(self.options.get("model", self.name))

    @property
    def memory_mb(self) -> int:
        """The predicting process's memory cap in MB."""
        return int(self.options.get("memory_mb", DEFAULT_MEMORY_MB))

    @property
    def timeout(self) -> float:
        """Seconds the predicting process may run."""
        return float(self.options.get("timeout", DEFAULT_TIMEOUT))

    def _dir(self) -> Path:
        if self.state_dir is None:
            raise PickleError("the handler has no state directory")
        return self.state_dir

    def _live_files(self, round_number: int) -> dict[str, str]:
        files = self.event.get("live_files") if self.event is not None else None
        if not isinstance(files, dict) or "live.parquet" not in files:
            raise PickleError(f"round {round_number}: the event carries no live_files")
        wanted = self.options.get("data_version")
        version = self.event.get("version") if self.event is not None else None
        if wanted is not None and version is not None and wanted != version:
            raise PickleError(
                f"round {round_number}: the pickle is for {wanted} (options.data_version) but this round's data is "
                f'{version}: set [data] version = "{wanted}" to sync the data it was made for'
            )
        return files

    def on_new_tournament_data(self, round_number: int) -> None:
        """Run the pickle on this round's live data and emit ``predictions_ready``."""
        files = self._live_files(round_number)
        live = Path(files["live.parquet"])
        benchmarks = files.get(BENCHMARKS) or str(live.parent / f"live_benchmark_models_{round_number}.parquet")
        output = self._dir() / "predictions" / f"{self.model_name}_round_{round_number}.csv"
        output.unlink(missing_ok=True)
        job: dict[str, Any] = {
            "pickle": str(self.pickle_path),
            "live": str(live),
            "benchmarks": benchmarks,
            "output": str(output),
            "memory_mb": self.memory_mb,
        }
        run = PredictRun(self._dir() / "runs" / f"round_{round_number}")
        self.log.info("pickle_predicting", pickle=job["pickle"], live=job["live"], run_dir=str(run.directory))
        try:
            result = run.run(job, timeout=self.timeout, log=self.log, what="the pickle")
            validated = validate_file(output, live)
        except ChildFailed as exc:
            raise PickleError(f"round {round_number}: {exc}") from exc
        except (OSError, DataError, ValueError) as exc:
            raise PickleError(f"round {round_number}: the pickle's predictions were refused: {exc}") from exc
        self.log.info("predictions_written", rows=validated.rows, path=str(output), parameters=result["parameters"])
        announce(
            self,
            round_number=round_number,
            model=self.model_name,
            path=output,
            live_path=str(live),
            rows=validated.rows,
        )
