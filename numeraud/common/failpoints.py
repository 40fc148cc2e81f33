"""Failpoints: crash or stall the process (or end one thread) at exact points, for the tests.

Set ``NUMERAUD_FAILPOINT=NAME`` (or ``NAME@N`` to fire on the N-th hit) in the environment of
the supervisor (or of a handler process). Or set ``NUMERAUD_FAILPOINT_DIR=DIR`` and arm a name
while the processes run by creating the file ``DIR/NAME``: the first process to hit it removes
the file (only one can) and fires, once; the handlers ``numeraud run --spawn-handlers`` starts
inherit the supervisor's environment, so one directory arms both sides (bench/chaos.py does).

Supervisor names:

``after_append_commit``  SIGKILL right after an appended event is committed, before any send
``after_ack_receive``    SIGKILL after an ACK is received, before it is committed
``after_ack_commit``     SIGKILL after an ACK is committed, before the next event is sent
``stall_after_append``   the main loop stops for good after an append is committed; the process
                         stays alive, only its loop is stuck (as a deadlock would leave it)
``exit_follower_thread`` the tournament follower's thread ends at its next poll (SystemExit, as a
                         library calling ``sys.exit()`` would end it); the rest of the process runs on
``mid_poll``             SIGKILL in a poll of Numerai, after the round was observed, before any sync
``mid_download``         SIGKILL in a dataset download, after its first chunk reached the partial file
``mid_publish``          SIGKILL inside the publish transaction, after its events are inserted,
                         before the tournament state, the file records and the COMMIT

Handler names (the bundled handlers, in the handler process):

``mid_training``           the model handler, after fitting, before the model file is saved
``mid_predict``            the model handler, after loading the live data, before predicting
``after_predictions_file`` the model handler, after the predictions file is written, before the ACK
``mid_upload``             the uploader, after the upload's PUT, before ``create_submission``
``after_upload``           the uploader, after Numerai took the upload, before confirming it is listed
``after_upload_confirmed`` the uploader, after the ledger records the confirmed upload, before the ACK

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
        environ = os.environ if env is None else env
        spec = environ.get("NUMERAUD_FAILPOINT", "")
        name, _, count = spec.partition("@")
        self.name = name or None
        self.remaining = int(count) if count.isdigit() and int(count) > 0 else 1
        #: Where names are armed at run time (``NUMERAUD_FAILPOINT_DIR``), if anywhere.
        self.armed_dir = environ.get("NUMERAUD_FAILPOINT_DIR") or None

    def hit(self, name: str) -> None:
        """Fire if ``name`` is the configured failpoint and its count is reached, or is armed."""
        if self.armed_dir is not None and self._claim(name):
            self._fire(name)
            return
        if self.name != name:
            return
        self.remaining -= 1
        if self.remaining > 0:
            return
        self._fire(name)

    def _claim(self, name: str) -> bool:
        """Take the armed file ``DIR/NAME``: true for the one process whose unlink succeeds."""
        try:
            os.unlink(os.path.join(str(self.armed_dir), name))
        except OSError:
            return False
        return True

    def _fire(self, name: str) -> None:
        if name.startswith("stall"):
            threading.Event().wait()  # a stuck loop, as a deadlock or a blocking call would leave it
        if name.startswith("exit_"):
            raise SystemExit(f"failpoint {name}")  # ends the calling thread only
        os.kill(os.getpid(), signal.SIGKILL)
