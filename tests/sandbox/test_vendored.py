"""Numerai's vendored code (``tests/vendored``) is byte for byte what Numerai published."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

VENDORED = Path(__file__).parent.parent / "vendored"

#: SHA-256 of each vendored file, recorded when it was copied (see tests/vendored/README.md).
RECORDED = {
    "numerai_predict/predict.py": "1eebdc4054c319eb55e5df95bdba76a0f72a8cf79b15bfa8a0f60e6eab1faa44",
    "numerai_predict/LICENSE": "e4668f686f03e893cc205877daec7c65c51185ff665208dc331ae2c0180f7596",
    "numerai_cli/predict.py": "3f2d116f48a148aee9974d8e8d5c3fd6ce26744069ca57478c4710e440e2653a",
    "numerai_cli/LICENSE": "99bb35afd12bd573a4588bc9f819e3e7bd90b4df5d5d4c5778c90fe462d40554",
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_a_vendored_file_has_its_recorded_sha256(name: str) -> None:
    assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == RECORDED[name]


def test_every_vendored_file_is_recorded() -> None:
    files = {
        str(p.relative_to(VENDORED))
        for p in VENDORED.rglob("*")
        if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts
    }
    assert files == set(RECORDED)
