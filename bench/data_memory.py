"""Loading a Numerai-width training file for a model: the model handler's loader vs plain pandas.

Generates a ``--size full`` training file (2,748 int8 features; ``--train-rows`` rows) with the
sandbox's generator, then, each in a fresh subprocess so peaks don't mix, loads it three ways:

* ``handler``: :func:`numeraud_handlers.data.load` with the columns a model needs (a feature set,
  ``era``, ``target``);
* ``pandas_columns``: ``pandas.read_parquet(path, columns=...)`` with the same columns;
* ``pandas_naive``: ``pandas.read_parquet(path)``, every column.

Reports peak RSS (sampled every 2 ms from /proc) above the RSS just before loading, wall time, the in-memory size of the
frame it needs, and the ratio peak / frame size. Medians over ``--repeat`` runs. ``--json``
prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from numeraud.sandbox.datagen import DatasetGenerator

CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
import pandas as pd
from numeraud_handlers.data import feature_set, load
PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE
peak = 0
done = threading.Event()
def sample():
    global peak
    while not done.is_set():
        peak = max(peak, rss())
        time.sleep(0.002)
path, features_json, way, feature_set_name = sys.argv[1:5]
columns = [*feature_set(Path(features_json), feature_set_name), "era", "target"]
baseline = rss()
sampler = threading.Thread(target=sample)
sampler.start()
started = time.perf_counter()
if way == "handler":
    frame = load(Path(path), columns)
elif way == "pandas_columns":
    frame = pd.read_parquet(path, columns=columns)
else:
    frame = pd.read_parquet(path)
elapsed = time.perf_counter() - started
peak = max(peak, rss())
done.set()
sampler.join()
needed = int(frame[columns].memory_usage(deep=True, index=True).sum())
print(json.dumps({"peak": peak - baseline, "seconds": elapsed, "needed_bytes": needed, "rows": len(frame)}))
"""
WAYS = ("handler", "pandas_columns", "pandas_naive")


def main() -> None:
    """Generate the file, run each loader in a subprocess, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-rows", type=int, default=250_000)
    parser.add_argument("--feature-set", default="all")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        generator = DatasetGenerator(Path(scratch), "full", 0, train_rows=args.train_rows)
        generator.ensure_version("v5.2")
        path = Path(scratch) / "v5.2" / "train.parquet"
        features_json = Path(scratch) / "v5.2" / "features.json"
        runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
        for _ in range(args.repeat):
            for way in WAYS:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(features_json), way, args.feature_set],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[way].append(json.loads(out.stdout))
        file_bytes = path.stat().st_size
    result: dict[str, object] = {
        "file_bytes": file_bytes,
        "train_rows": args.train_rows,
        "feature_set": args.feature_set,
    }
    print(f"train.parquet: {file_bytes / 1e6:.0f} MB on disk, {args.train_rows:,} rows, feature set {args.feature_set}")
    print(f"{'loader':16}{'peak MB':>10}{'seconds':>10}{'frame MB':>10}{'peak/frame':>12}")
    for way in WAYS:
        peak = statistics.median(r["peak"] for r in runs[way])
        seconds = statistics.median(r["seconds"] for r in runs[way])
        needed = statistics.median(r["needed_bytes"] for r in runs[way])
        ratio = peak / needed
        result[way] = {
            "peak_bytes": peak,
            "seconds": round(seconds, 3),
            "needed_bytes": needed,
            "ratio": round(ratio, 2),
        }
        print(f"{way:16}{peak / 1e6:>10.0f}{seconds:>10.2f}{needed / 1e6:>10.0f}{ratio:>12.2f}")
    handler_peak = result["handler"]["peak_bytes"]  # type: ignore[index]
    naive_peak = result["pandas_naive"]["peak_bytes"]  # type: ignore[index]
    result["handler_vs_naive"] = round(handler_peak / naive_peak, 2)
    print(f"handler peak / naive peak: {result['handler_vs_naive']}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
