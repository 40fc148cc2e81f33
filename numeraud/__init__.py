"""numeraud: takes part in the Numerai tournament on its own, every round.

The public API for handler authors is here: ``from numeraud import EventHandler``. It is loaded on
first use, so ``import numeraud`` (which every numeraud command does) costs nothing: ``numeraudctl``
starts without structlog, and nothing of the supervisor is imported by a handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from numeraud.handler.sdk import EventHandler, HandlerEvent

__all__ = ["EventHandler", "HandlerEvent", "__version__"]


def __getattr__(name: str) -> Any:
    """Load ``EventHandler`` and ``HandlerEvent`` from :mod:`numeraud.handler.sdk` when first asked for."""
    if name in ("EventHandler", "HandlerEvent"):
        from numeraud.handler import sdk  # noqa: PLC0415 - lazy on purpose (see the module docstring)

        return getattr(sdk, name)
    raise AttributeError(f"module 'numeraud' has no attribute {name!r}")
