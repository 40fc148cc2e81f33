"""The chaos runs' checking handler: records every delivery and checks every file it is given.

``[handlers.check-N] class = "bench.chaosrun.checker:Checker"`` with ``options = { record = FILE,
data_dir = DIR, sandbox_dir = DIR }``. For each event, before anything else, it appends one JSON
line to ``record``: seq, kind, round, attempt, pid, and for every file of the event's
``training_files`` and ``live_files`` whether it is complete: its size and SHA-256 against the
file the sandbox serves (``sandbox_dir`` + the same relative path). A file that differs is a
partial (or corrupt) file handed to a handler, which guarantee 7 says never happens.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent

_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (cached by path, size and mtime)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def file_problem(path: Path, data_dir: Path, sandbox_dir: Path) -> str | None:
    """Why ``path`` is not the sandbox's file (``None`` if it is the same size and hash)."""
    try:
        relative = path.resolve().relative_to(data_dir.resolve())
    except ValueError:
        return f"{path} is outside the data directory"
    served = sandbox_dir / relative
    if not path.exists():
        return "missing"
    if not served.exists():
        return None  # nothing to compare with (the sandbox pruned it)
    if path.stat().st_size != served.stat().st_size:
        return f"size {path.stat().st_size} != served {served.stat().st_size}"
    if sha256_of(path) != sha256_of(served):
        return "sha256 differs from the served file"
    return None


class Checker(EventHandler):
    """Records each delivery and checks its files (see the module docstring)."""

    def dispatch(self, event: HandlerEvent) -> None:
        """Record and check, then run the usual callback (none: the base class ignores events)."""
        files: dict[str, str | None] = {}
        for group in ("training_files", "live_files"):
            named = event.get(group) or {}
            if isinstance(named, dict):
                for name, path in named.items():
                    where = Path(str(path))
                    files[f"{group}/{name}"] = file_problem(
                        where, Path(self.options["data_dir"]), Path(self.options["sandbox_dir"])
                    )
        line: dict[str, Any] = {
            "seq": event.seq,
            "kind": event.kind,
            "round": event.round,
            "attempt": event.attempt,
            "pid": os.getpid(),
            "files": files,
        }
        with Path(self.options["record"]).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        super().dispatch(event)
