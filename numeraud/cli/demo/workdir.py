"""The demo's directory: what it keeps there, the marker that makes it a demo directory, its lock.

``numeraud demo`` works in ``./numeraud-demo`` by default (``--dir DIR`` to choose) and leaves its
files there: the configuration, the daemon's log, the story, the results table and the chart. A
directory is used only if it is missing, empty, or holds a previous demo's files (it has the
:data:`MARKER` file), which are removed first; anything else is refused. An exclusive ``flock`` on
:data:`LOCK` keeps a second demo out while one runs (and while ``--stay`` keeps it running).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

#: Written into every demo directory: its presence says the directory's files are a demo's.
MARKER: Final = ".numeraud-demo"
#: Locked (``flock``) while a demo runs in the directory; it holds that demo's pid.
LOCK: Final = ".numeraud-demo.lock"


class DirectoryRefused(Exception):
    """The directory cannot be the demo's; the message says why, in one line."""


@dataclass
class DemoDir:
    """A locked demo directory and the names of what the demo keeps in it."""

    #: The directory, absolute (what the configuration names).
    path: Path
    #: The directory as the user gave it (what the demo prints).
    shown: Path
    _lock: IO[str]

    def show(self, path: Path) -> Path:
        """``path`` (inside the directory) as the user would type it."""
        return self.shown / path.relative_to(self.path)

    @property
    def config(self) -> Path:
        """The configuration the demo runs (what ``numeraud init --sandbox`` writes)."""
        return self.path / "numeraud.toml"

    @property
    def state_dir(self) -> Path:
        """The daemon's state directory (event log, handler state, models, synced data)."""
        return self.path / "state"

    @property
    def sandbox_dir(self) -> Path:
        """The sandbox's synthetic dataset files."""
        return self.path / "sandbox"

    @property
    def log(self) -> Path:
        """The supervisor's and its handlers' log (JSON lines)."""
        return self.path / "numeraud.log"

    @property
    def story(self) -> Path:
        """A copy of what the demo printed."""
        return self.path / "demo.txt"

    @property
    def results_markdown(self) -> Path:
        """The round x model table, as Markdown."""
        return self.path / "results.md"

    @property
    def results_csv(self) -> Path:
        """The round x model table, as CSV."""
        return self.path / "results.csv"

    def release(self) -> None:
        """Unlock the directory (its files stay)."""
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def _holder(lock_path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(lock_path.read_text(encoding="utf-8").strip())
        return f" (pid {pid})"
    return ""


def open_demo_dir(path: Path) -> DemoDir:
    """Check, lock and empty ``path`` for a new demo (see the module docstring).

    Raises :class:`DirectoryRefused` for a file, a directory with other files, a directory where
    another demo is running, or one that cannot be written.
    """
    shown, path = str(path), path.absolute()
    if path.exists() and not path.is_dir():
        raise DirectoryRefused(f"{shown} exists and is not a directory; choose another with --dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        entries = {entry.name for entry in path.iterdir()} - {LOCK}
        if entries and MARKER not in entries:
            raise DirectoryRefused(f"{shown} is not a demo directory (it holds other files); choose another with --dir")
        lock = (path / LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise DirectoryRefused(f"cannot use {shown}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DirectoryRefused(
            f"another demo is running in {shown}{_holder(path / LOCK)}; stop it or choose another --dir"
        ) from None
    try:
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        for entry in path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        marker = {"numeraud_demo": 1, "started": datetime.now(UTC).isoformat(), "pid": os.getpid()}
        (path / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    except OSError as exc:
        lock.close()
        raise DirectoryRefused(f"cannot use {shown}: {exc.strerror or exc}") from None
    return DemoDir(path=path, shown=Path(shown), _lock=lock)
