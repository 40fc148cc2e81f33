"""Fixtures of the bundled handlers' tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's API keys in the environment, as the uploader reads them."""
    monkeypatch.setenv("NUMERAI_PUBLIC_ID", "sandbox-public")
    monkeypatch.setenv("NUMERAI_SECRET_KEY", "sandbox-secret")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
