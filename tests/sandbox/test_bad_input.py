"""Whatever a client sends, the sandbox answers like Numerai and keeps serving."""

from __future__ import annotations

import socket

import pytest
import requests

from numeraud.sandbox import Sandbox

ROUNDS = "query { rounds(tournament: 8, number: 0) { number } }"


def assert_still_serving(sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url, json={"query": ROUNDS}, timeout=10)
    assert answer.json() == {"data": {"rounds": [{"number": 1}]}}


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'{"query": 5}', b"\xff\xfe", b'{"query": "x", "variables": 3}']
)
def test_malformed_request_bodies_get_400_with_an_errors_list(sandbox: Sandbox, body: bytes) -> None:
    answer = requests.post(sandbox.url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"]
    assert_still_serving(sandbox)


def test_graphql_syntax_error_is_a_graphql_error(sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url, json={"query": "query { rounds( "}, timeout=10)
    assert answer.status_code == 200
    assert "Syntax Error" in answer.json()["errors"][0]["message"]


def test_unknown_operation_is_a_graphql_error(sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url, json={"query": "query { launchMissiles { id } }"}, timeout=10)
    assert answer.json()["errors"][0]["message"] == 'Cannot query field "launchMissiles" on type "RootQueryType".'


def test_wrong_variable_type_names_the_variable(sandbox: Sandbox) -> None:
    query = "query($t: Int!) { rounds(tournament: $t, number: 0) { number } }"
    answer = requests.post(sandbox.url, json={"query": query, "variables": {"t": "eight"}}, timeout=10)
    assert answer.status_code == 200
    assert '"$t"' in answer.json()["errors"][0]["message"]


def test_missing_required_variable_is_reported(sandbox: Sandbox) -> None:
    query = "query($filename: String!) { dataset(filename: $filename) }"
    answer = requests.post(sandbox.url, json={"query": query, "variables": {}}, timeout=10)
    assert "was not provided" in answer.json()["errors"][0]["message"]


def test_private_field_without_token_is_refused(sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url, json={"query": "query { account { username } }"}, timeout=10)
    assert answer.json()["data"]["account"] is None
    assert "authenticated" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("token", ["Token sandbox-public$wrong", "Bearer abc", "Token nodollar", "Token "])
def test_bad_tokens_get_the_invalid_session_message(sandbox: Sandbox, token: str) -> None:
    answer = requests.post(
        sandbox.url, json={"query": "query { account { username } }"}, headers={"Authorization": token}, timeout=10
    )
    assert answer.json()["errors"][0]["message"] == "Your session is invalid or has expired."


def test_huge_body_is_refused_with_413(sandbox: Sandbox) -> None:
    answer = requests.post(sandbox.url, data=b"x" * (2 * 1024 * 1024), timeout=10)
    assert answer.status_code == 413
    assert_still_serving(sandbox)


def test_unknown_paths_are_404(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.url}/nothing", timeout=10).status_code == 404
    assert requests.post(f"{sandbox.url}/nothing", json={}, timeout=10).status_code == 404
    assert requests.post(f"{sandbox.url}/admin/nothing", json={}, timeout=10).status_code == 404


def test_put_to_an_unknown_upload_url_is_403(sandbox: Sandbox) -> None:
    assert requests.put(f"{sandbox.url}/uploads/forged", data=b"id,prediction\n", timeout=10).status_code == 403


def test_responses_never_contain_a_stack_trace(sandbox: Sandbox) -> None:
    for body in (b"{", b'{"query": "{ rounds(number: \\"x\\") { number } }"}'):
        answer = requests.post(sandbox.url, data=body, timeout=10)
        assert "Traceback" not in answer.text


def test_garbage_bytes_on_the_socket_do_not_stop_the_server(sandbox: Sandbox) -> None:
    host, port = sandbox.httpd.server_address[:2]
    with socket.create_connection((str(host), port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
        raw.recv(1024)
    assert_still_serving(sandbox)


def test_admin_bad_json_and_bad_values_are_400(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/admin/round/resolve"
    assert requests.post(url, data=b"{", timeout=10).json()["error"]["code"] == "bad_json"
    answer = requests.post(url, json={"round": "one"}, timeout=10)
    assert answer.status_code == 400
    assert "round" in answer.json()["error"]["message"]
    still_open = requests.post(url, json={"round": 1}, timeout=10)
    assert "still open" in still_open.json()["error"]["message"]
