"""``numeraudctl install``: what it writes, for a user and for a system (into a root directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

CTL = [sys.executable, "-m", "numeraud.cli.ctl"]
ROOT = Path(__file__).resolve().parents[2]


def _install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    runtime = tmp_path / "xdg-runtime"  # no user manager listens here
    runtime.mkdir(mode=0o700, exist_ok=True)
    env |= {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*CTL, "install", *args], capture_output=True, text=True, timeout=60, check=False, env=env)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "numeraud.toml"
    config.write_text('[handlers.model-a]\nclass = "m:C"\n[handlers.uploader]\nclass = "m:C"\n')
    return config


def test_install_user_dry_run_prints_every_file_and_command_and_writes_nothing(tmp_path: Path) -> None:
    result = _install(tmp_path, "--user", "--dry-run", "--config", str(_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    units = tmp_path / "home" / ".config" / "systemd" / "user"
    for name in ("numeraud.service", "numeraud-handler@.service", "numeraud.target"):
        assert f"would write {units / name}" in result.stdout
    assert "would run systemctl --user daemon-reload" in result.stdout
    enable = "would run systemctl --user enable numeraud.target numeraud-handler@model-a.service"
    enable += " numeraud-handler@uploader.service"
    assert enable in result.stdout
    assert result.stdout.rstrip().splitlines()[-2] == "next: systemctl --user start numeraud.target"
    assert not (tmp_path / "home").exists()


def test_install_user_writes_the_units_pointed_at_this_installation_and_reports_a_missing_manager(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    result = _install(tmp_path, "--user", "--config", str(config))
    units = tmp_path / "home" / ".config" / "systemd" / "user"
    service = (units / "numeraud.service").read_text()
    scripts = Path(sysconfig.get_path("scripts"))
    assert f"ExecStart={scripts}/numeraud run --config ${{NUMERAUD_CONFIG}}" in service
    assert f"Environment=NUMERAUD_CONFIG={config}" in service
    assert f"ExecStart={scripts}/numeraud-handler %i" in (units / "numeraud-handler@.service").read_text()
    assert (units / "numeraud.target").is_file()
    # No user manager answers in this test: the files are written, daemon-reload fails in one line.
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("numeraudctl: systemctl --user daemon-reload failed")


def test_install_system_under_a_root_writes_units_sysusers_and_tmpfiles_and_runs_nothing(tmp_path: Path) -> None:
    image = tmp_path / "image"
    result = _install(tmp_path, "--root", str(image), "--config", str(_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    for path in (
        "etc/systemd/system/numeraud.service",
        "etc/systemd/system/numeraud-handler@.service",
        "etc/systemd/system/numeraud.target",
        "etc/sysusers.d/numeraud.conf",
        "etc/tmpfiles.d/numeraud.conf",
    ):
        assert (image / path).is_file(), path
        assert f"wrote {image / path}" in result.stdout
    assert "u numeraud" in (image / "etc/sysusers.d/numeraud.conf").read_text()
    assert "ran " not in result.stdout
    assert "nothing run under --root; on that system: systemctl start numeraud.target" in result.stdout


def test_install_with_a_config_that_does_not_parse_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[handlers.a\n")
    result = _install(tmp_path, "--user", "--dry-run", "--config", str(bad))
    assert result.returncode == 78
    assert "not valid TOML" in result.stderr
