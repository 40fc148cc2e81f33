"""Fault injection for the sandbox: make Numerai fail the way it really does, on demand.

A :class:`FaultRule` names a route (``graphql``, ``graphql:<rootField>``, ``download``, ``upload``
or ``*``), a kind (see :data:`FAULT_KINDS`) and when it fires: with a probability, or for the next
``count`` matching calls (a scripted sequence), or both. Rules are checked in the order they were
added; the first that fires wins.

A rule may name a ``tournament`` (8, 11, 12 or ``classic``, ``signals``, ``crypto``): it then
covers only that tournament's requests, so a Signals outage leaves Classic and Crypto answering.
A request's tournament is its ``tournament`` variable, else what its root field or ``modelId``
belongs to (``createSignalsSubmission``: Signals), its file's (``signals/…``) or its upload slot's;
a request of no tournament (``account``) is covered only by rules without one.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from numeraud.common.tournaments import tournament_number

#: Every fault the sandbox can inject, with what it does.
FAULT_KINDS: dict[str, str] = {
    "http_500": "answer HTTP 500",
    "http_502": "answer HTTP 502",
    "http_503": "answer HTTP 503",
    "http_504": "answer HTTP 504",
    "http_429": "answer HTTP 429 with Retry-After",
    "slow": "answer correctly after `delay` seconds",
    "hang": "accept the request and never answer (until `delay` seconds, default an hour, or shutdown)",
    "reset": "close the connection with a TCP reset, no answer",
    "graphql_error": "answer HTTP 200 with a GraphQL `errors` list (`message`)",
    "malformed_json": "answer HTTP 200 with a body that is not JSON",
    "truncate": "send a file body cut short (Content-Length promises more), then close",
    "corrupt": "send a file body of the right length with flipped bytes",
    "throttle": "send a file body slowly, spread over `delay` seconds",
}
ROUTES = ("graphql", "download", "upload", "*")
FILE_ONLY_KINDS = frozenset({"truncate", "corrupt", "throttle"})


class FaultError(ValueError):
    """A fault rule that cannot be applied; the message names the bad field."""


@dataclass
class FaultRule:
    """One fault to inject (see the module docstring)."""

    route: str
    kind: str
    probability: float = 1.0
    count: int | None = None
    delay: float = 0.0
    retry_after: int = 1
    message: str = "Internal server error (injected by the sandbox)"
    fired: int = field(default=0)
    #: Only this tournament's requests (None: every request).
    tournament: int | None = None

    def __post_init__(self) -> None:
        base = self.route.split(":", 1)[0]
        if base not in ROUTES or (":" in self.route and base != "graphql"):
            raise FaultError(f"route: {self.route!r} is not one of {', '.join(ROUTES)} or graphql:<rootField>")
        if self.kind not in FAULT_KINDS:
            raise FaultError(f"kind: {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.kind in FILE_ONLY_KINDS and base not in ("download", "*"):
            raise FaultError(f"kind: {self.kind!r} applies to file downloads only")
        if not 0.0 <= self.probability <= 1.0:
            raise FaultError("probability: must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise FaultError("count: must be a positive integer")
        if self.delay < 0 or self.retry_after < 0:
            raise FaultError("delay and retry_after: must not be negative")

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Build a rule from the admin API's JSON, with errors that name the field."""
        if not isinstance(data, dict):
            raise FaultError("a fault rule must be a JSON object")
        allowed = {"route", "kind", "probability", "count", "delay", "retry_after", "message", "tournament"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(unknown)}")
        for key in ("route", "kind"):
            if not isinstance(data.get(key), str):
                raise FaultError(f"{key}: required, a string")
        try:
            return cls(
                route=data["route"],
                kind=data["kind"],
                probability=float(data.get("probability", 1.0)),
                count=None if data.get("count") is None else int(data["count"]),
                delay=float(data.get("delay", 0.0)),
                retry_after=int(data.get("retry_after", 1)),
                message=str(data.get("message", cls.message)),
                tournament=None if data.get("tournament") is None else tournament_number(data["tournament"]),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad value: {exc}") from exc

    def matches(self, route: str, root_fields: tuple[str, ...], tournament: int | None = None) -> bool:
        """Whether this rule covers a request on ``route`` asking for ``root_fields`` (of ``tournament``)."""
        if self.tournament is not None and self.tournament != tournament:
            return False
        if self.route == "*":
            return self.kind not in FILE_ONLY_KINDS or route == "download"
        if ":" in self.route:
            return route == "graphql" and self.route.split(":", 1)[1] in root_fields
        return self.route == route

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it (``tournament`` only when it has one)."""
        shown = asdict(self)
        if self.tournament is None:
            del shown["tournament"]
        return shown


class FaultPlan:
    """The active fault rules, safe to consult from many request threads."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, rules: list[FaultRule]) -> None:
        """Append rules (checked after the ones already there)."""
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        """The rules still active, as JSON."""
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def draw(self, route: str, root_fields: tuple[str, ...] = (), tournament: int | None = None) -> FaultRule | None:
        """Decide whether this request (of ``tournament``, if known) fails, and how; a rule with a
        count is used up as it fires."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(route, root_fields, tournament):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.count is not None and rule.fired >= rule.count:
                    self._rules.remove(rule)
                return rule
        return None
