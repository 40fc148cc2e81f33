"""The files in systemd/ are valid: units verify, the sandbox scores, sysusers/tmpfiles apply.

``systemd-analyze verify`` insists that ExecStart= binaries exist. The units name where an
installation puts the console scripts (``/usr/local/bin`` for the system units, ``%h/.local/bin``
for the user units); these tests check that the units say exactly that, then verify copies in
which that prefix is replaced by the scripts directory of the Python running the tests (where
``pip install -e .`` put ``numeraud``, ``numeraud-handler`` and ``numeraudctl``). The pyenv shim
``which numeraud`` finds is not used: it only works with pyenv's environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.system.conftest import UserManager

pytestmark = pytest.mark.systemd

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = ROOT / "systemd"
UNITS = ("numeraud.service", "numeraud-handler@.service", "numeraud.target")
EXAMPLES = SYSTEMD_DIR / "examples"
SCRIPTS = ("numeraud", "numeraud-handler", "numeraudctl")
#: Where the units expect the console scripts.
SYSTEM_PREFIX = "/usr/local/bin/"
USER_PREFIX = "%h/.local/bin/"

#: The exposure ``systemd-analyze security`` may report for the system services (0-10 scale;
#: 1.0-4.9 is "OK", a service with no sandboxing scores 9.6 "UNSAFE"). What is left are the
#: checks in :data:`ACCEPTED_EXPOSURE`, which come to 1.2 here; 1.5 leaves room for
#: the weights of another systemd version, not for a sandboxing directive to go missing (the
#: exact list of failed checks is asserted too).
MAX_EXPOSURE = 1.5
#: Every sandboxing check the system services are allowed to fail, and why.
ACCEPTED_EXPOSURE = {
    "PrivateNetwork=": "it talks to Numerai's API over the network",
    "RestrictAddressFamilies=~AF_(INET|INET6)": "HTTPS to Numerai's API (and tcp:// bus with CURVE)",
    "IPAddressDeny=": "Numerai's API is behind a CDN without a stable address list",
    "RestrictAddressFamilies=~AF_UNIX": "ZeroMQ ipc:// sockets and sd_notify",
    "RootDirectory=/RootImage=": "it runs the host's Python installation",
    "DeviceAllow=": "char-rtc:r is what ProtectClock=yes itself adds",
    "UMask=": "UMask=0027: group numeraud (handlers, numeraudctl) reads its files",
    "SystemCallFilter=~@resources": "ZeroMQ's I/O threads call sched_setscheduler/sched_setparam "
    "(the rest of @resources is denied)",
}
#: The handlers run users' models: JIT-compiling libraries and BLAS thread pinning.
ACCEPTED_HANDLER_EXPOSURE = {
    **ACCEPTED_EXPOSURE,
    "MemoryDenyWriteExecute=": "oneDNN, numba and other ML libraries JIT-compile",
    "SystemCallFilter=~@resources": "BLAS and ML libraries set CPU affinity and priorities; ZeroMQ as above",
}


def scripts_dir() -> Path:
    """The directory holding this interpreter's installed console scripts."""
    directory = Path(sysconfig.get_path("scripts"))
    missing = [s for s in SCRIPTS if not os.access(directory / s, os.X_OK)]
    if missing:
        pytest.fail(f"console scripts {missing} not installed in {directory}: run `pip install -e .`", pytrace=False)
    return directory


def render(text: str, prefix: str) -> str:
    """The unit text with the console-script ``prefix`` replaced by :func:`scripts_dir`."""
    return text.replace(prefix, f"{scripts_dir()}/")


