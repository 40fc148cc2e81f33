"""Loading Numerai parquet files for a model, memory-efficiently.

Only the columns asked for are read, features stay int8 (a quarter of float32's size), eras can
be subsampled while reading (the rows of skipped eras never reach memory), and Arrow's buffers
are released while the pandas frame is built, so the peak stays near the size of the frame itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq


class DataError(ValueError):
    """A data file that cannot serve the model: missing, unreadable, or lacking columns."""


def feature_set(features_json: Path, name: str) -> list[str]:
    """The feature names of set ``name`` in Numerai's ``features.json``."""
    try:
        sets: dict[str, Any] = json.loads(features_json.read_text(encoding="utf-8"))["feature_sets"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{features_json}: not a readable features.json ({exc})") from exc
    if name not in sets:
        raise DataError(f"feature set {name!r} is not in {features_json} (available: {', '.join(sorted(sets))})")
    return list(sets[name])


def columns_of(path: Path) -> list[str]:
    """The column names of a parquet file (its schema only)."""
    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc


def eras_of(path: Path) -> list[str]:
    """The distinct eras of a parquet file, sorted (reads only the ``era`` column)."""
    table = pq.read_table(path, columns=["era"])
    return sorted(str(era) for era in pc.unique(table.column("era")).to_pylist())


def load(
    path: Path,
    columns: Sequence[str],
    *,
    era_step: int = 1,
    data_type: str | None = None,
) -> pd.DataFrame:
    """Read ``columns`` of ``path`` (id-indexed), keeping every ``era_step``-th era and, if given, one ``data_type``.

    Raises :class:`DataError` naming the columns the file lacks.
    """
    available = set(columns_of(path))
    missing = [c for c in columns if c not in available]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"{path} lacks {len(missing)} column(s) the model needs: {shown}")
    wanted = list(dict.fromkeys(columns))
    condition = None
    if era_step > 1:
        keep = eras_of(path)[::era_step]
        condition = pc.field("era").isin(keep)
    if data_type is not None and "data_type" in available:
        by_type = pc.field("data_type") == data_type
        condition = by_type if condition is None else condition & by_type
    index = "id" if "id" in available else None
    read = [*wanted, index] if index and index not in wanted else wanted
    table = ds.dataset(path, format="parquet").to_table(columns=read, filter=condition)
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    if index and index in frame.columns:
        frame = frame.set_index(index)
    return frame
