"""How numeraudctl prints: never a secret, colour only on a terminal, aligned tables, short times."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from numeraud.common.secrets import scrub_text, secret_values

STYLES: Final = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
#: A table cell: its text, or (text, style).
Cell = str | tuple[str, str]


def wants_colour(stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """Colour on a terminal unless ``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``."""
    env = dict(os.environ) if env is None else env
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in env and env.get("TERM") != "dumb"


class Output:
    """Prints results, never a secret (values of secret-looking environment variables are scrubbed)."""

    def __init__(self, stream: TextIO | None, as_json: bool, *, colour: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.as_json = as_json
        self.colour = wants_colour(self.stream) if colour is None else colour
        self.secrets = secret_values()

    def line(self, text: str = "") -> None:
        """One line of text."""
        print(scrub_text(text, self.secrets), file=self.stream, flush=True)

    def document(self, doc: Any) -> None:
        """A JSON document."""
        self.line(json.dumps(doc, indent=2, sort_keys=True, default=str))

    def style(self, text: str, style: str | None) -> str:
        """``text`` in ``style`` (a key of :data:`STYLES`) when colour is on."""
        if not self.colour or not style or not text:
            return text
        return f"\033[{STYLES[style]}m{text}\033[0m"

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Cell]], indent: str = "  ") -> None:
        """Aligned columns (widths from the plain text, so colour does not shift them)."""
        plain = [[c if isinstance(c, str) else c[0] for c in row] for row in [list(header), *rows]]
        widths = [max(len(r[i]) for r in plain) for i in range(len(header))]
        self.line(
            indent + self.style("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), "bold")
        )
        for row in rows:
            cells = []
            for cell, width in zip(row, widths, strict=True):
                text, style = (cell, None) if isinstance(cell, str) else cell
                cells.append(self.style(text, style) + " " * (width - len(text)))
            self.line((indent + "  ".join(cells)).rstrip())


def error(message: str) -> None:
    """One line on stderr, ``numeraudctl: message``."""
    print(f"numeraudctl: {scrub_text(message, secret_values())}", file=sys.stderr, flush=True)


def duration(seconds: float | None) -> str:
    """``2d 3h``, ``3h 12m``, ``4m 05s``, ``12s`` (``-`` for ``None``; negative: ``-4m 05s``)."""
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time (naive ones are UTC), or ``None``."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clock(text: Any) -> str:
    """A time as ``2026-03-14 18:00 UTC`` (``-`` when there is none)."""
    value = parse_time(text)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def first_line(text: Any, width: int = 70) -> str:
    """The first line of an error text, cut to ``width``."""
    if not text:
        return ""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