def copy_units(source: Path, dest: Path, prefix: str) -> Path:
    """Copy the three units from ``source`` into ``dest``, rendered for this machine."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in UNITS:
        (dest / name).write_text(render((source / name).read_text(encoding="utf-8"), prefix), encoding="utf-8")
    return dest


def analyze(*args: str, runtime_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``systemd-analyze ARGS...`` (it needs no running manager)."""
    env = dict(os.environ, SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
    if runtime_dir is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    return subprocess.run(["systemd-analyze", *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("directory", "prefix"), [("", SYSTEM_PREFIX), ("user", USER_PREFIX)])
@pytest.mark.parametrize("unit", ["numeraud.service", "numeraud-handler@.service"])
def test_services_run_the_installed_console_scripts(unit: str, directory: str, prefix: str) -> None:
    """Each service's ExecStart= is an absolute path in the documented install location."""
    text = (SYSTEMD_DIR / directory / unit).read_text(encoding="utf-8")
    exec_start = re.findall(r"^ExecStart=(.*)$", text, flags=re.MULTILINE)
    binary = "numeraud" if unit == "numeraud.service" else "numeraud-handler"
    assert len(exec_start) == 1
    assert exec_start[0].startswith(f"{prefix}{binary} ")


def test_system_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts the system units without a single warning."""
    units = copy_units(SYSTEMD_DIR, tmp_path, SYSTEM_PREFIX)
    result = analyze("verify", "--man=no", *(str(units / name) for name in UNITS))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_user_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze --user verify`` accepts the user units without a single warning."""
    units = copy_units(SYSTEMD_DIR / "user", tmp_path / "units", USER_PREFIX)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = analyze("--user", "verify", "--man=no", *(str(units / name) for name in UNITS), runtime_dir=runtime)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("numeraud-handler@*.service.d")))
def test_example_dropins_verify(example: str, tmp_path: Path) -> None:
    """Each example drop-in, applied to its handler instance, verifies without a warning."""
    instance = example.removesuffix(".d")
    units = copy_units(SYSTEMD_DIR, tmp_path, SYSTEM_PREFIX)
    shutil.copy(units / "numeraud-handler@.service", units / instance)
    shutil.copytree(EXAMPLES / example, units / example)
    result = analyze("verify", "--man=no", str(units / instance))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("unit", "accepted"),
    [("numeraud.service", ACCEPTED_EXPOSURE), ("numeraud-handler@.service", ACCEPTED_HANDLER_EXPOSURE)],
)
def test_system_services_are_sandboxed(unit: str, accepted: dict[str, str], tmp_path: Path) -> None:
    """``systemd-analyze security`` scores the service at most MAX_EXPOSURE, failing only accepted checks."""
    units = copy_units(SYSTEMD_DIR, tmp_path, SYSTEM_PREFIX)
    path = str(units / unit)
    text = analyze("security", "--offline=yes", f"--threshold={round(MAX_EXPOSURE * 10)}", path)
    overall = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", text.stdout)
    assert overall is not None, text.stdout + text.stderr
    assert float(overall[1]) <= MAX_EXPOSURE, f"{unit}: exposure {overall[1]} {overall[2]}"
    assert text.returncode == 0, text.stderr

    report = analyze("security", "--offline=yes", "--json=short", path)
    checks = json.loads(report.stdout)
    failed = {c["name"] for c in checks if c.get("set") is False}
    assert failed <= set(accepted), f"{unit}: unexpected exposure {sorted(failed - set(accepted))}"


