"""Benchmark of round latency and supervisor memory, side by side with their floor (not a test).

(a) Latency: a ``--size full`` sandbox (6,720 live rows x 2,748 features, ~9 MB live file per
    round) runs in this process; the real ``numeraud run --config FILE --spawn-handlers`` runs as
    a subprocess with a fast poll (``[poll] idle_interval = fast_interval = --interval``, 0.5 s by
    default: what a user who wants low latency without a webhook would set), and a tiny handler
    (:class:`LatencyStamp`, in this file) writes ``time.monotonic()`` when its
    ``on_new_tournament_data`` runs. CLOCK_MONOTONIC is system-wide on Linux, so the handler's
    stamp and the stamp this process takes just before ``Sandbox.open_round()`` compare directly.
    Timed: from just before ``open_round()`` to the first handler's callback. Not timed: the
    sandbox generating the round's live file and its ETag (MD5), which are done before
    ``open_round()`` (Numerai has the file in S3 before the round opens), and the warm-up round
    (start-up, ``[data] training_files = ["features.json"]`` and round 1's live file).
    With ``--detect webhook`` the sandbox calls numeraud's ``[poll] webhook`` listener when the
    round opens (registered with the sandbox as a model's submission webhook) instead.
(b) The floor: a bare ``numerapi.NumerAPI().download_dataset("v5.2/live.parquet", dest)`` of the
    same round's file from the same sandbox (``--floor-repeats`` per round, median), plus the
    poll's expected detection delay (interval / 2; 0 with the webhook).
(c) Memory: VmRSS of the supervisor process (the ``numeraud run`` subprocess; its pid is checked
    against ``status``) in a second run on the same state with ``idle_interval = fast_interval =
    0.001``: after start-up and ``--warmup-polls`` polls (no round due: the "idle" baseline), then
    after ``--polls`` more poll cycles, counted as ``rounds`` GraphQL queries in the sandbox's
    request log.

Prints a table; with ``--json`` the last line is one JSON object with ``latency_median_s``,
``latency_max_s``, ``floor_median_s``, ``ratio``, ``rss_idle_mb``, ``rss_after_polls_mb`` and
``polls`` (and a few more).

    python bench/round_latency.py [--rounds 15] [--polls 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numerapi  # noqa: E402
import numerapi.base_api  # noqa: E402
import structlog  # noqa: E402

from bench.processes import Daemon, free_port, rss_mb, start_daemon, tail, terminate_as_exit, wait_for_status  # noqa: E402
from numeraud import EventHandler  # noqa: E402
from numeraud.numerai.client import use_api_url  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402

VERSION = "v5.2"
HANDLER_CLASS = "bench.round_latency:LatencyStamp"


class LatencyStamp(EventHandler):
    """Appends ``{"kind", "round", "mono", "wall"}`` to ``options.record`` when an event arrives."""

    def _stamp(self, kind: str, round_number: int) -> None:
        mono, wall = time.monotonic(), time.time()
        line = {"handler": self.name, "kind": kind, "round": round_number, "mono": mono, "wall": wall}
        with Path(self.options["record"]).open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def on_round_begin(self, round_number: int) -> None:
        self._stamp("round_begin", round_number)

    def on_new_tournament_data(self, round_number: int) -> None:
        self._stamp("new_tournament_data", round_number)


# -- configuration --------------------------------------------------------------------------------


def write_config(
    path: Path,
    root: Path,
    api_url: str,
    *,
    interval: float,
    handlers: list[str],
    record: Path,
    webhook: str | None = None,
) -> Path:
    hooks = f'webhook = "{webhook}"\n' if webhook else ""
    text = f"""# written by bench/round_latency.py
[numerai]
api_url = "{api_url}"

[paths]
state_dir = "{root}/state"
runtime_dir = "{root}/run"
data_dir = "{root}/data"

[data]
version = "latest"
training_files = ["features.json"]
live_files = ["live.parquet"]

