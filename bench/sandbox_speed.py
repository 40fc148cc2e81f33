"""Is the sandbox ever the bottleneck? Rounds-query latency and file streaming against their floors.

(a) a ``rounds(number: 0)`` GraphQL query through the sandbox vs (b) the floor: the same JSON
answered by a bare stdlib HTTP server on the same machine, both over one keep-alive
``requests.Session``; then a file download through the sandbox vs reading the same file from disk.
Prints a table (medians, p99, ratios); ``--json`` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from numeraud.sandbox import Sandbox, SandboxOptions

QUERY = {
    "query": "query($tournament: Int!) { rounds(tournament: $tournament, number: 0) "
    "{ number openTime closeStakingTime } }",
    "variables": {"tournament": 8},
}


class _Floor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _latencies(url: str, count: int) -> list[float]:
    session = requests.Session()
    for _ in range(20):
        session.post(url, json=QUERY, timeout=10)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        session.post(url, json=QUERY, timeout=10).raise_for_status()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        Sandbox(SandboxOptions(Path(scratch), size=args.size, versions=("v5.2",))) as sandbox,
    ):
        _Floor.body = requests.post(sandbox.url, json=QUERY, timeout=10).content
        floor = ThreadingHTTPServer(("127.0.0.1", 0), _Floor)
        threading.Thread(target=floor.serve_forever, daemon=True).start()
        floor_url = f"http://127.0.0.1:{floor.server_address[1]}/"
        sandbox_rtt = _latencies(sandbox.url, args.requests)
        floor_rtt = _latencies(floor_url, args.requests)
        floor.shutdown()
        path = Path(scratch) / "v5.2" / "train.parquet"
        size = path.stat().st_size
        started = time.perf_counter()
        with requests.get(f"{sandbox.url}/files/v5.2/train.parquet", stream=True, timeout=60) as answer:
            received = sum(len(chunk) for chunk in answer.iter_content(1 << 20))
        http_s = time.perf_counter() - started
        started = time.perf_counter()
        with path.open("rb") as source:
            while source.read(1 << 20):
                pass
        disk_s = time.perf_counter() - started
    assert received == size
    result = {
        "median_rtt_us": round(statistics.median(sandbox_rtt), 1),
        "p99_rtt_us": round(_p99(sandbox_rtt), 1),
        "floor_median_rtt_us": round(statistics.median(floor_rtt), 1),
        "floor_p99_rtt_us": round(_p99(floor_rtt), 1),
        "ratio": round(statistics.median(sandbox_rtt) / statistics.median(floor_rtt), 2),
        "file_bytes": size,
        "download_mb_s": round(size / http_s / 1e6, 1),
        "disk_read_mb_s": round(size / disk_s / 1e6, 1),
    }
    print(f"{'':28}{'median':>12}{'p99':>12}")
    print(f"{'sandbox rounds query (µs)':28}{result['median_rtt_us']:>12}{result['p99_rtt_us']:>12}")
    print(f"{'bare HTTP floor (µs)':28}{result['floor_median_rtt_us']:>12}{result['floor_p99_rtt_us']:>12}")
    print(f"{'ratio sandbox/floor':28}{result['ratio']:>12}")
    print(
        f"file {size:,} B: sandbox download {result['download_mb_s']} MB/s, disk read {result['disk_read_mb_s']} MB/s"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
