"""``numeraud run`` assembled: the supervisor core plus the parts that follow the tournament.

* the tournament follower (:mod:`numeraud.supervisor.following`), unless ``[poll] enabled = false``;
* the optional webhook listener (``[poll] webhook``): any POST to it means "poll now" (port 0:
  any free port, reported in the log and in ``numeraudctl status``);
* with ``--spawn-handlers``, the handler processes (:mod:`numeraud.supervisor.spawner`);
* with ``--once``, a check that stops the daemon once what was due has been handled;

``handler_blocked`` (for the notifier's alerts) is no part of this: the dispatcher appends it in
the same transaction that parks a handler on an event.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from numeraud.common.config import Config
from numeraud.supervisor.following import FollowerService
from numeraud.supervisor.loop import Supervisor
from numeraud.supervisor.spawner import HandlerSpawner
from numeraud.supervisor.tournament import PollPolicy

#: A follower silent this much longer than its longest wait is considered stuck.
STALL_MARGIN = 600.0


class _Webhook(BaseHTTPRequestHandler):
    """Numerai Compute (or the sandbox) calls this when a round opens."""

    wake: threading.Event

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(length, 65536))
        self.wake.set()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the follower logs the poll it causes."""


class Daemon:
    """Everything ``numeraud run`` runs, around one :class:`Supervisor`."""

    def __init__(self, config: Config, supervisor: Supervisor, *, spawn: bool = False, once: bool = False) -> None:
        self.config = config
        self.supervisor = supervisor
        self.follower: FollowerService | None = None
        self.spawner: HandlerSpawner | None = None
        self.webhook: ThreadingHTTPServer | None = None
        self.once = once
        self.started = time.monotonic()
        store, dispatcher = supervisor.store, supervisor.dispatcher
        if store is None or dispatcher is None:
            raise RuntimeError("start the supervisor before the daemon's parts")
        poll = config.poll
        if poll.enabled:
            policy = PollPolicy(
                idle_interval=poll.idle_interval,
                fast_interval=poll.fast_interval,
                fast_before=timedelta(seconds=poll.fast_before),
                fast_after=timedelta(seconds=poll.fast_after),
                guard_margin=poll.guard_margin,
            )
            self.follower = FollowerService(
                store,
                api_url=config.numerai.api_url,
                data_dir=config.paths.data_dir,
                settings=config.data,
                policy=policy,
                stall_after=poll.idle_interval + STALL_MARGIN,
                publish=dispatcher.publish,
                wake=supervisor.wake,
                failpoints=supervisor.failpoints,
            )
            supervisor.add_inbox(self.follower.drain)
            supervisor.health_checks.append(self.follower.healthy)
            supervisor.status_sections["follower"] = self.follower.status
            supervisor.hooks["poll-now"] = self._poll_now
        if spawn and config.path is not None:
            self.spawner = HandlerSpawner(config.path, sorted(config.handlers))
            supervisor.add_timer("spawner", 0.2, self.spawner.tick)
            supervisor.status_sections["spawned"] = self.spawner.status
        if once:
            supervisor.add_timer("once", 0.2, self._check_done, first=0.5)

    def _poll_now(self, _args: Any) -> dict[str, Any]:
        if self.follower is None:
            return {"polling": False}
        self.follower.poll_now()
        return {"polling": True}

    def start(self) -> None:
        """Bind the webhook listener (which may fail: the port is taken), then start the threads."""
        if self.follower is None:
            return
        if self.config.poll.webhook:
            host, _, port = self.config.poll.webhook.rpartition(":")
            handler = type("Webhook", (_Webhook,), {"wake": self.follower.follower.wake})
            try:
                self.webhook = ThreadingHTTPServer((host, int(port)), handler)
            except OSError as exc:
                raise OSError(f"poll.webhook {self.config.poll.webhook}: {exc.strerror}") from None
            address = self.webhook_address()
            self.supervisor.status_sections["webhook"] = lambda: {"address": self.webhook_address()}
            self.supervisor.log.info("webhook listening", address=address)
            threading.Thread(target=self.webhook.serve_forever, name="webhook", daemon=True).start()
        self.follower.start()

    def webhook_address(self) -> str | None:
        """``HOST:PORT`` the webhook listener is bound to (the port chosen when configured as 0)."""
        if self.webhook is None:
            return None
        host, port = self.webhook.server_address[:2]
        return f"{host!s}:{port}"

    def stop(self) -> None:
        """Stop everything started here (handlers get SIGTERM)."""
        if self.webhook is not None:
            self.webhook.shutdown()
            self.webhook.server_close()
            self.webhook = None
        if self.follower is not None and self.follower.thread.is_alive():
            self.follower.stop()
        if self.spawner is not None:
            self.spawner.stop()

    def _check_done(self, _now: float) -> None:
        """``--once``: stop when the follower has polled, published, and every handler caught up."""
        follower = self.follower
        if follower is not None and (follower.follower.last_poll is None or follower.pending or follower.busy):
            return
        status = self.supervisor.control_status()
        head = status["head_seq"]
        for handler in status["handlers"].values():
            if handler["state"] == "blocked":
                continue
            if handler["acked_seq"] < head or handler["in_flight"] is not None:
                return
        self.supervisor.stop("once: everything due was handled")
