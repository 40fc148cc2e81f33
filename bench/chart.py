"""The headline chart: seconds from a round's open to every model's upload accepted, by
contestant and model count (``bench/e2e.py``'s figures), as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import ScalarFormatter

from bench.figures import model_counts

LABELS = {
    "numeraud": "numeraud (warm handlers)",
    "cron": "cron / GitHub Actions (one cold process)",
    "compute": "Numerai Compute (cold process per model, 2 at a time)",
    "floor": "floor (warm script: download, predict, upload)",
}
COLOURS = {"numeraud": "#1f77b4", "cron": "#d62728", "compute": "#ff7f0e", "floor": "#7f7f7f"}


def write_chart(e2e: dict[str, Any], path: Path) -> Path:
    """Grouped bars (median, with the max as a whisker) on a log scale; returns ``path``."""
    counts = model_counts(e2e)
    width = 0.8 / len(LABELS)
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=110)
    for i, (contestant, label) in enumerate(LABELS.items()):
        medians = [e2e[f"e2e_{contestant}_{n}_models_s"] for n in counts]
        tops = [e2e[f"e2e_{contestant}_{n}_models_max_s"] for n in counts]
        xs = [k + (i - (len(LABELS) - 1) / 2) * width for k in range(len(counts))]
        errors = [[0.0] * len(counts), [t - m for t, m in zip(tops, medians, strict=True)]]
        axes.bar(xs, medians, width, label=label, color=COLOURS[contestant], yerr=errors, capsize=2)
        for x, m in zip(xs, medians, strict=True):
            axes.annotate(f"{m:.1f}" if m >= 1 else f"{m:.2f}", (x, m), ha="center", va="bottom", fontsize=7)
    values = [e2e[f"e2e_{c}_{n}_models{s}"] for c in LABELS for n in counts for s in ("_s", "_max_s")]
    axes.set_yscale("log")
    axes.set_ylim(min(values) / 2, max(values) * 2)
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.set_xticks(range(len(counts)), [f"{n} model{'s' if n > 1 else ''}" for n in counts])
    axes.set_ylabel("seconds (log scale)")
    size = e2e.get("size", "?")
    axes.set_title(f"Round open → every model's upload accepted (sandbox, --size {size}; median, max)")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
