"""Every public method of numerapi's ``SignalsAPI`` and ``CryptoAPI`` against a sandbox, as the README's table says.

The README's "numerapi SignalsAPI and CryptoAPI methods" table is parsed here: it names every
public method of the two classes, and each verdict (per class) is what the call really does.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numerapi
import numerapi.base_api
import numpy as np
import pandas as pd
import pytest

from numeraud.common.tournaments import CRYPTO, SIGNALS
from numeraud.sandbox import Sandbox, SandboxOptions

README = Path(__file__).resolve().parents[2] / "README.md"
UNSUPPORTED = "is not supported by the numeraud sandbox"
CLASSES = {SIGNALS: numerapi.SignalsAPI, CRYPTO: numerapi.CryptoAPI}
NAMES = {SIGNALS: "sig_1", CRYPTO: "cry_1"}


@dataclass
class Side:
    """One tournament of the world: its API, model and round-1 submission."""

    tournament: int
    api: Any
    model_id: str
    submission_id: str
    tmp: Path

    @property
    def name(self) -> str:
        return NAMES[self.tournament]

    @property
    def prefix(self) -> str:
        return "signals/v2.0" if self.tournament == SIGNALS else "crypto/v2.0"


def _frame(sandbox: Sandbox, tournament: int, round_number: int) -> pd.DataFrame:
    data = sandbox.core.side(tournament).data
    ids = data.universe(round_number)[data.id_column]
    return pd.DataFrame({data.id_column: ids, "signal": np.random.default_rng(round_number).random(len(ids))})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, dict[int, Side]]]:
    """A sandbox with a Signals and a Crypto model, each with a resolved upload in round 1; round 2 open."""
    root = tmp_path_factory.mktemp("side-methods")
    saved = numerapi.base_api.API_TOURNAMENT_URL
    options = SandboxOptions(
        data_dir=root / "sandbox", versions=("v5.2",), signals_models=("sig_1",), crypto_models=("cry_1",)
    )
    with Sandbox(options) as sandbox:
        numerapi.base_api.API_TOURNAMENT_URL = sandbox.url
        try:
            sides = {}
            for tournament, cls in CLASSES.items():
                api = cls(options.public_id, options.secret_key, show_progress_bars=False)
                model_id = sandbox.model_ids(tournament)[NAMES[tournament]]
                submission_id = api.upload_predictions(df=_frame(sandbox, tournament, 1), model_id=model_id)
                sides[tournament] = Side(tournament, api, model_id, submission_id, root)
            sandbox.close_round()
            for tournament in CLASSES:
                sandbox.resolve(1, tournament)
            sandbox.open_round()
            yield sandbox, sides
        finally:
            numerapi.base_api.API_TOURNAMENT_URL = saved


def _download(sandbox: Sandbox, s: Side) -> bool:
    name = "live.parquet" if s.tournament == SIGNALS else "live_universe.parquet"
    dest = s.tmp / f"dl-{s.tournament}" / name
    s.api.download_dataset(f"{s.prefix}/{name}", str(dest))
    return len(pd.read_parquet(dest)) == len(sandbox.core.side(s.tournament).data.universe(2))


def _global_dir(sandbox: Sandbox, s: Side) -> bool:
    s.api.set_global_data_dir(str(s.tmp / f"global-{s.tournament}"))
    try:
        name = "train.parquet" if s.tournament == SIGNALS else "train_targets.parquet"
        s.api.download_dataset(f"{s.prefix}/{name}")
        return (s.tmp / f"global-{s.tournament}" / s.prefix / name).is_file()
    finally:
        s.api.global_data_dir = "."


def _model_upload(sandbox: Sandbox, s: Side) -> None:
    path = s.tmp / "model.pkl"
    path.write_bytes(pickle.dumps({"never": "unpickled"}))
    s.api.model_upload(str(path), model_id=s.model_id)


def _performances(method: Callable[[str], list[dict[str, Any]]], model_id: str) -> bool:
    with pytest.deprecated_call():
        performances = method(model_id)
    return bool(performances[0]["roundNumber"] == 1 and performances[0]["roundResolved"])


def _raw_rounds(sandbox: Sandbox, s: Side) -> bool:
    query = "query($t: Int!) { rounds(tournament: $t, number: 0) { number tournament } }"
    return bool(
        s.api.raw_query(query, {"t": s.tournament})["data"]["rounds"] == [{"number": 2, "tournament": s.tournament}]
    )


def _account(sandbox: Sandbox, s: Side) -> bool:
    models = s.api.get_account()["models"]
    return {"name": s.name, "id": s.model_id} in [{"name": m["name"], "id": m["id"]} for m in models]


def _ticker_universe(sandbox: Sandbox, s: Side) -> bool:
    # ticker_universe() downloads signals/v1.0/live.parquet under the data dir (default: the cwd).
    s.api.set_global_data_dir(str(s.tmp / "universe"))
    try:
        tickers = s.api.ticker_universe()
    finally:
        s.api.global_data_dir = "."
    return sorted(tickers) == sorted(sandbox.core.side(SIGNALS).data.universe(2)["numerai_ticker"])


Call = Callable[[Sandbox, Side], Any]
#: method → a call that returns True (or asserts and returns None) when the method works.
CALLS: dict[str, Call] = {
    "check_new_round": lambda w, s: s.api.check_new_round() is True,
    "check_round_open": lambda w, s: s.api.check_round_open() is True,
    "daily_model_performances": lambda w, s: len(s.api.daily_model_performances(s.name)) == 1,
    "diagnostics": lambda w, s: s.api.diagnostics(s.model_id),
    "download_dataset": _download,
    "download_submission": lambda w, s: s.api.download_submission(s.submission_id, dest_path=str(s.tmp / "s.csv")),
    "get_account": _account,
    "get_account_leaderboard": lambda w, s: s.api.get_account_leaderboard()[0]["username"] == "sandbox",
    "get_current_round": lambda w, s: s.api.get_current_round() == 2,
    "get_leaderboard": lambda w, s: [row["username"] for row in s.api.get_leaderboard()] == [s.name],
    "get_models": lambda w, s: s.api.get_models() == {s.name: s.model_id},
    "intra_round_scores": lambda w, s: s.api.intra_round_scores(s.model_id)[0]["roundNumber"] == 1,
    "list_datasets": lambda w, s: (
        f"{s.prefix}/train{'' if s.tournament == SIGNALS else '_targets'}.parquet" in s.api.list_datasets()
    ),
    "list_rounds": lambda w, s: [r["number"] for r in s.api.list_rounds()] == [2, 1],
    "model_upload": _model_upload,
    "model_upload_data_versions": lambda w, s: list(s.api.model_upload_data_versions()) == ["v5.2"],
    "model_upload_docker_images": lambda w, s: "Python 3.11" in s.api.model_upload_docker_images(),
    "modelid_to_modelname": lambda w, s: s.api.modelid_to_modelname(s.model_id) == s.name,
    "models_of_account": lambda w, s: s.api.models_of_account("sandbox") == {s.name: s.model_id},
    "pending_model_payouts": lambda w, s: s.api.pending_model_payouts() == {"actual": [], "pending": []},
    "pipeline_status": lambda w, s: s.api.pipeline_status()["tournament"] == "signals",
    "public_user_profile": lambda w, s: s.api.public_user_profile(s.name)["id"] == s.model_id,
    "raw_query": _raw_rounds,
    "round_model_performances": lambda w, s: _performances(s.api.round_model_performances, s.model_id),
    "round_model_performances_v2": lambda w, s: _performances(s.api.round_model_performances_v2, s.model_id),
    "set_bio": lambda w, s: s.api.set_bio(s.model_id, "hello"),
    "set_global_data_dir": _global_dir,
    "set_link": lambda w, s: s.api.set_link(s.model_id, "me", "https://example.invalid"),
    "set_submission_webhook": lambda w, s: s.api.set_submission_webhook(s.model_id, "http://127.0.0.1:9/hook"),
    "stake_change": lambda w, s: s.api.stake_change(1, "increase", s.model_id),
    "stake_decrease": lambda w, s: s.api.stake_decrease(1, s.model_id),
    "stake_drain": lambda w, s: s.api.stake_drain(s.model_id),
    "stake_get": lambda w, s: s.api.stake_get(s.name) is None,
    "stake_increase": lambda w, s: s.api.stake_increase(1, s.model_id),
    "submission_ids": lambda w, s: [x["id"] for x in s.api.submission_ids(s.model_id)] == [s.submission_id],
    "submission_scores": lambda w, s: (
        {x["displayName"] for x in s.api.submission_scores(s.model_id)} == {"v2_corr20", "mmc"}
    ),
    "ticker_universe": _ticker_universe,
    "upload_diagnostics": lambda w, s: s.api.upload_diagnostics(df=_frame(w, s.tournament, 2), model_id=s.model_id),
    "upload_predictions": lambda w, s: bool(
        s.api.upload_predictions(df=_frame(w, s.tournament, 2), model_id=s.model_id)
    ),
    "v3_stake_auth": lambda w, s: s.api.v3_stake_auth(s.submission_id, "0x0", amount=1),
    "v3_stake_claim": lambda w, s: s.api.v3_stake_claim(1, s.model_id, "0x0"),
    "v3_stake_config": lambda w, s: s.api.v3_stake_config(),
    "v3_stake_round": lambda w, s: s.api.v3_stake_round(1),
    "wallet_transactions": lambda w, s: s.api.wallet_transactions() == [],
}


def readme_table() -> dict[str, dict[int, bool | None]]:
    """The README's table: method → tournament → supported (None: the class has no such method)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### numerapi SignalsAPI and CryptoAPI methods") :]
    section = section[: section.index("\n### ")]
    verdict = r"(supported|not supported|—)[^|]*"
    rows = re.findall(rf"^\| `(\w+)` \| {verdict}\| {verdict}\|", section, flags=re.MULTILINE)
    table: dict[str, dict[int, bool | None]] = {}
    for name, signals, crypto in rows:
        table[name] = {t: None if v == "—" else v == "supported" for t, v in ((SIGNALS, signals), (CRYPTO, crypto))}
    return table


def public_methods(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def test_the_readme_table_names_every_public_signals_and_crypto_method_once() -> None:
    table = readme_table()
    assert set(table) == public_methods(numerapi.SignalsAPI) | public_methods(numerapi.CryptoAPI) == set(CALLS)
    for tournament, cls in CLASSES.items():
        assert {name for name, row in table.items() if row[tournament] is not None} == public_methods(cls)


@pytest.mark.parametrize("tournament", sorted(CLASSES))
@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_method_does_what_the_readme_table_says(
    world: tuple[Sandbox, dict[int, Side]], method: str, tournament: int
) -> None:
    supported = readme_table()[method][tournament]
    if supported is None:
        assert not hasattr(CLASSES[tournament], method)
        return
    sandbox, sides = world
    if supported:
        result = CALLS[method](sandbox, sides[tournament])
        assert result is None or result is True, f"{method} returned {result!r}"
    else:
        with pytest.raises(ValueError, match=UNSUPPORTED):
            CALLS[method](sandbox, sides[tournament])
