"""Benchmark of the event bus, side by side with its floor (not a test).

(a) numeraud: the supervisor (in this process, the real Supervisor class and its loop) delivers
    events to real ``numeraud-handler`` processes running the no-op ``EventHandler``; one round
    trip is "EVENT sent -> handler callback -> ACK received -> cursor committed (synchronous=FULL)
    -> next EVENT sent". Measured per handler as the interval between its consecutive ack commits.
(b) the floor: a raw pyzmq ROUTER/DEALER ping-pong over ipc:// with another process, plus one
    SQLite commit of the same durability (WAL, synchronous=FULL) per round trip.

Prints a table; with ``--json`` the last line is one JSON object with ``median_rtt_us``,
``floor_rtt_us``, ``ratio``, ``events_per_s`` and more.

    python bench/bus.py [--events 3000] [--rounds 3] [--handlers-many 10] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from numeraud.common.config_file import load  # noqa: E402
from numeraud.supervisor.loop import Supervisor  # noqa: E402
from numeraud.supervisor.store import Store  # noqa: E402
from numeraud.supervisor.store_records import Ack  # noqa: E402


class TimedStore(Store):
    """The real store, noting when each ack commit returned."""

    acks: dict[str, list[float]]

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        super().__init__(path, read_only=read_only)
        self.acks = defaultdict(list)
        self.total = 0

    def ack_many(self, acks: Sequence[Ack]) -> list[list[int]]:
        seqs = super().ack_many(acks)
        now = time.perf_counter()
        for ack in acks:
            self.acks[ack.handler].append(now)
        self.total += len(acks)
        return seqs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_numeraud(handlers: int, events: int, log_level: str = "info") -> dict[str, Any]:
    """(a): the supervisor loop with ``handlers`` no-op handler processes, ``events`` events each."""
    root = Path(tempfile.mkdtemp(prefix="nbb-", dir="/tmp"))
    names = [f"h{i}" for i in range(handlers)]
    config_path = root / "numeraud.toml"
    config_path.write_text(
        f'[paths]\nstate_dir = "{root}/state"\nruntime_dir = "{root}/run"\n'
        + "".join(f'[handlers.{n}]\nclass = "numeraud:EventHandler"\n' for n in names)
    )
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    supervisor = Supervisor(load(config_path), log=structlog.get_logger("bench").bind(), store_factory=TimedStore)
    supervisor.start()
    store = supervisor.store
    assert isinstance(store, TimedStore)
    dispatcher = supervisor.dispatcher
    assert dispatcher is not None
    for i in range(events):
        dispatcher.append("bench", i, {"i": i})
    procs = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMERAUD_LOG_LEVEL": log_level}
    env.pop("NOTIFY_SOCKET", None)
    for name in names:
        cmd = [sys.executable, "-m", "numeraud.handler.main", name, "--config", str(config_path)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    target = handlers * events

    def check(_now: float) -> None:
        if store.total >= target:
            supervisor.stop("bench done")

    supervisor.add_timer("bench-done", 0.02, check)
    try:
        supervisor.run()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    rtts: list[float] = []
    rates = []
    for name in names:
        times = store.acks[name]
        warm = times[len(times) // 10 :]  # skip start-up and the first deliveries
        rtts += [(b - a) * 1e6 for a, b in itertools.pairwise(warm)]
        rates.append((len(warm) - 1) / (warm[-1] - warm[0]))
    all_times = sorted(t for name in names for t in store.acks[name][events // 10 :])
    return {
        "handlers": handlers,
        "median_rtt_us": statistics.median(rtts),
        "p99_rtt_us": percentile(rtts, 0.99),
        "events_per_s_total": (len(all_times) - 1) / (all_times[-1] - all_times[0]),
        "events_per_s_per_handler": statistics.median(rates),
    }


def echo(endpoint: str) -> None:
    """The floor's peer: a DEALER that answers every ping."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(endpoint)
    sock.send(b"ready")
    while True:
        msg = sock.recv_multipart()
        if msg == [b"stop"]:
            break
        sock.send_multipart(msg)
    sock.close(linger=100)
    ctx.term()


