"""The simulated year, played on the chaos rig (:class:`bench.chaosrun.rig.Rig`).

The sandbox's schedule is manual and this module is its calendar: it opens each round of the
plan (:mod:`bench.yearrun.plan`) on time with its window, and makes the round's trouble happen
around it — the live delay, fault rules, the dataset release and the models' trouble files before
the open; the close moved and the SIGKILLs at their moments in the window; the supervisor down
from before the open until after the close in the outage round. Each round's final open and close
(and whether the outage covered the window) is kept for :mod:`bench.yearrun.tally`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.chaosrun.common import say
from bench.chaosrun.rig import Rig, RigOptions
from bench.yearrun.model import trouble_file
from bench.yearrun.plan import RoundPlan

#: The supervisor's restart is waited for this long.
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Played:
    """A round as it happened: its number, weekday, final window (epoch seconds) and the outage."""

    number: int
    weekday: str
    opened: float
    closed: float
    outage_covered: bool
    troubles: tuple[str, ...]


@dataclass
class Counts:
    """How much trouble there was."""

    handler_kills: int = 0
    supervisor_kills: int = 0
    supervisor_crashes: int = 0
    releases: int = 0


def rig_options(window: float, models: int, trouble_dir: Path) -> RigOptions:
    """The installation: the year's models with fallbacks, the guard margin and polls for short windows."""
    return RigOptions(
        models=models,
        notifier=False,
        checkers=0,
        poll=0.25,
        window=120.0,  # the warm-up round: the first training of every model
        model_class="bench.yearrun.model:YearModel",
        model_options=f'trouble_dir = "{trouble_dir}", min_train_seconds = {1.5 * window:g}',
        uploader_options='fallback = "example"',
        uploader_after=False,  # a hung model must not hold back the deadline guard
        poll_extra=f"guard_margin = {window / 4:g}\n",
        live_files=("live.parquet", "live_example_preds.parquet"),
    )


class Year:
    """Plays the plan's rounds on ``rig`` (see the module docstring)."""

    def __init__(self, rig: Rig, trouble_dir: Path) -> None:
        self.rig = rig
        self.trouble_dir = trouble_dir
        trouble_dir.mkdir(parents=True, exist_ok=True)
        self.counts = Counts()
        self.played: list[Played] = []
        self.versions = 2

    def warm_up(self) -> None:
        """Start numeraud and let the first round (every model's first training) finish."""
        self.rig.start(START_TIMEOUT)
        first = self.rig.current_round()
        if not self.rig.wait_round(first, timeout=300.0):
            raise RuntimeError(f"the warm-up round {first} was not processed; see {self.rig.log}")

    def _restart(self) -> None:
        self.rig.start(START_TIMEOUT)

    def _kill_supervisor(self) -> None:
        self.rig.kill_supervisor()
        self.counts.supervisor_kills += 1

    def _watch(self) -> None:
        """A supervisor that died on its own is a bug: say so, count it and start it again."""
        daemon = self.rig.daemon
        if daemon is not None and daemon.process.poll() is not None:
            say(f"the supervisor died on its own (exit {daemon.process.returncode}); restarting it")
            self.counts.supervisor_crashes += 1
            self.rig.daemon = None
            self._restart()

    def _actions(self, plan: RoundPlan, number: int) -> list[tuple[float, Callable[[], object]]]:
        """The round's timed trouble: (seconds from the open, do it)."""
        out: list[tuple[float, Callable[[], object]]] = []
        for at, victim in plan.handler_kills:
            out.append((at, functools.partial(self._kill_handler, self.rig.model_handlers[victim])))
        if plan.new_window is not None:
            move = functools.partial(self.rig.sandbox.shift_schedule, window=plan.new_window, round=number)
            out.append((plan.close_shift_at, move))
        return sorted(out, key=lambda action: action[0])

    def _kill_handler(self, name: str) -> None:
        if self.rig.kill_handler(name):
            self.counts.handler_kills += 1

    def _before_open(self, plan: RoundPlan, number: int, open_at: float) -> None:
        sandbox = self.rig.sandbox
        if plan.live_delay:
            sandbox.set_live_delay(plan.live_delay)
        for index, (kind, until) in plan.model_trouble.items():
            path = trouble_file(self.trouble_dir, self.rig.models[index], number)
            path.write_text(json.dumps({"kind": kind, "until": open_at + until}))
        if plan.faults:
            sandbox.add_faults(*plan.faults)
        if plan.release:
            self.versions += 1
            sandbox.release_dataset(f"v5.{self.versions}")
            self.counts.releases += 1

    def play(self, plan: RoundPlan) -> Played:
        """Open, trouble and close one round of the plan; returns what happened."""
        rig = self.rig
        number = rig.current_round() + 1
        open_at = time.time() + plan.gap
        self._before_open(plan, number, open_at)
        actions = self._actions(plan, number)
        down = None
        if plan.outage:
            down = time.time()
            self._kill_supervisor()
        self._wait_until(open_at)
        rig.sandbox.open_round(window=plan.window)
        rig.sandbox.set_live_delay(0.0)
        opened = _epoch(rig.sandbox.core.find_round(number).open_time)
        while True:
            self._watch()
            now = time.time()
            closed = _epoch(rig.sandbox.core.find_round(number).close_staking_time)
            if now >= closed and not actions:
                break
            if actions and now >= opened + actions[0][0]:
                actions.pop(0)[1]()
                continue
            time.sleep(0.05)
        rig.sandbox.clear_faults()
        covered = False
        if down is not None:
            time.sleep(0.3)
            covered = down <= opened and time.time() >= closed
            self._restart()
        self._after_close(plan, closed)
        played = Played(number, plan.weekday, opened, closed, covered, tuple(plan.troubles()))
        self.played.append(played)
        return played

    def _after_close(self, plan: RoundPlan, closed: float) -> None:
        """The kills after the close; the next round opens once the killed processes are back."""
        if plan.uploader_kill is not None:
            self._wait_until(closed + plan.uploader_kill)
            before = self.rig.handler_pid("uploader")
            self._kill_handler("uploader")
            self._wait_connected("uploader", before)
        if plan.supervisor_kill is not None:
            self._wait_until(closed + plan.supervisor_kill)
            self._kill_supervisor()
            self._restart()

    def _wait_connected(self, name: str, before: int | None, timeout: float = START_TIMEOUT) -> None:
        """Wait until handler ``name`` is connected again from a new process (not pid ``before``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._watch()
            handler = ((self.rig.try_status() or {}).get("handlers", {})).get(name) or {}
            if handler.get("connected") and handler.get("pid") not in (None, before):
                return
            time.sleep(0.1)
        say(f"{name} was not connected again {timeout:g} s after its kill")

    def _wait_until(self, moment: float) -> None:
        while (left := moment - time.time()) > 0:
            self._watch()
            time.sleep(min(left, 0.05))

    def settle(self, timeout: float = 60.0) -> None:
        """Let the last round's late work (a replaced fallback, round_closed) finish."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.rig.caught_up():
            time.sleep(0.2)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
