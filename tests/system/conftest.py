"""Harness for the system tests: a real ``systemd --user`` manager, private to the test session.

systemd is not PID 1 on the machines that run these tests, so ``systemctl`` has no manager to
talk to. This harness starts one, as /work/shared/systemd-in-tests.md describes:

1. a private ``XDG_RUNTIME_DIR`` (mode 0700) and a private ``HOME`` (so the unit directory
   ``$HOME/.config/systemd/user`` holds only what the tests install);
2. a child cgroup under the cgroup v2 mount (``/sys/fs/cgroup/unified/<unique>``);
3. in a new session (``setsid``, via ``start_new_session``), ``unshare --mount --propagation
   private`` runs a small shell script that mounts a tmpfs on ``/run/systemd`` and creates
   ``/run/systemd/system`` (``systemd --user`` refuses to run unless the system "was booted with
   systemd"; the host's /run is untouched), moves itself into the new cgroup and then
   ``exec``\\ s ``/lib/systemd/systemd --user`` (two more mounts, also private to that namespace,
   are explained at :data:`LAUNCH_SCRIPT`);
4. it polls, with a deadline, until the manager answers. ``systemctl --user is-system-running``
   cannot be the probe: it prints ``offline`` whenever ``/run/systemd/system`` is missing in the
   *caller's* mount namespace, so the harness asks the manager itself for its ``SystemState``
   (``systemctl --user show -p SystemState``) until it is ``running`` (or ``degraded``).

At the end it stops the units, sends SIGTERM to the manager's own PID (a user manager then
stops everything and exits), SIGKILLs by PID whatever is still left in the cgroup, and removes
the cgroup directories deepest first, together with the copy systemd keeps in the v1
``name=systemd`` hierarchy on a hybrid host (``/sys/fs/cgroup/systemd/<unique>``). The mounts
disappear with the mount namespace.

There is no journald: units write their output to files with ``StandardOutput=append:``
(:meth:`UserManager.log_path`).

This needs root, ``/lib/systemd/systemd``, ``unshare`` (util-linux) and a writable cgroup v2
hierarchy. When one is missing the tests fail with the reason: they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import wait_for

SYSTEMD_BINARY = Path("/lib/systemd/systemd")
#: Where cgroup v2 is looked for, in order: the hybrid layout's unified mount, then a pure v2 host.
CGROUP2_CANDIDATES = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
#: How long the manager may take to come up, and to go away.
START_DEADLINE = 30.0
STOP_DEADLINE = 30.0
#: How long one ``systemctl`` call may take.
SYSTEMCTL_TIMEOUT = 60.0
#: Properties :meth:`UserManager.wait_for` reads when none are named.
DEFAULT_PROPS = ("ActiveState", "SubState", "Result", "NRestarts", "MainPID", "StatusText", "ExecMainStatus")

#: Run by ``unshare --mount --propagation private`` with $1 = the cgroup's cgroup.procs,
#: $2 = the systemd binary, $3 = the manager's log file, $4 = the test's root directory.
#: Without journald, systemd writes to /dev/console; in this private mount namespace that is the
#: log file, not the host's console. The root directory is bind-mounted on itself and made a
#: *shared* mount, inside the private namespace only: systemd mounts a service's credentials
#: (``LoadCredential=``) from a helper's namespace, and that mount must propagate back into the
#: manager's namespace (with private propagation the service sees an empty directory).
LAUNCH_SCRIPT = """\
set -eu
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/system
if [ -e /dev/console ]; then mount --bind "$3" /dev/console; fi
mount --bind "$4" "$4"
mount --make-shared "$4"
echo "$$" > "$1"
exec "$2" --user --log-target=console --log-color=no --log-level=info
"""


def _cgroup2_root() -> Path | None:
    """The first of :data:`CGROUP2_CANDIDATES` that is a cgroup2 mount point, if any."""
    mounts: set[str] = set()
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "cgroup2":
                mounts.add(fields[1])
    for candidate in CGROUP2_CANDIDATES:
        if str(candidate) in mounts:
            return candidate
    return None


def preflight() -> Path:
    """Check that this machine can run a private user manager; return the cgroup v2 root.

    Fails the test (never skips) with the reason when it cannot.
    """
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not running as root (the mount namespace and the cgroup need root)")
    if not os.access(SYSTEMD_BINARY, os.X_OK):
        problems.append(f"{SYSTEMD_BINARY} is missing (apt-get install systemd)")
    for tool in ("unshare", "systemctl", "mount"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not on PATH")
    if not Path("/run/systemd").is_dir():
        problems.append("/run/systemd does not exist (the tmpfs is mounted over it)")
    root = _cgroup2_root()
    if root is None:
        problems.append(f"no cgroup v2 mount at {' or '.join(map(str, CGROUP2_CANDIDATES))}")
    elif not os.access(root, os.W_OK):
        problems.append(f"the cgroup v2 hierarchy at {root} is not writable")
    if problems or root is None:
        pytest.fail("cannot start a systemd user manager: " + "; ".join(problems), pytrace=False)
    return root


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path}: not written)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class UserManager:
    """A running private ``systemd --user`` and the helpers the tests drive it with."""

    root: Path
    cgroup: Path
    process: subprocess.Popen[bytes]
    manager_log: Path
    installed: list[str] = field(default_factory=list)

    @property
    def runtime_dir(self) -> Path:
        """``XDG_RUNTIME_DIR`` of the manager (mode 0700)."""
        return self.root / "runtime"

    @property
    def home(self) -> Path:
        """``HOME`` of the manager: ``%h`` in unit files."""
        return self.root / "home"

    @property
    def unit_dir(self) -> Path:
        """The unit directory the manager loads: ``$HOME/.config/systemd/user``."""
        return self.home / ".config" / "systemd" / "user"

    @property
    def log_dir(self) -> Path:
        """Where units' ``StandardOutput=append:`` files go."""
        return self.root / "logs"

    @property
    def pid(self) -> int:
        """The manager's own PID."""
        return self.process.pid

    def log_path(self, unit: str) -> Path:
        """The output file for ``unit``, for ``StandardOutput=append:`` (no journald here)."""
        return self.log_dir / f"{unit}.log"

    def env(self) -> dict[str, str]:
        """The environment ``systemctl --user`` needs to reach this manager and no other."""
        env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "SYSTEMD_UNIT_PATH")}
        env.update(XDG_RUNTIME_DIR=str(self.runtime_dir), SYSTEMD_PAGER="", SYSTEMD_COLORS="0", LC_ALL="C.UTF-8")
        return env

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``systemctl --user ARGS...`` against this manager; raise on failure if ``check``."""
        result = subprocess.run(
            ["systemctl", "--user", "--no-pager", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            units = [a for a in args[1:] if a.endswith((".service", ".target"))]
            raise AssertionError(
                f"systemctl --user {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}\n"
                + "".join(self.describe(unit) for unit in units)
            )
        return result

    def describe(self, unit: str) -> str:
        """``systemctl --user status UNIT``, the tail of its log file and of the manager's log:
        what a failure message needs, since there is no journal to look at afterwards."""
        status = subprocess.run(
            ["systemctl", "--user", "--no-pager", "--full", "--lines=0", "status", unit],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT,
            check=False,
        ).stdout
        return (
            f"--- systemctl --user status {unit}:\n{status}\n"
            f"--- {self.log_path(unit)}:\n{_tail(self.log_path(unit))}\n"
            f"--- {self.manager_log}:\n{_tail(self.manager_log)}\n"
        )

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl --user show -p PROP,... UNIT`` as a dict (all properties if none named)."""
        args = ["show", unit]
        if props:
            args.insert(1, "--property=" + ",".join(props))
        out = self.systemctl(*args).stdout
        values: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key] = value
        return values

    def install_unit(self, name: str, text: str, *, reload: bool = True) -> Path:
        """Write unit file ``name`` into :attr:`unit_dir` and ``daemon-reload``."""
        path = self.unit_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if name not in self.installed:
            self.installed.append(name)
        if reload:
            self.daemon_reload()
        return path

    def install_dropin(self, unit: str, name: str, text: str, *, reload: bool = True) -> Path:
        """Write drop-in ``UNIT.d/NAME`` (``unit`` may be a template, ``foo@.service``)."""
        path = self.unit_dir / f"{unit}.d" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if reload:
            self.daemon_reload()
        return path

    def daemon_reload(self) -> None:
        """``systemctl --user daemon-reload``."""
        self.systemctl("daemon-reload")

    def wait_for(
        self,
        unit: str,
        predicate: Callable[[Mapping[str, str]], bool],
        timeout: float = 20.0,
        props: tuple[str, ...] = DEFAULT_PROPS,
        what: str = "",
    ) -> dict[str, str]:
        """Poll ``show(unit, *props)`` until ``predicate`` holds; return those properties.

        On timeout, fail with the last properties seen and the tail of the unit's log file.
        """
        last: dict[str, str] = {}

        def holds() -> dict[str, str] | None:
            last.clear()
            last.update(self.show(unit, *props))
            return dict(last) if predicate(last) else None

        def failure() -> str:
            return f"{unit}: {what or 'condition'}; last seen {last}\n" + self.describe(unit)

        values: dict[str, str] = wait_for(holds, timeout, failure, interval=0.1)
        return values

    def forget_units(self) -> None:
        """Stop every unit the tests installed (template instances too), remove the files and
        the units' log files, ``daemon-reload`` and ``reset-failed``: the next test starts from a
        clean manager."""
        loaded = self.systemctl("list-units", "--all", "--plain", "--no-legend", "--full", check=False).stdout
        names = [line.split()[0] for line in loaded.splitlines() if line.split()]
        ours = [
            n
            for n in names
            if any(n == i or (i.endswith("@.service") and n.startswith(i[: -len(".service")])) for i in self.installed)
        ]
        if ours:
            self.systemctl("stop", *ours, check=False)
        for name in self.installed:
            (self.unit_dir / name).unlink(missing_ok=True)
            dropins = self.unit_dir / f"{name}.d"
            if dropins.is_dir():
                shutil.rmtree(dropins)
        self.installed.clear()
        for dropins in self.unit_dir.glob("*.d"):
            shutil.rmtree(dropins)
        self.daemon_reload()
        self.systemctl("reset-failed", check=False)
        for log in self.log_dir.iterdir():
            log.unlink()


