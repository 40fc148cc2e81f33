"""Event kinds reserved for the supervisor: it appends them, and a handler may not emit them."""

from __future__ import annotations

from typing import Final

#: Kinds the supervisor (its tournament follower and its watch of blocked handlers) appends.
TOURNAMENT_KINDS: Final = frozenset(
    {
        "round_begin",
        "new_training_data",
        "new_tournament_data",
        "cleanup",
        "round_deadline_near",
        "round_closed",
        "round_missed",
        "handler_blocked",
    }
)
