"""Atomic file writes: a reader sees the old content or the new, never a partial file.

Every writer in numeraud goes through here: write a temp file in the target's directory, flush
and fsync it, ``os.replace`` it onto the target, then fsync the directory so the rename itself
survives a power cut. ``atomic_write`` takes the whole content; ``atomic_path`` is for writers that
stream to a path of their own (matplotlib's ``savefig``, a pyarrow ``ParquetWriter``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "fsync_directory", "fsync_file", "replace_durably", "temp_path_for"]


def fsync_file(path: Path) -> None:
    """Flush ``path``'s content to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (a rename or a new file in it) to disk."""
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(temp: Path, target: Path) -> None:
    """fsync ``temp``, rename it onto ``target`` and fsync the directory.

    ``temp`` must be on the same file system as ``target`` (in practice: in the same directory).
    """
    fsync_file(temp)
    os.replace(temp, target)
    fsync_directory(target.parent)


def temp_path_for(target: Path) -> Path:
    """A new, unique, dot-prefixed temp file next to ``target`` (created empty, mode 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    return Path(name)


@contextmanager
def atomic_path(target: Path | str, *, mode: int | None = None) -> Iterator[Path]:
    """A temp path to write ``target``'s new content to; it replaces ``target`` if the block succeeds.

    On success the temp file gets ``mode`` (if given), is fsynced, renamed onto ``target`` and the
    directory is fsynced. If the block raises, the temp file is removed and ``target`` is untouched.
    The writer may replace the temp file (savefig does) but must leave it at the same path::

        with atomic_path(chart) as temp:
            figure.savefig(temp, format="png")
    """
    target = Path(target)
    temp = temp_path_for(target)
    try:
        yield temp
        if mode is not None:
            os.chmod(temp, mode)
        replace_durably(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write(target: Path | str, data: str | bytes, *, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Replace ``target``'s content with ``data`` (text is encoded with ``encoding``) atomically.

    Without ``mode`` the file gets the temp file's mode, 0600; pass e.g. ``mode=0o644`` for a file
    others read.
    """
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(target, mode=mode) as temp, open(temp, "wb") as out:
        out.write(payload)
