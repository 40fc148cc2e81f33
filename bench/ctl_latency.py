"""How long ``numeraudctl status`` takes, whole process, next to its peers.

Medians (and p90) over ``--runs`` runs of: ``numeraudctl status`` against a running supervisor
(started here, with one connected handler, an event in its log), ``numeraudctl status`` with the
supervisor down (it reads the database read-only), ``python -c pass`` (the interpreter's own
start) and ``systemctl --version``. The console script of this installation is run when there is
one (else ``python -m numeraud.cli.ctl``). Each command runs once before timing, with
``PYTHONDONTWRITEBYTECODE`` unset, so Python's bytecode caches exist as after ``pip install``.
``numeraudctl status (running, no bytecode)`` is the same against a copy of the numeraud package
without ``__pycache__`` and with ``PYTHONDONTWRITEBYTECODE=1``: every run compiles numeraud again,
as on a machine that sets the variable on a source checkout that was never compiled.
Target: ``numeraudctl status`` at most 100 ms median (with bytecode, as installed). Prints a
table; ``--json``: one JSON object as the last line.

    python bench/ctl_latency.py [--runs 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


def _ctl() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "numeraudctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "numeraud.cli.ctl"]


def _env(path: Path = ROOT, *, bytecode: bool = True) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "NOTIFY_SOCKET", "WATCHDOG_USEC")
    }
    env["PYTHONPATH"] = str(path)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _time(
    argv: list[str], runs: int, ok: tuple[int, ...], env: dict[str, str] | None = None, cwd: Path | None = None
) -> list[float]:
    env = env or _env()
    first = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, check=False)  # warm-up: writes bytecode caches
    if first.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {first.returncode}: {first.stderr.decode(errors='replace')}")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _wait_up(ctl: list[str], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    delay = 0.01
    while subprocess.run([*ctl, "status"], capture_output=True, env=_env(), check=False).returncode not in (0, 6):
        if time.monotonic() > end:
            raise SystemExit("the supervisor did not answer in time")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ncl-", dir="/tmp"))
    config = root / "numeraud.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{root}/state"\nruntime_dir = "{root}/run"\n[poll]\nenabled = false\n'
        f'[handlers.a]\nclass = "tests.bus.sample_handlers:Recorder"\n'
        f'[handlers.a.options]\nrecord = "{root}/a.jsonl"\n'
    )
    ctl = [*_ctl(), "--config", str(config)]
    log = (root / "processes.log").open("ab")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(config)],
            env=_env(),
            stdout=log,
            stderr=log,
        )
    ]
    results: dict[str, list[float]] = {}
    try:
        _wait_up(ctl)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "numeraud.handler.main", "a", "--config", str(config)],
                env=_env(),
                stdout=log,
                stderr=log,
            )
        )
        subprocess.run([*ctl, "append", "round_begin", "--round", "1"], capture_output=True, env=_env(), check=True)
        results["numeraudctl status (running)"] = _time([*ctl, "status"], args.runs, (0, 6))
        source = root / "source"
        shutil.copytree(ROOT / "numeraud", source / "numeraud", ignore=shutil.ignore_patterns("__pycache__"))
        # python -m puts the working directory first on the path: the copy's, not this checkout's
        status = [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(config), "status"]
        results["numeraudctl status (running, no bytecode)"] = _time(
            status, args.runs, (0, 6), _env(source, bytecode=False), cwd=source
        )
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        results["numeraudctl status (down)"] = _time([*ctl, "status"], args.runs, (3,))
        results["python -c pass"] = _time([sys.executable, "-c", "pass"], args.runs, (0,))
        systemctl = shutil.which("systemctl")
        if systemctl:
            results["systemctl --version"] = _time([systemctl, "--version"], args.runs, (0,))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
    rows = {
        name: {
            "median_ms": round(statistics.median(t), 1),
            "p90_ms": round(sorted(t)[int(len(t) * 0.9) - 1], 1),
            "min_ms": round(min(t), 1),
        }
        for name, t in results.items()
    }
    print(f"{'command':<32} {'median':>8} {'p90':>8} {'min':>8}   ({args.runs} runs each; ctl: {' '.join(_ctl())})")
    for name, row in rows.items():
        print(f"{name:<32} {row['median_ms']:>6.1f}ms {row['p90_ms']:>6.1f}ms {row['min_ms']:>6.1f}ms")
    running = rows["numeraudctl status (running)"]["median_ms"]
    verdict = "meets" if running <= TARGET_MS else "MISSES"
    print(f"numeraudctl status {verdict} its target: {running:.1f} ms median (target {TARGET_MS:.0f} ms)")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    print(f"load average (1 min) while measuring: {load}, cores: {os.cpu_count()}")
    if args.json:
        print(json.dumps({"runs": args.runs, "target_ms": TARGET_MS, "results": rows, "load_1min": load}))


if __name__ == "__main__":
    main()
