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
The live ids are read once per live file (:class:`numeraud_handlers.predictions.LiveIds`), not
once per predictions file.

The uploads one event starts (a predictions file mapped to several Numerai models, the guard's
fallbacks) go ``options.parallel_uploads`` at a time (default 4; 1: one after another), each on its
own API client (:mod:`numeraud_handlers.fanout`); the event is ACKed once all of them are
confirmed or recorded as failed, and its events are emitted in the order of the models.

On ``round_deadline_near`` (``[poll] guard_margin`` before the deadline) every mapped model still
without a submission gets its ``options.fallback`` (:mod:`numeraud_handlers.fallback`: Numerai's
example predictions, another model's, or none), validated like any file; real predictions that
come later replace it.

Events it emits: ``submission_uploaded``, ``submission_failed``, ``submission_missed``,
``submission_fallback`` and ``submission_at_risk`` (no fallback could be submitted). The secret key
is read here (:mod:`numeraud.numerai.credentials`) and nowhere else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numeraud import EventHandler, HandlerEvent
from numeraud.common.failpoints import Failpoints
from numeraud.common.files import atomic_path
from numeraud.numerai.client import NUMERAI_API_URL, NumeraiClient, NumeraiError, NumeraiRejected
from numeraud.numerai.clock import seconds_left
from numeraud.numerai.credentials import CredentialsError, load_keys
from numeraud.numerai.retry import Backoff, DeadlinePassed, retry_until
from numeraud.numerai.submission import SubmissionInvalid

from .data import DataError, load
from .fallback import PREFIX, is_fallback, parse_fallbacks
from .fanout import FanOut
from .ledger import Entry, Ledger
from .predictions import LiveIds, validate_file

#: Uploads one event starts that go at once, by default.
PARALLEL_UPLOADS = 4


def parallel_uploads(options: Mapping[str, Any]) -> int:
    """``options.parallel_uploads``: how many of one event's uploads go at once (a whole number >= 1)."""
    value = options.get("parallel_uploads", PARALLEL_UPLOADS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise ValueError(f"options.parallel_uploads: must be a whole number from 1 to 16, not {value!r}")
    return value


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
        self.fallbacks = parse_fallbacks(self.options, [t for targets in self.models.values() for t in targets])
        keys = load_keys(self.options)
        if keys is None:
            raise CredentialsError(
                "no Numerai keys: set NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY, systemd credentials "
                "numerai_public_id/numerai_secret_key, or the options public_id_file/secret_key_file"
            )
        api_url = str(self.options.get("api_url") or self.numerai_api_url or NUMERAI_API_URL)
        workers = parallel_uploads(self.options)
        self.client = NumeraiClient(api_url, keys.public_id, keys.secret_key)
        self.backoff = Backoff(float(self.options.get("retry_base", 2.0)), float(self.options.get("retry_cap", 60.0)))
        state_dir = self.state_dir or Path(".")
        self.ledger = Ledger(state_dir / "ledger.sqlite")
        self.live_ids = LiveIds()
        self._ids: dict[str, str] = {}
        self._example_lock = threading.Lock()

        def thread_client() -> None:  # each upload thread its own session (and the same failpoints)
            client = NumeraiClient(api_url, keys.public_id, keys.secret_key)
            client.failpoints = self.client.failpoints
            self.fanout.local.client = client

        self.fanout = FanOut(workers, initializer=thread_client)
        self.log.info(
            "uploader_ready", keys_from=keys.source, models=self.models, api_url=api_url, parallel_uploads=workers
        )

    def on_shutdown(self) -> None:
        """Stop the upload threads, close the ledger."""
        if hasattr(self, "fanout"):
            self.fanout.close()
        if hasattr(self, "ledger"):
            self.ledger.close()

    def emit(self, kind: str, **payload: Any) -> None:
        """Emit an event (held until the other uploads of the callback end, in an upload thread)."""
        held = self.fanout.held() if hasattr(self, "fanout") else None
        if held is None:
            super().emit(kind, **payload)
        else:
            held.append((kind, payload))

    def _emit_held(self, kind: str, payload: dict[str, Any]) -> None:
        super().emit(kind, **payload)

    def _api(self) -> NumeraiClient:
        """The calling thread's API client (an upload thread's own, else the handler's)."""
        client: NumeraiClient = getattr(self.fanout.local, "client", self.client)
        return client

    def _deadline(self, event: HandlerEvent) -> float | None:
        """The event's deadline (Numerai's time) on the monotonic clock, corrected by the clock
        offset the supervisor measured (``clock_offset``: Numerai's clock minus ours)."""
        text = event.get("deadline")
        if not isinstance(text, str):
            return None
        offset = event.get("clock_offset")
        return time.monotonic() + seconds_left(text, float(offset) if isinstance(offset, int | float) else 0.0)

    def _model_id(self, name: str, deadline: float | None) -> str:
        if name not in self._ids:
            self._ids = {k.lower(): v for k, v in self._retry(self._api().get_models, deadline).items()}
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
            validate_file(path, Path(str(event["live_path"])), self.live_ids)
        except (OSError, KeyError, DataError, SubmissionInvalid) as exc:
            reason = f"{path.name}: {exc}"
            for target in targets:
                self._failed(round_number, target, source, reason, "submission_failed")
            return
        self.fanout.run(
            lambda target: self._upload_one(round_number, target, source, path, deadline), targets, self._emit_held
        )

    def _upload_one(
        self, round_number: int, target: str, source: str, path: Path, deadline: float | None
    ) -> str | None:
        """Upload ``path`` for ``target`` unless the ledger says it is done; the submission id or None.

        A fallback the guard uploaded is replaced by real predictions, never the other way round.
        """
        log = self.log.bind(numerai_model=target, predictions=source)
        entry = self.ledger.get(round_number, target)
        replacing = entry is not None and is_fallback(entry.source) and not is_fallback(source)
        if entry is not None and entry.status == "uploaded" and not replacing:
            # A redelivery: the attempt that recorded the upload may have died before its ACK, and
            # its submission_uploaded with it (emitted events are committed with the ACK).
            log.info("already_uploaded", submission_id=entry.submission_id, source=entry.source)
            if not is_fallback(entry.source):
                self.emit(
                    "submission_uploaded",
                    round=round_number,
                    model=target,
                    predictions=source,
                    submission_id=entry.submission_id,
                )
            return None
        if entry is not None and entry.status == "attempting" and is_fallback(entry.error):
            replacing = True  # a crash while real predictions replaced a fallback: upload them again
        try:
            model_id = self._model_id(target, deadline)
            found = None
            if entry is not None and entry.status == "attempting" and not replacing:
                found = self._found_on_numerai(model_id, round_number)  # a crash mid-upload: did it land?
            if found is not None:
                self.ledger.record(round_number, target, "uploaded", source=source, submission_id=found, path=str(path))
                log.info("upload_found_on_numerai", round=round_number, submission_id=found)
                self.emit(
                    "submission_uploaded", round=round_number, model=target, predictions=source, submission_id=found
                )
                return found
            if replacing:
                log.info("replacing_fallback", fallback=entry.source if entry is not None else None)
            # ``error`` marks an attempt that replaces a fallback (the fallback is on Numerai already)
            marker = f"{PREFIX}replacing" if replacing else None
            self.ledger.record(round_number, target, "attempting", source=source, error=marker, path=str(path))
            client = self._api()
            submission_id: str = self._retry(lambda: client.upload_predictions(str(path), model_id=model_id), deadline)
            self.failpoints.hit("after_upload")
            confirmed = {s["id"] for s in self._retry(lambda: client.submission_ids(model_id), deadline)}
            if submission_id not in confirmed:
                raise NumeraiRejected(f"Numerai does not list submission {submission_id} after the upload")
        except DeadlinePassed as exc:
            self._failed(round_number, target, source, f"deadline passed: {exc}", "submission_missed", before=entry)
            return None
        except (NumeraiError, ValueError) as exc:
            self._failed(round_number, target, source, str(exc), "submission_failed", before=entry)
            return None
        self.ledger.record(round_number, target, "uploaded", source=source, submission_id=submission_id, path=str(path))
        self.failpoints.hit("after_upload_confirmed")
        log.info("uploaded", submission_id=submission_id)
        if not is_fallback(source):
            self.emit(
                "submission_uploaded", round=round_number, model=target, predictions=source, submission_id=submission_id
            )
        return submission_id

    def _found_on_numerai(self, model_id: str, round_number: int) -> str | None:
        """The id of this round's selected submission, if Numerai has one (asked after a crash)."""
        client = self._api()
        selected = client.get_submission_filenames(round_num=round_number, model_id=model_id)
        if not selected:
            return None
        filenames = {item["filename"] for item in selected}
        for submission in client.submission_ids(model_id):
            if submission["filename"] in filenames:
                return str(submission["id"])
        return "(on Numerai, id not listed)"

    def _failed(
        self, round_number: int, target: str, source: str, reason: str, kind: str, *, before: Entry | None = None
    ) -> None:
        """Record and report a failure; a fallback already on Numerai stays the round's submission."""
        before = before if before is not None else self.ledger.get(round_number, target)
        if before is not None and before.status == "uploaded" and is_fallback(before.source):
            self.ledger.record(
                round_number,
                target,
                "uploaded",
                source=before.source,
                submission_id=before.submission_id,
                path=before.path,
                error=f"real predictions failed: {reason}",
            )
            self.log.error(kind, numerai_model=target, reason=reason, standing=before.source)
            self.emit(kind, round=round_number, model=target, predictions=source, reason=reason, standing=before.source)
            return
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
                if entry is None or (entry.status == "attempting" and not is_fallback(entry.error)):
                    reason = "the deadline passed without a submission"
                    self._failed(round_number, target, "", reason, "submission_missed")

    def on_round_deadline_near(self, event: HandlerEvent) -> None:
        """The deadline guard: a fallback for every mapped model without a submission this round."""
        near = _NearDeadline(
            number=int(event.round if event.round is not None else event["round"]),
            deadline=self._deadline(event),
            live_files=dict(event.get("live_files") or {}),
            version=str(event.get("version") or ""),
        )
        unsubmitted: list[tuple[str, str]] = []
        for targets in self.models.values():
            for target in targets:
                entry = self.ledger.get(near.number, target)
                if entry is not None and entry.status == "uploaded":
                    continue
                unsubmitted.append((target, entry.error if entry is not None and entry.error else "no predictions yet"))
        self.fanout.run(lambda item: self._guard(near, *item), unsubmitted, self._emit_held)

    def _guard(self, near: _NearDeadline, target: str, why: str) -> None:
        """Try ``target``'s fallbacks in order; say what happened either way."""
        tried: list[str] = []
        for kind in self.fallbacks.of(target):
            if kind == "none":
                break
            try:
                path = self._fallback_file(kind, near, target)
                validate_file(path, Path(near.live_files["live.parquet"]), self.live_ids)
            except (OSError, KeyError, DataError, SubmissionInvalid, NumeraiError, DeadlinePassed, ValueError) as exc:
                tried.append(f"{kind}: {exc}")
                self.log.warning("fallback_refused", numerai_model=target, fallback=kind, reason=str(exc))
                continue
            submission_id = self._upload_one(near.number, target, f"{PREFIX}{kind}", path, near.deadline)
            if submission_id is not None:
                self.log.warning("submission_fallback", numerai_model=target, fallback=kind, reason=why)
                self.emit(
                    "submission_fallback",
                    round=near.number,
                    model=target,
                    fallback=kind,
                    submission_id=submission_id,
                    reason=why,
                )
                return
            tried.append(f"{kind}: the upload failed")
        self.log.error("submission_at_risk", numerai_model=target, reason=why, fallbacks=tried)
        self.emit("submission_at_risk", round=near.number, model=target, reason=why, fallbacks_tried=tried)

    def _fallback_file(self, kind: str, near: _NearDeadline, target: str) -> Path:
        """The predictions file fallback ``kind`` stands for (raises with the reason when there is none)."""
        if kind == "example":
            with self._example_lock:  # one file for every model, made once
                return self._example_predictions(near)
        if kind == "previous":
            entry = self.ledger.last_uploaded(target, before=near.number)
            if entry is None or not entry.path:
                raise ValueError("no earlier accepted predictions")
            return Path(entry.path)
        other = kind[len("model:") :]
        entry = self.ledger.get(near.number, other)
        if entry is None or entry.status != "uploaded" or is_fallback(entry.source) or not entry.path:
            raise ValueError(f"{other} has no real predictions for round {near.number}")
        return Path(entry.path)

    def _example_predictions(self, near: _NearDeadline) -> Path:
        """Numerai's example predictions of the round as a submission CSV (``id,prediction``)."""
        out = (self.state_dir or Path(".")) / "fallbacks" / f"example_round_{near.number}.csv"
        if out.exists():
            return out
        synced = near.live_files.get("live_example_preds.parquet")
        if synced and Path(synced).exists():
            source = Path(synced)
        else:
            if not near.version:
                raise ValueError("the event names no dataset version to fetch the example predictions of")
            source = out.with_suffix(".parquet")
            source.parent.mkdir(parents=True, exist_ok=True)
            remote = f"{near.version}/live_example_preds.parquet"
            client = self._api()
            self._retry(lambda: client.download_dataset(remote, str(source), round_num=near.number), near.deadline)
        frame = load(source, ["prediction"])
        with atomic_path(out) as temp:
            frame.rename_axis("id")[["prediction"]].to_csv(temp, header=True)
        return out


@dataclass(frozen=True)
class _NearDeadline:
    """What ``round_deadline_near`` says of its round."""

    number: int
    deadline: float | None
    live_files: dict[str, str]
    version: str
