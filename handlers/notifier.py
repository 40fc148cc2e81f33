"""The bundled notifier: failures, missed deadlines, blocked handlers and a per-round summary.

Sends through Apprise, so any of its services works (Slack, Discord, Telegram, e-mail, ntfy, a JSON
webhook and many more)::

    [handlers.notifier]
    class = "numeraud_handlers.notifier:NotifierHandler"
    options = { min_interval = 600 }

Apprise URLs carry tokens, so they are secrets: they come from the environment variable
``NUMERAUD_NOTIFY_URLS`` (space-separated), the systemd credential ``notify_urls`` (one per line)
or the option ``urls_file``, never from the TOML itself, and are never logged.

The last notifications (time, title, body, whether it went out) are kept in ``persistent_state``
under ``sent``, for ``numeraudctl status``.

Rate limiting: an alert with the same kind and subject as one sent less than ``min_interval``
seconds ago is held back and counted; the next one that goes out says how many were suppressed.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise

from numeraud import EventHandler, HandlerEvent

#: How many sent notifications ``persistent_state["sent"]`` keeps.
KEEP_SENT = 10
ALERTS = {
    "submission_failed": "Upload failed",
    "submission_missed": "Submission missed",
    "round_missed": "Round missed",
    "handler_blocked": "Handler blocked",
    "model_failed": "Model failed",
    "submission_fallback": "Fallback submitted",
    "submission_at_risk": "Submission at risk",
}


#: Events that count in a round's summary (a fallback that stays is shown as one).
SUMMARISED = frozenset({"submission_uploaded", "submission_failed", "submission_missed", "submission_fallback"})


def notify_urls(options: dict[str, Any] | Any, env: dict[str, str] | Any = None) -> list[str]:
    """The Apprise URLs, from the environment, systemd credentials or ``urls_file``."""
    env = os.environ if env is None else env
    urls: list[str] = []
    if env.get("NUMERAUD_NOTIFY_URLS"):
        urls += env["NUMERAUD_NOTIFY_URLS"].split()
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / "notify_urls").exists():
        urls += (Path(credentials) / "notify_urls").read_text(encoding="utf-8").split()
    if options.get("urls_file"):
        urls += Path(str(options["urls_file"])).read_text(encoding="utf-8").split()
    return urls


class NotifierHandler(EventHandler):
    """Tells the user what went wrong, and how each round went (see the module docstring)."""

    def on_start(self) -> None:
        """Load the Apprise URLs (refusing to start without any)."""
        urls = notify_urls(self.options)
        if not urls:
            raise ValueError(
                "no notification URLs: set NUMERAUD_NOTIFY_URLS, the systemd credential notify_urls, "
                "or the option urls_file"
            )
        self.apprise = apprise.Apprise()
        for url in urls:
            if not self.apprise.add(url):
                raise ValueError(f"notification URL number {urls.index(url) + 1} is not one Apprise understands")
        self.min_interval = float(self.options.get("min_interval", 600))
        self.summaries = bool(self.options.get("summary", True))
        self._last_sent: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.clock = time.monotonic
        self.log.info("notifier_ready", services=len(urls))

    def send(self, title: str, body: str, key: str | None = None) -> bool:
        """Send one notification (rate-limited by ``key``); returns whether it went out."""
        now = self.clock()
        if key is not None:
            last = self._last_sent.get(key)
            if last is not None and now - last < self.min_interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                self.log.info("notification_suppressed", key=key, suppressed=self._suppressed[key])
                return False
            held = self._suppressed.pop(key, 0)
            if held:
                body += f"\n({held} similar alert(s) suppressed since the last one)"
            self._last_sent[key] = now
        sent = bool(self.apprise.notify(title=title, body=body))
        self.log.info("notification_sent" if sent else "notification_failed", title=title)
        self.remember(title, body, sent)
        return sent

    def remember(self, title: str, body: str, sent: bool) -> None:
        """Keep the last :data:`KEEP_SENT` notifications in ``persistent_state["sent"]`` (``numeraudctl status``)."""
        at = datetime.now(UTC).isoformat(timespec="seconds")
        history = [*self.persistent_state.get("sent", []), {"at": at, "title": title, "body": body, "ok": sent}]
        self.persistent_state["sent"] = history[-KEEP_SENT:]

    def on_event(self, event: HandlerEvent) -> None:
        """Alerts for failures; per-round bookkeeping for the summary."""
        title = ALERTS.get(event.kind)
        round_number = event.round
        if event.kind in SUMMARISED and round_number is not None:
            rounds = self.persistent_state.setdefault("rounds", {})
            outcome = rounds.setdefault(str(round_number), {})
            model = str(event.get("model"))
            if event.kind == "submission_fallback":
                outcome[model] = f"fallback: {event.get('fallback')}"
            elif not (event.get("standing") and outcome.get(model, "").startswith("fallback")):
                outcome[model] = event.kind.removeprefix("submission_")
        if title is None:
            return
        subject = event.get("model") or event.get("handler") or ""
        details = event.get("reason") or event.get("error") or ""
        body = f"Round {round_number}: {subject} {details}".strip()
        self.send(f"numeraud: {title}", body, key=f"{event.kind}:{subject}")

    def on_round_closed(self, event: HandlerEvent) -> None:
        """The round's deadline passed: send its summary."""
        rounds: dict[str, dict[str, str]] = self.persistent_state.setdefault("rounds", {})
        outcome = rounds.pop(str(event.round), {})
        if not self.summaries:
            return
        uploaded = sorted(m for m, result in outcome.items() if result == "uploaded")
        problems = sorted(f"{m} ({result})" for m, result in outcome.items() if result != "uploaded")
        lines = [f"{len(uploaded)} submission(s) uploaded: {', '.join(uploaded) or 'none'}"]
        if problems:
            lines.append(f"problems: {', '.join(problems)}")
        self.send(f"numeraud: round {event.round} summary", "\n".join(lines))
