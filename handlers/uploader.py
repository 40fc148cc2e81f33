"""The bundled uploader: validate, upload, confirm, exactly once per (round, Numerai model).

Configure it in ``[handlers.uploader]`` with ``after`` the model handlers::

    [handlers.uploader]
    class = "numeraud_handlers.uploader:UploaderHandler"
    options = { models = { model-a = "my_model", model-b = ["my_other_model", "my_third_model"] } }

On ``predictions_ready(round, model, path, live_path, deadline)`` it maps the predictions' name to
the user's Numerai models (ids resolved with ``get_models``), validates the file with Numerai's own
rules against that round's live ids (a bad file is never uploaded and the error says exactly
what is wrong), uploads with numerapi, confirms through the API that the submission exists, and
records it in a ledger so a redelivered event never uploads twice. Transient failures are retried
with backoff until the round's deadline; one model's failure never blocks another's upload. On
``round_closed`` it raises ``submission_missed`` for every mapped model without a submission.

Events it emits: ``submission_uploaded``, ``submission_failed``, ``submission_missed``. The
secret key is read here (:mod:`numeraud.numerai.credentials`) and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent
from numeraud.common.failpoints import Failpoints
from numeraud.numerai.client import NUMERAI_API_URL, NumeraiClient, NumeraiError, NumeraiRejected
from numeraud.numerai.credentials import CredentialsError, load_keys
from numeraud.numerai.retry import Backoff, DeadlinePassed, retry_until
from numeraud.numerai.submission import SubmissionInvalid, read_predictions_csv, validate_predictions

from .data import DataError, load
from .ledger import Ledger


def model_map(options: Mapping[str, Any]) -> dict[str, list[str]]:
    """``options.models`` as predictions name → Numerai model names (lower-case, as Numerai keeps them)."""
    raw = options.get("models", {})
    if not isinstance(raw, Mapping):
        raise ValueError("options.models: must be a table of predictions name = Numerai model name(s)")
    mapped: dict[str, list[str]] = {}
    for name, target in raw.items():
        names = [target] if isinstance(target, str) else target
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"options.models.{name}: must be a model name or a list of model names")
        mapped[str(name)] = [n.lower() for n in names]
    return mapped


class UploaderHandler(EventHandler):
    """Uploads predictions for many models (see the module docstring)."""

    client: NumeraiClient
    ledger: Ledger
    failpoints: Failpoints

    def on_start(self) -> None:
        """Read the keys, open the ledger, check the model map."""
        self.failpoints = Failpoints()
        self.models = model_map(self.options)
        keys = load_keys(self.options)
        if keys is None:
            raise CredentialsError(
                "no Numerai keys: set NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY, systemd credentials "
                "numerai_public_id/numerai_secret_key, or the options public_id_file/secret_key_file"
            )
        api_url = str(self.options.get("api_url") or self.numerai_api_url or NUMERAI_API_URL)
        self.client = NumeraiClient(api_url, keys.public_id, keys.secret_key)
        self.backoff = Backoff(float(self.options.get("retry_base", 2.0)), float(self.options.get("retry_cap", 60.0)))
        state_dir = self.state_dir or Path(".")
        self.ledger = Ledger(state_dir / "ledger.sqlite")
        self._ids: dict[str, str] = {}
        self.log.info("uploader_ready", keys_from=keys.source, models=self.models, api_url=api_url)

    def on_shutdown(self) -> None:
        """Close the ledger."""
        if hasattr(self, "ledger"):
            self.ledger.close()

    def _deadline(self, event: HandlerEvent) -> float | None:
        text = event.get("deadline")
        if not isinstance(text, str):
            return None
        remaining = (datetime.fromisoformat(text) - datetime.now(UTC)).total_seconds()
        return time.monotonic() + remaining

    def _model_id(self, name: str, deadline: float | None) -> str:
        if name not in self._ids:
            self._ids = {k.lower(): v for k, v in self._retry(self.client.get_models, deadline).items()}
        if name not in self._ids:
            raise NumeraiRejected(f"the account has no model named {name!r} (it has: {', '.join(sorted(self._ids))})")
        return self._ids[name]

    def _retry(self, call: Any, deadline: float | None) -> Any:
        def on_retry(attempt: int, error: BaseException, wait: float) -> None:
            self.log.warning("upload_retry", attempt=attempt, error=str(error), wait=round(wait, 1))

        return retry_until(call, deadline=deadline, backoff=self.backoff, on_retry=on_retry)

    def on_predictions_ready(self, event: HandlerEvent) -> None:
        """Validate and upload one predictions file for every Numerai model it maps to."""
        round_number = int(event.round if event.round is not None else event["round"])
        source = str(event.get("model", ""))
        targets = self.models.get(source)
        if not targets:
            self.log.info("predictions_not_mapped", model=source, mapped=sorted(self.models))
            return
        deadline = self._deadline(event)
        path = Path(str(event["path"]))
        try:
            frame = read_predictions_csv(path.read_bytes())
            live_ids = load(Path(str(event["live_path"])), []).index
            validate_predictions(live_ids, frame)
        except (OSError, KeyError, DataError, SubmissionInvalid) as exc:
            reason = f"{path.name}: {exc}"
            for target in targets:
                self._failed(round_number, target, source, reason, "submission_failed")
            return
        for target in targets:
            self._upload_one(round_number, target, source, path, deadline)

    def _upload_one(self, round_number: int, target: str, source: str, path: Path, deadline: float | None) -> None:
        log = self.log.bind(numerai_model=target, predictions=source)
        entry = self.ledger.get(round_number, target)
        if entry is not None and entry.status == "uploaded":
            # A redelivery: the attempt that recorded the upload may have died before its ACK, and
            # its submission_uploaded with it (emitted events are committed with the ACK).
            log.info("already_uploaded", submission_id=entry.submission_id)
            self.emit(
                "submission_uploaded",
                round=round_number,
                model=target,
                predictions=source,
                submission_id=entry.submission_id,
            )
            return
        try:
            model_id = self._model_id(target, deadline)
            found = self._found_on_numerai(model_id, round_number) if entry is not None else None
            if found is not None:
                self.ledger.record(round_number, target, "uploaded", source=source, submission_id=found)
                log.info("upload_found_on_numerai", round=round_number, submission_id=found)
                self.emit(
                    "submission_uploaded", round=round_number, model=target, predictions=source, submission_id=found
                )
                return
            self.ledger.record(round_number, target, "attempting", source=source)
            submission_id = self._retry(lambda: self.client.upload_predictions(str(path), model_id=model_id), deadline)
            self.failpoints.hit("after_upload")
            confirmed = {s["id"] for s in self._retry(lambda: self.client.submission_ids(model_id), deadline)}
            if submission_id not in confirmed:
                raise NumeraiRejected(f"Numerai does not list submission {submission_id} after the upload")
        except DeadlinePassed as exc:
            self._failed(round_number, target, source, f"deadline passed: {exc}", "submission_missed")
            return
        except (NumeraiError, ValueError) as exc:
            self._failed(round_number, target, source, str(exc), "submission_failed")
            return
        self.ledger.record(round_number, target, "uploaded", source=source, submission_id=submission_id)
        self.failpoints.hit("after_upload_confirmed")
        log.info("uploaded", submission_id=submission_id)
        self.emit(
            "submission_uploaded", round=round_number, model=target, predictions=source, submission_id=submission_id
        )

    def _found_on_numerai(self, model_id: str, round_number: int) -> str | None:
        """The id of this round's selected submission, if Numerai has one (asked after a crash)."""
        selected = self.client.get_submission_filenames(round_num=round_number, model_id=model_id)
        if not selected:
            return None
        filenames = {item["filename"] for item in selected}
        for submission in self.client.submission_ids(model_id):
            if submission["filename"] in filenames:
                return str(submission["id"])
        return "(on Numerai, id not listed)"

    def _failed(self, round_number: int, target: str, source: str, reason: str, kind: str) -> None:
        status = "missed" if kind == "submission_missed" else "failed"
        self.ledger.record(round_number, target, status, source=source, error=reason)
        self.log.error(kind, numerai_model=target, reason=reason)
        self.emit(kind, round=round_number, model=target, predictions=source, reason=reason)

    def on_round_closed(self, event: HandlerEvent) -> None:
        """The deadline passed: alert for every mapped model that has no submission this round."""
        round_number = int(event.round if event.round is not None else event["round"])
        for targets in self.models.values():
            for target in targets:
                entry = self.ledger.get(round_number, target)
                if entry is None or entry.status == "attempting":
                    reason = "the deadline passed without a submission"
                    self._failed(round_number, target, "", reason, "submission_missed")
