"""Numerai's tournaments: their numbers, their names, and reading either from config or a request.

Classic is 8, Signals 11, Crypto 12. Config and the command line accept a name (``"signals"``) or a
number (``11``); everything inside numeraud carries the number.
"""

from __future__ import annotations

from typing import Final

#: Numerai's tournament numbers.
CLASSIC: Final = 8
SIGNALS: Final = 11
CRYPTO: Final = 12
#: Tournament number → the name Numerai (and numeraud's config) uses for it.
TOURNAMENT_NAMES: Final = {CLASSIC: "classic", SIGNALS: "signals", CRYPTO: "crypto"}


def tournament_number(value: object) -> int:
    """Numerai's number of a tournament given as 8/11/12 or ``classic``/``signals``/``crypto``."""
    if isinstance(value, int) and not isinstance(value, bool) and value in TOURNAMENT_NAMES:
        return value
    if isinstance(value, str):
        for number, name in TOURNAMENT_NAMES.items():
            if value.strip().lower() in (name, str(number)):
                return number
    raise ValueError(f"tournament: {value!r} is not one of 8 (classic), 11 (signals), 12 (crypto)")


def tournament_name(number: int) -> str:
    """The name of tournament ``number`` (``"classic"``…), or the number as text if Numerai adds one."""
    return TOURNAMENT_NAMES.get(number, str(number))
