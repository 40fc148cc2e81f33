"""The datasets the sandbox publishes: their names, files and ETags, releases and validation updates.

The files themselves are written by :class:`~numeraud.sandbox.datagen.DatasetGenerator`; this is
what Numerai's ``listDatasets``/``dataset`` answer and what ``/files`` may serve. The first
version is generated at start; every other version's files are generated the first time one of
them is asked for (a round's live files too), so a sandbox with every version Numerai lists
starts about as fast as one with a single version.

Besides each version's own files, ``v4.3/meta_model.parquet`` (which Numerai's example code
downloads) is served as the newest version's meta model; like Numerai, it is not listed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from numeraud.common.datasets import is_version, version_key
from numeraud.sandbox.datagen import VERSION_FILES, DatasetGenerator
from numeraud.sandbox.errors import AdminError, ApiError
from numeraud.sandbox.records import Round, RoundTimes, SandboxState

#: The files of a version that every round shares.
STATIC_FILES = VERSION_FILES
#: The files of a version that each round has its own of (``live_<round>.parquet``, ...): (stem, suffix).
PER_ROUND_FILES = (
    ("live", ".parquet"),
    ("live_example_preds", ".parquet"),
    ("live_example_preds", ".csv"),
    ("live_benchmark_models", ".parquet"),
)
#: Old names Numerai's example code still downloads → the file of the newest version served for them.
LEGACY_FILES = {"v4.3/meta_model.parquet": "meta_model.parquet"}


class DatasetCatalogue:
    """The released dataset versions (in ``state``, under ``lock``) and the files they serve.

    ``open_lock`` is the round book's: a release writes live files for every round, so no round
    opens meanwhile.
    """

    def __init__(
        self,
        data_dir: Path,
        state: SandboxState,
        *,
        lock: threading.RLock,
        open_lock: threading.Lock,
        generator: DatasetGenerator,
        current_round: Callable[[], Round],
    ) -> None:
        """Serve the versions in ``state.versions`` from ``data_dir``."""
        self.data_dir = data_dir
        self.state = state
        self.lock = lock
        self.open_lock = open_lock
        self.generator = generator
        self.current_round = current_round
        self._etags: dict[tuple[str, int, int], str] = {}

    def list_datasets(self) -> list[str]:
        """Every public dataset file name, newest version first."""
        with self.lock:
            versions = sorted(self.state.versions, key=version_key, reverse=True)
        names = []
        for version in versions:
            files = [*STATIC_FILES, *(f"{stem}{suffix}" for stem, suffix in PER_ROUND_FILES)]
            names += [f"{version}/{name}" for name in sorted(files)]
        return names

    def resolve_dataset(self, filename: str, round_number: int | None, now: datetime) -> str:
        """Map a requested dataset name to the file served (``live.parquet`` → that round's file).

        A round's live files are served once published (:attr:`Round.live_at`). Before that, as
        S3 keeps the last upload under a name until a new one replaces it, the plain name without
        a round (``live.parquet``) still gives the previous round's file, and the round's own
        (``round`` given, or ``live_<N>.parquet``) is "Dataset not found".
        """
        version, _, name = filename.partition("/")
        with self.lock:
            known = version in self.state.versions
            rounds = list(self.state.rounds)
            newest = max(self.state.versions, key=version_key) if self.state.versions else None
        if filename in LEGACY_FILES and newest is not None:
            version, name = newest, LEGACY_FILES[filename]
            known = True
        if not known or not name:
            raise ApiError(f"Dataset not found: {filename}")
        if name in STATIC_FILES:
            self.generator.ensure_version(version)
            return f"{version}/{name}"
        stem, suffix, row = per_round_file(
            filename, name, patterns=PER_ROUND_FILES, rounds=rounds, round_number=round_number, now=now
        )
        self.generator.ensure_live(version, row.number)
        return f"{version}/{stem}_{row.number}{suffix}"

    def public_file(self, relative: str, now: datetime) -> Path | None:
        """The on-disk path of a public file, or None if it is not one (no traversal, no hidden,
        no live file of a round before it is published)."""
        version, _, name = relative.partition("/")
        if not is_version(version, parts=2) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            return None
        with self.lock:
            if version not in self.state.versions:
                return None
            stems = "|".join(re.escape(f"{stem}_") + r"(\d+)" + re.escape(suffix) for stem, suffix in PER_ROUND_FILES)
            per_round = re.fullmatch(stems, name)
            if per_round is not None:
                number = int(next(g for g in per_round.groups() if g is not None))
                if any(r.number == number and not r.live_published(now) for r in self.state.rounds):
                    return None
        self._ensure(version, name)
        path = self.data_dir / version / name
        return path if path.is_file() else None

    def _ensure(self, version: str, name: str) -> None:
        """Generate the file now if it is one that is generated on first request."""
        if name in STATIC_FILES:
            self.generator.ensure_version(version)
            return
        for stem, suffix in PER_ROUND_FILES:
            match = re.fullmatch(rf"{stem}_(\d+){re.escape(suffix)}", name)
            if match:
                number = int(match.group(1))
                with self.lock:
                    opened = any(r.number == number for r in self.state.rounds)
                if opened:
                    self.generator.ensure_live(version, number)
                return

    def etag(self, path: Path) -> str:
        """The file's ETag as S3 gives it for a single-part object: its MD5, quoted (cached)."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self.lock:
            cached = self._etags.get(key)
        if cached is None:
            digest = hashlib.md5(usedforsecurity=False)
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
            cached = f'"{digest.hexdigest()}"'
            with self.lock:
                self._etags[key] = cached
        return cached

    def release_dataset(self, version: str, now: datetime) -> list[str]:
        """Publish a new dataset version (generated now, with live data for every opened round)."""
        if not is_version(version, parts=2):
            raise AdminError(f"version: {version!r} does not look like v5.3")
        with self.open_lock:
            with self.lock:
                if version in self.state.versions:
                    raise AdminError(f"version {version} is already released")
            files = self.generator.ensure_version(version)
            for known in self.state.rounds:
                files += self.generator.ensure_live(version, known.number)
            with self.lock:
                self.state.versions.append(version)
        return files

    def update_validation(self, version: str | None, eras: int) -> list[str]:
        """Numerai's weekly validation update: ``eras`` more eras in ``version`` (default newest)."""
        if eras < 1:
            raise AdminError("eras: must be a positive integer")
        with self.open_lock:
            with self.lock:
                chosen = version or max(self.state.versions, key=version_key)
                if chosen not in self.state.versions:
                    raise AdminError(f"version {chosen} is not released")
                total = self.state.validation_updates.get(chosen, 0) + eras
            files = self.generator.update_validation(chosen, total)
            with self.lock:
                self.state.validation_updates[chosen] = total
        return files


R = TypeVar("R", bound=RoundTimes)


def per_round_file(
    filename: str,
    name: str,
    *,
    patterns: Iterable[tuple[str, str]],
    rounds: Sequence[R],
    round_number: int | None,
    now: datetime,
) -> tuple[str, str, R]:
    """Which round's file a per-round dataset name stands for, as Numerai serves it: ``(stem,
    suffix, round)`` for ``name`` matching one of ``patterns`` (``("live", ".parquet")``:
    ``live.parquet`` or ``live_3.parquet``). The round is the number in the name, else
    ``round_number``, else the newest round whose live data is published. :class:`ApiError`
    ("Dataset not found") for no such file, a round that has not opened, or a round asked for by
    number whose live data is not published yet."""
    by_number = {r.number: r for r in rounds}
    for stem, suffix in patterns:
        match = re.fullmatch(rf"{stem}(?:_(\d+))?{re.escape(suffix)}", name)
        if not match:
            continue
        explicit = match.group(1) is not None or round_number is not None
        if match.group(1):
            wanted = int(match.group(1))
        elif round_number is not None:
            wanted = round_number
        else:
            published = [r.number for r in rounds if r.live_published(now)]
            wanted = published[-1] if published else rounds[-1].number
        row = by_number.get(wanted)
        if row is None:
            raise ApiError(f"Dataset not found: {filename} (round {wanted} has not opened)")
        if explicit and not row.live_published(now):
            raise ApiError(f"Dataset not found: {filename} (round {wanted}'s live data is not published yet)")
        return stem, suffix, row
    raise ApiError(f"Dataset not found: {filename}")
