"""What numeraudctl reads from the handlers' own files and from /proc, never writing anything.

The bundled handlers are found through the configuration (their class and state directory), as
``numeraudctl scores`` finds the scores handler's files: the uploader's ledger (opened read-only,
``file:...?mode=ro``), the model handlers' predictions files, the notifier's and every handler's
``state.json``. Each reader returns nothing rather than fail when a file is missing or unreadable:
the status screen shows what there is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from numeraud.common.config import Config, HandlerConfig

if TYPE_CHECKING:
    from numeraud_handlers.ledger import Entry

UPLOADER_CLASS: Final = "numeraud_handlers.uploader:UploaderHandler"
MODEL_CLASS: Final = "numeraud_handlers.model:ModelHandler"
NOTIFIER_CLASS: Final = "numeraud_handlers.notifier:NotifierHandler"
SCORES_CLASS: Final = "numeraud_handlers.scores:ScoresHandler"
LEDGER_FILE: Final = "ledger.sqlite"
SCORES_FILE: Final = "scores.json"
STATE_FILE: Final = "state.json"
_UNIT: Final = re.compile(r"/(numeraud(?:-handler@[^/]+)?\.service)$")


def exists(path: Path) -> bool:
    """Whether ``path`` exists (``False`` when it cannot be looked at: no permission)."""
    try:
        return path.exists()
    except OSError:
        return False


def of_class(config: Config, class_path: str) -> list[HandlerConfig]:
    """The handler tables that use ``class_path``."""
    return [h for h in config.handlers.values() if h.class_path == class_path]


@dataclass(frozen=True)
class Upload:
    """One row of an uploader's ledger (:class:`numeraud_handlers.ledger.Entry`) and that uploader's name."""

    entry: Entry
    uploader: str


def ledger_rows(config: Config, round_number: int | None = None) -> list[Upload]:
    """Every uploader's ledger rows (of one round), read-only; none when there is no ledger yet."""
    import sqlite3  # noqa: PLC0415 - only when there is an uploader

    from numeraud_handlers.ledger import read_entries  # noqa: PLC0415 - only when there is an uploader

    rows: list[Upload] = []
    for handler in of_class(config, UPLOADER_CLASS):
        path = handler.state_dir / LEDGER_FILE
        if not exists(path):
            continue
        try:
            rows += [Upload(entry, handler.name) for entry in read_entries(path, round_number)]
        except (sqlite3.Error, OSError):
            continue
    return rows


def model_map(config: Config) -> list[tuple[str, str, str]]:
    """(uploader, predictions name, Numerai model) for every model the uploaders map."""
    mapped = []
    for handler in of_class(config, UPLOADER_CLASS):
        raw = handler.options.get("models", {})
        if not hasattr(raw, "items"):
            continue
        for source, target in raw.items():
            for name in [target] if isinstance(target, str) else list(target or []):
                mapped.append((handler.name, str(source), str(name).lower()))
    return mapped


def producers(config: Config) -> dict[str, HandlerConfig]:
    """Predictions name → the handler that writes them: one with ``options.model`` (the bundled
    model handler's option, and its subclasses'), or a bundled model handler by its name."""
    found = {str(h.options["model"]): h for h in config.handlers.values() if isinstance(h.options.get("model"), str)}
    return {**{h.name: h for h in of_class(config, MODEL_CLASS)}, **found}


def predictions_file(handler: HandlerConfig, name: str, round_number: int) -> Path:
    """Where the bundled model handler writes its predictions for a round."""
    return handler.state_dir / "predictions" / f"{name}_round_{round_number}.csv"


def persistent_state(handler: HandlerConfig) -> dict[str, Any]:
    """A handler's ``persistent_state`` ({} when it has none or the file cannot be read)."""
    try:
        data = json.loads((handler.state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    state = data.get("persistent_state") if isinstance(data, dict) else None
    return state if isinstance(state, dict) else {}


def notifications(config: Config, limit: int = 5) -> list[dict[str, Any]]:
    """The last notifications the notifiers recorded as sent (newest last)."""
    sent: list[dict[str, Any]] = []
    for handler in of_class(config, NOTIFIER_CLASS):
        sent += [
            dict(n, notifier=handler.name) for n in persistent_state(handler).get("sent", []) if isinstance(n, dict)
        ]
    sent.sort(key=lambda n: str(n.get("at", "")))
    return sent[-limit:]


def scores(config: Config) -> list[dict[str, Any]]:
    """Every scores handler's rows (``model``, ``round``, ``name``, ``value``, ``resolved``)."""
    rows: list[dict[str, Any]] = []
    for handler in of_class(config, SCORES_CLASS):
        try:
            data = json.loads((handler.state_dir / SCORES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows += [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    return rows


def rss_kib(pid: int | None) -> int | None:
    """A local process's resident memory in KiB, from /proc (``None``: not here, or not readable)."""
    for line in _proc_lines(pid, "status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def unit_of(pid: int | None) -> tuple[str, bool] | None:
    """(systemd unit, user manager?) that runs a local process, from its cgroup; ``None``: no unit."""
    for line in _proc_lines(pid, "cgroup"):
        path = line.rsplit(":", 1)[-1]
        found = _UNIT.search(path)
        if found:
            return found.group(1), "/user@" in path
    return None


def _proc_lines(pid: int | None, name: str) -> Iterator[str]:
    if not pid:
        return
    try:
        text = Path(f"/proc/{pid}/{name}").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    yield from text.splitlines()
