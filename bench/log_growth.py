"""How a long-lived install's event log grows: its size and ``numeraudctl status``'s time after
many rounds of events (not a test).

Fills a real store (``numeraud.supervisor.store.Store``, the supervisor's own writes) with
``--rounds`` rounds as a supervisor with ``--models`` models writes them: per round one publish
(``round_begin``, ``new_tournament_data``, ``round_closed``) and one group-committed ACK of the
handler's cursor emitting ``predictions_ready`` and ``submission_uploaded`` per model, with
payloads of their real size. At 1/8, 1/4, 1/2 and all of the rounds it times ``numeraudctl
status`` (whole process, supervisor down: it reads the database read-only; median of ``--runs``)
and measures the database (with its WAL). Reports the growth per doubling of the rounds.
Prints a table; ``--json``: one JSON object as the last line.

    python bench/log_growth.py [--rounds 10000] [--models 10] [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ctl_latency import _env  # noqa: E402
from numeraud.supervisor.store import Store  # noqa: E402
from numeraud.supervisor.store_records import Ack, NewEvent  # noqa: E402

HANDLER = "a"


def ctl(config: Path) -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "numeraudctl"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "numeraud.cli.ctl"]
    return [*base, "--config", str(config)]


def time_status(config: Path, runs: int) -> float:
    """Median milliseconds of ``numeraudctl status`` (after one untimed run)."""
    argv, env = [*ctl(config), "status"], _env()
    first = subprocess.run(argv, capture_output=True, env=env, check=False)
    if first.returncode not in (0, 3, 6):
        raise SystemExit(f"numeraudctl status exited {first.returncode}: {first.stderr.decode(errors='replace')}")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def size_mb(database: Path) -> float:
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*")) / 1e6


def fill(store: Store, first: int, last: int, models: int, acked: int) -> int:
    """Rounds ``first``..``last`` of events; the handler's cursor acks up to the head; its seq."""
    for number in range(first, last + 1):
        deadline = f"2026-01-01T13:{number % 60:02d}:00Z"
        seqs = store.publish(
            [
                ("round_begin", number, {"round": number, "opens": "2026-01-01T12:00:00Z", "deadline": deadline}),
                (
                    "new_tournament_data",
                    number,
                    {
                        "live_files": {"live.parquet": f"/var/lib/numeraud/data/v5.2/live_{number}.parquet"},
                        "deadline": deadline,
                    },
                ),
                ("round_closed", number, {"round": number}),
            ],
            {"current_round": str(number)},
        )
        emitted = []
        for m in range(models):
            path = f"/var/lib/numeraud/handlers/model-{m}/predictions/model_{m}_round_{number}.csv"
            emitted.append(
                NewEvent(
                    "predictions_ready",
                    number,
                    {"model": f"model_{m}", "path": path, "rows": 6720, "deadline": deadline},
                )
            )
            emitted.append(
                NewEvent(
                    "submission_uploaded",
                    number,
                    {"model": f"model_{m}", "submission_id": f"{number:08d}-{m:04d}-0000-0000-000000000000"},
                )
            )
        head = seqs[-1]
        store.ack_many([*(Ack(HANDLER, q, ()) for q in range(acked + 1, head)), Ack(HANDLER, head, tuple(emitted))])
        acked = head
    return acked


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    config = root / "numeraud.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{root}/state"\nruntime_dir = "{root}/run"\n[poll]\nenabled = false\n'
        f'[handlers.{HANDLER}]\nclass = "tests.bus.sample_handlers:Recorder"\n'
        f'[handlers.{HANDLER}.options]\nrecord = "{root}/a.jsonl"\n'
    )
    database = root / "state" / "numeraud.db"
    store = Store(database)
    store.ensure_cursor(HANDLER, 0)
    points = sorted({max(1, args.rounds // d) for d in (8, 4, 2, 1)})
    samples: list[dict[str, float]] = [
        {"rounds": 0, "status_ms": time_status(config, args.runs), "size_mb": size_mb(database)}
    ]
    done, acked, started = 0, 0, time.monotonic()
    for point in points:
        acked = fill(store, done + 1, point, args.models, acked)
        done = point
        samples.append({"rounds": point, "status_ms": time_status(config, args.runs), "size_mb": size_mb(database)})
    fill_s = time.monotonic() - started
    lo, hi = samples[1], samples[-1]
    doublings = math.log2(hi["rounds"] / lo["rounds"]) if hi["rounds"] > lo["rounds"] else 0

    def per(k: str) -> float | None:
        return round((hi[k] / lo[k]) ** (1 / doublings), 3) if doublings and lo[k] else None

    return {
        "rounds": args.rounds,
        "models": args.models,
        "events": acked + 2 * args.models,
        "status_empty_ms": round(samples[0]["status_ms"], 1),
        "status_ms": round(hi["status_ms"], 1),
        "size_mb": round(hi["size_mb"], 2),
        "status_growth_per_doubling": per("status_ms"),
        "size_growth_per_doubling": per("size_mb"),
        "fill_s": round(fill_s, 1),
        "samples": [{k: round(v, 2) for k, v in s.items()} for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds of events (default 10,000)")
    parser.add_argument("--models", type=int, default=10, help="models per round (default 10)")
    parser.add_argument("--runs", type=int, default=10, help="timed numeraudctl status runs per point")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.rounds < 8 or args.models < 1 or args.runs < 1:
        parser.error("--rounds must be >= 8, --models and --runs >= 1")
    root = Path(tempfile.mkdtemp(prefix="nlg-", dir="/tmp"))
    try:
        result = run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"event log after {args.rounds:,} rounds x {args.models} models ({result['events']:,} events):")
    print(f"{'rounds':>8}{'status ms':>12}{'log MB':>10}")
    for s in result["samples"]:
        print(f"{int(s['rounds']):>8}{s['status_ms']:>12.1f}{s['size_mb']:>10.2f}")
    print(
        f"per doubling of rounds: status x{result['status_growth_per_doubling']}, "
        f"size x{result['size_growth_per_doubling']}"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
