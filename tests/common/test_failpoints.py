"""Failpoints armed at run time through NUMERAUD_FAILPOINT_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from numeraud.common.failpoints import Failpoints


def test_an_armed_failpoint_fires_once_for_the_first_process_to_reach_it(tmp_path: Path) -> None:
    first, second = (Failpoints(env={"NUMERAUD_FAILPOINT_DIR": str(tmp_path)}) for _ in range(2))
    (tmp_path / "exit_follower_thread").touch()
    first.hit("mid_poll")  # another name: nothing happens, the file stays
    with pytest.raises(SystemExit, match="failpoint exit_follower_thread"):
        first.hit("exit_follower_thread")
    assert not (tmp_path / "exit_follower_thread").exists()
    second.hit("exit_follower_thread")  # disarmed by the first: nothing happens


def test_without_the_variables_no_failpoint_fires(tmp_path: Path) -> None:
    (tmp_path / "exit_follower_thread").touch()
    Failpoints(env={}).hit("exit_follower_thread")
    assert (tmp_path / "exit_follower_thread").exists()
