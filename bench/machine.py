"""The machine a benchmark ran on: cores, CPU, memory, Python, the packages that matter, load."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numeraud", "numerapi", "pandas", "pyarrow", "scikit-learn", "pyzmq")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(load_before: float) -> dict[str, Any]:
    """This machine now; ``loaded`` when the 1-minute load was above its core count before or after."""
    cores = os.cpu_count() or 1
    load_after = os.getloadavg()[0]
    return {
        "cores": cores,
        "cpu": _cpu(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(load_after, 2),
        "loaded": max(load_before, load_after) > cores,
    }
