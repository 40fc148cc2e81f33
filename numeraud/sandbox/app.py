"""A running sandbox: the HTTP server, the schedule ticker and webhook calls, with a Python API.

Tests and the demo use :class:`Sandbox` directly; ``numeraud sandbox`` runs the same object. Each
admin method here is what the matching ``/admin`` route does.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from numeraud.common.logs import get_logger
from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.core import SandboxCore
from numeraud.sandbox.faults import FaultRule
from numeraud.sandbox.options import SandboxOptions
from numeraud.sandbox.schedule_shifts import parse_shift
from numeraud.sandbox.server import SandboxHTTPServer

#: How often the schedule is evaluated (seconds). Rounds open within this of their time.
TICK = 0.2
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Sandbox:
    """A local Numerai on 127.0.0.1 that the real numerapi client works against."""

    def __init__(self, options: SandboxOptions, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.log = get_logger("sandbox")
        self.core = SandboxCore(options)
        self.core.on_round_open.append(self._call_webhooks)
        self.httpd = SandboxHTTPServer((host, port), self.core)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The base URL to give numerapi (``numerapi.base_api.API_TOURNAMENT_URL``)."""
        return self.httpd.base_url

    def start(self) -> Sandbox:
        """Serve in background threads; returns self."""
        server = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )
        ticker = threading.Thread(target=self._tick, name="sandbox-clock", daemon=True)
        self._threads = [server, ticker]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hung requests are released) and wait for the threads."""
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self.httpd.stopping.wait(TICK):
            try:
                self.core.sync(datetime.now(UTC))
            except Exception:  # the clock must keep ticking whatever one tick hit
                self.log.exception("sandbox_tick_failed")

    def _call_webhooks(self, number: int, hooks: list[tuple[str, str]]) -> None:
        for model_id, url in hooks:
            if urlsplit(url).hostname not in LOOPBACK_HOSTS:
                # The sandbox never sends traffic off this machine.
                self.log.warning("webhook_skipped_not_loopback", url=url, model_id=model_id)
                continue
            body = json.dumps({"roundNumber": number, "tournament": 8, "modelId": model_id}).encode()
            threading.Thread(target=_post, args=(url, body), daemon=True).start()

    # -- the admin API, in Python --------------------------------------------------------------

    def open_round(self, window: float | None = None) -> int:
        """Open the next round now; returns its number."""
        return self.core.open_round(datetime.now(UTC), window).number

    def close_round(self) -> int:
        """Close the current round now; returns its number."""
        return self.core.close_round(datetime.now(UTC)).number

    def resolve(self, number: int, tournament: int = CLASSIC) -> int:
        """Resolve (score) a closed round of ``tournament`` (8, 11 or 12); returns how many scores were recorded."""
        if tournament != CLASSIC:
            return len(self.core.side(tournament).resolve(number, datetime.now(UTC)))
        return len(self.core.resolve(number, datetime.now(UTC)))

    def advance(self, seconds: float) -> list[int]:
        """Fast-forward the schedule; returns the rounds that opened."""
        return [r.number for r in self.core.advance(seconds, datetime.now(UTC))]

    def shift_schedule(self, **fields: float | int) -> dict[str, Any]:
        """Move the next open and/or a round's close, as ``POST /admin/schedule`` does (same fields:
        ``shift`` or ``next_open_in``, ``window`` or ``close_in``, ``round``); returns its answer."""
        return self.core.shift_schedule(parse_shift(dict(fields)), datetime.now(UTC))

    def publish_live(self, in_seconds: float = 0.0, round_number: int | None = None) -> int:
        """Publish a round's (default: the latest) live files ``in_seconds`` from now; returns its number."""
        return self.core.publish_live(datetime.now(UTC), in_seconds, round_number).number

    def set_live_delay(self, seconds: float) -> None:
        """Rounds opened from now on have their live files published ``seconds`` after their open."""
        self.core.set_live_delay(seconds)

    def release_dataset(self, version: str) -> list[str]:
        """Publish a new dataset version; returns its files."""
        return self.core.release_dataset(version, datetime.now(UTC))

    def validation_update(self, version: str | None = None, eras: int = 1) -> list[str]:
        """Add validation eras to a version (Numerai's weekly update)."""
        return self.core.update_validation(version, eras)

    def add_faults(self, *rules: dict[str, Any]) -> None:
        """Add fault rules (see :mod:`numeraud.sandbox.faults`)."""
        self.core.faults.add([FaultRule.from_json(rule) for rule in rules])

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.core.faults.clear()

    def compute_run(self, model: str) -> dict[str, Any]:
        """Start a Compute run of ``model``'s latest Model Upload, as ``POST /admin/compute/run``
        does; returns numerai-predict's arguments (see :mod:`numeraud.sandbox.compute_runs`)."""
        return self.core.compute_runs.start(model, self.url)

    def uploads(self, tournament: int = CLASSIC) -> list[dict[str, Any]]:
        """Every ``create_submission`` seen, accepted or rejected and why, with its ``submitted_at``
        and ``late`` (made after the round's close: Numerai scores it but it counts for no stake);
        ``tournament`` 11 or 12: Signals' or Crypto's uploads (with ``invalid_ids``, the count of
        ids outside the universe an accepted file had)."""
        if tournament != CLASSIC:
            return self.core.side(tournament).uploads_json()
        return self.core.uploads_json()

    def requests(self) -> list[dict[str, Any]]:
        """The request log (newest last)."""
        return list(self.core.requests)

    def model_ids(self, tournament: int = CLASSIC) -> dict[str, str]:
        """Model name → model id, of Classic's models or of ``tournament``'s (11, 12)."""
        models = self.core.models if tournament == CLASSIC else self.core.side(tournament).models
        return {m.name: m.id for m in models}


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback only, checked above
            pass
    except OSError:
        get_logger("sandbox").warning("webhook_failed", url=url)
