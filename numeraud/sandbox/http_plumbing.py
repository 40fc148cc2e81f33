"""The plumbing every sandbox request shares: status and Date headers, JSON answers, bodies, the request log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from numeraud.sandbox.server import SandboxHTTPServer


class RequestPlumbing(BaseHTTPRequestHandler):
    """HTTP/1.1 with TCP_NODELAY, no stderr log, and helpers to answer JSON and log each request."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every small answer.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    server_version = "numeraud-sandbox"
    sys_version = ""

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