def test_sysusers_and_tmpfiles_create_the_account_and_directories(tmp_path: Path) -> None:
    """In an empty root, sysusers creates user and group numeraud; tmpfiles then creates the
    directories with the owners and modes the units expect."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for tool, suffix in (("sysusers", "sysusers"), ("tmpfiles", "tmpfiles")):
        conf = root / "usr" / "lib" / f"{tool}.d" / "numeraud.conf"
        conf.parent.mkdir(parents=True)
        shutil.copy(SYSTEMD_DIR / f"numeraud.{suffix}", conf)

    sysusers = subprocess.run(
        ["systemd-sysusers", f"--root={root}", "numeraud.conf"], capture_output=True, text=True, check=False
    )
    assert sysusers.returncode == 0, sysusers.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc" / "passwd").read_text().splitlines()}
    group = {line.split(":")[0]: line.split(":") for line in (root / "etc" / "group").read_text().splitlines()}
    user = passwd["numeraud"]
    uid, gid = int(user[2]), int(group["numeraud"][2])
    assert user[3] == str(gid)
    assert user[5] == "/var/lib/numeraud"
    assert user[6].endswith("nologin")
    assert uid < 1000  # a system account

    tmpfiles = subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", "numeraud.conf"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (tmpfiles.returncode, tmpfiles.stderr) == (0, "")
    expected = {
        "run/numeraud": (0o750, uid, gid),
        "var/lib/numeraud": (0o750, uid, gid),
        "var/lib/numeraud/data": (0o750, uid, gid),
        "var/lib/numeraud/handlers": (0o750, uid, gid),
        "etc/numeraud": (0o750, 0, gid),
        "etc/numeraud/credentials": (0o700, 0, 0),
    }
    found = {}
    for rel in expected:
        st = (root / rel).stat()
        found[rel] = (st.st_mode & 0o7777, st.st_uid, st.st_gid)
    assert found == expected


CREDENTIALS_PROGRAM = """\
import os
import sys
from pathlib import Path

directory = os.environ.get("CREDENTIALS_DIRECTORY")
names = sorted(os.listdir(directory)) if directory else []
secret = Path(directory, "numerai_secret_key").read_text() if "numerai_secret_key" in names else ""
print(" ".join(names), secret, sep="|")
"""


def test_only_the_uploader_drop_in_loads_the_numerai_credentials(user_manager: UserManager, tmp_path: Path) -> None:
    """With the example drop-ins, numeraud-handler@uploader finds both keys in $CREDENTIALS_DIRECTORY
    and another handler gets no credentials; the MemoryMax= example raises only model-a's limit.

    The handler template runs under the test's user manager with a test drop-in: instead of
    numeraud-handler, a tiny program prints what is in $CREDENTIALS_DIRECTORY, and the example's
    credential sources point into a temporary directory instead of /etc/numeraud/credentials.
    (The user template is used: the system template's mount namespacing is not available inside
    the container these tests run in; LoadCredential= and MemoryMax= mean the same in both.)
    """
    sources = tmp_path / "credentials"
    sources.mkdir(mode=0o700)
    (sources / "numerai_public_id").write_text("PUBLICID")
    (sources / "numerai_secret_key").write_text("SECRETKEY")
    program = tmp_path / "credentials.py"
    program.write_text(CREDENTIALS_PROGRAM)
    template = render((SYSTEMD_DIR / "user" / "numeraud-handler@.service").read_text(encoding="utf-8"), USER_PREFIX)
    user_manager.install_unit("numeraud-handler@.service", template, reload=False)
    for example in EXAMPLES.glob("numeraud-handler@*.service.d"):
        for conf in example.glob("*.conf"):
            text = conf.read_text(encoding="utf-8").replace("/etc/numeraud/credentials/", f"{sources}/")
            user_manager.install_dropin(example.name.removesuffix(".d"), conf.name, text, reload=False)
    user_manager.install_dropin(
        "numeraud-handler@.service",
        "zz-test.conf",
        f"""\
[Service]
Type=oneshot
RemainAfterExit=yes
Restart=no
WatchdogSec=0
ExecStart=
ExecStart={sys.executable} -I {program}
StandardOutput=append:{user_manager.log_dir}/%n.log
""",
    )

    outputs = {}
    for name in ("uploader", "model-a"):
        unit = f"numeraud-handler@{name}.service"
        user_manager.systemctl("start", unit)
        outputs[name] = user_manager.log_path(unit).read_text()
    assert outputs == {"uploader": "numerai_public_id numerai_secret_key|SECRETKEY\n", "model-a": "|\n"}

    memory = {
        name: user_manager.show(f"numeraud-handler@{name}.service", "MemoryMax")["MemoryMax"]
        for name in ("uploader", "model-a", "scores")
    }
    assert memory == {"uploader": str(8 * 1024**3), "model-a": str(32 * 1024**3), "scores": str(8 * 1024**3)}
