"""``numeraud doctor`` against a real ``systemd --user`` with numeraud's user units installed.

The doctor finds the manager through ``$XDG_RUNTIME_DIR/systemd/private`` and the units in
``$HOME/.config/systemd/user``, and asks ``systemctl --user is-enabled`` about the target and one
handler instance per ``[handlers.NAME]``. Nothing is started: only enablement is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import UserManager
from tests.system.test_units import SYSTEMD_DIR, UNITS, USER_PREFIX, render

pytestmark = [pytest.mark.systemd]

CONFIG = """\
[numerai]
api_url = "http://127.0.0.1:9"
[paths]
state_dir = "{root}/state"
runtime_dir = "{root}/run"
[handlers.model-a]
class = "numeraud_handlers.model:ModelHandler"
[handlers.uploader]
class = "numeraud_handlers.uploader:UploaderHandler"
"""


def user_env(manager: UserManager) -> dict[str, str]:
    """The manager's environment with its HOME: ``systemctl --user enable`` looks for unit files
    in ``$HOME/.config/systemd/user`` on the client side, and so does the doctor."""
    env = manager.env() | {"HOME": str(manager.home)}
    return {k: v for k, v in env.items() if not k.startswith("NUMERAI_")}


def enable(manager: UserManager, *units: str) -> None:
    done = subprocess.run(
        ["systemctl", "--user", "enable", *units],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=user_env(manager),
    )
    assert done.returncode == 0, done.stderr


def doctor(manager: UserManager, config: Path) -> dict[str, dict[str, Any]]:
    env = user_env(manager)
    done = subprocess.run(
        [sys.executable, "-m", "numeraud.cli.main", "doctor", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert "Traceback" not in done.stdout + done.stderr
    return {check["name"]: check for check in json.loads(done.stdout)["checks"]}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "numeraud.toml"
    path.write_text(CONFIG.format(root=tmp_path))
    return path


def install_units(manager: UserManager) -> None:
    for name in UNITS:
        manager.install_unit(name, render((SYSTEMD_DIR / "user" / name).read_text(), USER_PREFIX), reload=False)
    manager.daemon_reload()


def test_the_units_line_names_the_handler_instance_that_is_not_enabled(user_manager: UserManager, config: Path) -> None:
    install_units(user_manager)
    enable(user_manager, "numeraud.target", "numeraud-handler@model-a.service")
    checks = doctor(user_manager, config)
    assert checks["systemd"]["status"] == "pass"
    assert "user manager" in checks["systemd"]["detail"]
    units = checks["units"]
    assert units["status"] == "fail", units
    assert "numeraud-handler@uploader.service (disabled)" in units["detail"]
    assert "model-a" not in units["detail"]
    assert units["fix"] == "systemctl --user enable --now numeraud-handler@uploader"


def test_the_units_line_passes_once_the_target_and_every_handler_are_enabled(
    user_manager: UserManager, config: Path
) -> None:
    install_units(user_manager)
    enable(user_manager, "numeraud.target", "numeraud-handler@model-a.service", "numeraud-handler@uploader.service")
    units = doctor(user_manager, config)["units"]
    assert units["status"] == "pass", units
    assert "2 handler instance(s) enabled" in units["detail"]


def test_a_missing_unit_file_is_named_with_where_to_install_it(user_manager: UserManager, config: Path) -> None:
    for name in ("numeraud.service", "numeraud.target"):
        user_manager.install_unit(name, render((SYSTEMD_DIR / "user" / name).read_text(), USER_PREFIX))
    units = doctor(user_manager, config)["units"]
    assert units["status"] == "fail", units
    assert "numeraud-handler@.service missing" in units["detail"]
    assert "systemd/user/numeraud-handler@.service" in units["fix"]
