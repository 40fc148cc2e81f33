"""``numeraud sandbox`` as a user runs it: real subprocesses (``numeraud demo``: tests/daemon/test_demo.py)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numerapi
import pytest

from numeraud.sandbox.options import NUMERAI_VERSIONS

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]


@contextlib.contextmanager
def sandbox_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> Iterator[str]:
    """``numeraud sandbox`` as a process with ``flags``; yields the URL it printed first, with
    numerapi pointed at it, and checks that SIGTERM ends it with exit 0."""
    process = subprocess.Popen(
        [*NUMERAUD, "sandbox", "--port", "0", "--data-dir", str(tmp_path), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        monkeypatch.setattr("numerapi.base_api.API_TOURNAMENT_URL", url)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def refused(tmp_path: Path, *flags: str) -> str:
    """``numeraud sandbox`` with ``flags``, which must exit 2; its stderr."""
    done = subprocess.run(
        [*NUMERAUD, "sandbox", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    return done.stderr


def test_sandbox_prints_its_url_first_and_serves_numerapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox_process(tmp_path, monkeypatch, "--round", "42") as url:
        assert url.startswith("http://127.0.0.1:")
        napi = numerapi.NumerAPI("sandbox-public", "sandbox-secret", show_progress_bars=False)
        assert napi.get_current_round() == 42
        assert len(napi.get_models()) == 3
        versions = sorted({name.split("/")[0] for name in napi.list_datasets()})
        assert tuple(versions) == NUMERAI_VERSIONS, "by default, the versions Numerai lists"


def test_sandbox_with_bad_option_exits_2_with_the_reason(tmp_path: Path) -> None:
    assert "round" in refused(tmp_path, "--round", "0")


def test_sandbox_versions_flag_chooses_the_published_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox_process(tmp_path, monkeypatch, "--versions", "v5.3,v5.1"):
        names = numerapi.NumerAPI(show_progress_bars=False).list_datasets()
        assert sorted({name.split("/")[0] for name in names}) == ["v5.1", "v5.3"]
        assert names[0].startswith("v5.3/"), "newest first"


def test_sandbox_with_no_versions_exits_2_with_the_reason(tmp_path: Path) -> None:
    stderr = refused(tmp_path, "--versions", ",")
    assert "at least one dataset version" in stderr
    assert "Traceback" not in stderr


def test_sandbox_signals_and_crypto_model_flags_create_models_per_tournament(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = ["--signals-models", "sig_1,sig_2", "--crypto-models", "cry_1", "--versions", "v5.2"]
    with sandbox_process(tmp_path, monkeypatch, *flags):
        keys = ("sandbox-public", "sandbox-secret")
        assert set(numerapi.SignalsAPI(*keys).get_models()) == {"sig_1", "sig_2"}
        assert set(numerapi.CryptoAPI(*keys).get_models()) == {"cry_1"}
        assert len(numerapi.NumerAPI(*keys).get_models()) == 3


def test_sandbox_with_a_model_in_two_tournaments_exits_2_with_the_reason(tmp_path: Path) -> None:
    assert "one tournament only: b" in refused(tmp_path, "--models", "a,b", "--crypto-models", "b")
