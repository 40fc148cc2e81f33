"""numeraud's NumeraiClient against the sandbox: numerapi's calls, with timeouts and typed errors."""

from __future__ import annotations

import time

import numerapi.base_api
import pytest

from numeraud.numerai.client import (
    NumeraiAnswerError,
    NumeraiAuthError,
    NumeraiClient,
    NumeraiRejected,
    NumeraiUnavailable,
)
from numeraud.sandbox import Sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> NumeraiClient:
    options = sandbox.core.options
    return NumeraiClient(sandbox.url, options.public_id, options.secret_key, timeout=(2.0, 2.0))


def test_numerapi_methods_work_through_the_client(client: NumeraiClient, sandbox: Sandbox) -> None:
    assert client.get_current_round() == 1
    assert client.check_round_open() is True
    assert client.get_models() == sandbox.model_ids()


def test_client_uses_its_own_url_not_numerapis_global(sandbox: Sandbox) -> None:
    before = numerapi.base_api.API_TOURNAMENT_URL
    assert NumeraiClient(sandbox.url).get_current_round() == 1
    assert before == numerapi.base_api.API_TOURNAMENT_URL


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503", "http_504", "malformed_json", "reset"])
def test_transient_faults_raise_unavailable_at_once_without_sleeping(
    client: NumeraiClient, sandbox: Sandbox, kind: str
) -> None:
    sandbox.add_faults({"route": "graphql", "kind": kind, "count": 1})
    started = time.monotonic()
    with pytest.raises(NumeraiUnavailable):
        client.get_current_round()
    assert time.monotonic() - started < 1.5
    assert client.get_current_round() == 1


def test_429_carries_retry_after(client: NumeraiClient, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "http_429", "retry_after": 9, "count": 1})
    with pytest.raises(NumeraiUnavailable) as caught:
        client.get_current_round()
    assert caught.value.retry_after == 9
    assert caught.value.status == 429


def test_a_hung_call_times_out(client: NumeraiClient, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "hang", "count": 1})
    started = time.monotonic()
    with pytest.raises(NumeraiUnavailable, match="did not answer"):
        client.get_current_round()
    assert time.monotonic() - started < 5


def test_graphql_errors_are_rejections_worth_a_few_more_attempts(client: NumeraiClient, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "graphql_error", "message": "boom", "count": 1})
    with pytest.raises(NumeraiAnswerError, match="boom"):
        client.get_current_round()


def test_a_refused_submission_file_is_final(client: NumeraiClient, sandbox: Sandbox) -> None:
    message = "invalid_submission_ids: not enough ids"
    sandbox.add_faults({"route": "graphql", "kind": "graphql_error", "message": message, "count": 1})
    with pytest.raises(NumeraiRejected, match="invalid_submission_ids") as caught:
        client.get_current_round()
    assert not isinstance(caught.value, NumeraiAnswerError)


def test_bad_keys_raise_auth_error(sandbox: Sandbox) -> None:
    with pytest.raises(NumeraiAuthError, match="session is invalid"):
        NumeraiClient(sandbox.url, "sandbox-public", "wrong").get_models()


def test_private_call_without_keys_raises_auth_error_without_a_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    keyless = NumeraiClient(sandbox.url)
    assert keyless.has_keys is False
    with pytest.raises(NumeraiAuthError, match="API keys required"):
        keyless.get_models()


def test_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        NumeraiClient("ftp://example")
