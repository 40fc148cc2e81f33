"""``numeraud doctor`` as a new user runs it: a real subprocess, a config from ``numeraud init``,
a real sandbox, real numerapi. Each broken item gets its own failing line with the fix, and a
non-zero exit; ``--json`` says the same."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from numeraud.cli.doctor import Status
from numeraud.cli.doctor.install import check_python_of, check_requirements_of
from numeraud.common.config_file import load
from numeraud.common.processes import stop_process
from numeraud.control.client import ControlClient
from numeraud.sandbox import Sandbox, SandboxKey, SandboxOptions
from tests.helpers import wait_for

NUMERAUD = [sys.executable, "-m", "numeraud.cli.main"]
SECRET = "sandbox-secret"
LIMITED = SandboxKey("limited-public", "limited-secret-value", scopes=("read_user_info",), name="read-only")
#: Checks that pass wherever the suite runs; the systemd ones depend on the machine.
EVERYWHERE = (
    "python",
    "packages",
    "config",
    "handlers",
    "state_dir",
    "data_dir",
    "runtime_dir",
    "numerai",
    "clock",
    "datasets",
    "disk",
    "keys",
    "account",
    "upload_scope",
    "models",
)
NEEDS_CONFIG = ("handlers", "state_dir", "data_dir", "runtime_dir", "control", "numerai", "keys", "models")


@dataclass
class Report:
    """One doctor run as text and one as JSON."""

    code: int
    lines: dict[str, str]
    checks: dict[str, dict[str, Any]]
    document: dict[str, Any]
    output: str

    def status(self, name: str) -> str:
        status: str = self.checks[name]["status"]
        return status


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NUMERAI_") and k not in ("CREDENTIALS_DIRECTORY", "NUMERAUD_CONFIG")
    }
    return env | extra


def diagnose(config: Path, env: dict[str, str] | None = None) -> Report:
    """``numeraud doctor`` on ``config``, once as text and once with --json; both must agree."""

    def start(*flags: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*NUMERAUD, "doctor", "--config", str(config), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(),
        )

    with start() as text, start("--json") as as_json:  # side by side: half the wall time
        (text_out, text_err), (json_out, json_err) = text.communicate(timeout=120), as_json.communicate(timeout=120)
    output = text_out + text_err + json_out + json_err
    assert "Traceback" not in output, output
    document = json.loads(json_out)
    lines = {}
    for line in text_out.splitlines()[:-1]:
        status, name = line.split()[:2]
        lines[name] = line
        assert status.lower() in ("pass", "fail", "skip"), line
    checks = {c["name"]: c for c in document["checks"]}
    assert set(checks) == set(lines)
    for name, check in checks.items():
        assert lines[name].lower().startswith(check["status"]), (lines[name], check)
        assert (check["fix"] is not None) == (check["status"] == "fail"), check
    assert text.returncode == as_json.returncode
    assert document["ok"] == (text.returncode == 0)
    return Report(text.returncode, lines, checks, document, output)


def init(sandbox: Sandbox, root: Path) -> Path:
    """A configuration written by ``numeraud init --sandbox`` (models, keys, directories)."""
    config = root / "numeraud.toml"
    done = subprocess.run(
        [*NUMERAUD, "init", "--sandbox", sandbox.url, "--config", str(config), "--dir", str(root / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return config


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox whose account also has a key that may not upload."""
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", extra_keys=(LIMITED,))) as running:
        yield running


@pytest.fixture
def config(account: Sandbox, tmp_path: Path) -> Path:
    return init(account, tmp_path / "install")


def assert_fails(report: Report, name: str, *words: str) -> dict[str, Any]:
    """``name`` failed, says each of ``words`` (detail or fix), and the doctor exited non-zero."""
    check = report.checks[name]
    assert check["status"] == "fail", check
    said = f"{check['detail']} {check['fix']}"
    for word in words:
        assert word in said, (word, check)
    assert "fix:" in report.lines[name]
    assert report.code == 1
    return check


