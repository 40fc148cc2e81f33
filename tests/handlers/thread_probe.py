"""An estimator that records how many threads its native thread pools may use while it predicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_info


class ThreadProbe(Ridge):  # type: ignore[misc]
    """Ridge, whose ``predict`` writes ``{user_api: [num_threads, ...]}`` to ``record``."""

    def __init__(self, alpha: float = 1.0, record: str = "") -> None:
        super().__init__(alpha=alpha)
        self.record = record

    def predict(self, X: Any) -> Any:
        """Record the thread limits, then predict as Ridge does."""
        seen: dict[str, list[int]] = {}
        for pool in threadpool_info():
            seen.setdefault(str(pool["user_api"]), []).append(int(pool["num_threads"]))
        Path(self.record).write_text(json.dumps(seen))
        return super().predict(X)
