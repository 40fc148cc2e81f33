"""The runner's table: each benchmark's JSON turned into rows (figure, floor or peer, ratio,
target, met) and into flat figures by name, for ``bench/run_all.py``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The headline targets, at 10 models: numeraud this many times faster than the peer, or at most
#: this many times the floor.
E2E_TARGETS = {"cron": 2.0, "compute": 5.0, "floor": 1.5}


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    label: str
    value: str
    floor: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


def model_counts(e2e: dict[str, Any]) -> list[int]:
    """The model counts ``bench/e2e.py`` measured, ascending."""
    return sorted(int(m.group(1)) for k in e2e if (m := re.fullmatch(r"e2e_numeraud_(\d+)_models_s", k)))


def _time(e2e: dict[str, Any], who: str, n: int) -> str:
    """A contestant's median, max and rounds, e.g. ``3.460 s (max 3.902, 3 rounds)``."""
    rounds = e2e.get(f"e2e_{who}_{n}_models_rounds")
    of = f", {rounds} round{'s' if rounds != 1 else ''}" if rounds is not None else ""
    return f"{e2e[f'e2e_{who}_{n}_models_s']:.3f} s (max {e2e[f'e2e_{who}_{n}_models_max_s']:.3f}{of})"


def e2e_rows(e2e: dict[str, Any], extra: str = "") -> list[Row]:
    rows = []
    for n in model_counts(e2e):
        ours = e2e[f"e2e_numeraud_{n}_models_s"]
        head = f"open → all accepted{extra}, {n} model{'s' if n > 1 else ''}"
        if f"e2e_over_floor_{n}_models" in e2e:
            over = e2e[f"e2e_over_floor_{n}_models"]
            limit = E2E_TARGETS["floor"] if n == 10 and not extra else None
            rows.append(
                Row(
                    f"{head}: numeraud vs warm floor",
                    _time(e2e, "numeraud", n),
                    f"{e2e[f'e2e_floor_{n}_models_s']:.3f} s",
                    over,
                    f"≤ {limit:g}x floor" if limit else "",
                    over <= limit if limit else None,
                )
            )
        for peer in ("cron", "compute"):
            if f"e2e_speedup_vs_{peer}_{n}_models" not in e2e:
                continue
            speedup = e2e[f"e2e_speedup_vs_{peer}_{n}_models"]
            want = E2E_TARGETS[peer] if n == 10 and not extra else None
            rows.append(
                Row(
                    f"{head}: {peer} pattern / numeraud",
                    _time(e2e, peer, n),
                    f"numeraud {ours:.3f} s",
                    speedup,
                    f"≥ {want:g}x faster" if want else "",
                    speedup >= want if want else None,
                )
            )
        pss = e2e.get(f"e2e_pss_handlers_{n}_models_mb")
        rows.append(
            Row(
                f"{head}: numeraud RSS, supervisor + handlers",
                f"{e2e[f'e2e_rss_supervisor_{n}_models_mb']:.0f} + {e2e[f'e2e_rss_handlers_{n}_models_mb']:.0f} MB"
                + (f" (handlers' PSS {pss:.0f} MB)" if pss is not None else ""),
            )
        )
    return rows + growth_rows(e2e)


def per_doubling(low: float, high: float, n_low: int, n_high: int) -> float:
    """The factor a figure grows by per doubling of the model count, from two measurements."""
    return float((high / low) ** (1 / math.log2(n_high / n_low)))


def growth(e2e: dict[str, Any]) -> dict[str, float]:
    """numeraud's cost growth per doubling of the model count, between the fewest and most models."""
    counts = model_counts(e2e)
    if len(counts) < 2:
        return {}
    lo, hi = counts[0], counts[-1]
    return {
        f"e2e_growth_per_doubling_{what}": round(
            per_doubling(e2e[f"e2e_{what}_{lo}_models{unit}"], e2e[f"e2e_{what}_{hi}_models{unit}"], lo, hi), 2
        )
        for what, unit in (
            ("numeraud", "_s"),
            ("rss_supervisor", "_mb"),
            ("rss_handlers", "_mb"),
            ("pss_handlers", "_mb"),
        )
        if f"e2e_{what}_{lo}_models{unit}" in e2e and f"e2e_{what}_{hi}_models{unit}" in e2e
    }


def growth_rows(e2e: dict[str, Any]) -> list[Row]:
    counts = model_counts(e2e)
    found = growth(e2e)
    if not found:
        return []
    span = f"{counts[0]} → {counts[-1]} models"
    names = {
        "numeraud": "open → all accepted",
        "rss_supervisor": "supervisor RSS",
        "rss_handlers": "handlers' RSS",
        "pss_handlers": "handlers' PSS",
    }
    return [
        Row(f"growth per doubling of models ({span}): numeraud {names[k.rsplit('doubling_', 1)[1]]}", f"x{v:.2f}")
        for k, v in found.items()
    ]


def bus_rows(b: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "bus: dispatch → ACK committed, 1 handler",
            f"{b['median_rtt_us']:.0f} µs",
            f"{b['floor_rtt_us']:.0f} µs",
            b["ratio"],
            "≤ 3x",
            b["ratio"] <= 3,
        ),
        Row(
            "bus: p99 round trip, 1 handler",
            f"{b['p99_rtt_us'] / 1000:.2f} ms",
            "",
            None,
            "< 10 ms",
            b["p99_rtt_us"] < 10_000,
        ),
    ]


