"""numeraud: takes part in the Numerai tournament on its own, every round.

The public API for handler authors is re-exported here as it lands (``EventHandler``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
