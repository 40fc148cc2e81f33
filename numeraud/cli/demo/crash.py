"""The two moving parts the demo drives: the sandbox's calendar, and a handler killed mid-training.

:class:`Calendar` fast-forwards the sandbox's daily calendar to each round's open and deadline.
:func:`kill_mid_training` finds a model handler's pid and in-flight event the way an operator
would (the control API behind ``numeraudctl status --json``), SIGKILLs it while it trains, and
checks what the guarantees promise: the supervisor restarts it, the event comes again (attempt
2), and the handler's own state file says that delivery trained the model.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from numeraud.cli.demo.observe import DemoFailed, Observer, Story
from numeraud.common.processes import cmdline, process_alive
from numeraud.sandbox import Sandbox

#: How long the victim must have been training before it is killed.
KILL_AFTER: Final = 0.5


class Calendar:
    """The sandbox's daily calendar, fast-forwarded by the demo."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def now(self) -> datetime:
        """The sandbox's (virtual) time."""
        return self.sandbox.core.clock.virtual(datetime.now(UTC))

    def open_next(self) -> tuple[int, datetime]:
        """Jump to just after the next round's open; returns its number and (virtual) open time."""
        now = self.now()
        slot = self.sandbox.core.schedule.slots_between(now, now + timedelta(days=8))[0]
        opened = self.sandbox.advance((slot.open - now).total_seconds() + 1.0)
        if not opened:
            raise DemoFailed("the sandbox opened no round when its clock was fast-forwarded")
        return opened[-1], slot.open

    def close(self, number: int) -> datetime:
        """Jump to just after round ``number``'s deadline; returns that (virtual) deadline."""
        deadline = self.sandbox.core.find_round(number).virtual_close
        if deadline is None:
            return self.now()
        self.sandbox.advance(max(0.0, (deadline - self.now()).total_seconds()) + 1.0)
        return deadline


@dataclass
class Kill:
    """The handler process the demo killed, and what became of its event."""

    handler: str
    pid: int
    seq: int
    new_pid: int | None = None
    #: The delivery that finally handled the event, as the handler's state file tells it.
    attempt: int | None = None


def kill_mid_training(watch: Observer, say: Story, victim: str, number: int, version: str) -> Kill:
    """SIGKILL ``victim`` while it trains on ``version`` in round ``number``; check that the
    supervisor restarts it, delivers the event again, and that the new delivery trained the model."""
    watch.until(f"new training data for round {number}", lambda: bool(watch.find("new_training_data", number)))
    event = watch.find("new_training_data", number)[0]
    seq = event.seq
    if event.payload.get("version") != version:
        raise DemoFailed(f"round {number} brought training data {event.payload.get('version')}, not {version}")
    seen: list[float] = []

    def training() -> bool:
        entry = watch.handler(victim)
        if entry.get("in_flight") != seq or entry.get("state") != "busy" or entry.get("attempts"):
            if watch.acked(victim, seq):
                raise DemoFailed(f"{victim} finished event {seq} before the demo could kill it")
            return False
        seen.append(time.monotonic())
        return seen[-1] - seen[0] >= KILL_AFTER

    watch.until(f"{victim} to train on {version}", training)
    pid = int(watch.handler(victim)["pid"])
    if f"\0{victim}\0".encode() not in cmdline(pid):
        raise DemoFailed(f"pid {pid} is not {victim}'s process (its command line: {cmdline(pid)!r})")
    os.kill(pid, signal.SIGKILL)
    kill = Kill(victim, pid, seq)
    say(f"killed {victim} (pid {pid}) with SIGKILL mid-training (event {seq}, attempt 1)")
    watch.until(f"pid {pid} to be gone", lambda: not process_alive(pid))
    redelivery: list[int] = []

    def restarted() -> bool:
        entry, spawned = watch.handler(victim), watch.spawned(victim)
        if not entry.get("connected") or entry.get("pid") in (None, pid):
            return False
        if spawned.get("last_exit") != -signal.SIGKILL:
            return False
        if entry.get("in_flight") == seq:
            redelivery.append(int(entry.get("attempts", 0)) + 1)
            return True
        return watch.acked(victim, seq)

    watch.until(f"the supervisor to restart {victim}", restarted)
    kill.new_pid = int(watch.handler(victim)["pid"])
    attempt = f" (attempt {redelivery[0]})" if redelivery else ""
    say(f"supervisor restarted {victim} (pid {kill.new_pid}); event {seq} redelivered{attempt}")
    watch.until(f"{victim} to handle event {seq}", lambda: watch.acked(victim, seq))
    state = watch.model_state(victim)
    delivery = state.get("training_event") or {}
    if delivery.get("seq") != seq or int(delivery.get("attempt") or 0) < 2:
        raise DemoFailed(f"{victim}'s state file says {delivery} trained it, not event {seq} attempt 2 or later")
    kill.attempt = int(delivery["attempt"])
    say(
        f"{victim}'s state file: trained on {state.get('dataset_version')} by event {seq}, attempt "
        f"{kill.attempt}; the killed attempt was never acknowledged"
    )
    return kill
