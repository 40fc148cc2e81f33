"""The scenarios of ``bench/chaos.py``, one module each, and what they share (:mod:`.common`).

Each scenario module has ``run(quick: bool, seed: int, workdir: pathlib.Path) -> dict[str, int |
float]`` returning figure keys of issue 11 (``handler_kills``, ``events_lost``, ...); the runner
sums the counts of every scenario.
"""
