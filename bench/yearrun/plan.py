"""The simulated year's calendar and its trouble, drawn from a seed. Pure logic, no I/O.

The calendar is Numerai's week compressed: five rounds a week, Tuesday to Saturday, each opening
``gap`` seconds after the previous one closed (twice that over Sunday and Monday), a weekday
window of ``window`` seconds and a Saturday window half as long again. :func:`year` draws what goes
wrong in each round (:class:`RoundPlan`): the open earlier or later than the calendar says, the
close moved while the round is open, live data published late, a dataset release just before the
open (its retraining outlasts the window), a model that raises or hangs, SIGKILLs of handlers and
of the supervisor, API fault bursts (every route in turn, :func:`bench.chaosrun.faults.cases`), and
one round in the middle third where the supervisor is down for the whole window (the outage).
Every kind of trouble happens at least once a year. A round with late live data gets no fault
burst on the file downloads: the follower's retries wait seconds each (nothing against Numerai's
hour), which on top of the delay would leave a compressed window no time at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bench.chaosrun.faults import cases, rule

WEEKDAYS = ("Tue", "Wed", "Thu", "Fri", "Sat")
#: The chance of each kind of trouble in a round.
RATES = {
    "open_shift": 0.12,
    "close_shift": 0.12,
    "late_live": 0.12,
    "release": 0.07,
    "faults": 0.4,
    "model_trouble": 0.25,
    "handler_kill": 0.35,
}
#: Trouble that happens a fixed number of times a year (one in :data:`EVERY` rounds, at least
#: twice): each restart costs seconds of imports on a loaded machine, and the next round waits.
COUNTED = ("uploader_kill", "supervisor_kill")
EVERY = 25


@dataclass
class RoundPlan:
    """One round of the year: its place in the week and what goes wrong in it.

    Times are seconds from the round's open (negative: in the gap before it).
    """

    index: int
    weekday: str
    window: float
    gap: float
    open_shift: float = 0.0
    #: The round's close moved to this many seconds after its open, at ``close_shift_at``.
    new_window: float | None = None
    close_shift_at: float = 0.0
    live_delay: float = 0.0
    release: bool = False
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: Model index → (``"raise"`` or ``"hang"``, until this many seconds after the open).
    model_trouble: dict[int, tuple[str, float]] = field(default_factory=dict)
    #: (when, model index): model handlers SIGKILLed in the window.
    handler_kills: list[tuple[float, int]] = field(default_factory=list)
    #: Seconds after the close when the uploader, or the supervisor (and so every handler), is
    #: SIGKILLed: their restart takes longer than a compressed window (seconds of imports on a
    #: loaded machine, against Numerai's hour), so the next round opens once they are back.
    uploader_kill: float | None = None
    supervisor_kill: float | None = None
    outage: bool = False

    def troubles(self) -> list[str]:
        """The kinds of trouble of this round, for the progress line."""
        kinds = {
            "open_shift": bool(self.open_shift),
            "close_shift": self.new_window is not None,
            "late_live": bool(self.live_delay),
            "release": self.release,
            "faults": bool(self.faults),
            "model_trouble": bool(self.model_trouble),
            "handler_kill": bool(self.handler_kills),
            "uploader_kill": self.uploader_kill is not None,
            "supervisor_kill": self.supervisor_kill is not None,
            "outage": self.outage,
        }
        return [k for k, on in kinds.items() if on]


def week(index: int, window: float, gap: float) -> RoundPlan:
    """Round ``index`` of the year with no trouble: its weekday, window and gap before it."""
    day = WEEKDAYS[index % len(WEEKDAYS)]
    return RoundPlan(
        index=index,
        weekday=day,
        window=window * 1.5 if day == "Sat" else window,
        gap=gap * 2 if day == "Tue" and index else gap,
    )


def _draw(kind: str, plan: RoundPlan, rng: random.Random, models: int, faults: list[dict[str, Any]]) -> None:
    """Give ``plan`` trouble of ``kind``."""
    w = plan.window
    if kind == "open_shift":
        plan.open_shift = rng.choice([-0.8, 1.0]) * rng.uniform(0.5, 1.0) * plan.gap * 2
    elif kind == "close_shift":
        plan.close_shift_at = rng.uniform(0.1, 0.4) * w
        plan.new_window = w * rng.choice([rng.uniform(0.8, 0.9), rng.uniform(1.2, 1.5)])
    elif kind == "late_live":
        plan.live_delay = rng.uniform(0.1, 0.3) * w
    elif kind == "release":
        plan.release = True
    elif kind == "faults":
        plan.faults = [faults.pop(0) for _ in range(min(len(faults), rng.choice([1, 2])))]
    elif kind == "model_trouble":
        what = rng.choice(["raise", "raise", "hang"])
        plan.model_trouble[rng.randrange(models)] = (what, rng.uniform(0.2, 1.1) * w)
    elif kind == "handler_kill":
        plan.handler_kills.append((rng.uniform(0.0, 0.6) * w, rng.randrange(models)))
    elif kind == "uploader_kill":
        plan.uploader_kill = rng.uniform(0.0, 0.5)
    elif kind == "supervisor_kill":
        plan.supervisor_kill = rng.uniform(0.0, 0.5)


def year(rounds: int, seed: int, *, window: float, gap: float, models: int) -> list[RoundPlan]:
    """The year's rounds and their trouble (see the module docstring)."""
    rng = random.Random(seed)
    every = cases()
    rng.shuffle(every)
    bursts = [rule(kind, route) for kind, route in every]
    plans = [week(i, window, gap) for i in range(rounds)]
    outage = rng.randrange(rounds // 3, max(rounds // 3 + 1, 2 * rounds // 3)) if rounds > 1 else 0
    for plan in plans:
        if plan.index == outage:
            plan.outage = True
            continue
        for kind, rate in RATES.items():
            if rng.random() < rate:
                _draw(kind, plan, rng, models, bursts or [rule(k, r) for k, r in every])
    others = [p for p in plans if not p.outage] or plans
    for kind in COUNTED:
        for plan in rng.sample(others, min(len(others), max(2, rounds // EVERY))):
            _draw(kind, plan, rng, models, bursts)
    for kind in RATES:
        if not any(kind in p.troubles() for p in plans):
            _draw(kind, rng.choice(others), rng, models, bursts or [rule(k, r) for k, r in every])
    for plan in plans:
        plan.gap = max(0.3, plan.gap + plan.open_shift)
        if plan.live_delay:
            plan.faults = [f for f in plan.faults if f["route"] != "download"]
    return plans
