"""Every fault kind the sandbox injects, seen on the wire and through the real numerapi client."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numerapi
import pytest
import requests

from numeraud.sandbox import Sandbox
from numeraud.sandbox.faults import FaultError, FaultPlan, FaultRule
from tests.helpers import wait_for
from tests.sandbox.test_numerapi_uploads import live_predictions

ROUNDS = {"query": "query { rounds(tournament: 8, number: 0) { number } }", "variables": None}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_error_fault_answers_that_status_once_then_recovers(sandbox: Sandbox, status: int) -> None:
    sandbox.add_faults({"route": "graphql", "kind": f"http_{status}", "count": 1})
    assert requests.post(sandbox.url, json=ROUNDS, timeout=10).status_code == status
    assert requests.post(sandbox.url, json=ROUNDS, timeout=10).json() == {"data": {"rounds": [{"number": 1}]}}


def test_numerapi_retries_a_503_and_then_succeeds(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql:rounds", "kind": "http_503", "count": 1})
    assert public_napi.get_current_round() == 1
    wait_for(lambda: [r["status"] for r in sandbox.requests() if r["route"] == "graphql"] == [503, 200])


def test_429_carries_retry_after_and_numerapi_fails_with_keyerror(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox
) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "http_429", "retry_after": 7, "count": 2})
    answer = requests.post(sandbox.url, json=ROUNDS, timeout=10)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    with pytest.raises(KeyError, match="data"):
        public_napi.get_current_round()


def test_graphql_error_fault_becomes_valueerror_in_numerapi(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "graphql_error", "message": "boom", "count": 1})
    with pytest.raises(ValueError, match="boom"):
        public_napi.get_current_round()
    assert public_napi.get_current_round() == 1


def test_malformed_json_fault_becomes_keyerror_in_numerapi(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "malformed_json", "count": 1})
    with pytest.raises(KeyError):
        public_napi.get_current_round()


def test_reset_fault_drops_the_connection(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "reset", "count": 2})
    with pytest.raises(requests.ConnectionError):
        requests.post(sandbox.url, json=ROUNDS, timeout=10)
    with pytest.raises(KeyError):
        public_napi.get_current_round()


def test_slow_fault_answers_correctly_after_the_delay(sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "slow", "delay": 0.5, "count": 1})
    started = time.monotonic()
    answer = requests.post(sandbox.url, json=ROUNDS, timeout=10)
    assert time.monotonic() - started >= 0.5
    assert answer.json()["data"]["rounds"] == [{"number": 1}]


def test_hang_fault_never_answers_within_a_client_timeout(sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql", "kind": "hang", "count": 1})
    with pytest.raises(requests.Timeout):
        requests.post(sandbox.url, json=ROUNDS, timeout=0.5)
    assert requests.post(sandbox.url, json=ROUNDS, timeout=10).status_code == 200


def test_truncated_download_fails_then_numerapi_resumes_to_the_exact_file(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    original = (sandbox.core.options.data_dir / "v5.2" / "train.parquet").read_bytes()
    sandbox.add_faults({"route": "download", "kind": "truncate", "count": 1})
    dest = tmp_path / "train.parquet"
    with pytest.raises(requests.RequestException):
        public_napi.download_dataset("v5.2/train.parquet", str(dest))
    assert not dest.exists()
    assert (tmp_path / "train.parquet.temp").stat().st_size < len(original)
    public_napi.download_dataset("v5.2/train.parquet", str(dest))
    assert dest.read_bytes() == original


def test_corrupt_download_has_the_right_length_and_wrong_bytes(
    public_napi: numerapi.NumerAPI, sandbox: Sandbox, tmp_path: Path
) -> None:
    original = (sandbox.core.options.data_dir / "v5.2" / "train.parquet").read_bytes()
    sandbox.add_faults({"route": "download", "kind": "corrupt", "count": 1})
    dest = tmp_path / "train.parquet"
    public_napi.download_dataset("v5.2/train.parquet", str(dest))
    data = dest.read_bytes()
    assert len(data) == len(original)
    assert hashlib.sha256(data).digest() != hashlib.sha256(original).digest()


def test_upload_fault_makes_the_submission_fail_then_succeed(napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    model_id = sandbox.model_ids()["sandbox_model_1"]
    sandbox.add_faults({"route": "upload", "kind": "http_503", "count": 1})
    with pytest.raises(ValueError, match="no file was uploaded"):
        napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)
    assert napi.upload_predictions(df=live_predictions(sandbox), model_id=model_id)


def test_per_operation_fault_leaves_other_operations_alone(public_napi: numerapi.NumerAPI, sandbox: Sandbox) -> None:
    sandbox.add_faults({"route": "graphql:listDatasets", "kind": "graphql_error", "message": "nope"})
    assert public_napi.get_current_round() == 1
    with pytest.raises(ValueError, match="nope"):
        public_napi.list_datasets()


def test_probability_faults_fire_about_that_often() -> None:
    plan = FaultPlan(seed=1)
    plan.add([FaultRule(route="graphql", kind="http_500", probability=0.3)])
    fired = sum(plan.draw("graphql") is not None for _ in range(2000))
    assert 450 < fired < 750


def test_delete_faults_clears_every_rule(sandbox: Sandbox) -> None:
    requests.post(f"{sandbox.url}/admin/faults", json={"route": "*", "kind": "http_500"}, timeout=10)
    assert requests.get(f"{sandbox.url}/admin/faults", timeout=10).json()["faults"][0]["kind"] == "http_500"
    requests.delete(f"{sandbox.url}/admin/faults", timeout=10)
    assert requests.post(sandbox.url, json=ROUNDS, timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"route": "nowhere", "kind": "http_500"}, "route"),
        ({"route": "graphql", "kind": "explode"}, "kind"),
        ({"route": "graphql", "kind": "truncate"}, "file downloads only"),
        ({"route": "graphql", "kind": "http_500", "probability": 2}, "probability"),
        ({"route": "graphql", "kind": "http_500", "count": 0}, "count"),
        ({"route": "graphql", "kind": "http_500", "colour": "red"}, "unknown field"),
        ({"kind": "http_500"}, "route: required"),
    ],
)
def test_bad_fault_rules_are_refused_naming_the_field(sandbox: Sandbox, rule: dict[str, object], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultRule.from_json(rule)
    answer = requests.post(f"{sandbox.url}/admin/faults", json=rule, timeout=10)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]
