"""The bundled uploader against the sandbox: validated, uploaded once, confirmed, failures isolated."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from numeraud import testing
from numeraud.handler.sdk import HandlerContext, HandlerEvent, build_handler
from numeraud.numerai.credentials import CredentialsError
from numeraud.sandbox import Sandbox
from numeraud_handlers.uploader import UploaderHandler

MODELS = {"model-a": "sandbox_model_1", "model-b": ["sandbox_model_2", "sandbox_model_3"]}


@pytest.fixture
def uploader(sandbox: Sandbox, tmp_path: Path, keys: None) -> Iterator[UploaderHandler]:
    handler = make(sandbox, tmp_path)
    yield handler
    handler.on_shutdown()


def make(sandbox: Sandbox, tmp_path: Path, **options: Any) -> UploaderHandler:
    context = HandlerContext(
        name="uploader",
        options={"models": MODELS, "api_url": sandbox.url, "retry_base": 0.05, "retry_cap": 0.2, **options},
        state_dir=tmp_path / "uploader",
    )
    handler = build_handler(UploaderHandler, context)
    assert isinstance(handler, UploaderHandler)
    handler.on_start()
    return handler


def predictions(sandbox: Sandbox, tmp_path: Path, round_number: int = 1, **changes: Any) -> Path:
    ids = sandbox.core.live_ids(round_number)
    frame = pd.DataFrame({"id": ids, "prediction": np.linspace(0.01, 0.99, len(ids))}).assign(**changes)
    path = tmp_path / f"preds_{round_number}.csv"
    frame.to_csv(path, index=False)
    return path


def ready(
    sandbox: Sandbox,
    path: Path,
    model: str = "model-a",
    round_number: int = 1,
    seconds: float = 3600,
    clock_offset: float = 0.0,
) -> HandlerEvent:
    return HandlerEvent(
        seq=10,
        event_id="e",
        kind="predictions_ready",
        round=round_number,
        attempt=1,
        created="now",
        payload={
            "model": model,
            "path": str(path),
            "live_path": str(sandbox.core.options.data_dir / f"v5.2/live_{round_number}.parquet"),
            "deadline": (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(),
            "clock_offset": clock_offset,
        },
    )


def deliver(handler: UploaderHandler, event: HandlerEvent) -> list[tuple[str, dict[str, Any]]]:
    """``event`` through the runtime's dispatch (numeraud.testing): what it emitted; a failure raises."""
    return [(e.kind, dict(e.payload)) for e in testing.deliver(handler, event).raise_for_error().emitted]


def accepted(sandbox: Sandbox) -> list[str]:
    return sorted(u["model"] for u in sandbox.uploads() if u["accepted"])


def test_predictions_are_uploaded_for_every_mapped_model_and_confirmed(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = predictions(sandbox, tmp_path)
    emitted = deliver(uploader, ready(sandbox, path, "model-b"))
    assert [kind for kind, _ in emitted] == ["submission_uploaded", "submission_uploaded"]
    assert accepted(sandbox) == ["sandbox_model_2", "sandbox_model_3"]
    assert {e.status for e in uploader.ledger.entries(1)} == {"uploaded"}


def test_a_redelivered_event_does_not_upload_again(uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path) -> None:
    event = ready(sandbox, predictions(sandbox, tmp_path))
    deliver(uploader, event)
    deliver(uploader, event)
    assert accepted(sandbox) == ["sandbox_model_1"]


def test_a_redelivery_after_a_crash_between_the_ledger_and_the_ack_still_confirms_the_upload(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    # The first attempt uploaded and wrote the ledger, then the process died before its ACK: its
    # submission_uploaded died with it (emitted events commit with the ACK), so the redelivery
    # must emit it again, without uploading again (found by bench/chaos.py).
    event = ready(sandbox, predictions(sandbox, tmp_path))
    ((_, first),) = deliver(uploader, event)
    ((kind, again),) = deliver(uploader, event)
    assert (kind, again["submission_id"], again["model"]) == (
        "submission_uploaded",
        first["submission_id"],
        "sandbox_model_1",
    )
    assert accepted(sandbox) == ["sandbox_model_1"]


def test_an_upload_interrupted_after_numerai_took_it_is_not_repeated(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = predictions(sandbox, tmp_path)
    model_id = sandbox.model_ids()["sandbox_model_1"]
    submission_id = uploader.client.upload_predictions(str(path), model_id=model_id)  # then the crash
    uploader.ledger.record(1, "sandbox_model_1", "attempting", source="model-a")
    ((kind, payload),) = deliver(uploader, ready(sandbox, path))
    assert (kind, payload["submission_id"]) == ("submission_uploaded", submission_id)
    assert accepted(sandbox) == ["sandbox_model_1"]
    entry = uploader.ledger.get(1, "sandbox_model_1")
    assert entry is not None
    assert (entry.status, entry.submission_id) == ("uploaded", submission_id)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"prediction": 0.5}, "non-zero standard deviation"),
        ({"prediction": 7.0}, "between 0 and 1"),
        ({"extra": 1}, "invalid_submission_headers"),
    ],
)
def test_a_bad_file_is_refused_before_upload_with_the_reason(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path, changes: dict[str, Any], reason: str
) -> None:
    emitted = deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path, **changes)))
    ((kind, payload),) = emitted
    assert kind == "submission_failed"
    assert reason in payload["reason"]
    assert sandbox.uploads() == []


