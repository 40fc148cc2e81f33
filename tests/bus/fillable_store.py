"""``python -m tests.bus.fillable_store --config FILE``: a real ``numeraud run`` whose SQLite file
fills up, or stalls, on demand.

While the file ``<state_dir>/disk-full`` exists, every write transaction first sets SQLite's
``PRAGMA max_page_count`` to the pages the database has now, so a write that needs a page fails
with a real SQLITE_FULL (what a full disk gives); once the file is gone the limit is lifted.
While ``<state_dir>/stall-writes`` exists, every write transaction waits for it to go before it
begins, as a commit waits for a busy disk's fsync: the loop's thread is held there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from numeraud.common import logs
from numeraud.common.config_file import load
from numeraud.supervisor.daemon import Daemon
from numeraud.supervisor.loop import Supervisor
from numeraud.supervisor.store import Store


class FillableStore(Store):
    """A :class:`Store` whose database is full, or whose writes wait, while a marker file exists."""

    @contextmanager
    def _write(self) -> Iterator[Any]:
        while (self.path.parent / "stall-writes").exists():
            time.sleep(0.01)
        if (self.path.parent / "disk-full").exists():
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages}")
        else:
            self._db.execute("PRAGMA max_page_count = 1073741823")
        with super()._write() as db:
            yield db


def main() -> int:
    """Run the supervisor (and its daemon parts) on a :class:`FillableStore`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    logs.configure(level="info")
    config = load(args.config)
    supervisor = Supervisor(config, log=logs.get_logger("supervisor"), store_factory=FillableStore)
    parts: list[Daemon] = []
    supervisor.before_ready.append(lambda: parts.append(Daemon(config, supervisor)))
    supervisor.start()
    try:
        return supervisor.run()
    finally:
        for part in parts:
            part.stop()


if __name__ == "__main__":
    sys.exit(main())
