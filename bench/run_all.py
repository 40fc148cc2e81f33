"""Every benchmark in one run, one table: ``bench/results/latest.md``, ``latest.json``, ``latest.png``.

Runs, each as a subprocess with its ``--json`` (smaller sizes with ``--quick``), and collects
their last-line JSON: ``bench/e2e.py`` (round open -> every model's upload accepted, numeraud
against a cron script, Numerai Compute's pattern and the warm floor), ``bench/bus.py`` (the bus
round trip), ``bench/round_latency.py`` (open -> first handler; supervisor RSS over polls),
``bench/data_memory.py`` (training-data load memory and time) and ``bench/ctl_latency.py``
(``numeraudctl status``), ``bench/e2e.py --live-scale 4`` (the same with a 4x live file; not in
``--quick``) and ``bench/log_growth.py`` (the event log's size and ``numeraudctl
status`` after many rounds). ``bench/chaos.py`` is a reliability run, not part of this.

Each figure is shown with its floor or peer from the same run, the ratio and its target. The
JSON holds every figure by name (``e2e_numeraud_10_models_s`` ...), the date, the machine (cores,
memory, Python, package versions) and each benchmark's own JSON. The chart (time to all accepted
by contestant and model count) is written beside them. Exits 1 if a benchmark failed (the others
are still reported).

    python bench/run_all.py [--quick] [--only e2e,bus] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chart import write_chart  # noqa: E402
from bench.figures import Row, rows_of, targets_note  # noqa: E402
from bench.machine import machine  # noqa: E402

#: name -> (script, full-run arguments, --quick arguments (None: not in --quick), timeout in seconds).
#: The full run fits 15 minutes on 2 cores: 3 rounds per contestant up to 10 models, 1 at 50 (numeraud's
#: 50 handler processes start and train before it), the Compute pattern (one cold process per model:
#: ~15-45 s a round at 10 models, minutes at 50) in the first round only, and the 4x live file for
#: numeraud and its floor at 1 and 10 models (the growth figures), one round.
BENCHES: dict[str, tuple[str, list[str], list[str] | None, float]] = {
    "e2e": ("e2e.py", ["--rounds", "3", "--rounds-many", "1", "--compute-rounds", "1"], ["--quick"], 1800),
    "e2e_live4x": (
        "e2e.py",
        ["--live-scale", "4", "--models", "1,10", "--rounds", "1", "--contestants", "numeraud,floor"],
        None,
        1200,
    ),
    "bus": ("bus.py", [], ["--events", "300", "--rounds", "1", "--handlers-many", "3", "--events-many", "100"], 300),
    "round_latency": (
        "round_latency.py",
        [],
        ["--rounds", "2", "--polls", "300", "--warmup-polls", "50", "--floor-repeats", "1", "--train-rows", "500"],
        600,
    ),
    "data_memory": (
        "data_memory.py",
        ["--train-rows", "50000", "--repeat", "2"],
        ["--train-rows", "5000", "--repeat", "1"],
        600,
    ),
    "ctl_latency": ("ctl_latency.py", [], ["--runs", "5"], 300),
    "log_growth": ("log_growth.py", ["--runs", "5"], ["--rounds", "200", "--runs", "2"], 900),
}


def run_bench(name: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark with ``--json``; its JSON, with ``seconds`` (or ``error``)."""
    script, full, small, timeout = BENCHES[name]
    command = [sys.executable, str(ROOT / "bench" / script), *((small or []) if quick else full), "--json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s", "seconds": round(time.monotonic() - started, 1)}
    seconds = round(time.monotonic() - started, 1)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {done.returncode}: {last}", "seconds": seconds}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"last line is not JSON: {lines[-1][:200]}", "seconds": seconds}
    return {**result, "seconds": seconds}


def table(rows: list[Row]) -> list[str]:
    """The results as a Markdown table."""
    out = ["| figure | value | floor / peer | ratio | target | met |", "|---|---:|---:|---:|---|:---:|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        out.append(f"| {r.label} | {r.value} | {r.floor} | {ratio} | {r.target} | {met} |")
    return out


def write_results(out_dir: Path, report: dict[str, Any], rows: list[Row], chart: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    m = report["machine"]
    lines = [
        f"# numeraud benchmarks: {report['date']}{' (quick)' if report['quick'] else ''}"
        + ("" if report["complete"] else " (partial: the run was cut short or is still going)"),
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        + f"; load average {m['load_1min_before']} before, {m['load_1min_after']} after"
        + (" (**loaded**: other work was running)" if m["loaded"] else ""),
        "",
        *table(rows),
        "",
        *targets_note(rows),
    ]
    if chart is not None:
        lines += ["", f"![time to all accepted]({chart.name})"]
    errors = {name: r["error"] for name, r in report["benches"].items() if "error" in r}
    if errors:
        lines += ["", "Failed: " + "; ".join(f"{n}: {e}" for n, e in errors.items())]
    (out_dir / "latest.md").write_text("\n".join(lines) + "\n")


def report_of(
    benches: dict[str, dict[str, Any]], args: argparse.Namespace, started: float, load_before: float, *, complete: bool
) -> tuple[list[Row], dict[str, Any], Path | None]:
    """The rows and report of the benchmarks run so far, written to ``args.out``."""
    rows, figures = rows_of(benches)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "complete": complete,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(load_before),
        **figures,
        "benches": benches,
    }
    chart = None
    if "e2e" in benches and "error" not in benches["e2e"]:
        chart = write_chart(benches["e2e"], args.out / "latest.png")
    write_results(args.out, report, rows, chart)
    return rows, report, chart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of <= 3 minutes")
    parser.add_argument("--only", default=",".join(BENCHES), help="benchmarks to run, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the results go")
    args = parser.parse_args(argv)
    chosen = [n for n in args.only.split(",") if n]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown or not chosen:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown) or '(none)'}; known: {', '.join(BENCHES)}")
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    benches: dict[str, dict[str, Any]] = {}
    todo = [n for n in chosen if not (args.quick and BENCHES[n][2] is None)]
    if not todo:
        parser.error(f"--only: {args.only} has nothing that runs with --quick")
    for name in todo:
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        benches[name] = run_bench(name, args.quick)
        print(f"[run_all] {name}: {benches[name].get('error', 'ok')} ({benches[name]['seconds']} s)", file=sys.stderr)
        # Written after each benchmark, so that a run cut short still leaves what it measured.
        rows, report, chart = report_of(benches, args, started, load_before, complete=len(benches) == len(todo))
    print("\n".join(table(rows)))
    print("\n".join(targets_note(rows)))
    print(
        f"[run_all] {report['seconds']} s; wrote {args.out}/latest.md, latest.json" + (", latest.png" if chart else "")
    )
    return 1 if any("error" in r for r in benches.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
