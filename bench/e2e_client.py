"""The contestants of ``bench/e2e.py`` that are not numeraud: a user's own prediction script.

What a cron job, a GitHub Actions run or a Numerai Compute container runs at the round's open,
written as such a user writes it (numerapi, pandas, scikit-learn, joblib, numerai-tools; nothing
of numeraud's, so that its imports are the script's own)::

    python bench/e2e_client.py cold --url URL --models a,b --model-dir DIR --work-dir DIR
    python bench/e2e_client.py warm --url URL --models a,b --model-dir DIR --work-dir DIR

``cold`` (the cron and the Compute pattern) imports, loads the models (``DIR/NAME.joblib``,
features in ``DIR/features.json``), downloads the live file, predicts, validates and uploads each
model's predictions, then exits. ``warm`` (the floor) imports and loads the models, prints
``ready``, then does only download, predict, validate and upload for each ``go`` line on stdin,
printing ``done`` after each. The API keys come from ``NUMERAI_PUBLIC_ID``/``NUMERAI_SECRET_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import joblib
import numerapi
import numerapi.base_api
import pandas as pd
from numerai_tools.submissions import validate_submission_numerai

LIVE = "v5.2/live.parquet"


class Script:
    """One user's prediction script: the API client and the models, loaded."""

    def __init__(self, args: argparse.Namespace) -> None:
        numerapi.base_api.API_TOURNAMENT_URL = args.url
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        self.napi = numerapi.NumerAPI(
            os.environ["NUMERAI_PUBLIC_ID"],
            os.environ["NUMERAI_SECRET_KEY"],
            verbosity="warning",
            show_progress_bars=False,
        )
        self.work = Path(args.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.names = [n for n in args.models.split(",") if n]
        model_dir = Path(args.model_dir)
        self.features: list[str] = json.loads((model_dir / "features.json").read_text())
        self.models: dict[str, Any] = {n: joblib.load(model_dir / f"{n}.joblib") for n in self.names}
        self.ids: dict[str, str] = {}
        self.runs = 0

    def submit(self) -> None:
        """Download the live file, predict, validate and upload every model's predictions."""
        self.runs += 1
        if not self.ids:
            self.ids = self.napi.get_models()
        live_path = self.work / f"live_{os.getpid()}_{self.runs}.parquet"
        self.napi.download_dataset(LIVE, str(live_path))
        live = pd.read_parquet(live_path, columns=self.features)
        universe = live.index.to_series()
        for name, model in self.models.items():
            ranked = pd.Series(model.predict(live[self.features]), index=live.index).rank(pct=True)
            frame = pd.DataFrame({"id": live.index, "prediction": ranked.to_numpy()})
            validate_submission_numerai(universe, frame)
            csv = self.work / f"{name}_{os.getpid()}_{self.runs}.csv"
            frame.to_csv(csv, index=False)
            self.napi.upload_predictions(str(csv), model_id=self.ids[name])
        live_path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cold", "warm"))
    parser.add_argument("--url", required=True, help="the (sandbox) API URL")
    parser.add_argument("--models", required=True, help="model names, comma-separated")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args(argv)
    script = Script(args)
    if args.mode == "cold":
        script.submit()
        return 0
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "go":
            script.submit()
            print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