[poll]
idle_interval = {interval!r}
fast_interval = {interval!r}
{hooks}
"""
    for name in handlers:
        text += f'\n[handlers.{name}]\nclass = "{HANDLER_CLASS}"\noptions = {{ record = "{record}" }}\n'
    path.write_text(text)
    return path


# -- measurements ---------------------------------------------------------------------------------


def read_stamps(record: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The first stamp (any handler) per (kind, round)."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    if not record.exists():
        return found
    for line in record.read_text().splitlines():
        if not line.strip():
            continue
        stamp = json.loads(line)
        key = (stamp["kind"], int(stamp["round"]))
        if key not in found or stamp["mono"] < found[key]["mono"]:
            found[key] = stamp
    return found


def wait_for_stamp(daemon: Daemon, record: Path, round_number: int, deadline: float) -> dict[str, Any]:
    key = ("new_tournament_data", round_number)
    while time.monotonic() < deadline:
        stamp = read_stamps(record).get(key)
        if stamp is not None:
            return stamp
        daemon.check_alive()
        time.sleep(0.002)
    raise TimeoutError(f"no new_tournament_data for round {round_number}; see {daemon.log}:\n{tail(daemon.log)}")


def log_times(log: Path, round_number: int) -> dict[str, float]:
    """Wall-clock times of the supervisor's log lines about ``round_number`` (first of each)."""
    wanted = {"round_opened", "file_synced", "round_published", "event_published"}
    times: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, dict) or entry.get("event") not in wanted:
            continue
        ours = entry.get("round") == round_number or entry.get("file") == f"{VERSION}/live_{round_number}.parquet"
        if not ours:
            continue
        name = str(entry["event"])
        if name == "event_published":
            name = f"published_{entry.get('kind')}"
        if name not in times and "timestamp" in entry:
            times[name] = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00")).timestamp()
    return times


def floor_downloads(api_url: str, scratch: Path, repeats: int) -> list[float]:
    """Bare numerapi downloads of the current round's live file (seconds each)."""
    use_api_url(api_url)
    assert api_url.rstrip("/") == numerapi.base_api.API_TOURNAMENT_URL
    napi = numerapi.NumerAPI(verbosity="warning", show_progress_bars=False)
    times = []
    for i in range(repeats):
        dest = scratch / f"floor_{i}.parquet"
        dest.unlink(missing_ok=True)
        started = time.monotonic()
        napi.download_dataset(f"{VERSION}/live.parquet", str(dest))
        times.append(time.monotonic() - started)
        if dest.stat().st_size < 1_000_000:
            raise RuntimeError(f"the floor download is only {dest.stat().st_size} bytes")
        dest.unlink()
    return times


def count_polls(requests: Any) -> int:
    """Drain the sandbox's request log (a deque, atomic poplefts) and count ``rounds`` queries."""
    polls = 0
    while True:
        try:
            entry = requests.popleft()
        except IndexError:
            return polls
        if entry.get("route") == "graphql" and "rounds" in entry.get("fields", ()):
            polls += 1


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    breakdown: list[dict[str, float]] = field(default_factory=list)
    floors: list[float] = field(default_factory=list)
    rss_startup_mb: float = 0.0
    rss_idle_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_samples: list[tuple[int, float]] = field(default_factory=list)
    rss_latency_run_mb: float = 0.0
    rss_rounds: list[float] = field(default_factory=list)
    polls: int = 0
    poll_seconds: float = 0.0


