"""A user's own predict script, as a cron job or a Compute node runs it: written by the tests."""

from __future__ import annotations

from pathlib import Path

PREDICT_PY = '''\
"""predict.py: predict the round's live data and write the file numeraud uploads."""
import json
import os
import sys

import pandas as pd

live = pd.read_parquet(os.environ["NUMERAUD_LIVE"])
print(f"hello from predict.py: round {os.environ['NUMERAUD_ROUND']}, {len(live)} live rows")
print("a warning on stderr", file=sys.stderr)
features = [c for c in live.columns if c.startswith("feature_")]
predictions = live[features].mean(axis=1).rank(pct=True).rename("prediction")
predictions.to_frame().to_csv(os.environ["NUMERAUD_OUTPUT"])
with open("environment.json", "w") as seen:
    json.dump(dict(os.environ), seen)
'''


def predict_script(directory: Path) -> Path:
    """Write ``predict.py`` into ``directory`` (it also saves the environment it saw there)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "predict.py"
    path.write_text(PREDICT_PY)
    return path
