"""Handler kills: SIGKILL handler processes at random moments and at the named failpoints.

Round after round on the sandbox (a new dataset version every third round, so the models train
again), each round arms two of the handler failpoints in turn (``mid_training``, ``mid_predict``,
``after_predictions_file``, ``mid_upload``, ``after_upload``, ``after_upload_confirmed``: the
process reaching one first SIGKILLs itself there) and SIGKILLs one or two random handler
processes (models, uploader, notifier, checker) at random moments while the round is worked on.
``numeraud run --spawn-handlers`` restarts them; the supervisor itself must never restart.
Counted: kills, events lost or out of order (the checking handler's record), (round, model)
pairs uploaded twice or not uploaded while the window was open (the sandbox's uploads), and the
supervisor's restarts.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.chaosrun import audit
from bench.chaosrun.common import HANDLER_FAILPOINTS, Figures, say
from bench.chaosrun.rig import Rig, RigOptions


def run(quick: bool, seed: int, workdir: Path) -> Figures:
    """The scenario (see the module docstring)."""
    rng = random.Random(seed)
    target = 20 if quick else 200
    options = RigOptions(models=2 if quick else 4)
    named = random_kills = 0
    rounds: list[int] = []
    started = time.monotonic()
    with Rig(workdir, seed, options) as rig:
        handlers = [*rig.model_handlers, "uploader", "notifier", *rig.checkers]
        killed = dict.fromkeys(handlers, 0)
        killed["uploader"] = 3  # it has half the named failpoints
        cycle = list(HANDLER_FAILPOINTS)
        rng.shuffle(cycle)
        index = 0
        versions = 0
        rig.arm(cycle[index % len(cycle)])  # round 1 is open already: its first training
        index += 1
        rig.start()
        supervisor_pid = rig.supervisor().process.pid
        number = rig.current_round()
        while True:
            rounds.append(number)
            pending = sorted(rng.uniform(0.3, 4.0) for _ in range(2))
            opened = time.monotonic()

            def kill_due(pending: list[float] = pending, opened: float = opened) -> None:
                nonlocal random_kills
                while pending and time.monotonic() - opened >= pending[0]:
                    pending.pop(0)
                    # The least killed so far (ties at random): the spawner's restart backoff
                    # doubles with each kill of the same handler, up to 30 s.
                    fewest = min(killed.values())
                    victim = rng.choice([h for h in handlers if killed[h] == fewest])
                    if rig.kill_handler(victim):
                        random_kills += 1
                        killed[victim] += 1

            ok = rig.wait_round(number, during=kill_due)
            fired = sum(1 for name in rig.armed_names() if not rig.is_armed(name))
            named += fired
            rig.disarm_all()
            say(f"kills: round {number} {'done' if ok else 'NOT DONE'}; {named} named + {random_kills} random kills")
            if not ok or named + random_kills >= target:
                break
            if rig.supervisor().process.pid != supervisor_pid:
                break
            for _ in range(2):
                rig.arm(cycle[index % len(cycle)])
                index += 1
            if len(rounds) % 3 == 0:
                versions += 1
                rig.sandbox.release_dataset(f"v5.{2 + versions}")
            number = rig.open_round()
        figures = audit.check(rig, rounds)
        rig.stop()
        figures["secret_leaks"] = audit.leaks(rig)
    figures |= {
        "handler_kills": named + random_kills,
        "handler_kills_named": named,
        "handler_kills_random": random_kills,
        "handler_kill_rounds": len(rounds),
        "handler_kill_supervisor_restarts": rig.supervisor_starts - 1,
        "handler_kills_seconds": round(time.monotonic() - started, 1),
    }
    return figures
