"""Every public NumerAPI method against a default sandbox, as the README's table says: supported or a clear error.

The table in README.md is parsed here, so it names every public method of numerapi's ``NumerAPI``
and each row's verdict is what the call really does.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numerapi
import numerapi.base_api
import numpy as np
import pandas as pd
import pytest
import requests

from numeraud.sandbox import Sandbox, SandboxOptions

README = Path(__file__).resolve().parents[2] / "README.md"
UNSUPPORTED = "is not supported by the numeraud sandbox"


class World:
    """A default tiny sandbox with one accepted upload in round 1, resolved, and round 2 open."""

    def __init__(self, sandbox: Sandbox, napi: numerapi.NumerAPI, tmp: Path) -> None:
        self.sandbox = sandbox
        self.napi = napi
        self.tmp = tmp
        self.model_id = sandbox.model_ids()["sandbox_model_1"]
        ids = sandbox.core.live_ids(1)
        frame = pd.DataFrame({"id": ids, "prediction": np.random.default_rng(1).random(len(ids))})
        self.submission_id = napi.upload_predictions(df=frame, model_id=self.model_id)
        sandbox.close_round()
        sandbox.resolve(1)
        sandbox.open_round()

    def predictions(self) -> pd.DataFrame:
        ids = self.sandbox.core.live_ids(2)
        return pd.DataFrame({"id": ids, "prediction": np.random.default_rng(2).random(len(ids))})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("methods")
    saved = numerapi.base_api.API_TOURNAMENT_URL
    with Sandbox(SandboxOptions(data_dir=root / "sandbox")) as sandbox:
        numerapi.base_api.API_TOURNAMENT_URL = sandbox.url
        try:
            options = sandbox.core.options
            napi = numerapi.NumerAPI(options.public_id, options.secret_key, show_progress_bars=False)
            yield World(sandbox, napi, root)
        finally:
            numerapi.base_api.API_TOURNAMENT_URL = saved


def _model_upload(w: World) -> None:
    path = w.tmp / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "a model, and never unpickled"}))
    upload_id = w.napi.model_upload(str(path), model_id=w.model_id, data_version="v5.3", docker_image="Python 3.11")
    (stored,) = [u for u in w.sandbox.core.state.model_uploads if u.id == upload_id]
    assert stored.data_version == "v5.3"
    assert stored.docker_image == "Python 3.11"
    assert stored.path.read_bytes() == path.read_bytes()


def _download(w: World) -> None:
    dest = w.tmp / "dl" / "v5.3" / "live.parquet"
    w.napi.download_dataset("v5.3/live.parquet", str(dest))
    assert len(pd.read_parquet(dest)) == len(w.sandbox.core.live_ids(2))


def _tournaments(w: World) -> None:
    data = w.napi.raw_query("query { tournaments { id name tournament active } }")["data"]["tournaments"]
    assert {"name": "classic", "tournament": 8, "active": True}.items() <= data[0].items()


def _global_dir(w: World) -> None:
    w.napi.set_global_data_dir(str(w.tmp / "global"))
    try:
        w.napi.download_dataset("v5.0/features.json")
        assert (w.tmp / "global" / "v5.0" / "features.json").is_file()
    finally:
        w.napi.global_data_dir = "."


def _scores(w: World) -> None:
    scores = w.napi.submission_scores(w.model_id)
    assert {s["displayName"] for s in scores} >= {"v2_corr20", "mmc"}
    assert all(s["roundNumber"] == 1 for s in scores)


def _webhook(w: World) -> None:
    assert w.napi.set_submission_webhook(w.model_id, "http://127.0.0.1:9/hook") is True
    assert w.napi.set_submission_webhook(w.model_id, None) is True


def _performances(method: Callable[[str], list[dict[str, Any]]], model_id: str) -> bool:
    with pytest.deprecated_call():  # numerapi warns: v2RoundModelPerformances is deprecated
        performances = method(model_id)
    return bool(performances[0]["roundNumber"] == 1)


#: method → a call that returns True (or asserts itself and returns None) when the method works.
CALLS: dict[str, Callable[[World], Any]] = {
    "check_new_round": lambda w: w.napi.check_new_round() is True,
    "check_round_open": lambda w: w.napi.check_round_open() is True,
    "daily_model_performances": lambda w: len(w.napi.daily_model_performances("sandbox_model_1")) == 1,
    "diagnostics": lambda w: w.napi.diagnostics(w.model_id),
    "download_dataset": _download,
    "download_submission": lambda w: w.napi.download_submission(w.submission_id, dest_path=str(w.tmp / "s.csv")),
    "get_account": lambda w: w.napi.get_account()["username"] == "sandbox",
    "get_account_leaderboard": lambda w: w.napi.get_account_leaderboard()[0]["username"] == "sandbox",
    "get_competitions": lambda w: sorted(c["number"] for c in w.napi.get_competitions()) == [1, 2],
    "get_current_round": lambda w: w.napi.get_current_round() == 2,
    "get_leaderboard": lambda w: w.napi.get_leaderboard()[0]["username"] == "sandbox_model_1",
    "get_models": lambda w: w.napi.get_models()["sandbox_model_1"] == w.model_id,
    "get_submission_filenames": lambda w: w.napi.get_submission_filenames(model_id=w.model_id)[0]["round_num"] == 1,
    "intra_round_scores": lambda w: w.napi.intra_round_scores(w.model_id)[0]["roundNumber"] == 1,
    "list_datasets": lambda w: "v5.3/live_benchmark_models.parquet" in w.napi.list_datasets(),
    "list_rounds": lambda w: [r["number"] for r in w.napi.list_rounds()] == [2, 1],
    "model_upload": _model_upload,
    "model_upload_data_versions": lambda w: (
        list(w.napi.model_upload_data_versions()) == ["v5.0", "v5.1", "v5.2", "v5.3"]
    ),
    "model_upload_docker_images": lambda w: "Python 3.11" in w.napi.model_upload_docker_images(),
    "modelid_to_modelname": lambda w: w.napi.modelid_to_modelname(w.model_id) == "sandbox_model_1",
    "models_of_account": lambda w: w.napi.models_of_account("sandbox")["sandbox_model_1"] == w.model_id,
    "pending_model_payouts": lambda w: w.napi.pending_model_payouts() == {"actual": [], "pending": []},
    "pipeline_status": lambda w: w.napi.pipeline_status()["tournament"] == "classic",
    "public_user_profile": lambda w: w.napi.public_user_profile("sandbox_model_1")["id"] == w.model_id,
    "raw_query": _tournaments,
    "round_model_performances": lambda w: _performances(w.napi.round_model_performances, w.model_id),
    "round_model_performances_v2": lambda w: _performances(w.napi.round_model_performances_v2, w.model_id),
    "set_bio": lambda w: w.napi.set_bio(w.model_id, "hello"),
    "set_global_data_dir": _global_dir,
    "set_link": lambda w: w.napi.set_link(w.model_id, "me", "https://example.invalid"),
    "set_submission_webhook": _webhook,
    "stake_change": lambda w: w.napi.stake_change(1, "increase", w.model_id),
    "stake_decrease": lambda w: w.napi.stake_decrease(1, w.model_id),
    "stake_drain": lambda w: w.napi.stake_drain(w.model_id),
    "stake_get": lambda w: w.napi.stake_get("sandbox_model_1") is None,
    "stake_increase": lambda w: w.napi.stake_increase(1, w.model_id),
    "stake_set": lambda w: w.napi.stake_set(5, w.model_id),
    "submission_ids": lambda w: [s["id"] for s in w.napi.submission_ids(w.model_id)] == [w.submission_id],
    "submission_scores": _scores,
    "upload_diagnostics": lambda w: w.napi.upload_diagnostics(df=w.predictions(), model_id=w.model_id),
    "upload_predictions": lambda w: bool(w.napi.upload_predictions(df=w.predictions(), model_id=w.model_id)),
    "v3_stake_auth": lambda w: w.napi.v3_stake_auth(w.submission_id, "0x0", amount=1),
    "v3_stake_claim": lambda w: w.napi.v3_stake_claim(1, w.model_id, "0x0"),
    "v3_stake_config": lambda w: w.napi.v3_stake_config(),
    "v3_stake_round": lambda w: w.napi.v3_stake_round(1),
    "wallet_transactions": lambda w: w.napi.wallet_transactions() == [],
}


def readme_table() -> dict[str, bool]:
    """The README's numerapi table: method → supported."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### numerapi methods") :]
    section = section[: section.index("\n### ")]  # the next section has SignalsAPI's and CryptoAPI's table
    rows = re.findall(r"^\| `(\w+)` \| (supported|not supported)\b", section, flags=re.MULTILINE)
    return {name: verdict == "supported" for name, verdict in rows}


def public_methods() -> set[str]:
    cls = numerapi.NumerAPI
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def test_the_readme_table_names_every_public_numerapi_method_once() -> None:
    table = readme_table()
    assert set(table) == public_methods() == set(CALLS)


@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_numerapi_method_does_what_the_readme_table_says(world: World, method: str) -> None:
    supported = readme_table()[method]
    if supported:
        result = CALLS[method](world)
        assert result is None or result is True, f"{method} returned {result!r}"
    else:
        with pytest.raises(ValueError, match=UNSUPPORTED):
            CALLS[method](world)


def test_an_unsupported_root_field_is_a_graphql_error_not_a_dropped_connection(world: World) -> None:
    answer = requests.post(world.sandbox.url, json={"query": "query { v3StakeConfig { id } }"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"v3StakeConfig": None},
        "errors": [
            {
                "message": "v3StakeConfig is not supported by the numeraud sandbox (README: numerapi methods)",
                "path": ["v3StakeConfig"],
            }
        ],
    }