def test_a_good_setup_passes_every_check_that_applies_here_and_exits_0(config: Path) -> None:
    supervisor = subprocess.Popen(
        [*NUMERAUD, "run", "--config", str(config)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = ControlClient(load(config).bus.control_endpoint, timeout=1)

        def answers() -> bool:
            try:
                client.call("version")
            except Exception:
                return False
            return True

        wait_for(answers, timeout=60)
        report = diagnose(config)
    finally:
        stop_process(supervisor)
    assert report.code == 0, report.output
    for name in (*EVERYWHERE, "control"):
        assert report.status(name) == "pass", report.checks[name]
    assert "answers on" in report.checks["control"]["detail"]
    for name in ("systemd", "units", "ntp"):  # skipped only where there is no systemd to ask
        assert report.status(name) in ("pass", "skip"), report.checks[name]
        if report.status(name) == "skip":
            assert report.checks[name]["detail"]
    assert report.document["counts"]["fail"] == 0
    assert SECRET not in report.output


def test_without_a_running_supervisor_control_is_skipped_with_the_reason(config: Path) -> None:
    report = diagnose(config)
    assert report.status("control") == "skip"
    assert "not running" in report.checks["control"]["detail"]
    assert report.code == 0


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("[numerai]", "[numerai", "not valid TOML"),
        ("retention = 10", "retention = 0", "data.retention"),
    ],
    ids=["not-toml", "bad-value"],
)
def test_a_config_that_does_not_load_is_one_failing_line_and_skips_what_needs_it(
    config: Path, old: str, new: str, said: str
) -> None:
    edit(config, old, new)
    report = diagnose(config)
    check = assert_fails(report, "config", said, str(config), "numeraud check")
    assert check["detail"].count("\n") == 0
    for name in NEEDS_CONFIG:
        assert report.status(name) == "skip"
        assert "configuration did not load" in report.checks[name]["detail"]
    assert report.status("python") == "pass"


def test_a_config_that_is_not_text_fails_config(tmp_path: Path) -> None:
    binary = tmp_path / "numeraud.toml"
    binary.write_bytes(b"\xff\xfe[numerai]\n")
    report = diagnose(binary)
    assert_fails(report, "config", "not UTF-8", str(binary))
    assert report.status("keys") == "skip"


def test_a_missing_config_file_says_how_to_write_one(tmp_path: Path) -> None:
    report = diagnose(tmp_path / "absent.toml")
    assert_fails(report, "config", "not found", "numeraud init")


def test_a_state_dir_others_can_read_fails_with_chmod(config: Path) -> None:
    (config.parent / "state").chmod(0o755)
    report = diagnose(config)
    assert_fails(report, "state_dir", "readable by every user", "chmod 0750")


def test_an_unreadable_state_dir_fails_with_the_fix(config: Path) -> None:
    state = config.parent / "state"
    state.chmod(0o000)
    if os.geteuid() == 0:
        os.chown(state, 65534, 65534)  # root reads anything: make it belong to someone else instead
    try:
        report = diagnose(config)
    finally:
        state.chmod(0o750)
        os.chown(state, os.geteuid(), os.getegid())
    assert_fails(report, "state_dir", str(state), "chown" if os.geteuid() == 0 else "chmod")


def test_a_data_dir_below_a_file_fails_not_a_directory(config: Path) -> None:
    blocker = config.parent / "a-file"
    blocker.write_text("not a directory\n")
    edit(config, f'data_dir = "{config.parent}/state/data"', f'data_dir = "{blocker}/data"')
    report = diagnose(config)
    assert_fails(report, "data_dir", "is not a directory", "paths.data_dir")


