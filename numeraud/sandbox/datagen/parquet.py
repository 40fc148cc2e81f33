"""Parquet writing for the generator: id-indexed schemas, one era per row group, atomic replacement."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from numeraud.common.files import atomic_write, replace_durably


def frame_schema(*columns: tuple[Sequence[str], str]) -> pa.Schema:
    """Arrow schema with pandas metadata for an ``id``-indexed frame; ``columns`` are (names, dtype) runs."""
    index = pd.Index([], dtype="str", name="id")
    # One block per dtype run: building thousands of empty Series one by one takes seconds.
    blocks = [pd.DataFrame(np.empty((0, len(names)), dtype=dtype), columns=list(names)) for names, dtype in columns]
    empty = pd.concat(blocks, axis=1).set_axis(index, axis=0)
    schema = pa.Schema.from_pandas(empty, preserve_index=True)
    # pandas < 3 keeps an empty "str" column as object, which arrow types as null; it holds text,
    # typed as pandas 3 types it, so the files are the same whichever pandas wrote them.
    for position, column in enumerate(schema):
        if pa.types.is_null(column.type):
            schema = schema.set(position, column.with_type(pa.large_string()))
    return schema


def arrow_table(schema: pa.Schema, ids: list[str], values: dict[str, Any]) -> pa.Table:
    """A table in ``schema``'s column order from the ids and a column name → values mapping."""
    arrays = [pa.array(ids if field.name == "id" else values[field.name], type=field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


@contextmanager
def atomic_writers(paths: Sequence[Path], schemas: Sequence[pa.Schema]) -> Iterator[list[pq.ParquetWriter]]:
    """Parquet writers to temp files that replace ``paths`` (in order) only if the block succeeds."""
    temps = [_temp_path(path) for path in paths]
    writers: list[pq.ParquetWriter] = []
    try:
        for temp, schema in zip(temps, schemas, strict=True):
            temp.parent.mkdir(parents=True, exist_ok=True)
            # Statistics only where readers filter (era, data_type): 200 columns of them cost a lot.
            stats = [name for name in ("era", "data_type") if name in schema.names]
            writers.append(pq.ParquetWriter(temp, schema, write_statistics=stats or False))
        yield writers
        for writer in writers:
            writer.close()
    except BaseException:
        for writer in writers:
            writer.close()
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in zip(temps, paths, strict=True):
        replace_durably(temp, path)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, text, mode=0o644)
