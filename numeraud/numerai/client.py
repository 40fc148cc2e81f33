"""numeraud's numerapi client: numerapi's queries and parsing, with timeouts and typed errors.

numerapi sends GraphQL without a timeout, sleeps 5 s and 10 s inside its own 5xx retries, turns
every HTTP failure into ``KeyError('data')`` and reads its URL from a module global. A daemon
that must finish inside a one-hour window needs better, so :class:`NumeraiClient` overrides the
one method every numerapi call goes through (``raw_query``): one attempt with a timeout, the URL
it was given, and errors that say whether trying again can help. Retrying, with backoff and a
deadline, is the caller's job (:mod:`numeraud.numerai.retry`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numerapi
import numerapi.base_api
import requests

from numeraud.common.failpoints import Failpoints
from numeraud.numerai.clock import ClockOffset, measure

NUMERAI_API_URL = "https://api-tournament.numer.ai"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: (connect, read) seconds for one GraphQL call.
DEFAULT_TIMEOUT = (5.0, 30.0)


class NumeraiError(Exception):
    """Base of the errors this client raises."""


class NumeraiUnavailable(NumeraiError):
    """Numerai could not answer now (timeout, connection error, 5xx, 429, garbage): try again later.

    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class NumeraiRejected(NumeraiError, ValueError):
    """Numerai answered with an application error (GraphQL ``errors``); the message is Numerai's.

    It subclasses ValueError because that is what numerapi's own callers expect.
    """


class NumeraiAuthError(NumeraiRejected):
    """The keys were refused, or a private call was made without keys."""


class NumeraiAnswerError(NumeraiRejected):
    """A GraphQL error that is neither about the keys nor a refused submission file.

    Most are final ("Model not found"), but Numerai answers its own hiccups this way too, so
    :func:`numeraud.numerai.retry.retry_until` tries the call a few times before taking it as final.
    """


#: GraphQL errors that are final at once: what the file or the keys are, not a passing state.
FINAL_MESSAGES = ("invalid_submission_",)