def latency_rows(r: dict[str, Any]) -> list[Row]:
    growth = r["rss_growth_mb"]
    return [
        Row(
            f"open → first handler, {r['detect']} {r['interval_s']:g} s",
            f"{r['latency_median_s']:.3f} s (max {r['latency_max_s']:.3f})",
            f"{r['floor_median_s']:.3f} s",
            r["ratio"],
            "≤ 1.5x",
            r["ratio"] <= 1.5,
        ),
        Row(
            f"supervisor RSS, idle → after {r['polls']:,} polls",
            f"{r['rss_after_polls_mb']:.1f} MB",
            f"idle {r['rss_idle_mb']:.1f} MB",
            round(r["rss_after_polls_mb"] / r["rss_idle_mb"], 3),
            "bounded (growth < 5 MB)",
            growth < 5,
        ),
    ]


def data_rows(d: dict[str, Any]) -> list[Row]:
    h, naive = d["handler"], d["pandas_naive"]
    return [
        Row(
            f"training load peak, {d['train_rows']:,} rows, {d['feature_set']} features",
            f"{h['peak_bytes'] / 1e6:.0f} MB, {h['seconds']:.2f} s",
            f"frame {h['needed_bytes'] / 1e6:.0f} MB; read_parquet {naive['peak_bytes'] / 1e6:.0f} MB",
            h["ratio"],
            "",
        )
    ]


def ctl_rows(c: dict[str, Any]) -> list[Row]:
    rows = c["results"]
    ours = rows["numeraudctl status (running)"]["median_ms"]
    floor = rows["python -c pass"]["median_ms"]
    return [
        Row(
            "numeraudctl status, whole process",
            f"{ours:.0f} ms",
            f"python -c pass {floor:.0f} ms",
            round(ours / floor, 2) if floor else None,
            f"≤ {c['target_ms']:g} ms",
            ours <= c["target_ms"],
        )
    ] + (
        [
            Row(
                "numeraudctl status, whole process, numeraud without bytecode (PYTHONDONTWRITEBYTECODE=1)",
                f"{cold:.0f} ms",
                f"with bytecode {ours:.0f} ms",
                round(cold / ours, 2) if ours else None,
            )
        ]
        if (cold := rows.get("numeraudctl status (running, no bytecode)", {}).get("median_ms")) is not None
        else []
    )


def log_rows(g: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"event log after {g['rounds']:,} rounds x {g['models']} models: numeraudctl status",
            f"{g['status_ms']:.0f} ms",
            f"empty log {g['status_empty_ms']:.0f} ms",
            round(g["status_ms"] / g["status_empty_ms"], 2) if g["status_empty_ms"] else None,
            f"x{g['status_growth_per_doubling']} per doubling of rounds",
        ),
        Row(
            f"event log after {g['rounds']:,} rounds: size (with WAL)",
            f"{g['size_mb']:.1f} MB",
            "",
            None,
            f"x{g['size_growth_per_doubling']} per doubling of rounds",
        ),
    ]


def flat(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's scalar figures under ``NAME_key`` (e2e's keys already carry their prefix)."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            for sub, inner in flat(f"{key}", value).items():
                out[f"{name}_{sub}" if not sub.startswith("e2e_") else sub] = inner
        elif isinstance(value, bool | int | float) and key != "seconds":
            out[key.replace("e2e_", f"{name}_", 1) if key.startswith("e2e_") else f"{name}_{key}"] = value
    return {re.sub(r"[^a-z0-9]+", "_", k.lower()).strip("_"): v for k, v in out.items()}


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "e2e": e2e_rows,
    "e2e_live4x": lambda e2e: e2e_rows(e2e, " (4x live file)"),
    "bus": bus_rows,
    "round_latency": latency_rows,
    "data_memory": data_rows,
    "ctl_latency": ctl_rows,
    "log_growth": log_rows,
}


def rows_of(benches: dict[str, dict[str, Any]]) -> tuple[list[Row], dict[str, Any]]:
    """The table's rows and the flat figures of every benchmark that succeeded."""
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    for name, result in benches.items():
        if "error" in result:
            rows.append(Row(f"{name}: FAILED", result["error"][:120]))
            continue
        try:
            rows += ROWS[name](result)
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            rows.append(Row(f"{name}: unexpected JSON", repr(exc)))
        figures |= flat(name, result)
        if name.startswith("e2e"):
            figures |= {k.replace("e2e_", f"{name}_", 1): v for k, v in growth(result).items()}
    return rows, figures


def targets_note(rows: list[Row]) -> list[str]:
    """One line on the targets: all met, or which are missed and by how much."""
    judged = [r for r in rows if r.met is not None]
    missed = [r for r in judged if not r.met]
    if not missed:
        return [f"All {len(judged)} targets met."]
    return [f"Missed {len(missed)} of {len(judged)} targets:"] + [
        f"- {r.label}: {r.value} (ratio {r.ratio}), target {r.target}" for r in missed
    ]