def test_missing_ids_are_refused_before_upload(uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path) -> None:
    path = predictions(sandbox, tmp_path)
    pd.read_csv(path).iloc[10:].to_csv(path, index=False)
    ((kind, payload),) = deliver(uploader, ready(sandbox, path))
    assert kind == "submission_failed"
    assert "Not enough stocks" in payload["reason"]
    assert sandbox.uploads() == []


def test_an_upload_fault_is_retried_until_it_succeeds(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_faults({"route": "upload", "kind": "http_503", "count": 2})
    emitted = deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path)))
    assert [kind for kind, _ in emitted] == ["submission_uploaded"]
    assert accepted(sandbox) == ["sandbox_model_1"]


def test_a_graphql_error_creating_the_submission_is_tried_again(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    rule = {"route": "graphql:create_submission", "kind": "graphql_error", "message": "Internal server error"}
    sandbox.add_faults(rule | {"count": 2})
    emitted = deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path)))
    assert [kind for kind, _ in emitted] == ["submission_uploaded"]
    assert accepted(sandbox) == ["sandbox_model_1"]


def test_a_lasting_graphql_error_fails_the_upload_with_its_message_long_before_the_deadline(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_faults({"route": "graphql:create_submission", "kind": "graphql_error", "message": "Model is retired"})
    started = time.monotonic()
    emitted = deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path), seconds=600.0))
    ((kind, payload),) = emitted
    assert kind == "submission_failed"
    assert payload["reason"] == "Model is retired"
    assert time.monotonic() - started < 60
    assert accepted(sandbox) == []


def test_retrying_stops_at_the_deadline_with_an_alert(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_faults({"route": "upload", "kind": "http_503"})
    emitted = deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path), seconds=1.0))
    ((kind, payload),) = emitted
    assert kind == "submission_missed"
    assert "deadline" in payload["reason"]
    assert sandbox.uploads() == []


def test_retrying_stops_at_numerais_deadline_not_the_local_clocks(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.add_faults({"route": "upload", "kind": "http_503"})
    # 30 s left on our clock, but Numerai's is 29 s ahead (the supervisor measured it): 1 s left.
    event = ready(sandbox, predictions(sandbox, tmp_path), seconds=30.0, clock_offset=29.0)
    started = time.monotonic()
    ((kind, payload),) = deliver(uploader, event)
    assert kind == "submission_missed"
    assert "deadline" in payload["reason"]
    assert time.monotonic() - started < 10, "the uploader retried until the local clock's deadline"


def test_one_models_failure_does_not_block_the_others(sandbox: Sandbox, tmp_path: Path, keys: None) -> None:
    handler = make(sandbox, tmp_path, models={"model-a": ["no_such_model", "sandbox_model_1"]})
    emitted = deliver(handler, ready(sandbox, predictions(sandbox, tmp_path)))
    assert [kind for kind, _ in emitted] == ["submission_failed", "submission_uploaded"]
    assert "no model named 'no_such_model'" in emitted[0][1]["reason"]
    handler.on_shutdown()


def test_unmapped_predictions_are_ignored(uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path) -> None:
    assert deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path), model="someone-else")) == []
    assert sandbox.uploads() == []


def test_round_closed_alerts_for_models_without_a_submission(
    uploader: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    deliver(uploader, ready(sandbox, predictions(sandbox, tmp_path)))
    closed = HandlerEvent(seq=11, event_id="c", kind="round_closed", round=1, attempt=1, created="now", payload={})
    emitted = deliver(uploader, closed)
    assert sorted(p["model"] for kind, p in emitted if kind == "submission_missed") == [
        "sandbox_model_2",
        "sandbox_model_3",
    ]


def test_no_keys_fails_at_start_naming_the_ways_to_give_them(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(CredentialsError, match="NUMERAI_SECRET_KEY"):
        make(sandbox, tmp_path)


def test_keys_from_systemd_credentials(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "numerai_public_id").write_text("sandbox-public\n")
    (credentials / "numerai_secret_key").write_text("sandbox-secret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    handler = make(sandbox, tmp_path)
    assert [k for k, _ in deliver(handler, ready(sandbox, predictions(sandbox, tmp_path)))] == ["submission_uploaded"]
    handler.on_shutdown()
