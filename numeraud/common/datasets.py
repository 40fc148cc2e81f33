"""Numerai dataset versions (``v5.2``): the one parser every part of numeraud uses.

A version is ``v`` and dot-separated decimal numbers (``v4``, ``v4.3``, ``v5.10``). Comparing
them as strings is wrong (``v5.10`` comes after ``v5.9``), so they sort by :func:`version_key`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["VERSION_PATTERN", "is_version", "parse_version", "version_key"]

#: ``v`` and one or more dot-separated ASCII decimal numbers.
VERSION_PATTERN: Final = re.compile(r"v([0-9]+(?:\.[0-9]+)*)")


def parse_version(text: object, *, parts: int | None = None) -> tuple[int, ...] | None:
    """``"v5.10"`` → ``(5, 10)``; ``None`` for anything that is not a dataset version (or no string).

    With ``parts``, only a version of exactly that many numbers counts (``parts=2``: ``vN.M``).
    """
    if not isinstance(text, str):
        return None
    match = VERSION_PATTERN.fullmatch(text)
    if match is None:
        return None
    numbers = tuple(int(number) for number in match.group(1).split("."))
    if parts is not None and len(numbers) != parts:
        return None
    return numbers


def is_version(text: object, *, parts: int | None = None) -> bool:
    """Whether ``text`` is a dataset version (see :func:`parse_version`)."""
    return parse_version(text, parts=parts) is not None


def version_key(text: str) -> tuple[int, ...]:
    """A sort key: ``v5.10`` after ``v5.9``; ``()`` (before every version) for other names."""
    return parse_version(text) or ()
