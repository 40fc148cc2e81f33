"""Supervisor kills: SIGKILL ``numeraud run`` at named moments and at random, restarting it each time.

The moments, in turn: ``mid_poll`` (a poll of Numerai under way), ``mid_download`` (a round's
live file half written to its partial name), ``mid_publish`` (inside the transaction that
commits a round's events), ``after_append_commit`` (mid-dispatch: an event committed, not yet
sent), ``after_ack_receive`` and ``after_ack_commit`` (around an ACK's commit), and a random
moment while a new round is worked on. The handlers the supervisor spawned die with it
(PR_SET_PDEATHSIG) and come back with the restarted supervisor. After each kill, before the
restart, the event log gets ``PRAGMA integrity_check``; after the restart the round under way
must be processed (every model uploaded once). Counted: kills, events lost or duplicated in the
log, integrity failures, partial data files seen by a handler (the checking handler's size and
hash checks), rounds not processed.
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path

from bench.chaosrun import audit
from bench.chaosrun.common import Figures, say
from bench.chaosrun.rig import Rig, RigOptions
from numeraud.control import ControlError
from numeraud.control.client import NoReply, NotRunning

#: Named supervisor moments (numeraud/common/failpoints.py), then "random".
MOMENTS = (
    "mid_poll",
    "mid_download",
    "mid_publish",
    "after_append_commit",
    "after_ack_receive",
    "after_ack_commit",
    "random",
)
#: Moments reached by a new round (the others by an appended event, or the next poll).
NEEDS_ROUND = frozenset({"mid_download", "mid_publish", "random"})


def run(quick: bool, seed: int, workdir: Path) -> Figures:
    """The scenario (see the module docstring)."""
    rng = random.Random(seed + 1)
    target = 5 if quick else 50
    kills = integrity = ticks = 0
    rounds: list[int] = []
    moments = list(MOMENTS)
    rng.shuffle(moments)
    started = time.monotonic()
    with Rig(workdir, seed, RigOptions(models=2, notifier=False)) as rig:
        rig.start()
        rounds.append(rig.current_round())
        if not rig.wait_round(rounds[-1]):
            raise RuntimeError(f"the first round was not processed; see {rig.log}")
        attempts = 0
        while kills < target and attempts < target * 3:
            moment = moments[attempts % len(moments)]
            attempts += 1
            if moment != "random":
                rig.arm(moment)
            if moment in NEEDS_ROUND:
                rounds.append(rig.open_round())
            if moment == "random":
                time.sleep(rng.uniform(0.0, 1.5))
                rig.kill_supervisor()
            elif moment.startswith("after_"):
                ticks += 1
                with contextlib.suppress(NoReply, NotRunning, ControlError):
                    rig.append("chaos_tick", 100_000 + ticks, n=ticks)
            try:
                code = rig.reap(timeout=60.0) if moment != "random" else -9
            except Exception as exc:  # the failpoint was not reached: a finding in itself
                say(f"supervisor kills: {moment} never fired ({exc})")
                rig.disarm_all()
                rig.stop()
                code = 0
            rig.disarm_all()
            if code == -9:
                kills += 1
            integrity += audit.integrity(rig)
            rig.start()
            ok = rig.wait_round(rounds[-1])
            say(f"supervisor kills: {kills} ({moment}: exit {code}); round {rounds[-1]} {'done' if ok else 'NOT DONE'}")
        rounds.append(rig.open_round())
        rig.wait_round(rounds[-1])
        figures = audit.check(rig, rounds)
        rig.stop()
        integrity += audit.integrity(rig)
        figures["secret_leaks"] = audit.leaks(rig)
    figures |= {
        "supervisor_kills": kills,
        "integrity_failures": integrity,
        "supervisor_kill_rounds": len(rounds),
        "supervisor_kills_seconds": round(time.monotonic() - started, 1),
    }
    return figures
