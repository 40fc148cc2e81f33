"""Signals (11) and Crypto (12) in the sandbox through the real numerapi ``SignalsAPI`` and ``CryptoAPI``:
rounds on Classic's calendar, datasets, uploads accepted or refused with numerai-tools' reason,
scores on resolve, and fault rules per tournament."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numerapi
import numpy as np
import pandas as pd
import pytest
import requests

from numeraud.common.tournaments import CRYPTO, SIGNALS
from numeraud.sandbox import Sandbox, SandboxOptions

#: numerapi's client of each tournament (NumerAPI, SignalsAPI, CryptoAPI), by tournament number.
Apis = dict[int, Any]
MODELS = {"signals_models": ("sig_a", "sig_b"), "crypto_models": ("cry_a",)}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A tiny sandbox with v5.2, two Signals models and a Crypto model, round 1 open."""
    options = SandboxOptions(data_dir=tmp_path / "sandbox", versions=("v5.2",), **MODELS)  # type: ignore[arg-type]
    with Sandbox(options) as running:
        yield running


@pytest.fixture
def apis(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Apis:
    """numerapi's NumerAPI, SignalsAPI and CryptoAPI with the sandbox account's keys, by tournament."""
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    keys = (sandbox.core.options.public_id, sandbox.core.options.secret_key)
    return {
        8: numerapi.NumerAPI(*keys, show_progress_bars=False),
        SIGNALS: numerapi.SignalsAPI(*keys, show_progress_bars=False),
        CRYPTO: numerapi.CryptoAPI(*keys, show_progress_bars=False),
    }


def live_frame(api: numerapi.base_api.Api, tmp_path: Path, round_number: int | None = None) -> pd.DataFrame:
    """The current (or a given) round's live universe file, downloaded with the tournament's API."""
    name = "signals/v2.0/live.parquet" if api.tournament_id == SIGNALS else "crypto/v2.0/live_universe.parquet"
    dest = tmp_path / f"{api.tournament_id}-{round_number}-{name.replace('/', '_')}"
    return pd.read_parquet(api.download_dataset(name, str(dest), round_num=round_number))


def submission(api: numerapi.base_api.Api, tmp_path: Path, seed: int = 0) -> pd.DataFrame:
    """A valid submission for the current round: every name of the universe with a random signal."""
    live = live_frame(api, tmp_path)
    column = "numerai_ticker" if api.tournament_id == SIGNALS else "symbol"
    values = np.random.default_rng(seed).random(len(live))
    return pd.DataFrame({column: live[column].to_numpy(), "signal": values})


def test_signals_and_crypto_list_their_versions_files(apis: Apis) -> None:
    signals = apis[SIGNALS].list_datasets()
    assert {f for f in signals if f.startswith("signals/v2.0/")} == {
        f"signals/v2.0/{name}"
        for name in (
            "live.parquet",
            "live_example_preds.csv",
            "live_example_preds.parquet",
            "train.parquet",
            "validation.parquet",
            "validation_example_preds.csv",
            "validation_example_preds.parquet",
        )
    }
    assert "signals/v1.0/live.parquet" in signals
    assert set(apis[CRYPTO].list_datasets()) == {
        "crypto/v2.0/live_universe.parquet",
        "crypto/v2.0/train_targets.parquet",
        "crypto/v1.0/live_universe.parquet",
        "crypto/v1.0/train_targets.parquet",
    }
    assert not any(f.startswith(("signals/", "crypto/")) for f in apis[8].list_datasets())


def test_signals_files_have_numerais_columns(apis: Apis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # ticker_universe() downloads signals/v1.0/live.parquet into the cwd
    api = apis[SIGNALS]
    live = live_frame(api, tmp_path)
    assert {"numerai_ticker", "composite_figi", "date", "data_type"} <= set(live.columns)
    assert set(live["data_type"]) == {"live"}
    assert live["numerai_ticker"].is_unique
    assert len(live) >= 100
    assert [c for c in live.columns if c.startswith("target")] == []
    train = pd.read_parquet(api.download_dataset("signals/v2.0/train.parquet", str(tmp_path / "train.parquet")))
    assert {"numerai_ticker", "date", "target", "target_raw_return", "target_factor_neutral"} <= set(train.columns)
    assert set(train["target"].unique()) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    example = api.download_dataset("signals/v2.0/live_example_preds.csv", str(tmp_path / "example.csv"))
    assert list(pd.read_csv(example).columns) == ["numerai_ticker", "signal"]
    v1 = api.download_dataset("signals/v1.0/live.parquet", str(tmp_path / "v1.parquet"))
    assert "composite_figi" not in pd.read_parquet(v1).columns
    assert sorted(api.ticker_universe()) == sorted(live["numerai_ticker"])


def test_crypto_files_have_numerais_columns(apis: Apis, tmp_path: Path) -> None:
    api = apis[CRYPTO]
    universe = live_frame(api, tmp_path)
    assert list(universe.columns) == ["symbol"]
    assert {"BTC", "ETH", "NMR"} <= set(universe["symbol"])
    train = api.download_dataset("crypto/v2.0/train_targets.parquet", str(tmp_path / "train_targets.parquet"))
    assert list(pd.read_parquet(train).columns) == ["symbol", "date", "target"]


def test_each_tournament_has_its_own_round_rows_on_classics_calendar(apis: Apis, sandbox: Sandbox) -> None:
    sandbox.open_round()
    for api in apis.values():
        assert api.get_current_round() == 2
        assert api.check_round_open() is True
    classic = {r["number"]: r for r in apis[8].list_rounds()}
    for tournament in (SIGNALS, CRYPTO):
        rows = {r["number"]: r for r in apis[tournament].list_rounds()}
        assert sorted(rows) == [1, 2]
        assert {r["tournament"] for r in rows.values()} == {tournament}
        for number, row in rows.items():
            assert row["openTime"] == classic[number]["openTime"]
            assert row["closeStakingTime"] == classic[number]["closeStakingTime"]
    sandbox.close_round()
    assert [api.check_round_open() for api in apis.values()] == [False, False, False]


def test_the_universe_moves_a_little_from_round_to_round(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    for _ in range(5):
        sandbox.open_round()
    universes = [set(live_frame(apis[SIGNALS], tmp_path, number)["numerai_ticker"]) for number in range(1, 7)]
    assert any(earlier != later for earlier, later in itertools.pairwise(universes))
    for earlier, later in itertools.pairwise(universes):
        assert len(earlier & later) >= 0.95 * len(earlier)


def test_models_are_listed_per_tournament(apis: Apis, sandbox: Sandbox) -> None:
    assert apis[SIGNALS].get_models() == sandbox.model_ids(SIGNALS)
    assert set(apis[SIGNALS].get_models()) == {"sig_a", "sig_b"}
    assert set(apis[CRYPTO].get_models()) == {"cry_a"}
    assert set(apis[8].get_models()) == {"sandbox_model_1", "sandbox_model_2", "sandbox_model_3"}
    model_id = sandbox.model_ids(SIGNALS)["sig_a"]
    assert apis[SIGNALS].modelid_to_modelname(model_id) == "sig_a"
    assert apis[SIGNALS].models_of_account("sandbox") == {
        "sig_a": model_id,
        "sig_b": sandbox.model_ids(SIGNALS)["sig_b"],
    }
    assert apis[SIGNALS].public_user_profile("sig_a")["id"] == model_id


@pytest.mark.parametrize("tournament", [SIGNALS, CRYPTO])
def test_an_upload_is_accepted_recorded_for_its_tournament_and_scored(
    apis: Apis, sandbox: Sandbox, tmp_path: Path, tournament: int
) -> None:
    api = apis[tournament]
    name = "sig_a" if tournament == SIGNALS else "cry_a"
    model_id = api.get_models()[name]
    submission_id = api.upload_predictions(df=submission(api, tmp_path), model_id=model_id)
    assert [s["id"] for s in api.submission_ids(model_id)] == [submission_id]
    (upload,) = sandbox.uploads(tournament)
    expected = {"tournament": tournament, "model": name, "round": 1, "accepted": True, "late": False}
    assert {key: upload[key] for key in expected} == expected
    assert sandbox.uploads() == []
    assert sandbox.uploads(CRYPTO if tournament == SIGNALS else SIGNALS) == []
    sandbox.close_round()
    assert sandbox.resolve(1, tournament) == 2
    scores = api.submission_scores(model_id)
    assert {s["displayName"] for s in scores} == {"v2_corr20", "mmc"}
    assert {s["submissionId"] for s in scores} == {submission_id}
    with pytest.deprecated_call():
        (performance,) = api.round_model_performances_v2(model_id)
    assert performance["roundResolved"] is True
    assert {s["displayName"] for s in performance["submissionScores"]} == {"v2_corr20", "mmc"}
    assert [r["resolvedGeneral"] for r in api.list_rounds(number=1)] == [True]
    assert [r["resolvedGeneral"] for r in apis[8].list_rounds(number=1)] == [False]


def test_a_signals_file_by_another_ticker_type_is_accepted(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    universe = sandbox.core.side(SIGNALS).data.universe(1)
    frame = pd.DataFrame(
        {"bloomberg_ticker": universe["bloomberg_ticker"], "prediction": np.linspace(0.1, 0.9, len(universe))}
    )
    path = tmp_path / "by_bloomberg.csv"
    frame.to_csv(path, index=False)
    assert apis[SIGNALS].upload_predictions(str(path), model_id=sandbox.model_ids(SIGNALS)["sig_b"])
    assert sandbox.uploads(SIGNALS)[0]["filename"] == "by_bloomberg.csv"


def test_a_good_signal_scores_better_than_its_opposite(apis: Apis, sandbox: Sandbox) -> None:
    side = sandbox.core.side(SIGNALS)
    truth = side.data.truth(1)
    good = pd.DataFrame({"numerai_ticker": truth.index, "signal": truth["target"].rank(pct=True).to_numpy()})
    bad = good.assign(signal=1 - good["signal"])
    ids = sandbox.model_ids(SIGNALS)
    apis[SIGNALS].upload_predictions(df=good, model_id=ids["sig_a"])
    apis[SIGNALS].upload_predictions(df=bad, model_id=ids["sig_b"])
    sandbox.close_round()
    sandbox.resolve(1, SIGNALS)
    corr = {name: apis[SIGNALS].submission_scores(ids[name], display_name="v2_corr20")[0]["value"] for name in ids}
    assert corr["sig_a"] > 0.5 > -0.5 > corr["sig_b"]
    assert [row["username"] for row in apis[SIGNALS].get_leaderboard()] == ["sig_a", "sig_b"]


def _too_few(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:99]


def _outside_universe(frame: pd.DataFrame) -> pd.DataFrame:
    column = frame.columns[0]
    return frame.assign(**{column: [f"NOPE{i} XX" for i in range(len(frame))]})


def _mostly_outside(frame: pd.DataFrame) -> pd.DataFrame:
    column = frame.columns[0]
    names = frame[column].to_numpy().copy()
    names[50:] = [f"NOPE{i}" for i in range(len(names) - 50)]
    return frame.assign(**{column: names})


@pytest.mark.parametrize(
    ("tournament", "mangle", "reason"),
    [
        (SIGNALS, _too_few, "invalid_submission_ids: Not enough stocks submitted"),
        (SIGNALS, _outside_universe, "invalid_submission_ids: Not enough stocks submitted"),
        (SIGNALS, _mostly_outside, "invalid_submission_ids: Not enough stocks submitted"),
        (SIGNALS, lambda f: f.rename(columns={"numerai_ticker": "cusip"}), "invalid_submission_headers"),
        (SIGNALS, lambda f: f.assign(signal=0.5), "invalid_submission_values: submission must have non-zero"),
        (SIGNALS, lambda f: pd.concat([f, f.iloc[:3]]), "invalid_submission_ids: Duplicates detected"),
        (CRYPTO, _outside_universe, "invalid_submission_ids: Not enough stocks submitted"),
        (CRYPTO, _too_few, "invalid_submission_ids: Not enough stocks submitted"),
        (CRYPTO, lambda f: f.rename(columns={"symbol": "ticker"}), "invalid_submission_headers"),
        (CRYPTO, lambda f: f.assign(signal=f["signal"] + 2), "invalid_submission_values: values must be"),
    ],
    ids=[
        "signals-too-few-tickers",
        "signals-tickers-outside-universe",
        "signals-mostly-outside-universe",
        "signals-unknown-ticker-type",
        "signals-constant",
        "signals-duplicates",
        "crypto-unknown-symbols",
        "crypto-too-few-symbols",
        "crypto-wrong-header",
        "crypto-out-of-range",
    ],
)
def test_a_bad_file_is_refused_with_numerai_tools_reason_and_not_recorded(
    apis: Apis,
    sandbox: Sandbox,
    tmp_path: Path,
    tournament: int,
    mangle: Callable[[pd.DataFrame], pd.DataFrame],
    reason: str,
) -> None:
    api = apis[tournament]
    model_id = next(iter(api.get_models().values()))
    with pytest.raises(ValueError, match=reason):
        api.upload_predictions(df=mangle(submission(api, tmp_path)), model_id=model_id)
    assert api.submission_ids(model_id) == []
    (upload,) = sandbox.uploads(tournament)
    assert upload["accepted"] is False
    assert upload["reason"].startswith(reason)


def test_a_few_tickers_outside_the_universe_are_dropped_as_numerai_tools_does(
    apis: Apis, sandbox: Sandbox, tmp_path: Path
) -> None:
    frame = submission(apis[SIGNALS], tmp_path)
    extra = pd.DataFrame({"numerai_ticker": ["NOPE1 XX", "NOPE2 XX"], "signal": [0.2, 0.8]})
    apis[SIGNALS].upload_predictions(df=pd.concat([frame, extra]), model_id=sandbox.model_ids(SIGNALS)["sig_a"])
    (upload,) = sandbox.uploads(SIGNALS)
    assert (upload["accepted"], upload["invalid_ids"]) == (True, 2)


def test_a_signals_file_without_a_date_column_is_refused_where_one_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = SandboxOptions(
        data_dir=tmp_path / "sandbox", versions=("v5.2",), signals_models=("sig_a",), signals_require_date=True
    )
    with Sandbox(options) as sandbox:
        monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
        api = numerapi.SignalsAPI(options.public_id, options.secret_key, show_progress_bars=False)
        model_id = sandbox.model_ids(SIGNALS)["sig_a"]
        frame = submission(api, tmp_path)
        with pytest.raises(ValueError, match="invalid_submission_headers: submission must contain a date column"):
            api.upload_predictions(df=frame, model_id=model_id)
        dated = frame.assign(date="2026-01-02")
        assert api.upload_predictions(df=dated, model_id=model_id)
        assert [u["accepted"] for u in sandbox.uploads(SIGNALS)] == [False, True]


def test_a_signals_model_cannot_upload_to_classic_nor_a_classic_model_to_signals(
    apis: Apis, sandbox: Sandbox, tmp_path: Path
) -> None:
    classic_id = sandbox.model_ids()["sandbox_model_1"]
    with pytest.raises(ValueError, match="Model not found"):
        apis[SIGNALS].upload_predictions(df=submission(apis[SIGNALS], tmp_path), model_id=classic_id)
    signals_id = sandbox.model_ids(SIGNALS)["sig_a"]
    ids = sandbox.core.live_ids(1)
    with pytest.raises(ValueError, match="Model not found"):
        apis[8].upload_predictions(df=pd.DataFrame({"id": ids, "prediction": 0.5}), model_id=signals_id)


def test_a_signals_outage_leaves_classic_and_crypto_answering(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_faults(
        {"route": "graphql", "kind": "graphql_error", "message": "Signals is down", "tournament": "signals"},
        {"route": "download", "kind": "http_503", "tournament": SIGNALS},
    )
    with pytest.raises(ValueError, match="Signals is down"):
        apis[SIGNALS].get_current_round()
    with pytest.raises(ValueError, match="Signals is down"):
        apis[SIGNALS].upload_predictions(df=pd.DataFrame({"numerai_ticker": ["A"], "signal": [0.5]}))
    # A Signals file fetched by URL (the GraphQL call aside) fails too.
    response = requests.get(f"{sandbox.url}/files/signals/v2.0/train.parquet", timeout=10)
    assert response.status_code == 503
    assert apis[8].get_current_round() == apis[CRYPTO].get_current_round() == 1
    assert apis[CRYPTO].upload_predictions(
        df=submission(apis[CRYPTO], tmp_path), model_id=sandbox.model_ids(CRYPTO)["cry_a"]
    )
    ids = sandbox.core.live_ids(1)
    frame = pd.DataFrame({"id": ids, "prediction": np.linspace(0, 1, len(ids))})
    assert apis[8].upload_predictions(df=frame, model_id=sandbox.model_ids()["sandbox_model_1"])
    assert len(apis[8].list_datasets()) == 12
    rules = requests.get(f"{sandbox.url}/admin/faults", timeout=10).json()["faults"]
    assert [rule["tournament"] for rule in rules] == [SIGNALS, SIGNALS]
    sandbox.clear_faults()
    assert apis[SIGNALS].get_current_round() == 1


def test_admin_resolve_and_uploads_take_a_tournament(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    apis[CRYPTO].upload_predictions(df=submission(apis[CRYPTO], tmp_path), model_id=sandbox.model_ids(CRYPTO)["cry_a"])
    sandbox.close_round()
    answer = requests.post(f"{sandbox.url}/admin/round/resolve", json={"round": 1, "tournament": "crypto"}, timeout=10)
    assert answer.json() == {"round": 1, "tournament": CRYPTO, "scores": 2}
    uploads = requests.get(f"{sandbox.url}/admin/uploads", params={"tournament": 12}, timeout=10).json()["uploads"]
    assert [u["model"] for u in uploads] == ["cry_a"]
    bad = requests.post(f"{sandbox.url}/admin/round/resolve", json={"tournament": 9}, timeout=10)
    assert bad.status_code == 400
    assert "tournament" in bad.json()["error"]["message"]


def test_the_schedule_resolves_every_tournament(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = SandboxOptions(
        data_dir=tmp_path / "sandbox",
        versions=("v5.2",),
        schedule="interval",
        round_every=3600,
        window=60,
        resolve_after=600,
        crypto_models=("cry_a",),
    )
    with Sandbox(options) as sandbox:
        monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
        api = numerapi.CryptoAPI(options.public_id, options.secret_key, show_progress_bars=False)
        model_id = sandbox.model_ids(CRYPTO)["cry_a"]
        api.upload_predictions(df=submission(api, tmp_path), model_id=model_id)
        sandbox.advance(3600)
        assert {s["roundNumber"] for s in api.submission_scores(model_id)} == {1}
        assert [r["resolvedGeneral"] for r in api.list_rounds(number=1)] == [True]


def test_a_model_name_in_two_tournaments_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one tournament only: sandbox_model_1"):
        SandboxOptions(data_dir=tmp_path, signals_models=("sandbox_model_1",))


def test_an_upload_fault_for_signals_spares_classic_uploads(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.add_faults({"route": "upload", "kind": "http_503", "tournament": SIGNALS})
    with pytest.raises(ValueError, match="invalid_submission_file: no file was uploaded"):
        apis[SIGNALS].upload_predictions(
            df=submission(apis[SIGNALS], tmp_path), model_id=sandbox.model_ids(SIGNALS)["sig_a"]
        )
    ids = sandbox.core.live_ids(1)
    frame = pd.DataFrame({"id": ids, "prediction": np.linspace(0, 1, len(ids))})
    assert apis[8].upload_predictions(df=frame, model_id=sandbox.model_ids()["sandbox_model_1"])
    assert apis[CRYPTO].upload_predictions(
        df=submission(apis[CRYPTO], tmp_path), model_id=sandbox.model_ids(CRYPTO)["cry_a"]
    )


def test_live_files_are_published_after_the_open_as_classics_are(apis: Apis, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_live_delay(3600)
    sandbox.open_round()
    api = apis[SIGNALS]
    with pytest.raises(ValueError, match="not published yet"):
        api.download_dataset("signals/v2.0/live.parquet", str(tmp_path / "live2.parquet"), round_num=2)
    plain = pd.read_parquet(api.download_dataset("signals/v2.0/live.parquet", str(tmp_path / "plain.parquet")))
    assert set(plain["numerai_ticker"]) == set(sandbox.core.side(SIGNALS).data.universe(1)["numerai_ticker"])
    assert requests.get(f"{sandbox.url}/files/signals/v2.0/live_2.parquet", timeout=10).status_code == 404
    sandbox.publish_live(0)
    assert len(live_frame(api, tmp_path, 2)) == len(sandbox.core.side(SIGNALS).data.universe(2))
