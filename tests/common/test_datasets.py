"""numeraud.common.datasets: the one dataset-version parser, and its users agreeing with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from numeraud.common.config import ConfigError
from numeraud.common.config_file import parse
from numeraud.common.datasets import is_version, parse_version, version_key
from numeraud.sandbox.datagen import DatasetGenerator
from numeraud.supervisor.tournament import PollPolicy, latest_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v5.2", (5, 2)), ("v5.10", (5, 10)), ("v4", (4,)), ("v4.3.1", (4, 3, 1))],
)
def test_a_version_parses_to_its_numbers(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    "text", ["", "v", "5.2", "v5.", "v.5", "v5..2", "V5.2", "v5.2\n", "v 5", "v+5", "v\u0665.\u0662", "latest"]
)
def test_anything_else_is_not_a_version(text: str) -> None:
    assert parse_version(text) is None


def test_a_non_string_is_not_a_version() -> None:
    assert not is_version(5.2)


def test_parts_asks_for_exactly_that_many_numbers() -> None:
    assert [is_version(v, parts=2) for v in ("v5.2", "v5", "v5.2.1")] == [True, False, False]


def test_versions_sort_numerically_and_other_names_first() -> None:
    names = ["v5.10", "v5.9", "data", "v4.3", "v5"]
    assert sorted(names, key=version_key) == ["data", "v4.3", "v5", "v5.9", "v5.10"]


def test_the_config_rejects_what_the_parser_rejects() -> None:
    assert parse({"data": {"version": "v5.10"}}).data.version == "v5.10"
    with pytest.raises(ConfigError, match="version"):
        parse({"data": {"version": "v5..2"}})


def test_the_sandbox_generator_wants_a_major_and_minor_version(tmp_path: Path) -> None:
    generator = DatasetGenerator(tmp_path)
    with pytest.raises(ValueError, match="bad dataset version"):
        generator.ensure_version("v5")


def test_the_poller_picks_the_newest_listed_version_and_skips_other_names() -> None:
    names = ["v5.9/train.parquet", "v5.10/train.parquet", "v5.x/live.parquet", "signals/v1.0/live.parquet"]
    assert latest_version(names) == "v5.10"


def test_config_and_poll_policy_refuse_the_same_intervals() -> None:
    with pytest.raises(ConfigError, match="fast_interval: must not be longer than idle_interval"):
        parse({"poll": {"idle_interval": 1, "fast_interval": 5}})
    with pytest.raises(ValueError, match="poll intervals: fast_interval must not be longer than idle_interval"):
        PollPolicy(idle_interval=1, fast_interval=5)
