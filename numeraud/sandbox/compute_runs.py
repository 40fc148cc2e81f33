"""Numerai Compute's run of a Model Upload: what it hands numerai-predict, and what it takes back.

Each round, Numerai's Compute runs numerai-predict (github.com/numerai/numerai-predict) with a
presigned GET URL of the model's pickle (``--model``), the live files of the upload's data version
(``--dataset``, ``--benchmarks``) and a presigned POST for the predictions (``--post_url``,
``--post_data``); the predictions POSTed there become the model's submission. The sandbox does the
same through ``POST /admin/compute/run``, whose answer is that command line: the caller runs
numerai-predict with it (the sandbox never unpickles anything), and the POST goes through the same
validation as an upload (``create_submission``). The run's one token, in both URLs, ends with the
accepted predictions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from numeraud.common.datasets import version_key
from numeraud.common.files import atomic_path
from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.accounts import Accounts
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.records import ModelUpload, PendingUpload, SandboxState
from numeraud.sandbox.submissions import Submissions

#: The form field of the presigned POST that carries the run's token.
POLICY_FIELD = "policy"


@dataclass(frozen=True)
class ComputeRun:
    """One run of a model's latest pickle: its upload, and the predictions slot its token opens."""

    upload: ModelUpload
    predictions: PendingUpload
    data_version: str

    @property
    def token(self) -> str:
        """The secret in the run's model URL and in its POST's form fields."""
        return self.predictions.token


class ComputeRuns:
    """Runs of Model Uploads (state under ``lock``; the open runs live in this object)."""

    def __init__(
        self,
        data_dir: Path,
        state: SandboxState,
        *,
        lock: threading.RLock,
        accounts: Accounts,
        submissions: Submissions,
    ) -> None:
        """Predictions POSTed for a run are kept in ``data_dir/.uploads`` like any upload."""
        self.state = state
        self.lock = lock
        self.accounts = accounts
        self.submissions = submissions
        self.upload_dir = data_dir / ".uploads"
        self._runs: dict[str, ComputeRun] = {}

    def start(self, model: str, base_url: str) -> dict[str, Any]:
        """Start a run of ``model``'s (a name or an id) latest pickle; numerai-predict's arguments.

        :class:`LookupError` for a model the account does not have, :class:`ApiError` for one
        with no Model Upload.
        """
        found = next((m for m in self.accounts.models if model in (m.name, m.id)), None)
        if found is None:
            raise LookupError(f"no model named {model!r} in the sandbox account")
        with self.lock:
            uploads = [u for u in self.state.model_uploads if u.model_id == found.id]
            newest = max(self.state.versions, key=version_key)
        if not uploads:
            raise ApiError(f"model {found.name} has no Model Upload (upload a pickle with numerapi's model_upload)")
        upload = uploads[-1]
        version = upload.data_version or newest
        if version not in self.state.versions:
            raise ApiError(f"the upload's data version {version} is not served by the sandbox")
        predictions = PendingUpload.new(found.id, "live_predictions.csv", self.upload_dir, suffix=".csv")
        run = ComputeRun(upload=upload, predictions=predictions, data_version=version)
        with self.lock:
            self.state.pending[predictions.token] = predictions
            self._runs[run.token] = run
        model_url = f"{base_url}/compute/models/{run.token}/{quote(Path(upload.filename).name)}"
        post_url = f"{base_url}/compute/predictions"
        post_data = urlencode({"key": predictions.key, POLICY_FIELD: run.token})
        dataset = f"{version}/live.parquet"
        benchmarks = f"{version}/live_benchmark_models.parquet"
        return {
            "model": found.name,
            "upload_id": upload.id,
            "data_version": version,
            "model_url": model_url,
            "dataset": dataset,
            "benchmarks": benchmarks,
            "post_url": post_url,
            "post_data": post_data,
            "argv": [
                *("--model", model_url, "--dataset", dataset, "--benchmarks", benchmarks),
                *("--post_url", post_url, "--post_data", post_data),
            ],
        }

    def pickle_of(self, token: str) -> Path | None:
        """The pickle an open run's model URL serves, None for an unknown or finished run."""
        with self.lock:
            run = self._runs.get(token)
        return run.upload.path if run is not None else None

    def receive(self, fields: dict[str, str], content: bytes, now: datetime) -> str:
        """Take the predictions POSTed for a run: validated like an upload, the submission's id.

        :class:`PermissionError` for a token no open run has; :class:`ApiError` for predictions
        Numerai's checks refuse (the run stays open, as a presigned POST does until it expires).
        """
        token = fields.get(POLICY_FIELD, "")
        with self.lock:
            run = self._runs.get(token)
            if run is None or fields.get("key") != run.predictions.key:
                raise PermissionError("unknown or expired compute POST (its policy and key match no open run)")
            del self._runs[token]  # one POST at a time per run: a second one meanwhile is refused
        try:
            with atomic_path(run.predictions.path, mode=0o644) as temp:
                temp.write_bytes(content)
            run.predictions.received = True
            run.predictions.size = len(content)
            return self.submissions.create_submission(run.predictions.key, CLASSIC, run.upload.model_id, now)
        except BaseException:
            with self.lock:
                self._runs[token] = run
            raise