def run_floor(rounds: int) -> dict[str, Any]:
    """(b): raw ROUTER/DEALER ping-pong with another process + one durable SQLite commit each."""
    root = Path(tempfile.mkdtemp(prefix="nbf-", dir="/tmp"))
    endpoint = f"ipc://{root}/floor.sock"
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    proc = subprocess.Popen([sys.executable, __file__, "--echo", endpoint])
    peer, _ = router.recv_multipart()
    db = sqlite3.connect(root / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE acks (seq INTEGER PRIMARY KEY, handler TEXT, at REAL)")
    samples = []
    warm_from = rounds // 10  # skip start-up, as the numeraud arm does
    started = time.perf_counter()
    try:
        for i in range(rounds):
            if i == warm_from:
                started = time.perf_counter()
            t0 = time.perf_counter()
            router.send_multipart([peer, b"NUMERAUD/1", b"EVENT", b'{"seq": %d}' % i])
            router.recv_multipart()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO acks (seq, handler, at) VALUES (?, 'floor', ?)", (i, t0))
            db.execute("COMMIT")
            samples.append((time.perf_counter() - t0) * 1e6)
        elapsed = time.perf_counter() - started
    finally:
        router.send_multipart([peer, b"stop"])
        proc.wait(timeout=30)
        router.close(linger=0)
        ctx.term()
        db.close()
        shutil.rmtree(root, ignore_errors=True)
    warm = samples[warm_from:]
    return {
        "median_rtt_us": statistics.median(warm),
        "p99_rtt_us": percentile(warm, 0.99),
        "events_per_s": len(warm) / elapsed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events per handler with 1 handler")
    parser.add_argument("--rounds", type=int, default=3, help="floor/numeraud pairs, run alternately")
    parser.add_argument("--handlers-many", type=int, default=10)
    parser.add_argument("--events-many", type=int, default=1000, help="events per handler with many handlers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--handler-log-level", default="info", help="the handlers' log level (info logs each event)")
    parser.add_argument("--echo", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo:
        echo(args.echo)
        return 0
    # This machine's speed drifts from minute to minute (a shared VM): the floor and numeraud run
    # alternately, and each ratio compares a pair measured back to back.
    floors, ones, ratios = [], [], []
    for _ in range(args.rounds):
        floor_run = run_floor(args.events)
        one_run = run_numeraud(1, args.events, args.handler_log_level)
        floors.append(floor_run)
        ones.append(one_run)
        ratios.append(one_run["median_rtt_us"] / floor_run["median_rtt_us"])
    many = run_numeraud(args.handlers_many, args.events_many, args.handler_log_level)

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    floor = {k: med(floors, k) for k in ("median_rtt_us", "p99_rtt_us", "events_per_s")}
    one = {k: med(ones, k) for k in ("median_rtt_us", "p99_rtt_us", "events_per_s_total", "events_per_s_per_handler")}
    ratio = statistics.median(ratios)
    rows = [
        ("", "median RTT us", "p99 RTT us", "acked events/s", "per handler"),
        (
            "(b) floor: zmq ping-pong + 1 commit",
            f"{floor['median_rtt_us']:.0f}",
            f"{floor['p99_rtt_us']:.0f}",
            f"{floor['events_per_s']:.0f}",
            "-",
        ),
        (
            "(a) numeraud, 1 handler",
            f"{one['median_rtt_us']:.0f}",
            f"{one['p99_rtt_us']:.0f}",
            f"{one['events_per_s_total']:.0f}",
            f"{one['events_per_s_per_handler']:.0f}",
        ),
        (
            f"(a) numeraud, {args.handlers_many} handlers",
            f"{many['median_rtt_us']:.0f}",
            f"{many['p99_rtt_us']:.0f}",
            f"{many['events_per_s_total']:.0f}",
            f"{many['events_per_s_per_handler']:.0f}",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    print(
        f"(medians of {args.rounds} alternating floor/numeraud pairs; ratios per pair: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + ")"
    )
    print(f"ratio a/b (median RTT, 1 handler): {ratio:.2f}  (target <= 3)")
    print(f"p99 RTT, 1 handler: {one['p99_rtt_us'] / 1000:.1f} ms  (target < 10 ms)")
    share = one["events_per_s_per_handler"] / floor["events_per_s"]
    print(
        f"acked events/s per handler, 1 handler: {one['events_per_s_per_handler']:.0f}  (no target;"
        f" {share:.2f} of the floor's {floor['events_per_s']:.0f}/s on this machine now)"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "median_rtt_us": round(one["median_rtt_us"], 1),
                    "p99_rtt_us": round(one["p99_rtt_us"], 1),
                    "floor_rtt_us": round(floor["median_rtt_us"], 1),
                    "floor_p99_rtt_us": round(floor["p99_rtt_us"], 1),
                    "floor_events_per_s": round(floor["events_per_s"], 1),
                    "ratio": round(ratio, 3),
                    "ratios": [round(x, 3) for x in ratios],
                    "events_per_s": round(one["events_per_s_per_handler"], 1),
                    "events_per_s_share_of_floor": round(share, 3),
                    "many_handlers": args.handlers_many,
                    "many_median_rtt_us": round(many["median_rtt_us"], 1),
                    "many_p99_rtt_us": round(many["p99_rtt_us"], 1),
                    "many_events_per_s_total": round(many["events_per_s_total"], 1),
                    "many_events_per_s_per_handler": round(many["events_per_s_per_handler"], 1),
                    "handler_log_level": args.handler_log_level,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
