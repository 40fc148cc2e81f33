"""numeraud.common.files: atomic writes, tested on real files and a real SIGKILLed writer."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from numeraud.common.files import atomic_path, atomic_write
from tests.helpers import wait_for


def _leftovers(directory: Path, target: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p != target)


def test_atomic_write_replaces_text_content(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")
    atomic_write(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"


def test_atomic_write_writes_bytes(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    atomic_write(target, b"\x00\x01\xff")
    assert target.read_bytes() == b"\x00\x01\xff"


def test_atomic_write_creates_missing_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write(target, "x")
    assert target.read_text(encoding="utf-8") == "x"


def test_no_temp_file_is_left_after_success(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write(target, "x")
    with atomic_path(target) as temp:
        temp.write_text("y", encoding="utf-8")
    assert _leftovers(tmp_path, target) == []


def test_a_failing_writer_leaves_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old", encoding="utf-8")

    def write_half() -> None:
        with atomic_path(target) as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("writer broke")

    with pytest.raises(RuntimeError, match="writer broke"):
        write_half()
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path, target) == []


def test_unserialisable_data_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_mode_is_applied(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    atomic_write(target, "x", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_without_mode_the_file_is_private(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_streaming_writer_may_recreate_the_temp_path(tmp_path: Path) -> None:
    target = tmp_path / "chart.png"
    with atomic_path(target, mode=0o640) as temp:
        temp.unlink()
        temp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from numeraud.common.files import atomic_path

    target = Path(sys.argv[1])
    with atomic_path(target) as temp, temp.open("wb") as out:
        for _ in range(10_000):
            out.write(b"n" * 65536)
            out.flush()
            print("wrote", flush=True)
    """
)


def test_a_sigkilled_writer_leaves_the_old_content_whole(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    old = b"o" * 1_000_000
    target.write_bytes(old)
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE)
    assert child.stdout is not None
    try:
        for _ in range(20):  # the child is midway: 20 chunks of 64 KiB written to the temp file
            assert child.stdout.readline() == b"wrote\n"
        temps = wait_for(lambda: [p for p in tmp_path.iterdir() if p != target], what="the writer's temp file")
        assert temps[0].stat().st_size >= 20 * 65536
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == old


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the system calls")
def test_the_temp_file_is_fsynced_before_the_rename_and_the_directory_after(tmp_path: Path) -> None:
    target, trace = tmp_path / "state.json", tmp_path / "trace"
    script = f"from numeraud.common.files import atomic_write; atomic_write({str(target)!r}, 'x')"
    strace = ["strace", "-f", "-qq", "-y", "-e", "trace=fsync,rename,renameat,renameat2", "-o", str(trace)]
    subprocess.run([*strace, sys.executable, "-c", script], check=True, timeout=60)
    lines = trace.read_text(encoding="utf-8").splitlines()
    # "1234 fsync(3</dir/.state.json.abc.tmp>) = 0" -> "fsync(</dir/.state.json.abc.tmp>)"
    calls = [re.sub(r"\(\d+<", "(<", line.split(None, 1)[1].split(" = ")[0]) for line in lines]
    (temp,) = {call.split("<", 1)[1].split(">", 1)[0] for call in calls[:1]}
    assert Path(temp).parent == tmp_path
    assert calls == [
        f"fsync(<{temp}>)",
        f'rename("{temp}", "{target}")',
        f"fsync(<{tmp_path}>)",
    ]
