"""The sandbox's HTTP front: GraphQL at ``POST /``, dataset files, upload PUTs and the admin API.

Only translation and streaming live here; every decision is :class:`SandboxCore`'s. This module
routes the verbs and answers GraphQL and uploads; downloads are :mod:`numeraud.sandbox.file_downloads`,
the admin API :mod:`numeraud.sandbox.admin_routes`, injected faults
:mod:`numeraud.sandbox.fault_injection`, and what every request shares
:mod:`numeraud.sandbox.http_plumbing`.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from numeraud.common.files import atomic_path
from numeraud.common.logs import get_logger
from numeraud.sandbox.admin_routes import AdminRoutes
from numeraud.sandbox.compute_routes import ComputeRoutes
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.file_downloads import FileDownloads
from numeraud.sandbox.graphql_api.executor import GraphQLApi
from numeraud.sandbox.graphql_api.query import BadRequest, parse_request, root_fields
from numeraud.sandbox.graphql_api.signals import request_tournament
from numeraud.sandbox.submissions import MAX_UPLOAD_BYTES

MAX_GRAPHQL_BODY = 1024 * 1024
#: How much of an upload body is read at once.
CHUNK = 1024 * 1024


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


class SandboxRequestHandler(AdminRoutes, ComputeRoutes, FileDownloads):
    """Routes one HTTP request (see the module docstring)."""

    def do_POST(self) -> None:
        """GraphQL at ``/``; admin commands under ``/admin``; a Compute run's predictions."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith("/admin/"):
            self._admin("POST", path, started)
            return
        if path == "/compute/predictions":
            self._compute_predictions(started)
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
        if self._apply_fault("graphql", fields, request_tournament(self.server.core, fields, variables)) is None:
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
        """Dataset files under ``/files``; admin views under ``/admin``; the pickle file of a Compute run."""
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith("/admin/"):
            self._admin("GET", path, started)
        elif path.startswith("/compute/models/"):
            self._compute_model(path, started)
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
        if self._apply_fault("upload", tournament=self.server.core.upload_tournament(token)) is not None:
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
