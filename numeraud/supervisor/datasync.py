"""Dataset sync: download Numerai's files so that a handler only ever sees complete, verified ones.

One :meth:`DatasetSync.fetch` is one attempt (the caller retries with :func:`numeraud.numerai.retry.retry_until`
until the round's deadline). Each attempt:

1. asks Numerai (through numerapi's ``dataset`` query) for the file's URL;
2. streams it into ``<data_dir>/.partial/<name>.part``, resuming an earlier partial copy with
   ``Range`` + ``If-Range`` (so a file that changed meanwhile is fetched whole again), with a
   read timeout so a stalled transfer fails instead of hanging;
3. checks free disk space before writing, the byte count, the MD5 when the ETag is one (S3
   single-part objects), and that the file parses (parquet footer and pages, or JSON);
4. records size and SHA-256 (both digests are taken as the bytes arrive, so a file is not read
   back to be hashed), fsyncs, and renames it into place atomically.

A file whose ETag and size match what was synced before is not downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import requests

from numeraud.common.failpoints import Failpoints
from numeraud.common.files import replace_durably
from numeraud.numerai.client import NumeraiAnswerError, NumeraiClient, NumeraiError, NumeraiUnavailable

_MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')
DATASET_QUERY = """
query ($filename: String!, $round: Int, $tournament: Int) {
  dataset(filename: $filename, round: $round, tournament: $tournament)
}
"""
#: How Numerai answers the dataset query for a file it does not have (yet).
NOT_FOUND = "Dataset not found"
#: Files up to this size are fully decoded to verify them; larger ones are checked by footer + MD5.
FULL_DECODE_LIMIT = 512 * 1024 * 1024
#: Bytes per read from the network: small enough that a broken transfer keeps most of what arrived.
CHUNK = 256 * 1024


class DownloadFailed(NumeraiUnavailable):
    """A transfer failed in a way that trying again (resuming) can fix."""


class VerificationFailed(DownloadFailed):
    """The bytes arrived but are not the file (wrong size, wrong MD5, unreadable); refetched whole."""


class LiveDataPending(NumeraiError):
    """A round's live file is not published yet: Numerai said "Dataset not found", or still serves
    the previous round's file. Not retried like a failure: the follower waits for it (see the poller)."""


class DiskFull(Exception):
    """Not enough free disk space for the download; nothing was written."""


@dataclass(frozen=True)
class KnownFile:
    """What the store remembers of a file synced earlier."""

    size: int
    sha256: str
    etag: str | None


@dataclass(frozen=True)
class SyncedFile:
    """A complete, verified file on disk."""

    name: str
    path: Path
    size: int
    sha256: str
    etag: str | None
    changed: bool


@dataclass(frozen=True)
class Progress:
    """Where a download stands (for status and logs)."""

    name: str
    done: int
    total: int
    rate: float


