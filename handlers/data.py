"""Loading Numerai parquet files for a model, memory-efficiently.

Only the columns asked for are read; the int8 feature columns go straight, a few at a time, into
one preallocated int8 matrix that becomes the frame's single feature block (no second copy, no
consolidation); eras can be subsampled and a ``data_type`` chosen while reading, so the rows of
skipped eras never reach memory. The peak stays near the size of the frame itself, where
``pandas.read_parquet`` holds the whole Arrow table and its pandas copy at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Feature columns decoded at a time; bounds the transient memory above the final frame.
COLUMNS_PER_READ = 32


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


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc


def columns_of(path: Path) -> list[str]:
    """The column names of a parquet file (its schema only)."""
    return list(_open(path).schema_arrow.names)


def _row_mask(parquet: pq.ParquetFile, era_step: int, data_type: str | None) -> np.ndarray[Any, Any] | None:
    names = parquet.schema_arrow.names
    wanted = [c for c in ("era", "data_type") if c in names and (c != "data_type" or data_type is not None)]
    if (era_step <= 1 and data_type is None) or not wanted:
        return None
    table = parquet.read(columns=wanted)
    mask = np.ones(table.num_rows, dtype=bool)
    if era_step > 1 and "era" in wanted:
        eras = table.column("era")
        keep = sorted(str(e) for e in pc.unique(eras).to_pylist())[::era_step]
        mask &= pc.is_in(eras, value_set=pa.array(keep, type=eras.type)).to_numpy(zero_copy_only=False)
    if data_type is not None and "data_type" in wanted:
        mask &= pc.equal(table.column("data_type"), data_type).to_numpy(zero_copy_only=False)
    return mask


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
    parquet = _open(path)
    schema = parquet.schema_arrow
    missing = [c for c in columns if c not in schema.names]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"{path} lacks {len(missing)} column(s) the model needs: {shown}")
    wanted = list(dict.fromkeys(columns))
    int8 = [c for c in wanted if schema.field(c).type == pa.int8()]
    others = [c for c in wanted if c not in int8]
    index = "id" if "id" in schema.names and "id" not in wanted else None
    mask = _row_mask(parquet, era_step, data_type)
    rows = parquet.metadata.num_rows if mask is None else int(mask.sum())
    matrix = np.empty((rows, len(int8)), dtype=np.int8, order="F")
    # A few columns at a time: the reader's per-column buffers and the decoded (int32) dictionary
    # indices then stay small, whatever the row-group layout of the file.
    for first in range(0, len(int8), COLUMNS_PER_READ):
        group = int8[first : first + COLUMNS_PER_READ]
        table = parquet.read(columns=group)
        for offset, name in enumerate(group):
            values = table.column(name).to_numpy()
            matrix[:, first + offset] = values if mask is None else values[mask]
        del table
    extra = [*others, *([index] if index else [])]
    pieces: dict[str, np.ndarray[Any, Any]] = {}
    if extra:
        table = parquet.read(columns=extra)
        for name in extra:
            values = table.column(name).to_numpy(zero_copy_only=False)
            pieces[name] = values if mask is None else values[mask]
        del table
    frame = pd.DataFrame(matrix, columns=int8, copy=False)
    for name in others:
        frame[name] = pieces[name]
    if index:
        frame.index = pd.Index(pieces[index], name=index)
    return frame[wanted] if list(frame.columns) != wanted else frame
