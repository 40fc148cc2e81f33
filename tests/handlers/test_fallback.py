"""The uploader's deadline guard against the sandbox: fallbacks uploaded in time, replaced by real ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from numeraud.handler.sdk import HandlerEvent
from numeraud.sandbox import Sandbox
from numeraud_handlers.uploader import UploaderHandler
from tests.handlers.test_uploader import deliver, make, predictions, ready


def near(sandbox: Sandbox, round_number: int = 1, seq: int = 20) -> HandlerEvent:
    """``round_deadline_near`` as the follower publishes it (the example predictions not synced)."""
    return HandlerEvent(
        seq=seq,
        event_id=f"near-{seq}",
        kind="round_deadline_near",
        round=round_number,
        attempt=1,
        created="now",
        payload={
            "round": round_number,
            "deadline": (datetime.now(UTC) + timedelta(seconds=600)).isoformat(),
            "seconds_left": 600.0,
            "version": "v5.2",
            "live_files": {"live.parquet": str(sandbox.core.options.data_dir / f"v5.2/live_{round_number}.parquet")},
        },
    )


def uploads_of(sandbox: Sandbox, model: str) -> list[dict[str, Any]]:
    return [u for u in sandbox.uploads() if u["model"] == model and u["accepted"]]


@pytest.fixture
def guarded(sandbox: Sandbox, tmp_path: Path, keys: None) -> Iterator[UploaderHandler]:
    handler = make(sandbox, tmp_path, fallback="example")
    yield handler
    handler.on_shutdown()


def test_models_without_predictions_get_the_example_predictions_before_the_deadline(
    guarded: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    deliver(guarded, ready(sandbox, predictions(sandbox, tmp_path), "model-a"))  # sandbox_model_1 is done
    emitted = deliver(guarded, near(sandbox))
    assert sorted((kind, p["model"], p["fallback"]) for kind, p in emitted) == [
        ("submission_fallback", "sandbox_model_2", "example"),
        ("submission_fallback", "sandbox_model_3", "example"),
    ]
    assert all(p["reason"] == "no predictions yet" for _, p in emitted)
    assert len(uploads_of(sandbox, "sandbox_model_1")) == 1  # a model that submitted is left alone
    for model in ("sandbox_model_2", "sandbox_model_3"):
        assert len(uploads_of(sandbox, model)) == 1
        entry = guarded.ledger.get(1, model)
        assert entry is not None
        assert (entry.status, entry.source) == ("uploaded", "fallback:example")
    entry = guarded.ledger.get(1, "sandbox_model_2")
    assert entry is not None
    assert entry.path is not None
    uploaded = pd.read_csv(entry.path)
    example = pd.read_parquet(sandbox.core.options.data_dir / "v5.2/live_example_preds_1.parquet")
    assert uploaded.set_index("id")["prediction"].sort_index().tolist() == pytest.approx(
        example["prediction"].sort_index().tolist()
    )
    assert deliver(guarded, near(sandbox, seq=21)) == []  # delivered again: nothing more is uploaded


def test_real_predictions_that_arrive_after_the_fallback_replace_it(
    guarded: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    deliver(guarded, near(sandbox))
    emitted = deliver(guarded, ready(sandbox, predictions(sandbox, tmp_path), "model-b"))
    assert [kind for kind, _ in emitted] == ["submission_uploaded", "submission_uploaded"]
    for model in ("sandbox_model_2", "sandbox_model_3"):
        assert len(uploads_of(sandbox, model)) == 2  # the fallback, then the real one: the latest counts
        entry = guarded.ledger.get(1, model)
        assert entry is not None
        assert (entry.status, entry.source) == ("uploaded", "model-b")
    closed = HandlerEvent(seq=30, event_id="c", kind="round_closed", round=1, attempt=1, created="now", payload={})
    assert deliver(guarded, closed) == []  # every model has a submission: nothing missed


def test_real_predictions_refused_after_a_fallback_leave_the_fallback_standing(
    guarded: UploaderHandler, sandbox: Sandbox, tmp_path: Path
) -> None:
    deliver(guarded, near(sandbox))
    bad = predictions(sandbox, tmp_path, prediction=0.5)  # zero standard deviation
    emitted = deliver(guarded, ready(sandbox, bad, "model-b"))
    assert {kind for kind, _ in emitted} == {"submission_failed"}
    assert all(p["standing"] == "fallback:example" for _, p in emitted)
    entry = guarded.ledger.get(1, "sandbox_model_2")
    assert entry is not None
    assert (entry.status, entry.source) == ("uploaded", "fallback:example")
    assert "standard deviation" in (entry.error or "")
    closed = HandlerEvent(seq=30, event_id="c", kind="round_closed", round=1, attempt=1, created="now", payload={})
    assert deliver(guarded, closed) == []  # the fallbacks are the round's submissions: nothing missed


def test_a_list_of_fallbacks_is_tried_in_order_and_another_models_predictions_can_stand_in(
    sandbox: Sandbox, tmp_path: Path, keys: None
) -> None:
    handler = make(sandbox, tmp_path, fallback={"sandbox_model_2": ["previous", "model:sandbox_model_1", "example"]})
    try:
        deliver(handler, ready(sandbox, predictions(sandbox, tmp_path), "model-a"))
        emitted = deliver(handler, near(sandbox))
    finally:
        handler.on_shutdown()
    # "previous" has nothing yet, so sandbox_model_1's real predictions stand in; model 3 has no fallback
    assert [(kind, p["model"]) for kind, p in emitted] == [
        ("submission_fallback", "sandbox_model_2"),
        ("submission_at_risk", "sandbox_model_3"),
    ]
    assert emitted[0][1]["fallback"] == "model:sandbox_model_1"
    assert uploads_of(sandbox, "sandbox_model_3") == []


def test_without_a_fallback_the_guard_says_the_submission_is_at_risk(
    sandbox: Sandbox, tmp_path: Path, keys: None
) -> None:
    handler = make(sandbox, tmp_path)  # fallback = "none" by default
    try:
        emitted = deliver(handler, near(sandbox))
    finally:
        handler.on_shutdown()
    assert sorted((kind, p["model"]) for kind, p in emitted) == [
        ("submission_at_risk", "sandbox_model_1"),
        ("submission_at_risk", "sandbox_model_2"),
        ("submission_at_risk", "sandbox_model_3"),
    ]
    assert sandbox.uploads() == []


def test_a_fallback_that_fails_validation_is_not_uploaded_and_the_next_is_tried(
    sandbox: Sandbox, tmp_path: Path, keys: None
) -> None:
    handler = make(sandbox, tmp_path, fallback=["previous", "example"])
    try:
        # an accepted upload of round 1 is "previous" for round 2, whose live ids are other ones
        deliver(handler, ready(sandbox, predictions(sandbox, tmp_path), "model-a"))
        number = sandbox.open_round()
        emitted = deliver(handler, near(sandbox, round_number=number))
    finally:
        handler.on_shutdown()
    fallback = {p["model"]: p["fallback"] for kind, p in emitted if kind == "submission_fallback"}
    assert fallback == {"sandbox_model_1": "example", "sandbox_model_2": "example", "sandbox_model_3": "example"}
    assert len([u for u in sandbox.uploads() if u["round"] == number]) == 3


@pytest.mark.parametrize(
    ("fallback", "message"),
    [
        ("sometimes", "options.fallback: unknown fallback 'sometimes'"),
        ("model:nobody", "options.fallback: 'model:nobody' names no model this uploader submits"),
        ({"stranger": "example"}, "options.fallback.stranger: 'stranger' is not a model this uploader submits"),
        ([], "options.fallback: must be a fallback or a list of them"),
    ],
)
def test_a_bad_fallback_fails_at_start_naming_the_option(
    sandbox: Sandbox, tmp_path: Path, keys: None, fallback: Any, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        make(sandbox, tmp_path, fallback=fallback)
    assert message in str(info.value)