class DatasetSync:
    """Downloads dataset files into ``data_dir`` (see the module docstring)."""

    def __init__(
        self,
        client: NumeraiClient,
        data_dir: Path,
        *,
        timeout: tuple[float, float] = (10.0, 60.0),
        reserve_bytes: int = 256 * 1024 * 1024,
        progress: Callable[[Progress], None] | None = None,
        progress_every: float = 2.0,
        failpoints: Failpoints | None = None,
    ) -> None:
        self.failpoints = failpoints if failpoints is not None else Failpoints(env={})
        self.client = client
        self.data_dir = data_dir
        self.partial_dir = data_dir / ".partial"
        self.timeout = timeout
        self.reserve_bytes = reserve_bytes
        self.progress = progress
        self.progress_every = progress_every
        self.session = requests.Session()

    def dataset_url(self, remote: str, round_number: int | None = None) -> str:
        """The URL Numerai hands out for ``remote`` (e.g. ``v5.2/live.parquet``)."""
        variables = {"filename": remote, "round": round_number, "tournament": self.client.tournament_id}
        url = self.client.raw_query(DATASET_QUERY, variables)["data"]["dataset"]
        if not isinstance(url, str) or not url:
            raise NumeraiUnavailable(f"Numerai gave no URL for {remote}")
        return url

    def fetch(
        self,
        remote: str,
        local: str,
        *,
        round_number: int | None = None,
        known: KnownFile | None = None,
        stale: KnownFile | None = None,
    ) -> SyncedFile:
        """Make ``<data_dir>/<local>`` a verified copy of Numerai's ``remote``; one attempt.

        ``stale`` is the previous round's copy of a per-round file: if Numerai serves that (same
        ETag), the round's own is not published yet and :class:`LiveDataPending` is raised before
        any byte is written.
        """
        final = self.data_dir / local
        part = self.partial_dir / f"{local}.part"
        meta = self.partial_dir / f"{local}.part.json"
        part.parent.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            url = self.dataset_url(remote, round_number)
        except NumeraiAnswerError as exc:
            if round_number is not None and str(exc).startswith(NOT_FOUND):
                raise LiveDataPending(f"{remote}: round {round_number}'s file is not published yet ({exc})") from exc
            raise
        have, saved_etag = _partial_state(part, meta)
        headers = {"Range": f"bytes={have}-", "If-Range": saved_etag} if have and saved_etag else {}
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DownloadFailed(f"{remote}: {type(exc).__name__} while connecting") from exc
        with response:
            etag = response.headers.get("ETag")
            if stale is not None and etag is not None and etag == stale.etag:
                raise LiveDataPending(f"{remote}: Numerai still serves the previous round's file")
            if known is not None and etag is not None and etag == known.etag and _size_is(final, known.size):
                return SyncedFile(remote, final, known.size, known.sha256, etag, changed=False)
            try:
                total = self._expected_total(remote, response, have)
            except VerificationFailed:
                _discard(part, meta)  # the partial copy is useless: the next attempt starts afresh
                raise
            if response.status_code == 200:
                have = 0  # a fresh start, or the file changed since the partial copy
            digests: Digests | None = None
            if have < total:
                self._check_disk(remote, total - have)
                meta.write_text(json.dumps({"etag": etag, "total": total}))
                digests = self._stream(remote, response, part, have, total)
            elif etag is None:
                etag = json.loads(meta.read_text()).get("etag")
        size = part.stat().st_size
        if size != total:
            _discard(part, meta)
            raise VerificationFailed(f"{remote}: got {size} bytes, expected {total}")
        if digests is None:  # every byte arrived in an earlier attempt
            digests = Digests.of_prefix(part, size)
        sha256, md5 = digests.hexdigests()
        expected_md5 = _MD5_ETAG.match(etag or "")
        if expected_md5 and expected_md5.group(1) != md5:
            _discard(part, meta)
            raise VerificationFailed(f"{remote}: MD5 {md5} does not match the ETag {etag}")
        try:
            # With the MD5 confirmed the bytes are Numerai's own: the footer check suffices. Without
            # one (multipart ETags), decoding every page is the best evidence the file is whole.
            _check_content(part, local, full_decode=expected_md5 is None)
        except (OSError, ValueError) as exc:
            _discard(part, meta)
            raise VerificationFailed(f"{remote}: the file does not parse ({exc})") from exc
        replace_durably(part, final)
        meta.unlink(missing_ok=True)
        return SyncedFile(remote, final, size, sha256, etag, changed=True)

    def _expected_total(self, remote: str, response: requests.Response, have: int) -> int:
        if response.status_code == 206:
            content_range = response.headers.get("Content-Range", "")
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range)
            if not match or int(match.group(1)) != have:
                raise DownloadFailed(f"{remote}: bad Content-Range {content_range!r}")
            return int(match.group(3))
        if response.status_code == 416:
            complete = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("Content-Range", ""))
            if complete and int(complete.group(1)) == have:
                return have  # every byte arrived before: only the checks and the rename are left
            raise VerificationFailed(f"{remote}: the partial copy is not a prefix of the file")
        if response.status_code in (429,) or response.status_code >= 500:
            raise DownloadFailed(f"{remote}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise NumeraiUnavailable(f"{remote}: HTTP {response.status_code}", status=response.status_code)
        length = response.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise DownloadFailed(f"{remote}: no Content-Length")
        return int(length)

    def _check_disk(self, remote: str, needed: int) -> None:
        free = shutil.disk_usage(self.data_dir).free
        if free - needed < self.reserve_bytes:
            raise DiskFull(
                f"{remote}: needs {needed:,} bytes but {self.data_dir} has {free:,} free "
                f"(keeping {self.reserve_bytes:,} in reserve)"
            )

    def _stream(self, remote: str, response: requests.Response, part: Path, have: int, total: int) -> Digests:
        """Append the response to ``part`` after its first ``have`` bytes; the digests of it all.

        The bytes are hashed as they arrive (the partial copy's prefix first), so a file of
        several GB is not read back from disk to be checked.
        """
        digests = Digests.of_prefix(part, have)
        started = time.monotonic()
        last_report = started
        done = have
        try:
            with part.open("r+b" if have else "wb") as out:
                out.seek(have)
                out.truncate()
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    digests.update(chunk)
                    done += len(chunk)
                    self.failpoints.hit("mid_download")
                    now = time.monotonic()
                    if self.progress is not None and now - last_report >= self.progress_every:
                        last_report = now
                        rate = (done - have) / max(now - started, 1e-9)
                        self.progress(Progress(remote, done, total, rate))
        except requests.RequestException as exc:
            raise DownloadFailed(f"{remote}: transfer broke off at {done:,} of {total:,} bytes ({exc})") from exc
        if self.progress is not None:
            elapsed = max(time.monotonic() - started, 1e-9)
            self.progress(Progress(remote, done, total, (done - have) / elapsed))
        return digests


def _partial_state(part: Path, meta: Path) -> tuple[int, str | None]:
    if not part.exists() or not meta.exists():
        part.unlink(missing_ok=True)
        return 0, None
    try:
        saved: dict[str, Any] = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        part.unlink(missing_ok=True)
        return 0, None
    etag = saved.get("etag")
    return part.stat().st_size, etag if isinstance(etag, str) else None


def _discard(part: Path, meta: Path) -> None:
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def _size_is(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


class Digests:
    """SHA-256 (recorded, handed to handlers) and MD5 (checked against a single-part ETag) of a file."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    @classmethod
    def of_prefix(cls, path: Path, length: int) -> Digests:
        """The digests of the first ``length`` bytes of ``path``."""
        digests = cls()
        if length:
            with path.open("rb") as source:
                left = length
                while left and (chunk := source.read(min(1 << 20, left))):
                    digests.update(chunk)
                    left -= len(chunk)
        return digests

    def update(self, chunk: bytes) -> None:
        """Hash the next bytes."""
        self.sha256.update(chunk)
        self.md5.update(chunk)

    def hexdigests(self) -> tuple[str, str]:
        """``(sha256, md5)`` in hex."""
        return self.sha256.hexdigest(), self.md5.hexdigest()


def intact(path: Path, size: int) -> bool:
    """Whether a file synced earlier is still whole, cheaply: its size, and its parquet footer
    or its JSON parse (no hash: Numerai's training files are gigabytes)."""
    try:
        if path.stat().st_size != size:
            return False
        _check_content(path, path.name, full_decode=False)
    except (OSError, ValueError):
        return False
    return True


def _check_content(path: Path, name: str, *, full_decode: bool) -> None:
    if name.endswith(".parquet"):
        parquet = pq.ParquetFile(path)
        if full_decode and path.stat().st_size <= FULL_DECODE_LIMIT:
            for index in range(parquet.num_row_groups):
                parquet.read_row_group(index)
            pa.default_memory_pool().release_unused()  # the supervisor keeps no dataset in memory
    elif name.endswith(".json"):
        json.loads(path.read_text(encoding="utf-8"))
