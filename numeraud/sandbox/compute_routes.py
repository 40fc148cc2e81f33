"""The URLs a Compute run hands numerai-predict: the pickle's GET and the predictions' POST.

``GET /compute/models/<token>/<file>`` serves the run's pickle (S3's presigned GET);
``POST /compute/predictions`` takes a ``multipart/form-data`` body with the run's form fields and
a ``file`` part (S3's presigned POST) and answers 204 once the predictions are accepted as the
model's submission. See :mod:`numeraud.sandbox.compute_runs`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http import HTTPStatus

from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.http_plumbing import RequestPlumbing

#: The largest predictions POST taken (Numerai's live universe is a few thousand rows).
MAX_PREDICTIONS_POST = 64 * 1024 * 1024


class BadForm(ValueError):
    """A predictions POST that is not the ``multipart/form-data`` form a presigned POST takes."""


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the ``file`` part's bytes of a ``multipart/form-data`` body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadForm("the predictions POST must be multipart/form-data (a presigned POST's form)")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise BadForm("the multipart/form-data body has no parts")
    fields: dict[str, str] = {}
    content: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == "file":
            content = payload
        else:
            fields[name] = payload.decode(errors="replace")
    if content is None:
        raise BadForm("the form has no file part (the predictions CSV goes in the field named 'file')")
    return fields, content


class ComputeRoutes(RequestPlumbing):
    """``GET /compute/models/...`` and ``POST /compute/predictions``."""

    def _compute_model(self, path: str, started: float) -> None:
        token = path.removeprefix("/compute/models/").partition("/")[0]
        stored = self.server.core.compute_runs.pickle_of(token)
        if stored is None:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "Unknown or expired model URL"})
            self._record("compute", started)
            return
        data = stored.read_bytes()  # served as bytes, never unpickled here
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._record("compute", started)

    def _compute_predictions(self, started: float) -> None:
        body = self._read_body(MAX_PREDICTIONS_POST)
        if body is None:
            self._record("compute", started)
            return
        try:
            fields, content = parse_form(self.headers.get("Content-Type", ""), body)
            self.server.core.compute_runs.receive(fields, content, datetime.now(UTC))
        except BadForm as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except PermissionError as exc:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": str(exc)})
        except ApiError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"predictions refused: {exc}"})
        else:
            self.send_response(HTTPStatus.NO_CONTENT)
            self.send_header("Content-Length", "0")
            self.end_headers()
        self._record("compute", started)
