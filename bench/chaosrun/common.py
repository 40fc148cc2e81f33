"""What the chaos scenarios share: the counts that must be zero, the secrets a run plants and
looks for (:func:`find_secrets`), progress lines, and the supervisor's watchdog socket.

The installation itself is :mod:`bench.chaosrun.rig`; what a run left is counted by
:mod:`bench.chaosrun.audit`.
"""

from __future__ import annotations

import itertools
import secrets as tokens
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = "bench.chaosrun.checker:Checker"
#: The failpoints the handler processes have (numeraud/common/failpoints.py).
HANDLER_FAILPOINTS = (
    "mid_training",
    "mid_predict",
    "after_predictions_file",
    "mid_upload",
    "after_upload",
    "after_upload_confirmed",
)
#: Every count of the issue that must be zero.
ZERO_KEYS = (
    "events_lost",
    "events_duplicated",
    "out_of_order",
    "uploads_duplicated",
    "uploads_missed_in_window",
    "integrity_failures",
    "partial_files_seen",
    "rounds_not_processed",
    "fuzz_crashes",
    "secret_leaks",
    "security_failures",
)

Figures = dict[str, int | float]


def find_secrets(paths: Iterable[Path], secrets: Iterable[str]) -> int:
    """How many (file, secret) pairs there are where a file under ``paths`` (directories walked;
    a database, its WAL and a log alike read as bytes) holds the secret. Each is named on stderr."""
    wanted = [s for s in secrets if s]
    found = 0
    for top in paths:
        if top.is_dir():
            files = sorted(p for p in top.rglob("*") if p.is_file() and not p.is_symlink())
        else:
            files = [top] if top.is_file() else []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for secret in wanted:
                if secret.encode() in data:
                    found += 1
                    print(f"secret leak: {path} holds {secret[:6]}...", file=sys.stderr, flush=True)
    return found


def say(text: str) -> None:
    """Progress, on stderr (the table and the JSON go to stdout)."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Secrets:
    """What must never be written anywhere: the API secret and the notification URL."""

    public_id: str = field(default_factory=lambda: f"chaos-public-{tokens.token_hex(6)}")
    secret_key: str = field(default_factory=lambda: f"chaos-secret-{tokens.token_hex(16)}")
    notify_token: str = field(default_factory=lambda: f"chaos-notify-{tokens.token_hex(12)}")

    def notify_url(self, port: int) -> str:
        """The Apprise URL (json:// to a local receiver); its path is the token."""
        return f"json://127.0.0.1:{port}/{self.notify_token}"

    def values(self) -> list[str]:
        """The strings searched for."""
        return [self.secret_key, self.notify_token]


class Watchdog:
    """A NOTIFY_SOCKET for the supervisor: the times of its WATCHDOG=1 pings, and its STATUS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.pings: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            if b"WATCHDOG=1" in data:
                self.pings.append(time.monotonic())

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a ping within [start, end]."""
        times = [start, *(t for t in self.pings if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(times))

    def close(self) -> None:
        """Stop listening."""
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()
        self.path.unlink(missing_ok=True)
