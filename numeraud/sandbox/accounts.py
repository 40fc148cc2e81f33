"""The sandbox account: its API keys (``Authorization`` headers), its models and their webhooks."""

from __future__ import annotations

import secrets
import threading
import uuid

from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.options import SandboxKey, SandboxOptions
from numeraud.sandbox.records import Model, SandboxState, Webhook

#: Numerai's answer to a bad or unknown key.
INVALID_SESSION = "Your session is invalid or has expired."
_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4a9b-9a3e-1d2c3b4a5f60")


class Accounts:
    """Who is calling, and which models they have (webhooks live in ``state``, under ``lock``)."""

    def __init__(self, options: SandboxOptions, state: SandboxState, lock: threading.RLock) -> None:
        """The account ``options`` describe; model ids are fixed by the public id and model name."""
        self.options = options
        self.state = state
        self.lock = lock
        self.models = [
            Model(id=str(uuid.uuid5(_NAMESPACE, f"{options.public_id}/{name}")), name=name) for name in options.models
        ]

    def authenticate(self, header: str | None) -> SandboxKey | None:
        """Check an ``Authorization: Token PUBLIC$SECRET`` header; raise on a bad one.

        Returns the key it names, or None when there is no header at all (a public call).
        """
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        public, _, secret = token.partition("$")
        found = None
        given_public, given_secret = public.encode(errors="replace"), secret.encode(errors="replace")
        for key in self.options.keys:
            # Compare with every key, so the time taken does not tell which public id exists; as
            # bytes, which compare_digest takes whatever the header holds (str: ASCII only).
            matches = secrets.compare_digest(given_public, key.public_id.encode()) & secrets.compare_digest(
                given_secret, key.secret_key.encode()
            )
            if matches and found is None:
                found = key
        if scheme != "Token" or found is None:
            raise ApiError(INVALID_SESSION)
        return found

    def model(self, model_id: str | None) -> Model:
        """The account's model with this id; :class:`ApiError` otherwise."""
        for candidate in self.models:
            if candidate.id == model_id:
                return candidate
        raise ApiError(f"Model not found: {model_id}")

    def set_webhook(self, model_id: str, url: str | None) -> None:
        """Register (or with ``None`` remove) a model's round-open webhook."""
        self.model(model_id)
        with self.lock:
            if url:
                self.state.webhooks[model_id] = Webhook(model_id=model_id, url=url)
            else:
                self.state.webhooks.pop(model_id, None)