def check_api_url(url: str) -> str:
    """Return ``url`` without a trailing slash; ValueError if it is not an http(s) URL."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url.rstrip("/") if parsed.path in ("", "/") else url


def _bypass_proxy_for_loopback(url: str) -> None:
    if urlsplit(url).hostname in _LOOPBACK:
        present = [p for p in os.environ.get("NO_PROXY", "").split(",") if p]
        os.environ["NO_PROXY"] = ",".join(dict.fromkeys([*present, *_LOOPBACK]))


def use_api_url(url: str) -> None:
    """Send every plain numerapi client of this process to ``url`` (numerapi's module global)."""
    url = check_api_url(url)
    numerapi.base_api.API_TOURNAMENT_URL = url
    _bypass_proxy_for_loopback(url)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class NumeraiClient(numerapi.NumerAPI):
    """numerapi's Classic client with one-shot, time-limited, typed GraphQL calls (see module doc)."""

    def __init__(
        self,
        api_url: str = NUMERAI_API_URL,
        public_id: str | None = None,
        secret_key: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            public_id=public_id, secret_key=secret_key, verbosity="warning", show_progress_bars=False
        )
        self.api_url = check_api_url(api_url)
        self.timeout = timeout
        self.failpoints = Failpoints()
        self.session = requests.Session()
        #: Numerai's clock against ours, from the ``Date`` header of every answer this client gets.
        self.clock = ClockOffset()
        self.session.hooks["response"].append(self._heard)
        _bypass_proxy_for_loopback(self.api_url)

    def _heard(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """The session's response hook: one more clock reading from the answer's ``Date`` header."""
        self.clock.observe(measure(response.headers.get("Date"), time.time(), response.elapsed.total_seconds()))

    @property
    def has_keys(self) -> bool:
        """Whether the client holds a public id and a secret key."""
        return self.token is not None

    def raw_query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        authorization: bool = False,
        *,
        retries: int = 1,
        delay: int = 0,
        backoff: int = 1,
    ) -> dict[str, Any]:
        """One GraphQL call (numerapi's signature; ``retries``/``delay``/``backoff`` are ignored).

        Raises :class:`NumeraiUnavailable` when trying again may help, :class:`NumeraiRejected`
        (or :class:`NumeraiAuthError`) when Numerai said no, :class:`NumeraiAnswerError` for any
        other GraphQL error (a rejection that a few more attempts may clear).
        """
        headers = {"Content-type": "application/json", "Accept": "application/json"}
        if authorization:
            if not self.token:
                raise NumeraiAuthError("API keys required for this action.")
            public_id, secret_key = self.token
            headers["Authorization"] = f"Token {public_id}${secret_key}"
        try:
            response = self.session.post(
                self.api_url, json={"query": query, "variables": variables}, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise NumeraiUnavailable(f"Numerai did not answer within {self.timeout[1]:g} s") from exc
        except requests.RequestException as exc:
            raise NumeraiUnavailable(f"could not reach Numerai: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise NumeraiUnavailable(
                f"Numerai answered HTTP {response.status_code}",
                retry_after=_retry_after(response),
                status=response.status_code,
            )
        if response.status_code in (401, 403):
            raise NumeraiAuthError(f"Numerai refused the keys (HTTP {response.status_code})")
        if response.status_code >= 400:
            raise NumeraiRejected(f"Numerai answered HTTP {response.status_code}")
        try:
            result = response.json()
        except (json.JSONDecodeError, ValueError) as exc:
            raise NumeraiUnavailable("Numerai answered with something that is not JSON") from exc
        if not isinstance(result, dict):
            raise NumeraiUnavailable("Numerai answered with unexpected JSON")
        if "errors" in result:
            message = self._handle_call_error(result["errors"]) or "unknown GraphQL error"
            if "session is invalid" in message or "authenticated" in message:
                raise NumeraiAuthError(message)
            if message.startswith(FINAL_MESSAGES):
                raise NumeraiRejected(message)
            raise NumeraiAnswerError(message)
        if "data" not in result:
            raise NumeraiUnavailable("Numerai answered without data")
        return result

    def upload_predictions(
        self,
        file_path: str = "predictions.csv",
        model_id: str | None = None,
        df: Any = None,
        data_datestamp: int | None = None,
        timeout: float | tuple[float, float] | None = (10.0, 600.0),
    ) -> str:
        """numerapi's three-step upload (auth, PUT, create), with the PUT's answer checked.

        numerapi never looks at the PUT's status, so a failed transfer surfaces later as a
        confusing ``create_submission`` error; here it is :class:`NumeraiUnavailable` at once.
        """
        data = df.to_csv(index=False).encode() if df is not None else Path(file_path).read_bytes()
        if not model_id:
            raise NumeraiRejected("a model id is required to upload predictions")
        auth = self._upload_auth("submission_upload_auth", file_path, self.tournament_id, model_id)
        headers = {"x_compute_id": os.environ["NUMERAI_COMPUTE_ID"]} if os.environ.get("NUMERAI_COMPUTE_ID") else {}
        try:
            response = self.session.put(auth["url"], data=data, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            raise NumeraiUnavailable(f"the upload did not go through: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise NumeraiUnavailable(
                f"the upload URL answered HTTP {response.status_code}",
                retry_after=_retry_after(response),
                status=response.status_code,
            )
        self.failpoints.hit("mid_upload")
        variables = {
            "filename": auth["filename"],
            "tournament": self.tournament_id,
            "modelId": model_id,
            "triggerId": os.environ.get("TRIGGER_ID"),
            "dataDatestamp": data_datestamp,
        }
        created = self.raw_query(CREATE_SUBMISSION, variables, authorization=True)
        return str(created["data"]["create_submission"]["id"])


CREATE_SUBMISSION = """
mutation ($filename: String!, $tournament: Int!, $modelId: String, $triggerId: String, $dataDatestamp: Int) {
  create_submission(filename: $filename, tournament: $tournament, modelId: $modelId, triggerId: $triggerId,
                    source: "numerapi", dataDatestamp: $dataDatestamp) { id }
}
"""
