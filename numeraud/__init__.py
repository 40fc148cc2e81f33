"""numeraud: takes part in the Numerai tournament on its own, every round.

The public API for handler authors is re-exported here: ``from numeraud import EventHandler``.
"""

__version__ = "0.1.0"

from numeraud.sdk import EventHandler, HandlerEvent  # after __version__: submodules read it

__all__ = ["EventHandler", "HandlerEvent", "__version__"]
