"""Shared fixtures: a running sandbox, and the REAL numerapi client pointed at it as a user would."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numerapi
import pytest

from numeraud.sandbox import Sandbox, SandboxOptions

#: The one dataset version the shared fixtures publish, so that a test can release v5.3 (as the
#: demo does) and "latest" means v5.2 until then. A default sandbox has every version Numerai lists.
FIXTURE_VERSIONS = ("v5.2",)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A tiny sandbox with v5.2 only on a free loopback port, round 1 open."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny", versions=FIXTURE_VERSIONS)) as running:
        yield running


@pytest.fixture
def napi(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> numerapi.NumerAPI:
    """numerapi with the sandbox account's keys, talking to the sandbox."""
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    options = sandbox.core.options
    return numerapi.NumerAPI(options.public_id, options.secret_key, show_progress_bars=False)


@pytest.fixture
def public_napi(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> numerapi.NumerAPI:
    """numerapi without keys (public calls only)."""
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    return numerapi.NumerAPI(show_progress_bars=False)


@pytest.fixture
def small_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox with the demo's ``small`` data (files of a few MB), v5.2 only."""
    options = SandboxOptions(data_dir=tmp_path / "small-sandbox", size="small", versions=FIXTURE_VERSIONS)
    with Sandbox(options) as running:
        yield running


class JsonReceiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it (webhooks, Apprise's json://)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def json_receiver() -> Iterator[JsonReceiver]:
    """A :class:`JsonReceiver` on a free loopback port."""
    receiver = JsonReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket to give a process as ``NOTIFY_SOCKET`` (socket, path)."""
    path = f"/tmp/nn-{uuid.uuid4().hex[:12]}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
