"""The scores collector: after the sandbox resolves a round, scores are stored and charted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numerapi
import numpy as np
import pandas as pd
import pytest

from numeraud.common.config_file import load
from numeraud.handler.sdk import HandlerContext, build_handler
from numeraud.sandbox import Sandbox
from numeraud_handlers.scores import ScoresHandler, load_scores


@pytest.fixture
def submitted(sandbox: Sandbox, napi: numerapi.NumerAPI) -> Sandbox:
    ids = sandbox.core.live_ids(1)
    for model_id in sandbox.model_ids().values():
        frame = pd.DataFrame({"id": ids, "prediction": np.random.default_rng(1).random(len(ids))})
        napi.upload_predictions(df=frame, model_id=model_id)
    sandbox.close_round()
    sandbox.resolve(1)
    return sandbox


def test_resolved_scores_are_stored_and_charted(
    submitted: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMERAI_PUBLIC_ID", "sandbox-public")
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "sandbox-secret")
    handler = build_handler(
        ScoresHandler, HandlerContext(name="scores", options={"api_url": submitted.url}, state_dir=tmp_path)
    )
    assert isinstance(handler, ScoresHandler)
    handler.on_start()
    handler.on_round_begin(2)
    rows = load_scores(tmp_path)
    assert {(r["model"], r["round"], r["name"]) for r in rows} == {
        (model, 1, name) for model in submitted.model_ids() for name in ("v2_corr20", "mmc")
    }
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert handler.persistent_state["rounds_scored"] == [1]


def test_model_ids_can_be_given_without_keys(
    submitted: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    ids = {"sandbox_model_1": submitted.model_ids()["sandbox_model_1"]}
    handler = build_handler(
        ScoresHandler,
        HandlerContext(name="scores", options={"api_url": submitted.url, "model_ids": ids}, state_dir=tmp_path),
    )
    assert isinstance(handler, ScoresHandler)
    handler.on_start()
    assert {r["model"] for r in handler.collect()} == {"sandbox_model_1"}


def test_python_m_numeraud_ctl_scores_prints_the_collected_scores(
    submitted: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMERAI_PUBLIC_ID", "sandbox-public")
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "sandbox-secret")
    config_path = tmp_path / "numeraud.toml"
    config_path.write_text(
        f'[paths]\nstate_dir = "{tmp_path}/state"\nruntime_dir = "{tmp_path}/run"\n'
        f'[handlers.scores]\nclass = "numeraud_handlers.scores:ScoresHandler"\n'
        f'options = {{ api_url = "{submitted.url}" }}\n'
    )
    spec = load(config_path).handler("scores")
    handler = build_handler(
        ScoresHandler, HandlerContext(name="scores", options=spec.options, state_dir=spec.state_dir)
    )
    handler.on_start()
    handler.on_round_begin(2)
    done = subprocess.run(
        [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(config_path), "scores"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["ROUND", "MODEL", "MMC", "V2_CORR20"]
    assert sorted(row.split()[:2] for row in rows) == sorted(["1", model] for model in submitted.model_ids())
