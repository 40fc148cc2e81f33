"""The cross-handler scheduling rule: ``after`` (wait for named handlers) and ``serial`` (one event at a time).

:func:`next_delivery` says what a handler may receive next; :func:`waiting_on` says, for the
status, who holds it back. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def next_delivery(
    name: str,
    acked: Mapping[str, int],
    head: int,
    after: Mapping[str, Sequence[str]],
    serial: bool,
) -> int | None:
    """The seq ``name`` may receive next, or ``None`` if it must wait.

    The candidate is the event after ``name``'s cursor. It is held back while it is not in the
    log yet, while a handler listed in ``after[name]`` has not acked it, and, with ``serial``,
    while any handler has not acked the event before it (numerauto's one-at-a-time rule).
    """
    candidate = acked[name] + 1
    if candidate > head:
        return None
    if serial and any(seq < candidate - 1 for seq in acked.values()):
        return None
    for dep in after.get(name, ()):
        if acked.get(dep, 0) < candidate:
            return None
    return candidate


def waiting_on(
    name: str, acked: Mapping[str, int], head: int, after: Mapping[str, Sequence[str]], serial: bool
) -> list[str]:
    """Handlers that hold back ``name``'s next event (for status output)."""
    candidate = acked[name] + 1
    if candidate > head:
        return []
    out = [dep for dep in after.get(name, ()) if acked.get(dep, 0) < candidate]
    if serial:
        out += [other for other, seq in acked.items() if seq < candidate - 1 and other not in out]
    return out
