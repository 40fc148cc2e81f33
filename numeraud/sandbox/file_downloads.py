"""Dataset downloads: files streamed from disk with ``sendfile``, Content-Length, ETag and Range.

The file faults (truncate, corrupt, throttle) mangle the body here.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from numeraud.sandbox.fault_injection import FaultInjection
from numeraud.sandbox.faults import FILE_ONLY_KINDS

#: How much of a file a throttled download sends at a time.
THROTTLE_CHUNK = 64 * 1024


class FileDownloads(FaultInjection):
    """``GET``/``HEAD /files/<version>/<name>``."""

    def _file(self, relative: str, started: float) -> None:
        core = self.server.core
        path = core.public_file(relative)
        if path is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"No such file: {relative}"})
            self._record("download", started)
            return
        rule = self._apply_fault("download", tournament=core.tournament_of_file(relative))
        if rule is not None and rule.kind not in FILE_ONLY_KINDS:
            self._record("download", started)
            return
        stat = path.stat()
        size = stat.st_size
        etag = core.etag(path)
        start, end = 0, size - 1
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            range_header = None  # the file changed since the client's partial copy: send it whole
        status = HTTPStatus.OK
        if range_header:
            parsed = parse_range(range_header, size)
            if parsed is None:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._record("download", started)
                return
            start, end = parsed
            status = HTTPStatus.PARTIAL_CONTENT
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            self._record("download", started)
            return
        try:
            with path.open("rb") as source:
                if rule is not None and rule.kind == "truncate":
                    self.connection.sendfile(source, start, max(0, length // 2))
                    self.close_connection = True
                elif rule is not None and rule.kind == "throttle":
                    self._throttled(source, start, length, rule.delay)
                elif rule is not None and rule.kind == "corrupt":
                    source.seek(start)
                    data = bytearray(source.read(length))
                    for index in range(len(data) // 3, len(data), max(1, len(data) // 64)):
                        data[index] ^= 0xFF
                    self.wfile.write(bytes(data))
                else:
                    self.connection.sendfile(source, start, length)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # numerapi drops the GET when the file is already there
        self._record("download", started)

    def _throttled(self, source: Any, start: int, length: int, seconds: float) -> None:
        chunks = max(1, -(-length // THROTTLE_CHUNK))
        pause = seconds / chunks
        source.seek(start)
        for _ in range(chunks):
            data = source.read(THROTTLE_CHUNK)
            if not data or self.server.stopping.is_set():
                break
            self.wfile.write(data)
            self.server.stopping.wait(pause)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=START-[END]`` or ``bytes=-SUFFIX`` range; None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            suffix = int(last)
            if suffix <= 0:
                return None
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
