"""The real numerapi client against the sandbox: rounds, account and models."""

from __future__ import annotations

import datetime as dt

import numerapi
import pytest

from numeraud.sandbox import Sandbox


def test_current_round_is_the_start_round(public_napi: numerapi.NumerAPI) -> None:
    assert public_napi.get_current_round() == 1


def test_round_is_open_at_start_and_closed_after_admin_close(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    assert public_napi.check_round_open() is True
    sandbox.close_round()
    assert public_napi.check_round_open() is False


def test_admin_open_starts_the_next_round_which_numerapi_sees_as_new(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox
) -> None:
    assert sandbox.open_round() == 2
    assert public_napi.get_current_round() == 2
    assert public_napi.check_round_open() is True
    assert public_napi.check_new_round(hours=1) is True


def test_list_rounds_parses_times_and_decimals(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.open_round()
    rounds = public_napi.list_rounds()
    assert [r["number"] for r in rounds] == [2, 1]
    assert all(isinstance(r["openTime"], dt.datetime) and r["openTime"].tzinfo for r in rounds)
    assert rounds[0]["payoutFactor"] is not None
    assert [r["number"] for r in public_napi.list_rounds(status="open")] == [2]


def test_get_models_returns_the_three_default_models(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    models = napi.get_models()
    assert models == sandbox.model_ids()
    assert sorted(models) == ["sandbox_model_1", "sandbox_model_2", "sandbox_model_3"]


def test_get_account_parses(napi: numerapi.NumerAPI) -> None:
    account = napi.get_account()
    assert account["username"] == "sandbox"
    assert isinstance(account["insertedAt"], dt.datetime)
    assert len(account["models"]) == 3


def test_bad_token_is_refused_with_numerais_message(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    wrong = numerapi.NumerAPI("sandbox-public", "not-the-secret", show_progress_bars=False)
    with pytest.raises(ValueError, match=r"Your session is invalid or has expired\."):
        wrong.get_models()


def test_pipeline_status_parses(public_napi: numerapi.NumerAPI) -> None:
    status = public_napi.pipeline_status()
    assert isinstance(status["dataReadyAt"], dt.datetime)


def test_set_submission_webhook_returns_true(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    assert napi.set_submission_webhook(model_id, "http://127.0.0.1:9/hook") is True


def test_unknown_model_id_is_an_api_error(napi: numerapi.NumerAPI) -> None:
    with pytest.raises(ValueError, match="Model not found"):
        napi.submission_ids("00000000-0000-0000-0000-000000000000")
