"""The API fault matrix: every sandbox fault kind on every route, alone and mixed at random.

Routes: the GraphQL calls numeraud makes (``rounds``, ``listDatasets``, ``dataset``, ``account``
for the models, ``submission_upload_auth``, ``create_submission``, ``submissions`` for the
confirmation), the file ``download`` and the ``upload`` PUT. Kinds: every one of
:data:`numeraud.sandbox.faults.FAULT_KINDS` (the file-only ones on ``download`` only). A case is
one rule (``count = 2``: it fires on the next two matching calls) added before a round opens;
the full run tries each case alone in its own round, ``--quick`` one case per kind (routes
rotating); both end with rounds of four random cases at once, with probabilities. A case
survived when the rule fired, every model of its round was uploaded exactly once before the
deadline or reported missed with the reason, the supervisor never restarted, and the systemd
watchdog (a NOTIFY_SOCKET of this process, ``WATCHDOG_USEC`` 4 s) was fed throughout: no gap
between two WATCHDOG=1 as long as the watchdog timeout.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bench.chaosrun import audit
from bench.chaosrun.common import Figures, say
from bench.chaosrun.rig import Rig, RigOptions
from numeraud.sandbox.faults import FAULT_KINDS, FILE_ONLY_KINDS

ROUTES = (
    "graphql:rounds",
    "graphql:listDatasets",
    "graphql:dataset",
    "graphql:account",
    "graphql:submission_upload_auth",
    "graphql:create_submission",
    "graphql:submissions",
    "download",
    "upload",
)
WATCHDOG_USEC = 4_000_000
#: Routes only the uploader's start reaches (it caches the model ids): it is restarted first.
AT_START = frozenset({"graphql:account"})


def cases() -> list[tuple[str, str]]:
    """Every (kind, route) the sandbox accepts."""
    return [
        (kind, route) for kind in FAULT_KINDS for route in ROUTES if kind not in FILE_ONLY_KINDS or route == "download"
    ]


def rule(kind: str, route: str, **extra: Any) -> dict[str, Any]:
    """The fault rule of a case."""
    body: dict[str, Any] = {"route": route, "kind": kind, "count": 2, **extra}
    if kind in ("slow", "throttle"):
        body["delay"] = 1.0
    elif kind == "hang":
        body["delay"] = 2.0
    elif kind == "http_429":
        body["retry_after"] = 1
    elif kind == "graphql_error":
        body["message"] = "injected by bench/chaos.py"
    return body


def plan(quick: bool, rng: random.Random) -> list[list[dict[str, Any]]]:
    """The rounds: each a list of rules (a case each)."""
    every = cases()
    if quick:
        rounds: list[list[dict[str, Any]]] = []
        for index, kind in enumerate(FAULT_KINDS):
            routes = [r for r in ROUTES if kind not in FILE_ONLY_KINDS or r == "download"]
            rounds.append([rule(kind, routes[(index * 4) % len(routes)])])
        mixed = 1
    else:
        rounds = [[rule(kind, route)] for kind, route in every]
        mixed = 10
    for _ in range(mixed):
        picked = rng.sample(every, 4)
        rounds.append([rule(kind, route, probability=0.5) for kind, route in picked])
    return rounds


def run(quick: bool, seed: int, workdir: Path) -> Figures:
    """The scenario (see the module docstring)."""
    rng = random.Random(seed + 2)
    tried = survived = 0
    rounds: list[int] = []
    failures: list[str] = []
    started = time.monotonic()
    with Rig(workdir, seed, RigOptions(models=2, notifier=False, watchdog_usec=WATCHDOG_USEC)) as rig:
        rig.start()
        pid = rig.supervisor().process.pid
        rounds.append(rig.current_round())
        if not rig.wait_round(rounds[-1]):
            raise RuntimeError(f"the first round was not processed; see {rig.log}")
        for rules in plan(quick, rng):
            if any(r["route"] in AT_START for r in rules):
                rig.kill_handler("uploader")
            begun = time.monotonic()
            rig.sandbox.add_faults(*rules)
            number = rig.open_round()
            rounds.append(number)
            done = rig.wait_round(number, timeout=240.0)
            left = {(r["kind"], r["route"]): int(r["fired"]) for r in rig.sandbox.core.faults.rules()}
            rig.sandbox.clear_faults()
            outcome = audit.round_outcome(rig, number)
            uploads = audit.accepted_uploads(rig)
            assert rig.watchdog is not None
            gap = rig.watchdog.longest_gap(begun, time.monotonic())
            alive = rig.supervisor().process.poll() is None and rig.supervisor().process.pid == pid
            for body in rules:
                case = f"{body['kind']}@{body['route']}"
                key = (body["kind"], body["route"])
                fired = key not in left or left[key] > 0 or body.get("probability", 1.0) < 1.0
                right = done and all(
                    (o == "uploaded" and uploads[(number, m)] == 1) or o.startswith("missed: ")
                    for m, o in outcome.items()
                )
                tried += 1
                if fired and right and alive and gap < WATCHDOG_USEC / 1e6:
                    survived += 1
                else:
                    why = f"fired={fired} outcome={outcome} alive={alive} watchdog_gap={gap:.1f}s"
                    failures.append(f"{case}: {why}")
                    say(f"fault case {case} NOT survived: {why}")
            names = ", ".join(f"{r['kind']}@{r['route']}" for r in rules)
            say(f"faults: round {number}: {names} ({tried} tried, {survived} survived)")
        figures = audit.check(rig, rounds, reported_ok=True)
        rig.stop()
        figures["secret_leaks"] = audit.leaks(rig)
    return figures | {
        "fault_cases_tried": tried,
        "fault_cases_survived": survived,
        "fault_rounds": len(rounds),
        "fault_seconds": round(time.monotonic() - started, 1),
    }
