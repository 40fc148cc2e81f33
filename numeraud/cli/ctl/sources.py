"""Where numeraudctl's facts come from: the running supervisor, or its database read-only.

:class:`Live` asks the control socket; :class:`Offline` opens the state database read-only (the
supervisor is down, or did not answer) and builds the same documents from it, marked
``"running": false`` with a ``note`` saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from numeraud.common.config import Config
from numeraud.control.client import ControlClient
from numeraud.control.commands.events import SCAN, check_filters, select

if TYPE_CHECKING:
    from numeraud.supervisor.store import Store


class Unreadable(Exception):
    """The database cannot be read (missing, no permission, an older or newer schema)."""


class Live:
    """The running supervisor, through its control socket."""

    running = True

    def __init__(self, client: ControlClient, version: str = "?") -> None:
        self.client = client
        #: The supervisor's numeraud version (from the ``version`` command).
        self.version = version

    def status(self) -> dict[str, Any]:
        """The supervisor's status document, with its numeraud ``version``."""
        doc: dict[str, Any] = self.client.call("status")
        doc["version"] = self.version
        return doc

    def events(self, limit: int = 20, **filters: Any) -> list[dict[str, Any]]:
        """The newest events that match ``filters`` (see :mod:`numeraud.control.commands.events`)."""
        args = {k: v for k, v in filters.items() if v is not None}
        events: list[dict[str, Any]] = self.client.call("events", limit=limit, **args)
        return select(events, check_filters(args), limit)  # an older supervisor may ignore filters


class Offline:
    """The state database, read-only (the supervisor is not there to ask)."""

    running = False

    def __init__(self, config: Config, why: str) -> None:
        self.config = config
        self.why = why

    @contextmanager
    def _store(self) -> Iterator[Store]:
        from numeraud.supervisor.store import Store, StoreError  # noqa: PLC0415 - only when numeraud is down

        path = self.config.paths.database
        try:
            if not path.exists():
                raise Unreadable(f"no database at {path} yet (numeraud has never run with this configuration)")
            store = Store(path, read_only=True)
        except StoreError as exc:
            raise Unreadable(f"cannot read {path}: {exc}") from None
        except OSError as exc:
            raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            yield store
        except StoreError as exc:
            raise Unreadable(f"cannot read {path}: {exc}") from None
        finally:
            store.close()

    def status(self) -> dict[str, Any]:
        """The status document as far as the database knows it."""
        from numeraud.supervisor.delivery_status import store_status  # noqa: PLC0415 - only when numeraud is down

        after = {name: h.after for name, h in self.config.handlers.items()}
        with self._store() as store:
            doc = {
                "running": False,
                "note": f"read-only from {self.config.paths.database}: {self.why}",
                **store_status(store, serial=self.config.bus.serial, after=after),
                "tournament": store.tournament_state(),
            }
        del doc["store"]  # a read-only look cannot tell whether the supervisor's writes succeed
        return doc

    def events(self, limit: int = 20, **filters: Any) -> list[dict[str, Any]]:
        """The newest events that match ``filters``."""
        args = {k: v for k, v in filters.items() if v is not None}
        checked = check_filters(args)
        with self._store() as store:
            scan = SCAN if any(v is not None for v in checked.values()) else limit
            return select((e.as_dict() for e in store.recent_events(scan)), checked, limit)


Source = Live | Offline
