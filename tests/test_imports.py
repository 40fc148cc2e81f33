"""What importing numeraud's public entry points loads, checked in a fresh interpreter each time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlite3", "structlog", "asyncio", "zmq", "pandas", "numpy", "numerapi", "sklearn")


def _loaded_after(statement: str) -> set[str]:
    probe = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_numeraud_loads_nothing_of_the_handler_the_supervisor_or_their_libraries() -> None:
    loaded = _loaded_after("import numeraud; assert numeraud.__version__")
    assert not {m for m in loaded if m.startswith(("numeraud.handler", "numeraud.supervisor"))}
    assert not loaded & set(HEAVY)


def test_from_numeraud_import_eventhandler_loads_neither_sqlite_nor_the_supervisor() -> None:
    loaded = _loaded_after("from numeraud import EventHandler, HandlerEvent; assert EventHandler and HandlerEvent")
    assert "numeraud.handler.sdk" in loaded
    assert "sqlite3" not in loaded
    assert not {m for m in loaded if m.startswith(("numeraud.supervisor", "numeraud.cli", "numeraud.control"))}


def test_an_unknown_attribute_of_numeraud_is_an_attribute_error() -> None:
    import numeraud  # noqa: PLC0415

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = numeraud.Nope


def test_numeraudctl_loads_no_data_science_no_numerapi_no_structlog_no_asyncio() -> None:
    loaded = _loaded_after("import numeraud.cli.ctl, numeraud.cli.ctl.view, numeraud.cli.ctl.commands")
    assert not loaded & {"structlog", "asyncio", "pandas", "numpy", "numerapi", "sklearn", "pyarrow", "rich"}
    assert not {m for m in loaded if m.startswith(("numeraud.handler", "numeraud.supervisor", "numeraud_handlers"))}
    assert "numeraud.common.logs" not in loaded
