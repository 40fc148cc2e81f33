"""Load: many handler processes connected and a backlog of events, while ``numeraudctl status`` is timed.

The installation has only checking handlers (:mod:`bench.chaosrun.checker`; no Numerai polling).
A first start creates their cursors at the empty log's end; with the supervisor stopped, the
backlog is committed to the event log through the supervisor's own store (one ``publish``
transaction per 1,000 events); then ``numeraud run --spawn-handlers`` starts again and every
handler works through the whole backlog, in order. Meanwhile this process asks the control socket
for ``status`` every 50 ms, as ``numeraudctl status`` does, and times each answer (the request and
reply round trip, not a new Python process starting). Reported: the handlers and the backlog, the
status answer's median and max in ms, the supervisor's peak RSS (``VmHWM``), and events lost or
delivered out of order.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.chaosrun import audit
from bench.chaosrun.common import Figures, say
from bench.chaosrun.rig import Rig, RigOptions
from numeraud.common.config_file import load
from numeraud.control.client import ControlClient
from numeraud.supervisor.store import Store

BATCH = 1000


def peak_rss_mb(pid: int) -> float:
    """VmHWM (the peak resident set) of ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmHWM for pid {pid}")


def run(quick: bool, seed: int, workdir: Path) -> Figures:
    """The scenario (see the module docstring)."""
    handlers, backlog = (10, 1000) if quick else (50, 10_000)
    options = RigOptions(models=0, uploader=False, notifier=False, checkers=handlers, follow=False)
    with Rig(workdir, seed, options) as rig:
        rig.start(timeout=300.0)
        rig.stop()
        store = Store(rig.database)
        try:
            for first in range(0, backlog, BATCH):
                events = [("chaos_load", n, {"n": n}) for n in range(first + 1, min(backlog, first + BATCH) + 1)]
                store.publish(events, {})
        finally:
            store.close()
        say(f"load: {backlog} events in the log, {handlers} handlers to start")
        started = time.monotonic()
        rig.start(timeout=300.0)
        pid = rig.supervisor().process.pid
        client = ControlClient(load(rig.config).bus.control_endpoint, timeout=5.0)
        timings: list[float] = []
        deadline = started + (300.0 if quick else 1800.0)
        done = False
        while time.monotonic() < deadline:
            rig.check_alive()
            t0 = time.perf_counter()
            status = client.call("status")
            timings.append((time.perf_counter() - t0) * 1000)
            cursors = [h.get("acked_seq") for h in status["handlers"].values()]
            if cursors and all(c == status["head_seq"] == backlog for c in cursors):
                done = True
                break
            time.sleep(0.05)
        drained = time.monotonic() - started
        peak = peak_rss_mb(pid)
        say(f"load: drained={done} in {drained:.1f} s; status median {statistics.median(timings):.1f} ms")
        figures = audit.check(rig, [])
        rig.stop()
        figures["secret_leaks"] = audit.leaks(rig)
    return figures | {
        "load_handlers": handlers,
        "load_backlog": backlog,
        "load_deliveries": handlers * backlog,
        "load_drain_seconds": round(drained, 1),
        "load_status_ms_median": round(statistics.median(timings), 2),
        "load_status_ms_max": round(max(timings), 2),
        "load_status_samples": len(timings),
        "supervisor_peak_rss_mb": round(peak, 1),
        "events_lost": figures["events_lost"] + (0 if done else 1),
    }
