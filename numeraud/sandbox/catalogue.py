"""The datasets the sandbox publishes: their names, files and ETags, releases and validation updates.

The files themselves are written by :class:`~numeraud.sandbox.datagen.DatasetGenerator`; this is
what Numerai's ``listDatasets``/``dataset`` answer and what ``/files`` may serve.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from numeraud.common.datasets import is_version, version_key
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.sandbox.errors import AdminError, ApiError
from numeraud.sandbox.records import Round, SandboxState

#: The files of a version that every round shares.
STATIC_FILES = (
    "features.json",
    "train.parquet",
    "validation.parquet",
    "validation_example_preds.parquet",
    "meta_model.parquet",
)
#: The files of a version that each round has its own of (``live_<round>.parquet``, ...).
PER_ROUND_FILES = ("live", "live_example_preds")


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
            names += [f"{version}/{name}" for name in STATIC_FILES]
            names += [f"{version}/{stem}.parquet" for stem in PER_ROUND_FILES]
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
        if not known or not name:
            raise ApiError(f"Dataset not found: {filename}")
        if name in STATIC_FILES:
            return filename
        by_number = {r.number: r for r in rounds}
        for stem in PER_ROUND_FILES:
            match = re.fullmatch(rf"{stem}(?:_(\d+))?\.parquet", name)
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
            if wanted not in by_number:
                raise ApiError(f"Dataset not found: {filename} (round {wanted} has not opened)")
            if explicit and not by_number[wanted].live_published(now):
                raise ApiError(f"Dataset not found: {filename} (round {wanted}'s live data is not published yet)")
            return f"{version}/{stem}_{wanted}.parquet"
        raise ApiError(f"Dataset not found: {filename}")

    def public_file(self, relative: str, now: datetime) -> Path | None:
        """The on-disk path of a public file, or None if it is not one (no traversal, no hidden,
        no live file of a round before it is published)."""
        version, _, name = relative.partition("/")
        if not is_version(version, parts=2) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            return None
        with self.lock:
            if version not in self.state.versions:
                return None
            per_round = re.fullmatch(rf"(?:{'|'.join(PER_ROUND_FILES)})_(\d+)\.parquet", name)
            if per_round is not None:
                number = int(per_round.group(1))
                if any(r.number == number and not r.live_published(now) for r in self.state.rounds):
                    return None
        path = self.data_dir / version / name
        return path if path.is_file() else None

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
