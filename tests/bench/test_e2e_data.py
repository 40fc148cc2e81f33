"""bench/e2e.py's data cache: a new sandbox starts from the files another generated, uploads apart."""

from __future__ import annotations

from pathlib import Path

from bench.e2e import DataCache


def test_a_sandbox_is_seeded_with_hard_links_to_what_others_generated_but_not_their_uploads(tmp_path: Path) -> None:
    first = tmp_path / "first"
    (first / "v5.2").mkdir(parents=True)
    (first / ".hidden" / "v5.2").mkdir(parents=True)
    (first / ".uploads").mkdir()
    (first / "v5.2" / "live_1.parquet").write_bytes(b"live")
    (first / ".hidden" / "v5.2" / "generator.json").write_text("{}")
    (first / ".uploads" / "x.csv").write_text("id,prediction\n")
    cache = DataCache(tmp_path / "cache")
    cache.keep(first)
    (first / "v5.2" / "live_2.parquet").write_bytes(b"live 2")  # generated later: kept again
    cache.keep(first)
    second = tmp_path / "second"
    cache.seed(second)
    assert sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file()) == [
        ".hidden/v5.2/generator.json",
        "v5.2/live_1.parquet",
        "v5.2/live_2.parquet",
    ]
    assert (second / "v5.2" / "live_1.parquet").stat().st_ino == (first / "v5.2" / "live_1.parquet").stat().st_ino
