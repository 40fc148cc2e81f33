"""The end-to-end demo behind ``numeraud demo``, on an embedded sandbox with the real numerapi.

One round, start to finish: the round opens, its data is downloaded, a model is trained and
predicts, the predictions are validated with Numerai's rules and uploaded for every model, the
uploads are confirmed through the API, the round closes and resolves, and the scores come back.
Later versions run the same scenario through the supervisor and handler processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numerapi
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from numeraud.numerai import make_client
from numeraud.sandbox import Sandbox, SandboxOptions
from numeraud.submission import SubmissionInvalid, validate_predictions


@dataclass
class DemoReport:
    """What the demo achieved; ``ok`` is what its exit code says."""

    round_number: int = 0
    uploads: dict[str, str] = field(default_factory=dict)
    refused: str = ""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every model uploaded once, a bad file was refused, and every model has scores."""
        return bool(self.uploads) and bool(self.refused) and set(self.scores) == set(self.uploads)


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)


def _train_and_predict(work: Path, version: str, client: numerapi.NumerAPI, say: Callable[[str], None]) -> pd.Series:
    features = pd.read_json(work / version / "features.json", typ="series")["feature_sets"]["medium"]
    train = pd.read_parquet(work / version / "train.parquet", columns=[*features, "era", "target"])
    say(f"training HistGradientBoostingRegressor on {len(train):,} rows x {len(features)} features")
    model = HistGradientBoostingRegressor(max_iter=60, learning_rate=0.1, max_leaf_nodes=15, random_state=0)
    model.fit(train[features], train["target"])
    live = pd.read_parquet(work / version / "live.parquet", columns=features)
    predictions = pd.Series(model.predict(live[features]), index=live.index).rank(pct=True)
    say(f"predicted {len(predictions):,} live rows")
    return predictions


def run_demo(data_dir: Path, out: TextIO, *, size: str = "small", seed: int = 0) -> DemoReport:
    """Run the demo scenario in ``data_dir``, narrating to ``out``."""
    say = _Printer(out)
    report = DemoReport()
    options = SandboxOptions(data_dir=data_dir / "sandbox", size=size, seed=seed)
    say(f"generating the sandbox's synthetic Numerai data ({size})")
    with Sandbox(options) as sandbox:
        say(f"sandbox serving Numerai's API at {sandbox.url}")
        client = make_client(sandbox.url, options.public_id, options.secret_key)
        report.round_number = client.get_current_round() or 0
        say(f"round {report.round_number} is open: {client.check_round_open()}")
        version = sorted(v.split("/")[0] for v in client.list_datasets())[-1]
        work = data_dir / "work"
        for name in ("features.json", "train.parquet", "live.parquet"):
            dest = work / version / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.download_dataset(f"{version}/{name}", str(dest))
            say(f"downloaded {version}/{name} ({dest.stat().st_size:,} bytes)")
        predictions = _train_and_predict(work, version, client, say)
        live_ids = predictions.index
        submission = predictions.rename("prediction").rename_axis("id").reset_index()
        validate_predictions(live_ids, submission)
        say("predictions pass Numerai's validation (numerai-tools)")
        try:
            validate_predictions(live_ids, submission.assign(prediction=0.5))
        except SubmissionInvalid as exc:
            report.refused = str(exc)
            say(f"a constant predictions file is refused before upload: {exc}")
        models = client.get_models()
        for name, model_id in sorted(models.items()):
            submission_id = client.upload_predictions(df=submission, model_id=model_id)
            confirmed = {s["id"] for s in client.submission_ids(model_id)}
            if submission_id in confirmed:
                report.uploads[name] = submission_id
            say(f"uploaded for {name}: submission {submission_id} (confirmed: {submission_id in confirmed})")
        sandbox.close_round()
        sandbox.resolve(report.round_number)
        say(f"round {report.round_number} closed and resolved by the sandbox")
        for name, model_id in sorted(models.items()):
            for performance in client.round_model_performances_v2(model_id):
                if performance["roundNumber"] == report.round_number and performance["submissionScores"]:
                    report.scores[name] = {s["displayName"]: s["value"] for s in performance["submissionScores"]}
                    values = ", ".join(f"{k}={v:+.4f}" for k, v in report.scores[name].items())
                    say(f"{name}: {values}")
    say("demo finished: " + ("every model submitted and was scored" if report.ok else "SOMETHING WENT WRONG"))
    return report