def run(args: argparse.Namespace, root: Path, out: Results) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # the sandbox: errors only
    quiet = not args.verbose
    say = (lambda *_a: None) if quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    say(f"[bench] sandbox --size full, train_rows={args.train_rows} in {root}")
    options = SandboxOptions(
        data_dir=root / "sandbox", size="full", train_rows=args.train_rows, window=args.window, versions=(VERSION,)
    )
    names = [f"stamp-{i}" for i in range(args.handlers)]
    record = root / "stamps.jsonl"
    scratch = root / "scratch"
    scratch.mkdir()
    with Sandbox(options) as sandbox:
        core = sandbox.core
        webhook = None
        if args.detect == "webhook":
            webhook = f"127.0.0.1:{free_port()}"
            core.set_webhook(sandbox.model_ids()["sandbox_model_1"], f"http://{webhook}/")
        config = write_config(
            root / "latency.toml",
            root,
            sandbox.url,
            interval=args.interval,
            handlers=names,
            record=record,
            webhook=webhook,
        )
        # ---- (a) latency -------------------------------------------------------------------
        daemon = start_daemon(config, root / "latency.log")
        try:
            status = wait_for_status(daemon, time.monotonic() + 120)
            if status["pid"] != daemon.process.pid:
                raise RuntimeError(f"status pid {status['pid']} is not the subprocess {daemon.process.pid}")
            first = core.current_round().number
            wait_for_stamp(daemon, record, first, time.monotonic() + 300)  # warm-up round: not timed
            daemon.status()
            time.sleep(1.0)
            out.rss_latency_run_mb = rss_mb(daemon.process.pid)
            say(f"[bench] warm-up round {first} delivered; supervisor pid {daemon.process.pid}")
            for _ in range(args.rounds):
                number = core.current_round().number + 1
                for name in core.generator.ensure_live(VERSION, number):
                    path = core.public_file(name)
                    assert path is not None
                    core.etag(path)  # the ETag (MD5) is cached: S3 has it before the round opens
                time.sleep(random.uniform(1.0, 1.0 + args.interval))  # a random phase against the poll
                wall0, t0 = time.time(), time.monotonic()
                opened = sandbox.open_round(window=args.window)
                if opened != number:
                    raise RuntimeError(f"opened round {opened}, expected {number}")
                stamp = wait_for_stamp(daemon, record, number, time.monotonic() + args.round_timeout)
                latency = stamp["mono"] - t0
                out.latencies.append(latency)
                logged = log_times(daemon.log, number)
                parts = {"latency": latency, "handler_wall": stamp["wall"] - wall0}
                parts |= {name: when - wall0 for name, when in logged.items()}
                out.breakdown.append(parts)
                floors = floor_downloads(sandbox.url, scratch, args.floor_repeats)
                out.floors += floors
                out.rss_rounds.append(rss_mb(daemon.process.pid))
                say(f"[bench] round {number}: {latency:.3f} s (floor {statistics.median(floors):.3f} s)")
        finally:
            daemon.stop()
        # ---- (c) memory --------------------------------------------------------------------
        fast = write_config(
            root / "polls.toml", root, sandbox.url, interval=args.fast_interval, handlers=names, record=record
        )
        count_polls(core.requests)
        daemon = start_daemon(fast, root / "polls.log")
        try:
            status = wait_for_status(daemon, time.monotonic() + 120)
            pid = daemon.process.pid
            if status["pid"] != pid:
                raise RuntimeError(f"status pid {status['pid']} is not the subprocess {pid}")
            out.rss_startup_mb = rss_mb(pid)
            polls = count_polls(core.requests)
            deadline = time.monotonic() + 120
            while polls < args.warmup_polls and time.monotonic() < deadline:
                time.sleep(0.05)
                daemon.check_alive()
                polls += count_polls(core.requests)
            if polls < args.warmup_polls:
                raise TimeoutError(f"only {polls} polls in the warm-up")
            out.rss_idle_mb = rss_mb(pid)
            out.rss_samples.append((0, out.rss_idle_mb))
            counted, started = 0, time.monotonic()
            next_sample = args.polls // 10
            deadline = started + args.polls_timeout
            while counted < args.polls and time.monotonic() < deadline:
                time.sleep(0.05)
                daemon.check_alive()
                counted += count_polls(core.requests)
                if counted >= next_sample:
                    out.rss_samples.append((counted, rss_mb(pid)))
                    next_sample += args.polls // 10
            out.poll_seconds = time.monotonic() - started
            out.polls = counted
            out.rss_after_mb = rss_mb(pid)
            say(f"[bench] {counted} polls in {out.poll_seconds:.1f} s")
            after = daemon.status()
            if after["handlers"] and any(h["state"] == "blocked" for h in after["handlers"].values()):
                raise RuntimeError(f"a handler is blocked: {after['handlers']}")
        finally:
            daemon.stop()


# -- report ---------------------------------------------------------------------------------------


def summary(args: argparse.Namespace, r: Results) -> dict[str, Any]:
    detection = args.interval / 2 if args.detect == "poll" else 0.0
    download = statistics.median(r.floors)
    floor = download + detection
    latency = statistics.median(r.latencies)
    # The poll's phase at open_round() is chance: the detection delay is uniform over the interval,
    # and its median over a handful of rounds moves by tens of ms from run to run. What numeraud
    # itself adds is the rest: from the poll that saw the round to the handler's callback.
    detected = [p["round_opened"] for p in r.breakdown if "round_opened" in p]
    pipeline = [p["latency"] - p["round_opened"] for p in r.breakdown if "round_opened" in p and "latency" in p]
    return {
        "latency_median_s": round(latency, 4),
        "latency_max_s": round(max(r.latencies), 4),
        "latency_min_s": round(min(r.latencies), 4),
        "floor_median_s": round(floor, 4),
        "floor_download_median_s": round(download, 4),
        "floor_detection_s": detection,
        "ratio": round(latency / floor, 2),
        "difference_s": round(latency - floor, 4),
        "detection_median_s": round(statistics.median(detected), 4) if detected else None,
        "pipeline_median_s": round(statistics.median(pipeline), 4) if pipeline else None,
        "rss_idle_mb": round(r.rss_idle_mb, 1),
        "rss_after_polls_mb": round(r.rss_after_mb, 1),
        "rss_growth_mb": round(r.rss_after_mb - r.rss_idle_mb, 2),
        "rss_startup_mb": round(r.rss_startup_mb, 1),
        "rss_latency_run_mb": round(r.rss_latency_run_mb, 1),
        "rss_latency_run_rounds_mb": [round(x, 1) for x in r.rss_rounds],
        "polls": r.polls,
        "polls_per_s": round(r.polls / r.poll_seconds, 1) if r.poll_seconds else None,
        "rounds": len(r.latencies),
        "detect": args.detect,
        "interval_s": args.interval,
        "latencies_s": [round(x, 4) for x in r.latencies],
    }


