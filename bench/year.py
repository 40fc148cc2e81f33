"""A simulated year of Numerai rounds with every kind of trouble: how many (round, model) pairs
made their window (issue 13).

Numerai's week on a compressed calendar (five rounds a week, Tuesday to Saturday, the Saturday
window half as long again; ``--window`` seconds on weekdays) is played against the real
``numeraud run --spawn-handlers`` and a sandbox in this process (the chaos rig,
``bench/chaosrun/rig.py``), with models that fall back to Numerai's example predictions. What goes
wrong is drawn from ``--seed`` (``bench/yearrun/plan.py``): opens earlier or later than the
calendar, closes moved, late live data, dataset releases whose retraining outlasts the window,
models that raise or hang, handler and supervisor SIGKILLs, API fault bursts on every route, and
one supervisor outage longer than a window. Counted (``bench/yearrun/tally.py``): pairs made in
the window with real predictions, with a fallback, missed (each with its reason), and duplicated
uploads. Exits 1 when a pair is missed outside the outage or an upload is duplicated.

    python bench/year.py [--rounds N] [--quick] [--seed N] [--window S] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaos import machine  # noqa: E402
from bench.chaosrun.common import say  # noqa: E402
from bench.chaosrun.rig import Rig  # noqa: E402
from bench.processes import terminate_as_exit  # noqa: E402
from bench.yearrun.plan import year  # noqa: E402
from bench.yearrun.runner import Year, rig_options  # noqa: E402
from bench.yearrun.tally import tally  # noqa: E402

QUICK_ROUNDS = 60
MODELS = 3


def run(rounds: int, seed: int, window: float, root: Path) -> dict[str, Any]:
    """Play the year; its figures (see :func:`bench.yearrun.tally.tally`) and the trouble counts."""
    gap = max(1.0, window / 10)
    plans = year(rounds, seed, window=window, gap=gap, models=MODELS)
    trouble_dir = root / "trouble"
    with Rig(root / "rig", seed, rig_options(window, MODELS, trouble_dir)) as rig:
        played = Year(rig, trouble_dir)
        played.warm_up()
        for plan in plans:
            done = played.play(plan)
            say(f"year: round {done.number} ({plan.weekday}, {done.closed - done.opened:.1f} s) {list(done.troubles)}")
        played.settle()
        figures = tally(rig, played.played)
        rig.stop()
    counts = played.counts
    return figures | {
        "handler_kills": counts.handler_kills,
        "supervisor_kills": counts.supervisor_kills,
        "supervisor_crashes": counts.supervisor_crashes,
        "dataset_releases": counts.releases,
    }


def print_table(figures: dict[str, Any], seconds: float, window: float) -> None:
    """The table of the issue."""
    print(f"simulated year, {figures['rounds']} rounds ({window:g} s weekday windows), {seconds:.0f} s, {machine()}")
    rows = (
        *("rounds", "pairs", "made_real", "made_fallback", "missed", "missed_outside_outage", "duplicated"),
        *("handler_kills", "supervisor_kills", "supervisor_crashes", "dataset_releases"),
    )
    for key in rows:
        flag = (
            "  <- MUST BE 0"
            if key in ("missed_outside_outage", "duplicated", "supervisor_crashes") and figures[key]
            else ""
        )
        print(f"  {key:<22} {figures[key]:>8}{flag}")
    for reason, count in sorted(figures["reasons"].items()):
        print(f"  missed {count} x: {reason}")
    for line in figures["unexpected"]:
        print(f"  NOT ALLOWED: {line}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=260, help="rounds in the year (default 260)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds, the CI-sized run")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--window", type=float, default=10.0, help="weekday window in seconds (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = QUICK_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds: must be 1 or more")
    if args.window < 6:
        parser.error("--window: must be at least 6 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="nyr-", dir="/tmp"))  # ipc:// socket paths must be short
    started = time.monotonic()
    with terminate_as_exit():
        try:
            figures = run(args.rounds, args.seed, args.window, root)
        finally:
            if args.keep:
                print(f"[year] kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)
    seconds = time.monotonic() - started
    failed = bool(figures["missed_outside_outage"] or figures["duplicated"] or figures["supervisor_crashes"])
    print_table(figures, seconds, args.window)
    print("FAILED" if failed else "PASSED")
    if args.json:
        document = {k: v for k, v in figures.items() if k != "unexpected"}
        document |= {
            "quick": args.quick,
            "seed": args.seed,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": machine(),
            "seconds": round(seconds, 1),
            "passed": not failed,
        }
        print(json.dumps(document))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
