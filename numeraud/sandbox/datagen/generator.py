"""The generator: writes a version's files and each round's live files, once, under a lock."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from numeraud.common.datasets import is_version
from numeraud.sandbox.datagen.benchmarks import BenchmarkModels, quantum_features
from numeraud.sandbox.datagen.ids import KIND_HISTORIC, KIND_LIVE, MAX_ROUND, era_name, row_ids
from numeraud.sandbox.datagen.parquet import arrow_table, atomic_writers, frame_schema, write_text
from numeraud.sandbox.datagen.rows import Block, make_block
from numeraud.sandbox.datagen.seeds import seeded_rng, stable_seed
from numeraud.sandbox.datagen.sizes import (
    MAX_ERA,
    MIN_ROWS_PER_ERA,
    SizeSpec,
    size_spec,
)
from numeraud.sandbox.datagen.world import IntArray, World

_ROW_JITTER: Final = 0.2


_FORMAT: Final = 2


@dataclass(frozen=True)
class _Shape:
    """What a version's files look like: its feature columns, benchmark models and schemas."""

    features: list[str]
    data: pa.Schema
    benchmarks: BenchmarkModels
    benchmark_schema: pa.Schema


def _validate_version(version: str) -> None:
    if not is_version(version, parts=2):
        raise ValueError(f"bad dataset version {version!r}; expected something like 'v5.2'")


def _validate_round(round_number: int) -> None:
    if isinstance(round_number, bool) or not isinstance(round_number, int) or not 1 <= round_number < MAX_ROUND:
        raise ValueError(f"bad round number {round_number!r}; expected an integer from 1 to {MAX_ROUND - 1}")


