"""Shared fixtures: a running sandbox, and the REAL numerapi client pointed at it as a user would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numerapi
import pytest

from numeraud.sandbox import Sandbox, SandboxOptions


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A tiny sandbox on a free loopback port, round 1 open."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", size="tiny")) as running:
        yield running


@pytest.fixture
def napi(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> numerapi.NumerAPI:
    """numerapi with the sandbox account's keys, talking to the sandbox."""
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    options = sandbox.core.options
    return numerapi.NumerAPI(options.public_id, options.secret_key, show_progress_bars=False)


@pytest.fixture
def public_napi(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> numerapi.NumerAPI:
    """numerapi without keys (public calls only)."""
    monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", sandbox.url)
    monkeypatch.delenv("NUMERAI_PUBLIC_ID", raising=False)
    monkeypatch.delenv("NUMERAI_SECRET_KEY", raising=False)
    return numerapi.NumerAPI(show_progress_bars=False)


@pytest.fixture
def small_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox with the demo's ``small`` data (files of a few MB)."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "small-sandbox", size="small")) as running:
        yield running
