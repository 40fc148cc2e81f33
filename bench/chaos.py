"""Reliability and security in figures (issue 11): long randomized fault runs that count what was lost.

Every scenario runs the real ``numeraud run --spawn-handlers`` against a sandbox in this process,
with several models, real processes and SIGKILL; each is a module of ``bench/chaosrun/`` with
``run(quick, seed, workdir) -> dict`` (its docstring says what it does and counts):

    kills             handler processes SIGKILLed at random moments and at the named failpoints
    supervisor_kills  the supervisor SIGKILLed mid-poll, mid-download, mid-publish, mid-dispatch,
                      around an ACK's commit and at random, and restarted
    faults            every sandbox fault kind on every route, alone and mixed
    load              many handlers and a backlog; ``status`` answer times, supervisor peak RSS
    bad_input         bad configs, bad prediction files, corrupt parquet, fuzzed frames
    security          secrets never written, modes, CURVE, pickles

Every scenario greps its logs, numeraudctl's output, the event log and the handlers' state for the
API secret and the notification URL at its end (``secret_leaks``). ``--quick`` is the CI-sized
run (``.ci/run``); without it, the long run. Prints one table; with ``--json`` the last line is
one JSON object with the figures, ``quick``, ``date`` and ``machine``. Exits 1 when any loss,
duplicate, out-of-order, integrity, partial-file, crash or leak count is not zero, a fault case
was not survived, a scenario failed or is missing (a missing one is tolerated with ``--quick``),
or fewer kills than the run's minimum happened.

    python bench/chaos.py [--quick] [--json] [--seed N] [--only kills,faults] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.common import ZERO_KEYS, Figures  # noqa: E402
from bench.processes import terminate_as_exit  # noqa: E402

SCENARIOS = ("kills", "supervisor_kills", "faults", "load", "bad_input", "security")
#: Figures that add up over scenarios (the rest: the last scenario that reports it wins).
SUMMED = (*ZERO_KEYS, "handler_kills", "supervisor_kills", "fault_cases_tried", "fault_cases_survived", "fuzz_inputs")
#: The smallest kill counts that make a run count: (quick, long).
MINIMUM = {"handler_kills": (20, 200), "supervisor_kills": (5, 50)}
#: Pairs of (cases, handled) that must be equal.
PAIRS = (
    ("fault_cases_tried", "fault_cases_survived"),
    ("bad_config_cases", "bad_config_ok"),
    ("bad_predictions_cases", "bad_predictions_refused"),
)
#: The issue's keys, in the table's order.
KEYS = (
    "handler_kills",
    "supervisor_kills",
    *(key for key in ZERO_KEYS if key not in ("fuzz_crashes", "secret_leaks")),
    "fault_cases_tried",
    "fault_cases_survived",
    "fuzz_inputs",
    "fuzz_crashes",
    "secret_leaks",
    "load_handlers",
    "load_backlog",
    "load_status_ms_median",
    "load_status_ms_max",
    "supervisor_peak_rss_mb",
)


def machine() -> str:
    """This machine in one line: CPUs, memory, Python, kernel."""
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kb / 1e6:.0f} GB"
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs{memory}, Python {platform.python_version()}, {system}"


def run_scenarios(names: list[str], quick: bool, seed: int, root: Path) -> tuple[Figures, dict[str, str]]:
    """Each scenario in turn; returns the merged figures and the problems (scenario -> why)."""
    total: Figures = {}
    problems: dict[str, str] = {}
    for name in names:
        try:
            module = importlib.import_module(f"bench.chaosrun.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.chaosrun.{name}":
                raise
            print(f"[chaos] scenario {name} is not built (no bench/chaosrun/{name}.py)", file=sys.stderr)
            problems[name] = "not built"
            continue
        print(f"[chaos] scenario {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            figures = module.run(quick, seed, root / name)
        except Exception:
            traceback.print_exc()
            problems[name] = "failed: " + traceback.format_exc(limit=1).strip().splitlines()[-1]
            continue
        figures[f"{name}_seconds"] = round(time.monotonic() - started, 1)
        for key, value in figures.items():
            if key in SUMMED:
                total[key] = total.get(key, 0) + value
            else:
                total[key] = value
    return total, problems


def verdict(figures: Figures, problems: dict[str, str], quick: bool, names: list[str]) -> list[str]:
    """Every reason the run fails (none: it passed)."""
    reasons = [f"{key} = {figures[key]}" for key in ZERO_KEYS if figures.get(key)]
    for cases, handled in PAIRS:
        if cases in figures and figures.get(handled) != figures[cases]:
            reasons.append(f"{handled} = {figures.get(handled)} of {cases} = {figures[cases]}")
    scenario = {"handler_kills": "kills", "supervisor_kills": "supervisor_kills"}
    for key, (short, long) in MINIMUM.items():
        floor = short if quick else long
        if scenario[key] in names and scenario[key] not in problems and figures.get(key, 0) < floor:
            reasons.append(f"{key} = {figures.get(key, 0)}, fewer than {floor}")
    for name, why in problems.items():
        if why != "not built" or not quick:
            reasons.append(f"scenario {name}: {why}")
    return reasons


def print_table(figures: Figures, problems: dict[str, str], quick: bool, seconds: float) -> None:
    print(f"chaos run ({'--quick' if quick else 'long'}), {seconds:.0f} s, {machine()}")
    width = max(len(k) for k in figures) if figures else 20
    for key in KEYS:
        if key in figures:
            flag = "  <- MUST BE 0" if key in ZERO_KEYS and figures[key] else ""
            print(f"  {key:<{width}}  {figures[key]:>10}{flag}")
    others = sorted(k for k in figures if k not in KEYS)
    if others:
        print("  -- details")
        for key in others:
            print(f"  {key:<{width}}  {figures[key]:>10}")
    for name, why in problems.items():
        print(f"  scenario {name}: {why}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (a few minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios (of {', '.join(SCENARIOS)})")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, databases)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"--only: unknown scenario(s) {', '.join(unknown)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # ipc:// socket paths must be short: the work directory is under /tmp.
    root = Path(tempfile.mkdtemp(prefix="nch-", dir="/tmp"))
    started = time.monotonic()
    with terminate_as_exit():
        try:
            figures, problems = run_scenarios(args.names, args.quick, args.seed, root)
        finally:
            if args.keep:
                print(f"[chaos] kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)
    seconds = time.monotonic() - started
    reasons = verdict(figures, problems, args.quick, args.names)
    print_table(figures, problems, args.quick, seconds)
    print("PASSED" if not reasons else "FAILED: " + "; ".join(reasons))
    if args.json:
        document: dict[str, Any] = {key: figures.get(key) for key in KEYS}
        document |= {k: v for k, v in figures.items() if k not in document}
        document |= {
            "quick": args.quick,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": machine(),
            "seconds": round(seconds, 1),
            "scenarios": args.names,
            "passed": not reasons,
        }
        print(json.dumps(document))
    return 0 if not reasons else 1


if __name__ == "__main__":
    sys.exit(main())