class DatasetGenerator:
    """Writes synthetic Numerai dataset files under ``root`` (see :mod:`numeraud.sandbox.datagen` for the layout).

    Files are generated on first request and then left alone, so every method is idempotent and
    cheap to call again. Methods are safe to call from several threads of one process.
    """

    def __init__(
        self, root: Path, size: str | SizeSpec = "tiny", seed: int = 0, *, train_rows: int | None = None
    ) -> None:
        """Use ``root`` for the files; ``size``, ``seed`` and ``train_rows`` fix their content."""
        self.root = Path(root)
        self.spec = size_spec(size, train_rows=train_rows)
        self.seed = int(seed)
        self._world = World.build(self.seed, self.spec)
        self._lock = threading.Lock()
        self._id_key = stable_seed(self.seed, "ids")
        self._shapes: dict[str, _Shape] = {}
        self._truth_schema = frame_schema(
            (["target", *self.spec.target_columns], "float32"), (["numerai_meta_model"], "float64")
        )
        self._prediction_schema = frame_schema((["prediction"], "float64"))
        self._meta_schema = frame_schema((["numerai_meta_model"], "float64"))

    def feature_names(self, version: str = "v5.2") -> list[str]:
        """The "all" feature set of ``version``, in column order.

        Every version of one seed and size has the same features, except that v5.3 and later add
        the quantum group after them.
        """
        return self._world.version_features(version)

    def benchmark_columns(self, version: str) -> list[str]:
        """The columns of ``version``'s ``*_benchmark_models.parquet`` files."""
        return list(self._shape(version).benchmarks.columns)

    def live_era(self, round_number: int) -> str:
        """The era string of round ``round_number``'s live file."""
        _validate_round(round_number)
        return era_name(self.spec.train_eras + self.spec.validation_eras + round_number)

    def ensure_version(self, version: str) -> list[str]:
        """Write the version's files that every round shares if missing (see :data:`VERSION_FILES`).

        Returns their names relative to ``root`` (``"v5.2/train.parquet"``, ...). A validation file
        already grown by :meth:`update_validation` is kept.
        """
        _validate_version(version)
        with self._lock:
            self._check_generator_stamp(version)
            public = self.root / version
            if not (public / "features.json").exists():
                write_text(public / "features.json", json.dumps(self._features_json(version), indent=2) + "\n")
            if not all((public / name).exists() for name in _TRAIN_FILES):
                self._write_train(version)
            if not all((public / name).exists() for name in _VALIDATION_FILES):
                self._write_validation(version, self._validation_extra(version))
        return [f"{version}/{name}" for name in VERSION_FILES]

    def ensure_live(self, version: str, round_number: int) -> list[str]:
        """Write round ``round_number``'s live files and the hidden truth if missing.

        Returns the public names relative to ``root``: ``"v5.2/live_<round>.parquet"``,
        ``"v5.2/live_example_preds_<round>.parquet"`` (and ``.csv``) and
        ``"v5.2/live_benchmark_models_<round>.parquet"``.
        """
        _validate_version(version)
        _validate_round(round_number)
        names = [name.format(round=round_number) for name in _LIVE_FILES]
        with self._lock:
            self._check_generator_stamp(version)
            paths = [self.root / version / name for name in names]
            paths.append(self._hidden(version) / f"live_{round_number}.parquet")
            if not all(path.exists() for path in paths):
                self._write_live(version, round_number, paths)
        return [f"{version}/{name}" for name in names]

    def live_truth(self, version: str, round_number: int) -> pd.DataFrame:
        """The id-indexed truth of a live round: ``target``, every ``target_*`` and ``numerai_meta_model``."""
        self.ensure_live(version, round_number)
        return pd.read_parquet(self._hidden(version) / f"live_{round_number}.parquet")

    def update_validation(self, version: str, extra_eras: int) -> list[str]:
        """Numerai's weekly validation update: validation now has ``validation_eras + extra_eras`` eras.

        ``extra_eras`` counts from the version's release (calling again with the same number does
        nothing). Eras that were "test" gain targets; the newest ``test_eras`` eras are "test".
        Rewrites validation.parquet, the validation example and benchmark predictions and
        meta_model.parquet and returns their names relative to ``root``.
        """
        _validate_version(version)
        if isinstance(extra_eras, bool) or not isinstance(extra_eras, int) or extra_eras < 0:
            raise ValueError(f"bad extra_eras {extra_eras!r}; expected an integer >= 0")
        if self.spec.train_eras + self.spec.validation_eras + extra_eras > MAX_ERA:
            raise ValueError(f"extra_eras={extra_eras} would take validation past era {MAX_ERA}")
        self.ensure_version(version)
        with self._lock:
            if self._validation_extra(version) != extra_eras:
                self._write_validation(version, extra_eras)
        return [f"{version}/{name}" for name in _VALIDATION_FILES]

    # -- internals ---------------------------------------------------------------------------------

    def _hidden(self, version: str) -> Path:
        return self.root / ".hidden" / version

    def _shape(self, version: str) -> _Shape:
        shape = self._shapes.get(version)
        if shape is None:
            features = self._world.version_features(version)
            targets = (["target", *self.spec.target_columns], "float32")
            benchmarks = BenchmarkModels.build(self._world, self.spec, self.seed, version)
            shape = _Shape(
                features=features,
                data=frame_schema((["era", "data_type"], "str"), (features, "int8"), targets),
                benchmarks=benchmarks,
                benchmark_schema=frame_schema((benchmarks.columns, "float64")),
            )
            self._shapes[version] = shape
        return shape

    def _check_generator_stamp(self, version: str) -> None:
        """Refuse to mix files made with another seed or size in one version directory."""
        stamp = {"format": _FORMAT, "seed": self.seed, "spec": dataclasses.asdict(self.spec)}
        wanted = json.loads(json.dumps(stamp))
        path = self._hidden(version) / "generator.json"
        if not path.exists():
            write_text(path, json.dumps(wanted, indent=2) + "\n")
            return
        found = json.loads(path.read_text(encoding="utf-8"))
        if found.get("format") != _FORMAT:
            raise ValueError(
                f"{self.root / version} was generated by another numeraud (data format "
                f"{found.get('format')!r}, this one writes {_FORMAT}); use another root or delete it"
            )
        if found != wanted:
            raise ValueError(
                f"{self.root / version} was generated with seed {found.get('seed')!r} and size "
                f"{found.get('spec', {}).get('name')!r}, not seed {self.seed} and size {self.spec.name!r} "
                "with these dimensions; use another root or delete it"
            )

    def _validation_extra(self, version: str) -> int:
        path = self._hidden(version) / "validation.json"
        if not path.exists():
            return 0
        return int(json.loads(path.read_text(encoding="utf-8"))["extra_eras"])

    def _features_json(self, version: str) -> dict[str, Any]:
        return {
            "feature_sets": self._world.version_feature_sets(version),
            "targets": ["target", *self.spec.target_columns],
        }

    def _era_rows(self, era: int) -> int:
        """Rows in a historic era: ``rows_per_era`` ± 20 %, fixed by (seed, era)."""
        jitter = seeded_rng(self.seed, "rows", era).uniform(-_ROW_JITTER, _ROW_JITTER)
        return max(MIN_ROWS_PER_ERA, round(self.spec.rows_per_era * (1 + jitter)))

    def _historic_block(self, version: str, era: int) -> tuple[list[str], Block]:
        """Ids and data of a train or validation era; the same whatever file it lands in."""
        rows = self._era_rows(era)
        block = make_block(
            self._world, seeded_rng(self.seed, "era", era), seeded_rng(self.seed, version, "era", era), rows
        )
        return row_ids(self._id_key, KIND_HISTORIC, era, rows), block

    def _data_values(
        self, version: str, era: str, data_type: str, block: Block, target_nan: IntArray | None
    ) -> dict[str, Any]:
        """Column values of one era for a data file; ``target_nan`` lists the target rows to blank.

        v5.3's quantum features depend on the era (or live round) only, as Numerai's do.
        """
        targets = block.targets.copy()
        if target_nan is not None:
            targets[target_nan] = np.nan
        values: dict[str, Any] = {"era": [era] * block.rows, "data_type": [data_type] * block.rows}
        values.update(zip(self._world.feature_names, block.features, strict=True))
        if self._world.has_quantum(version):
            quantum = quantum_features(self._world, seeded_rng(self.seed, "quantum", era, data_type), block.rows)
            values.update(zip(self._world.quantum_names, quantum, strict=True))
        values.update(zip(self.spec.target_columns, targets, strict=True))
        values["target"] = targets[self._world.main_index]
        return values

    def _write_train(self, version: str) -> None:
        aux_late = self._world.nan_until_era
        shape = self._shape(version)
        paths = [self.root / version / name for name in _TRAIN_FILES]
        with atomic_writers(paths, [shape.data, shape.benchmark_schema]) as (writer, benchmarks):
            for era in range(1, self.spec.train_eras + 1):
                ids, block = self._historic_block(version, era)
                blank = np.flatnonzero(aux_late >= era)
                values = self._data_values(version, era_name(era), "train", block, blank)
                writer.write_table(arrow_table(shape.data, ids, values))
                predictions = shape.benchmarks.predict(self._world, block)
                benchmarks.write_table(arrow_table(shape.benchmark_schema, ids, predictions))

    def _write_validation(self, version: str, extra_eras: int) -> None:
        first = self.spec.train_eras + 1
        last = self.spec.train_eras + self.spec.validation_eras + extra_eras
        first_test = last - self.spec.test_eras + 1
        all_targets = np.arange(len(self.spec.target_columns), dtype=np.int64)
        # 60-day targets resolve later than 20-day ones: the newest labelled era has no _60 values yet.
        horizon_60 = np.array([i for i, c in enumerate(self.spec.target_columns) if c.endswith("_60")], dtype=np.int64)
        shape = self._shape(version)
        paths = [self.root / version / name for name in _VALIDATION_PARQUET]
        schemas = [shape.data, self._prediction_schema, shape.benchmark_schema, self._meta_schema]
        example_ids: list[str] = []
        example_values: list[npt.NDArray[np.float64]] = []
        with atomic_writers(paths, schemas) as (data, example, benchmarks, meta):
            for era in range(first, last + 1):
                ids, block = self._historic_block(version, era)
                is_test = era >= first_test
                blank = all_targets if is_test else horizon_60 if era == first_test - 1 else None
                data_type = "test" if is_test else "validation"
                values = self._data_values(version, era_name(era), data_type, block, blank)
                data.write_table(arrow_table(shape.data, ids, values))
                example.write_table(arrow_table(self._prediction_schema, ids, {"prediction": block.example}))
                predictions = shape.benchmarks.predict(self._world, block)
                benchmarks.write_table(arrow_table(shape.benchmark_schema, ids, predictions))
                meta.write_table(arrow_table(self._meta_schema, ids, {"numerai_meta_model": block.meta}))
                example_ids += ids
                example_values.append(block.example)
        write_text(self.root / version / "validation_example_preds.csv", _csv(example_ids, example_values))
        write_text(self._hidden(version) / "validation.json", json.dumps({"extra_eras": extra_eras}) + "\n")

    def _write_live(self, version: str, round_number: int, paths: list[Path]) -> None:
        rows = self.spec.live_rows
        base_rng, version_rng = (
            seeded_rng(self.seed, "live", round_number),
            seeded_rng(self.seed, version, "live", round_number),
        )
        block = make_block(self._world, base_rng, version_rng, rows)
        ids = row_ids(self._id_key, KIND_LIVE, round_number, rows)
        shape = self._shape(version)
        era = self.live_era(round_number)
        public = self._data_values(version, era, "live", block, np.arange(len(block.targets)))
        truth: dict[str, Any] = dict(zip(self.spec.target_columns, block.targets, strict=True))
        truth["target"] = block.targets[self._world.main_index]
        truth["numerai_meta_model"] = block.meta
        parquet = [path for path in paths if path.suffix == ".parquet"]
        schemas = [shape.data, self._prediction_schema, shape.benchmark_schema, self._truth_schema]
        with atomic_writers(parquet, schemas) as (live, example, benchmarks, hidden):
            live.write_table(arrow_table(shape.data, ids, public))
            example.write_table(arrow_table(self._prediction_schema, ids, {"prediction": block.example}))
            predictions = shape.benchmarks.predict(self._world, block)
            benchmarks.write_table(arrow_table(shape.benchmark_schema, ids, predictions))
            hidden.write_table(arrow_table(self._truth_schema, ids, truth))
        csv = next(path for path in paths if path.suffix == ".csv")
        write_text(csv, _csv(ids, [block.example]))


def _csv(ids: list[str], values: list[npt.NDArray[np.float64]]) -> str:
    """An ``id,prediction`` CSV, as Numerai's example predictions come."""
    lines = [f"{row_id},{value!r}" for row_id, value in zip(ids, np.concatenate(values).tolist(), strict=True)]
    return "id,prediction\n" + "\n".join(lines) + "\n"


_TRAIN_FILES: Final = ("train.parquet", "train_benchmark_models.parquet")
_VALIDATION_PARQUET: Final = (
    "validation.parquet",
    "validation_example_preds.parquet",
    "validation_benchmark_models.parquet",
    "meta_model.parquet",
)
_VALIDATION_FILES: Final = (*_VALIDATION_PARQUET, "validation_example_preds.csv")
#: The files of a version that every round shares, in the order :meth:`DatasetGenerator.ensure_version` lists them.
VERSION_FILES: Final = ("features.json", *_TRAIN_FILES, *_VALIDATION_FILES)
#: The public live files of one round (``{round}`` is its number).
_LIVE_FILES: Final = (
    "live_{round}.parquet",
    "live_example_preds_{round}.parquet",
    "live_benchmark_models_{round}.parquet",
    "live_example_preds_{round}.csv",
)
