"""Live data published after the open, and late submissions marked, through the real numerapi client."""

from __future__ import annotations

from pathlib import Path

import numerapi
import numpy as np
import pandas as pd
import pytest
import requests

from numeraud.sandbox import Sandbox, SandboxOptions
from tests.helpers import wait_for


def test_before_its_live_data_is_published_a_round_answers_as_numerai_does(
    sandbox: Sandbox, public_napi: numerapi.NumerAPI, tmp_path: Path
) -> None:
    sandbox.set_live_delay(3600)
    number = sandbox.open_round(window=600)
    # Numerai's plain name still gives the previous round's file ...
    public_napi.download_dataset("v5.2/live.parquet", str(tmp_path / "plain.parquet"))
    previous = sandbox.core.live_ids(number - 1)
    assert list(pd.read_parquet(tmp_path / "plain.parquet").index) == list(previous)
    # ... and the round's own is not found, by round number, by alias, or by URL.
    for name, round_num in (("v5.2/live.parquet", number), (f"v5.2/live_{number}.parquet", None)):
        with pytest.raises(ValueError, match="Dataset not found"):
            public_napi.download_dataset(name, str(tmp_path / "x.parquet"), round_num=round_num)
    with pytest.raises(ValueError, match="Dataset not found"):
        public_napi.download_dataset("v5.2/live_example_preds.parquet", str(tmp_path / "y.parquet"), round_num=number)
    assert requests.get(f"{sandbox.url}/files/v5.2/live_{number}.parquet", timeout=10).status_code == 404
    assert "v5.2/live.parquet" in public_napi.list_datasets()  # the name is listed throughout

    answer = requests.post(f"{sandbox.url}/admin/live", json={"publish_in": 0}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["round"] == number
    public_napi.download_dataset("v5.2/live.parquet", str(tmp_path / "now.parquet"), round_num=number)
    assert list(pd.read_parquet(tmp_path / "now.parquet").index) == list(sandbox.core.live_ids(number))


def test_the_live_delay_option_publishes_each_round_that_long_after_its_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sb", live_delay=0.5)) as sandbox:
        monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
        napi = numerapi.NumerAPI(show_progress_bars=False)
        number = sandbox.open_round(window=60)
        status = requests.get(f"{sandbox.url}/admin/status", timeout=10).json()
        assert status["rounds"][-1]["live_published"] is False

        def published() -> bool:
            try:
                napi.download_dataset("v5.2/live.parquet", str(tmp_path / "live.parquet"), round_num=number)
            except ValueError:
                return False
            return True

        wait_for(published, what="round 2's live data, published half a second after the open")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "live: give delay"),
        ({"delay": -1}, "delay: must be 0 or more"),
        ({"publish_in": -1}, "publish_in: must be 0 or more"),
        ({"round": 1}, "round: names the round"),
        ({"round": 7, "publish_in": 0}, "round 7 has not opened"),
        ({"when": 1}, "when: not a live-data field"),
    ],
)
def test_bad_live_requests_are_refused_naming_the_field(
    sandbox: Sandbox, body: dict[str, object], message: str
) -> None:
    answer = requests.post(f"{sandbox.url}/admin/live", json=body, timeout=10)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]


def test_a_submission_after_the_close_is_marked_late(sandbox: Sandbox, napi: numerapi.NumerAPI) -> None:
    ids = sandbox.core.live_ids(1)
    frame = pd.DataFrame({"id": ids, "prediction": np.linspace(0, 1, len(ids))})
    model_id = sandbox.model_ids()["sandbox_model_1"]
    napi.upload_predictions(df=frame, model_id=model_id)
    sandbox.close_round()
    napi.upload_predictions(df=frame, model_id=model_id)
    in_time, late = sandbox.uploads()
    assert (in_time["late"], late["late"]) == (False, True)
    assert in_time["submitted_at"] <= late["submitted_at"]
    assert sandbox.core.submissions_of(model_id)[-1].late
    over_http = requests.get(f"{sandbox.url}/admin/uploads", timeout=10).json()["uploads"]
    assert [u["late"] for u in over_http] == [False, True]
