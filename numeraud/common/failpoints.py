"""Failpoints: crash or stall the process (or end one thread) at exact points, for the tests.

Set ``NUMERAUD_FAILPOINT=NAME`` (or ``NAME@N`` to fire on the N-th hit) in the environment of
the supervisor. Names:

``after_append_commit``  SIGKILL right after an appended event is committed, before any send
``after_ack_receive``    SIGKILL after an ACK is received, before it is committed
``after_ack_commit``     SIGKILL after an ACK is committed, before the next event is sent
``stall_after_append``   the main loop stops for good after an append is committed; the process
                         stays alive, only its loop is stuck (as a deadlock would leave it)
``exit_follower_thread`` the tournament follower's thread ends at its next poll (SystemExit, as a
                         library calling ``sys.exit()`` would end it); the rest of the process runs on

Without the variable every check is a no-op attribute compare.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping


class Failpoints:
    """The configured failpoint of this process (at most one)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        spec = (os.environ if env is None else env).get("NUMERAUD_FAILPOINT", "")
        name, _, count = spec.partition("@")
        self.name = name or None
        self.remaining = int(count) if count.isdigit() and int(count) > 0 else 1

    def hit(self, name: str) -> None:
        """Fire if ``name`` is the configured failpoint and its count is reached."""
        if self.name != name:
            return
        self.remaining -= 1
        if self.remaining > 0:
            return
        if name.startswith("stall"):
            threading.Event().wait()  # a stuck loop, as a deadlock or a blocking call would leave it
        if name.startswith("exit_"):
            raise SystemExit(f"failpoint {name}")  # ends the calling thread only
        os.kill(os.getpid(), signal.SIGKILL)
