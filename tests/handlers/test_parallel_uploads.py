"""The uploader's uploads of one event at once: in flight together, still once each, also under SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from numeraud.common.files import atomic_path
from numeraud.sandbox import Sandbox
from numeraud_handlers.predictions import LiveIds
from tests.handlers.test_fallback import near
from tests.handlers.test_uploader import accepted, deliver, make, predictions, ready
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
THREE = {"model-c": ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]}


def held_together(sandbox: Sandbox, uploads: int, start: Callable[[], object]) -> bool:
    """Run ``start`` in a thread while the sandbox holds each of the next ``uploads`` PUTs for 5 s:
    whether all of them had arrived before Numerai's side had created any submission (one after
    another, the second PUT can only come after the first upload's ``create_submission``)."""
    sandbox.add_faults({"route": "upload", "kind": "slow", "delay": 5.0, "count": uploads})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start()
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    together = wait_for(
        lambda: ("yes" if sandbox.uploads() == [] else "no") if not sandbox.core.faults.rules() else None,
        timeout=60,
        what="every held PUT to arrive",
    )
    thread.join(60)
    assert not thread.is_alive()
    assert not errors, errors
    return together == "yes"


def test_the_uploads_of_one_file_are_in_flight_together_and_emitted_in_model_order(
    sandbox: Sandbox, tmp_path: Path, keys: None
) -> None:
    handler = make(sandbox, tmp_path, models=THREE)
    emitted: list[tuple[str, dict[str, Any]]] = []
    path = predictions(sandbox, tmp_path)
    assert held_together(sandbox, 3, lambda: emitted.extend(deliver(handler, ready(sandbox, path, "model-c"))))
    handler.on_shutdown()
    assert [(kind, p["model"]) for kind, p in emitted] == [
        ("submission_uploaded", "sandbox_model_1"),
        ("submission_uploaded", "sandbox_model_2"),
        ("submission_uploaded", "sandbox_model_3"),
    ]
    assert accepted(sandbox) == ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]


def test_the_guards_fallbacks_are_in_flight_together(sandbox: Sandbox, tmp_path: Path, keys: None) -> None:
    handler = make(sandbox, tmp_path, models=THREE, fallback="example")
    emitted: list[tuple[str, dict[str, Any]]] = []
    assert held_together(sandbox, 3, lambda: emitted.extend(deliver(handler, near(sandbox))))
    handler.on_shutdown()
    assert [(kind, p["model"]) for kind, p in emitted] == [
        ("submission_fallback", f"sandbox_model_{i}") for i in (1, 2, 3)
    ]
    assert accepted(sandbox) == ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]


def test_one_upload_at_a_time_when_asked(sandbox: Sandbox, tmp_path: Path, keys: None) -> None:
    handler = make(sandbox, tmp_path, models=THREE, parallel_uploads=1)
    path = predictions(sandbox, tmp_path)
    assert not held_together(sandbox, 2, lambda: deliver(handler, ready(sandbox, path, "model-c")))
    handler.on_shutdown()
    assert accepted(sandbox) == ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]


@pytest.mark.parametrize("value", [0, 17, "4", True])
def test_a_bad_parallel_uploads_fails_at_start(sandbox: Sandbox, tmp_path: Path, keys: None, value: object) -> None:
    with pytest.raises(ValueError, match=r"options\.parallel_uploads"):
        make(sandbox, tmp_path, parallel_uploads=value)


@pytest.mark.parametrize("failpoint", ["mid_upload", "after_upload", "after_upload_confirmed"])
def test_a_kill_among_concurrent_uploads_still_uploads_each_model_exactly_once(
    sandbox: Sandbox, tmp_path: Path, keys: None, failpoint: str
) -> None:
    # The uploader process is SIGKILLed at the first upload to reach the failpoint while the
    # others are in flight; the event then comes again (it was never ACKed) to a new process.
    path = predictions(sandbox, tmp_path)
    event = ready(sandbox, path, "model-c")
    options = {"models": THREE, "api_url": sandbox.url, "retry_base": 0.05, "retry_cap": 0.2}
    fields = {k: getattr(event, k) for k in ("seq", "event_id", "kind", "round", "attempt", "created")}
    killed = subprocess.run(
        [
            *(sys.executable, "-m", "tests.handlers.uploader_once"),
            *(json.dumps(options), str(tmp_path / "uploader"), json.dumps(fields | {"payload": dict(event.payload)})),
        ],
        cwd=ROOT,
        env={**os.environ, "NUMERAUD_FAILPOINT": failpoint},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    handler = make(sandbox, tmp_path, models=THREE)
    emitted = deliver(handler, ready(sandbox, path, "model-c"))
    assert [(kind, p["model"]) for kind, p in emitted] == [
        ("submission_uploaded", f"sandbox_model_{i}") for i in (1, 2, 3)
    ]
    assert accepted(sandbox) == ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]  # once each
    assert {(e.model, e.status) for e in handler.ledger.entries(1)} == {
        (f"sandbox_model_{i}", "uploaded") for i in (1, 2, 3)
    }
    handler.on_shutdown()


def test_live_ids_are_read_once_per_file_and_again_once_it_is_replaced(sandbox: Sandbox, tmp_path: Path) -> None:
    source = sandbox.core.options.data_dir / "v5.2/live_1.parquet"
    live = tmp_path / "live.parquet"
    live.write_bytes(source.read_bytes())
    ids = LiveIds()
    first = ids.of(live)
    assert first.equals(pd.Index(sandbox.core.live_ids(1)))
    assert ids.of(live) is first  # the same index: not read again
    frame = pd.read_parquet(live)
    with atomic_path(live) as temp:  # replaced as the supervisor replaces a file
        frame.iloc[:-5].to_parquet(temp)
    assert len(ids.of(live)) == len(first) - 5