def test_api_url_on_a_closed_port_fails_numerai_and_skips_what_needs_it(config: Path, account: Sandbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening: refused
        edit(config, f'api_url = "{account.url}"', f'api_url = "{closed}"')
        report = diagnose(config)
    assert_fails(report, "numerai", closed, "Connection refused", "api_url")
    for name in ("clock", "datasets", "disk", "account", "upload_scope", "models"):
        assert report.status(name) == "skip", report.checks[name]
    assert report.status("keys") == "pass"


def test_wrong_keys_fail_the_account_line_without_printing_the_secret(config: Path) -> None:
    secret_file = config.parent / "state" / "sandbox-keys" / "secret_key"
    secret_file.write_text("a-wrong-secret-key\n")
    report = diagnose(config)
    assert_fails(report, "account", "refused", "sandbox-public", str(secret_file))
    assert report.status("upload_scope") == "skip"
    assert "a-wrong-secret-key" not in report.output


def test_no_keys_anywhere_fails_keys_with_where_to_put_them(config: Path) -> None:
    edit(config, "public_id_file = ", "ignored_public_id_file = ")
    edit(config, "secret_key_file = ", "ignored_secret_key_file = ")
    report = diagnose(config)
    assert_fails(report, "keys", "no Numerai keys", "NUMERAI_SECRET_KEY", "upload_submission")


def test_a_key_without_the_upload_scope_fails_upload_scope(config: Path) -> None:
    env = clean_env(NUMERAI_PUBLIC_ID=LIMITED.public_id, NUMERAI_SECRET_KEY=LIMITED.secret_key)
    report = diagnose(config, env)
    assert report.status("account") == "pass"
    assert_fails(report, "upload_scope", "limited-public", "lacks the upload_submission scope", "read_user_info")
    assert LIMITED.secret_key not in report.output


def test_a_model_that_is_not_the_accounts_fails_models(config: Path) -> None:
    edit(config, '"sandbox_model_3" = "sandbox_model_3"', '"sandbox_model_3" = "someone_elses_model"')
    report = diagnose(config)
    check = assert_fails(report, "models", "'someone_elses_model'", "options.models", "[handlers.uploader]")
    assert "sandbox_model_1" in check["detail"]  # what the account does have


def test_a_stale_control_socket_fails_control(config: Path) -> None:
    path = load(config).bus.control_endpoint.removeprefix("ipc://")
    Path(path).parent.mkdir(mode=0o750, parents=True)
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # the file stays; nobody will ever listen
    report = diagnose(config)
    assert_fails(report, "control", "stale", path)


def test_a_file_numerai_does_not_have_fails_datasets(config: Path) -> None:
    edit(config, '"meta_model.parquet"]', '"meta_model.parquet", "no_such_file.parquet"]')
    report = diagnose(config)
    check = assert_fails(report, "datasets", "no_such_file.parquet", "training_files")
    assert "train.parquet" in check["detail"]  # what Numerai does have
    assert report.status("disk") == "skip"


def test_too_little_disk_for_the_reserve_fails_disk(config: Path) -> None:
    edit(config, "retention = 10", "reserve_bytes = 1000000000000000000\nretention = 10")
    report = diagnose(config)
    assert_fails(report, "disk", "reserve_bytes", "free")


def test_a_clock_a_minute_off_fails_clock(tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path / "sandbox", date_skew=60.0)) as skewed:
        report = diagnose(init(skewed, tmp_path / "install"))
    check = assert_fails(report, "clock", "behind", "timedatectl set-ntp")
    seconds = float(re.search(r"is (\d+\.\d) s behind", check["detail"]).group(1))  # type: ignore[union-attr]
    assert 58 <= seconds <= 62


def test_systemd_checks_say_why_they_do_not_apply_when_systemd_is_absent(config: Path) -> None:
    if Path("/run/systemd/system").is_dir():
        pytest.fail("this test needs a machine where systemd is not PID 1 (see tests/system for the other case)")
    report = diagnose(config)
    assert report.status("systemd") == "skip"
    assert "not systemd" in report.checks["systemd"]["detail"]
    assert report.status("units") == "skip"
    assert "not installed" in report.checks["units"]["detail"]


# -- the requirement checks, against real distribution metadata on disk -------------------------


def fake_distribution(root: Path, *lines: str) -> importlib.metadata.Distribution:
    info = root / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.1", "Name: fakepkg", "Version: 1.0", *lines]) + "\n")
    return importlib.metadata.PathDistribution(info)


def test_unmet_requirements_are_named_with_the_pip_command_that_fixes_them(tmp_path: Path) -> None:
    dist = fake_distribution(
        tmp_path,
        "Requires-Dist: numpy>=999",
        "Requires-Dist: no-such-package-anywhere>=1.0",
        "Requires-Dist: requests>=2.0",
        'Requires-Dist: nothing-installs-this>=1; extra == "test"',
    )
    result = check_requirements_of(dist)
    assert result.status is Status.FAIL
    assert "numpy" in result.detail
    assert "does not satisfy >=999" in result.detail
    assert "no-such-package-anywhere is not installed" in result.detail
    assert "requests" not in result.detail  # installed and satisfied
    assert "nothing-installs-this" not in result.detail  # an extra's requirement
    assert result.fix == "pip install --upgrade 'numpy>=999' 'no-such-package-anywhere>=1.0'"


def test_a_python_outside_requires_python_fails(tmp_path: Path) -> None:
    result = check_python_of(fake_distribution(tmp_path, "Requires-Python: <3.0"))
    assert result.status is Status.FAIL
    assert "<3.0" in result.detail