def _manager_env(root: Path) -> dict[str, str]:
    """A small, explicit environment for the manager (and, through it, for every unit)."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(root / "home"),
        "USER": "root",
        "LOGNAME": "root",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(root / "runtime"),
        # No journald: the manager logs to its stderr, which is manager.log.
        "SYSTEMD_LOG_TARGET": "console",
    }


def _legacy_mirrors(cgroup: Path) -> list[Path]:
    """The same cgroup in the v1 ``name=systemd`` hierarchy: on a hybrid host systemd mirrors
    its cgroups there too, and they must be removed as well."""
    mirrors: list[Path] = []
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and fields[2] == "cgroup" and "name=systemd" in fields[3].split(","):
                mirrors.append(Path(fields[1]) / cgroup.name)
    return mirrors


def _cgroup_pids(cgroup: Path) -> list[int]:
    pids: list[int] = []
    for procs in cgroup.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.extend(int(p) for p in procs.read_text().split())
    return pids


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _teardown(manager: UserManager) -> None:
    """Stop the units, the manager (by its PID), anything left in its cgroup; remove the cgroup."""
    if manager.process.poll() is None:
        with contextlib.suppress(Exception):
            manager.forget_units()
        manager.process.send_signal(signal.SIGTERM)
        if not _wait_exit(manager.process, STOP_DEADLINE):
            manager.process.kill()
            manager.process.wait(timeout=STOP_DEADLINE)
    for cgroup in (manager.cgroup, *_legacy_mirrors(manager.cgroup)):
        _empty_and_remove_cgroup(cgroup)


def _empty_and_remove_cgroup(cgroup: Path) -> None:
    def emptied() -> bool:
        pids = _cgroup_pids(cgroup) if cgroup.exists() else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids

    wait_for(emptied, STOP_DEADLINE, lambda: f"processes {_cgroup_pids(cgroup)} to leave {cgroup}")
    if cgroup.exists():
        for dirpath, _dirnames, _files in os.walk(cgroup, topdown=False):
            os.rmdir(dirpath)


def start_user_manager(root: Path, cgroup_root: Path) -> UserManager:
    """Start a private ``systemd --user`` under ``root`` and wait until it answers."""
    runtime = root / "runtime"
    runtime.mkdir(mode=0o700)
    (root / "home" / ".config" / "systemd" / "user").mkdir(parents=True)
    (root / "logs").mkdir()
    cgroup = cgroup_root / f"numeraud-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    cgroup.mkdir()
    manager_log = root / "manager.log"
    try:
        with manager_log.open("wb") as log:
            process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "/bin/sh",
                    "-c",
                    LAUNCH_SCRIPT,
                    "numeraud-test-manager",
                    str(cgroup / "cgroup.procs"),
                    str(SYSTEMD_BINARY),
                    str(manager_log),
                    str(root),
                ],
                env=_manager_env(root),
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except BaseException:
        for group in (cgroup, *_legacy_mirrors(cgroup)):
            _empty_and_remove_cgroup(group)
        raise
    manager = UserManager(root=root, cgroup=cgroup, process=process, manager_log=manager_log)
    try:
        _wait_running(manager)
    except BaseException:
        _teardown(manager)
        raise
    return manager


def _wait_running(manager: UserManager) -> None:
    last: list[subprocess.CompletedProcess[str]] = []

    def answers() -> bool:
        if manager.process.poll() is not None:
            raise AssertionError(
                f"systemd --user exited with {manager.process.returncode} before answering:\n"
                f"{_tail(manager.manager_log)}"
            )
        result = manager.systemctl("show", "--property=SystemState", "--value", check=False)
        last[:] = [result]
        return result.returncode == 0 and result.stdout.strip() in ("running", "degraded")

    def failure() -> str:
        result = last[-1] if last else None
        state = result.stdout.strip() if result else ""
        stderr = result.stderr.strip() if result else ""
        return f"systemd --user to come up (SystemState={state!r}, systemctl: {stderr}):\n{_tail(manager.manager_log)}"

    wait_for(answers, START_DEADLINE, failure)


@pytest.fixture(scope="session")
def user_manager_session() -> Iterator[UserManager]:
    """One private ``systemd --user`` for the whole session, torn down at the end."""
    cgroup_root = preflight()
    root = Path(tempfile.mkdtemp(prefix="numeraud-systemd-"))
    try:
        manager = start_user_manager(root, cgroup_root)
        try:
            yield manager
        finally:
            _teardown(manager)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user_manager(user_manager_session: UserManager) -> Iterator[UserManager]:
    """The session's user manager; the units a test installs are stopped and removed after it."""
    manager = user_manager_session
    if manager.process.poll() is not None:
        pytest.fail(f"the systemd user manager died (exit {manager.process.returncode}):\n{_tail(manager.manager_log)}")
    try:
        yield manager
    finally:
        manager.forget_units()
