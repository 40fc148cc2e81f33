"""bench/figures.py: the runner's rows, targets and flat figures from the benchmarks' JSON."""

from __future__ import annotations

from typing import Any

from bench.figures import growth, rows_of, targets_note


def e2e(numeraud: float, cron: float, compute: float, floor: float, n: int) -> dict[str, Any]:
    times = {"numeraud": numeraud, "cron": cron, "compute": compute, "floor": floor}
    out: dict[str, Any] = {}
    for c, t in times.items():
        out[f"e2e_{c}_{n}_models_s"] = t
        out[f"e2e_{c}_{n}_models_max_s"] = t * 1.1
    out[f"e2e_speedup_vs_cron_{n}_models"] = round(cron / numeraud, 2)
    out[f"e2e_speedup_vs_compute_{n}_models"] = round(compute / numeraud, 2)
    out[f"e2e_over_floor_{n}_models"] = round(numeraud / floor, 2)
    out[f"e2e_rss_supervisor_{n}_models_mb"] = 150.0
    out[f"e2e_rss_handlers_{n}_models_mb"] = 240.0 * (n + 1)
    return out


def test_ten_model_targets_are_judged_and_misses_named() -> None:
    result = {"size": "tiny", **e2e(0.3, 6.0, 7.0, 0.5, 1), **e2e(2.0, 3.0, 20.0, 1.0, 10)}
    rows, figures = rows_of({"e2e": result})
    judged = {r.label: r.met for r in rows if r.met is not None}
    assert judged == {
        "open → all accepted, 10 models: numeraud vs warm floor": False,  # 2.0x the floor > 1.5x
        "open → all accepted, 10 models: cron pattern / numeraud": False,  # 1.5x < 2x
        "open → all accepted, 10 models: compute pattern / numeraud": True,  # 10x >= 5x
    }
    note = targets_note(rows)
    assert note[0] == "Missed 2 of 3 targets:"
    assert len(note) == 3
    for key in ("e2e_numeraud_10_models_s", "e2e_speedup_vs_cron_10_models", "e2e_over_floor_1_models"):
        assert key in figures


def test_growth_per_doubling_between_the_fewest_and_most_models() -> None:
    result = {**e2e(1.0, 2.0, 2.0, 1.0, 1), **e2e(4.0, 8.0, 8.0, 4.0, 4)}
    found = growth(result)
    assert found["e2e_growth_per_doubling_numeraud"] == 2.0  # 4x over two doublings
    assert found["e2e_growth_per_doubling_rss_supervisor"] == 1.0


def test_a_failed_benchmark_is_a_row_and_adds_no_figures() -> None:
    rows, figures = rows_of({"bus": {"error": "exit 1: boom", "seconds": 1.0}})
    assert [r.label for r in rows] == ["bus: FAILED"]
    assert rows[0].value == "exit 1: boom"
    assert figures == {}


def test_collected_figures_keep_their_floors_under_the_benchmark_name() -> None:
    ctl = {
        "runs": 5,
        "target_ms": 100.0,
        "results": {
            "numeraudctl status (running)": {"median_ms": 120.0},
            "python -c pass": {"median_ms": 30.0},
        },
    }
    rows, figures = rows_of({"ctl_latency": ctl})
    assert rows[0].ratio == 4.0
    assert rows[0].met is False
    assert figures["ctl_latency_results_numeraudctl_status_running_median_ms"] == 120.0
    assert figures["ctl_latency_results_python_c_pass_median_ms"] == 30.0


def test_a_run_without_some_contestants_has_rows_for_those_that_ran() -> None:
    full = e2e(2.0, 3.0, 20.0, 1.0, 10)
    result = {k: v for k, v in full.items() if "cron" not in k and "compute" not in k}
    result |= {"e2e_pss_handlers_10_models_mb": 900.0, "e2e_numeraud_10_models_rounds": 1}
    rows, _ = rows_of({"e2e_live4x": result})
    labels = [r.label for r in rows]
    assert not any("cron" in label or "compute" in label for label in labels)
    floor = next(r for r in rows if r.label.endswith("numeraud vs warm floor"))
    assert floor.value == "2.000 s (max 2.200, 1 round)"
    memory = next(r for r in rows if "RSS" in r.label)
    assert memory.value == "150 + 2640 MB (handlers' PSS 900 MB)"