def print_table(args: argparse.Namespace, r: Results, s: dict[str, Any]) -> None:
    mode = (
        f"poll every {args.interval:g} s (idle_interval = fast_interval)"
        if args.detect == "poll"
        else f"[poll] webhook (polls every {args.interval:g} s as a fallback)"
    )
    print(f"round latency: sandbox --size full, {len(r.latencies)} rounds, {args.handlers} handler(s), {mode}")
    print(f"{'':44}{'median':>10}{'max':>10}{'min':>10}")
    print(
        f"{'open_round() -> on_new_tournament_data (s)':44}"
        f"{s['latency_median_s']:>10.3f}{s['latency_max_s']:>10.3f}{s['latency_min_s']:>10.3f}"
    )
    print(
        f"{'floor: numerapi download_dataset (s)':44}{s['floor_download_median_s']:>10.3f}"
        f"{max(r.floors):>10.3f}{min(r.floors):>10.3f}"
    )
    print(f"{'floor: + detection delay interval/2 (s)':44}{s['floor_median_s']:>10.3f}")
    print(f"{'ratio latency / floor':44}{s['ratio']:>10.2f}")
    print(f"{'difference latency - floor (s)':44}{s['difference_s']:>10.3f}")
    if s["pipeline_median_s"] is not None:
        detected, pipeline = s["detection_median_s"], s["pipeline_median_s"]
        print(f"{'detected by the poll (s after open)':44}{detected:>10.3f}   (chance: uniform over the interval)")
        print(f"{'poll that saw it -> handler (s)':44}{pipeline:>10.3f}   (URL, download, digests, checks, commit)")
    print()
    print("per round (s after open_round(); supervisor log times are wall-clock):")
    columns = ["round_opened", "file_synced", "round_published", "published_new_tournament_data", "latency"]
    heads = ["detected", "live synced", "published", "ntd committed", "handler"]
    print("  " + "".join(f"{h:>15}" for h in heads))
    for parts in r.breakdown:
        print("  " + "".join(f"{parts[c]:>15.3f}" if c in parts else f"{'-':>15}" for c in columns))
    print()
    print(f"supervisor RSS (VmRSS), polling every {args.fast_interval:g} s:")
    print(f"  {'after start-up':40}{s['rss_startup_mb']:>10.1f} MB")
    print(f"  {f'idle, after {args.warmup_polls} warm-up polls':40}{s['rss_idle_mb']:>10.1f} MB")
    after = f"after {s['polls']} more polls"
    print(f"  {after:40}{s['rss_after_polls_mb']:>10.1f} MB")
    print(f"  {'growth':40}{s['rss_growth_mb']:>+10.2f} MB")
    print(f"  {'polls per second':40}{s['polls_per_s'] or 0:>10.1f}")
    print("  samples (polls: MB): " + ", ".join(f"{n}: {mb:.1f}" for n, mb in r.rss_samples))
    print(
        f"  (latency run: {s['rss_latency_run_mb']:.1f} MB idle after start-up and the warm-up round; "
        "after each timed round: " + ", ".join(f"{mb:.1f}" for mb in r.rss_rounds) + " MB)"
    )


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--detect", choices=("poll", "webhook"), default="poll", help="how rounds are noticed")
    parser.add_argument("--interval", type=float, default=0.5, help="poll interval of the latency run (s)")
    parser.add_argument("--handlers", type=int, default=1, help="handler processes (latency: the first)")
    parser.add_argument("--train-rows", type=int, default=5000, help="sandbox training rows (default 5000)")
    parser.add_argument("--window", type=float, default=3600.0, help="submission window of each round (s)")
    parser.add_argument("--floor-repeats", type=int, default=3, help="floor downloads per round")
    parser.add_argument("--round-timeout", type=float, default=120.0, help="seconds to wait for one round")
    parser.add_argument("--polls", type=int, default=10_000, help="poll cycles of the memory run")
    parser.add_argument("--warmup-polls", type=int, default=500, help="polls before the idle RSS is taken")
    parser.add_argument("--fast-interval", type=float, default=0.001, help="poll interval of the memory run (s)")
    parser.add_argument("--polls-timeout", type=float, default=600.0, help="seconds allowed for the polls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.floor_repeats < 1 or args.polls < 10 or args.handlers < 1:
        parser.error("--rounds, --floor-repeats, --handlers must be >= 1 and --polls >= 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="nrl-", dir="/tmp"))
    results = Results()
    with terminate_as_exit():
        try:
            run(args, root, results)
        finally:
            if args.keep:
                print(f"[bench] kept {root}", file=sys.stderr)
            else:
                shutil.rmtree(root, ignore_errors=True)
    s = summary(args, results)
    print_table(args, results, s)
    if args.json:
        print(json.dumps(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
