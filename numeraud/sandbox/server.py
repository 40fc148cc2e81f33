"""The sandbox's HTTP front: GraphQL at ``POST /``, dataset files, upload PUTs and the admin API.

Only translation and streaming live here; every decision is :class:`SandboxCore`'s. Files stream
from disk with ``sendfile`` (never read whole into memory), with Content-Length, ETag and Range.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from numeraud.common.files import atomic_path
from numeraud.common.logs import get_logger
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.errors import AdminError, ApiError
from numeraud.sandbox.faults import FILE_ONLY_KINDS, FaultError, FaultRule
from numeraud.sandbox.graphql_api.executor import GraphQLApi
from numeraud.sandbox.graphql_api.query import BadRequest, parse_request, root_fields
from numeraud.sandbox.submissions import MAX_UPLOAD_BYTES

MAX_GRAPHQL_BODY = 1024 * 1024
MAX_ADMIN_BODY = 64 * 1024
CHUNK = 1024 * 1024
THROTTLE_CHUNK = 64 * 1024


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its core and can interrupt hung requests on shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], core: SandboxCore) -> None:
        super().__init__(address, SandboxRequestHandler)
        self.core = core
        self.api = GraphQLApi(core)
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or resets mid-request is normal here (faults, numerapi's skip)."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        get_logger("sandbox").warning("request_failed", client=str(client_address), error=repr(error))

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request (see the module docstring)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every small answer.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    server_version = "numeraud-sandbox"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Per-connection set-up, plus the request-log fields."""
        super().setup()
        self._status = 0
        self._fault: str | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; requests go to the admin request log."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header (every answer has one), shifted by ``SandboxOptions.date_skew``."""
        if timestamp is None:
            timestamp = time.time() + self.server.core.options.date_skew
        return super().date_time_string(timestamp)

    def send_response(self, code: int, message: str | None = None) -> None:
        """Send the status line and remember it for the request log."""
        self._status = int(code)
        super().send_response(code, message)

    def _record(self, route: str, started: float, fields: tuple[str, ...] = ()) -> None:
        self.server.core.requests.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "method": self.command,
                "path": urlsplit(self.path).path,
                "route": route,
                "fields": list(fields),
                "status": self._status,
                "fault": self._fault,
                "ms": round((time.perf_counter() - started) * 1000, 3),
                "authorized": bool(self.headers.get("Authorization")),
            }
        )

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self, limit: int) -> bytes | None:
        """Read the request body, or answer 411/413 and return None."""
        length_text = self.headers.get("Content-Length")
        if length_text is None and "Transfer-Encoding" not in self.headers:
            return b""  # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body
        if length_text is None or not length_text.isdigit():
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"errors": [{"message": "Content-Length required"}]})
            self.close_connection = True
            return None
        length = int(length_text)
        if length > limit:
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"errors": [{"message": "Request body too large"}]})
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _apply_fault(self, route: str, fields: tuple[str, ...] = ()) -> FaultRule | None:
        """Inject a fault if one fires; returns the rule when the request must not be answered normally."""
        rule = self.server.core.faults.draw(route, fields)
        if rule is None:
            return None
        self._fault = rule.kind
        kind = rule.kind
        if kind.startswith("http_"):
            status = int(kind.removeprefix("http_"))
            headers = {"Retry-After": str(rule.retry_after)} if status == 429 else None
            self._send_json(status, {"error": rule.message}, headers)
            return rule
        if kind == "slow":
            self.server.stopping.wait(rule.delay)
            return None
        if kind == "hang":
            self.server.stopping.wait(rule.delay or 3600.0)
            self.close_connection = True
            return rule
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return rule
        if kind == "graphql_error":
            self._send_json(HTTPStatus.OK, {"errors": [{"message": rule.message}]})
            return rule
        if kind == "malformed_json":
            data = b'{"data": {"rounds": [ <html>502 Bad Gateway'
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return rule
        return rule  # truncate/corrupt: the file route mangles the body itself

    # -- verbs -------------------------------------------------------------------------------

    def do_POST(self) -> None:
        """GraphQL at ``/``; admin commands under ``/admin``."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith("/admin/"):
            self._admin("POST", path, started)
            return
        if path not in ("/", "/graphql"):
            self._send_json(HTTPStatus.NOT_FOUND, {"errors": [{"message": f"Not found: {path}"}]})
            self._record("unknown", started)
            return
        body = self._read_body(MAX_GRAPHQL_BODY)
        if body is None:
            self._record("graphql", started)
            return
        fields: tuple[str, ...] = ()
        try:
            query, variables, operation = parse_request(body)
            fields = root_fields(query)
        except BadRequest as exc:
            if self._apply_fault("graphql") is None:
                self._send_json(HTTPStatus.BAD_REQUEST, {"errors": [{"message": str(exc)}]})
            self._record("graphql", started)
            return
        if self._apply_fault("graphql", fields) is None:
            result = self.server.api.execute(
                query,
                variables,
                operation,
                authorization=self.headers.get("Authorization"),
                now=datetime.now(UTC),
                base_url=self.server.base_url,
            )
            self._send_json(HTTPStatus.OK, result)
        self._record("graphql", started, fields)

    def do_GET(self) -> None:
        """Dataset files under ``/files``; admin views under ``/admin``."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith("/admin/"):
            self._admin("GET", path, started)
        elif path.startswith("/files/"):
            self._file(path.removeprefix("/files/"), started)
        elif path == "/health":
            self._send_json(HTTPStatus.OK, {"ok": True})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"Not found: {path}"})
            self._record("unknown", started)

    def do_HEAD(self) -> None:
        """Headers of a dataset file (fsspec's HEAD before ranged reads)."""
        self.do_GET()

    def do_DELETE(self) -> None:
        """``DELETE /admin/faults``."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith("/admin/"):
            self._admin("DELETE", path, started)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"Not found: {path}"})

    def do_PUT(self) -> None:
        """An upload to a URL handed out by ``submission_upload_auth``."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        token = path.removeprefix("/uploads/")
        pending = self.server.core.pending_upload(token) if path.startswith("/uploads/") else None
        if pending is None:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "Unknown or expired upload URL"})
            self.close_connection = True
            self._record("upload", started)
            return
        if self._apply_fault("upload") is not None:
            self._record("upload", started)
            return
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit():
            self._send_json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            self.close_connection = True
        elif int(length_text) > MAX_UPLOAD_BYTES:
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "File too large"})
            self.close_connection = True
        else:
            self._receive_upload(pending.path, int(length_text))
            pending.received = True
            pending.size = int(length_text)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", "0")
            self.end_headers()
        self._record("upload", started)

    def _receive_upload(self, path: Path, length: int) -> None:
        remaining = length
        with atomic_path(path, mode=0o644) as temp, temp.open("wb") as out:
            while remaining:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise ConnectionError("upload body ended early")
                out.write(chunk)
                remaining -= len(chunk)

    # -- files -------------------------------------------------------------------------------

    def _file(self, relative: str, started: float) -> None:
        core = self.server.core
        path = core.public_file(relative)
        if path is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"No such file: {relative}"})
            self._record("download", started)
            return
        rule = self._apply_fault("download")
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
            parsed = _parse_range(range_header, size)
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

    # -- admin -------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, started: float) -> None:
        now = datetime.now(UTC)
        try:
            body: dict[str, Any] = {}
            if method == "POST":
                raw = self._read_body(MAX_ADMIN_BODY)
                if raw is None:
                    return
                if raw.strip():
                    loaded = json.loads(raw)
                    if not isinstance(loaded, dict):
                        raise AdminError("the request body must be a JSON object")
                    body = loaded
            result = self._admin_dispatch(method, path, body, now)
        except json.JSONDecodeError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "bad_json", "message": str(exc)}})
        except (AdminError, FaultError) as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "bad_request", "message": str(exc)}})
        except ApiError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": {"code": "rejected", "message": str(exc)}})
        except LookupError as exc:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": str(exc)}})
        else:
            self._send_json(HTTPStatus.OK, result)
        self._record("admin", started)

    def _admin_dispatch(self, method: str, path: str, body: dict[str, Any], now: datetime) -> Any:
        core = self.server.core
        query = parse_qs(urlsplit(self.path).query)
        route = (method, path.rstrip("/"))
        if route == ("POST", "/admin/round/open"):
            return {"round": core.open_round(now, _number(body, "window", float, optional=True)).number}
        if route == ("POST", "/admin/round/close"):
            return {"round": core.close_round(now).number}
        if route == ("POST", "/admin/round/resolve"):
            number = _number(body, "round", int, optional=True) or core.current_round().number
            scores = core.resolve(int(number), now)
            return {"round": number, "scores": len(scores)}
        if route == ("POST", "/admin/clock/advance"):
            seconds = _number(body, "seconds", float)
            crossed = core.advance(float(seconds or 0), now)
            return {
                "opened": [r.number for r in crossed],
                "offset_seconds": core.clock.offset.total_seconds(),
            }
        if route == ("POST", "/admin/dataset/release"):
            version = body.get("version")
            if not isinstance(version, str):
                raise AdminError("version: required, a string such as v5.3")
            return {"version": version, "files": core.release_dataset(version, now)}
        if route == ("POST", "/admin/dataset/validation-update"):
            version = body.get("version")
            eras = _number(body, "eras", int, optional=True) or 1
            return {"files": core.update_validation(version if isinstance(version, str) else None, int(eras))}
        if route == ("POST", "/admin/faults"):
            rules_json = body.get("rules", [body])
            if not isinstance(rules_json, list):
                raise AdminError("rules: must be a list of fault rules")
            rules = [FaultRule.from_json(item) for item in rules_json]
            core.faults.add(rules)
            return {"faults": core.faults.rules()}
        if route == ("GET", "/admin/faults"):
            return {"faults": core.faults.rules()}
        if route == ("DELETE", "/admin/faults"):
            core.faults.clear()
            return {"faults": []}
        if route == ("GET", "/admin/uploads"):
            return {"uploads": core.uploads_json()}
        if route == ("GET", "/admin/requests"):
            limit = int(query.get("limit", ["1000"])[0])
            return {"requests": list(core.requests)[-limit:]}
        if route == ("GET", "/admin/status"):
            return core.status_json(now)
        raise LookupError(f"no admin route {method} {path}")


def _number(body: dict[str, Any], key: str, kind: type, *, optional: bool = False) -> float | int | None:
    value = body.get(key)
    if value is None:
        if optional:
            return None
        raise AdminError(f"{key}: required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminError(f"{key}: must be a number")
    result: float | int = kind(value)
    return result


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
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
