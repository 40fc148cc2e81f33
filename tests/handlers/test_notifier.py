"""The bundled notifier delivers through Apprise to a local JSON endpoint, rate-limited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from numeraud import testing
from numeraud.handler.sdk import HandlerContext, HandlerEvent, build_handler
from numeraud_handlers.notifier import NotifierHandler
from tests.fixtures import JsonReceiver
from tests.helpers import wait_for


@pytest.fixture
def endpoint(json_receiver: JsonReceiver) -> tuple[str, list[dict[str, Any]]]:
    """An Apprise json:// URL (with a token in it) to a local receiver, and what it received."""
    return f"json://127.0.0.1:{json_receiver.port}/hook-with-token-s3cr3t", json_receiver.received


def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, **options: Any) -> NotifierHandler:
    monkeypatch.setenv("NUMERAUD_NOTIFY_URLS", url)
    handler = build_handler(NotifierHandler, HandlerContext(name="notifier", options=options, state_dir=tmp_path))
    assert isinstance(handler, NotifierHandler)
    handler.on_start()
    return handler


def event(kind: str, round_number: int = 5, **payload: Any) -> HandlerEvent:
    return HandlerEvent(seq=1, event_id="x", kind=kind, round=round_number, attempt=1, created="", payload=payload)


def deliver(handler: NotifierHandler, item: HandlerEvent) -> None:
    """``item`` through the runtime's dispatch (numeraud.testing); a failure raises."""
    testing.deliver(handler, item).raise_for_error()


def test_a_failed_upload_is_notified_with_model_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = endpoint
    handler = make(tmp_path, monkeypatch, url)
    deliver(handler, event("submission_failed", model="my_model", reason="invalid_submission_values: NaN"))
    wait_for(lambda: len(received) == 1)
    assert received[0]["title"] == "numeraud: Upload failed"
    assert "my_model" in received[0]["message"]
    assert "invalid_submission_values" in received[0]["message"]


def test_repeated_alerts_are_rate_limited_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = endpoint
    handler = make(tmp_path, monkeypatch, url, min_interval=600)
    now = [1000.0]
    handler.clock = lambda: now[0]
    for _ in range(3):
        deliver(handler, event("submission_missed", model="m", reason="deadline passed"))
    wait_for(lambda: len(received) == 1)
    now[0] += 601
    deliver(handler, event("submission_missed", model="m", reason="deadline passed"))
    wait_for(lambda: len(received) == 2)
    assert "2 similar alert(s) suppressed" in received[1]["message"]


def test_round_summary_lists_uploads_and_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = endpoint
    handler = make(tmp_path, monkeypatch, url, min_interval=0)
    deliver(handler, event("submission_uploaded", model="a"))
    deliver(handler, event("submission_uploaded", model="b"))
    deliver(handler, event("submission_failed", model="c", reason="x"))
    deliver(handler, event("round_closed"))
    wait_for(lambda: len(received) == 2)
    summary = received[1]
    assert summary["title"] == "numeraud: round 5 summary"
    assert "2 submission(s) uploaded: a, b" in summary["message"]
    assert "c (failed)" in summary["message"]


def test_a_fallback_is_notified_and_shown_in_the_summary_when_it_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = endpoint
    handler = make(tmp_path, monkeypatch, url, min_interval=0)
    deliver(handler, event("submission_fallback", model="a", fallback="example", reason="no predictions yet"))
    deliver(handler, event("submission_fallback", model="b", fallback="example", reason="no predictions yet"))
    deliver(handler, event("submission_uploaded", model="b"))  # b's real predictions replaced it
    deliver(handler, event("submission_failed", model="a", reason="NaN", standing="fallback:example"))
    deliver(handler, event("round_closed"))
    wait_for(lambda: len(received) == 4)
    assert received[0]["title"] == "numeraud: Fallback submitted"
    assert "no predictions yet" in received[0]["message"]
    summary = received[3]["message"]
    assert "1 submission(s) uploaded: b" in summary
    assert "a (fallback: example)" in summary


def test_no_urls_fails_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMERAUD_NOTIFY_URLS", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    handler = build_handler(NotifierHandler, HandlerContext(name="notifier", state_dir=tmp_path))
    with pytest.raises(ValueError, match="NUMERAUD_NOTIFY_URLS"):
        handler.on_start()


def test_the_url_with_its_token_is_never_logged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: tuple[str, list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, received = endpoint
    handler = make(tmp_path, monkeypatch, url)
    deliver(handler, event("round_missed", reason="closed while down"))
    wait_for(lambda: len(received) == 1)
    captured = capsys.readouterr()
    assert "s3cr3t" not in captured.out + captured.err
