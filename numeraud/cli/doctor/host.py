"""This machine: the state, data and runtime directories, and the supervisor's control socket.

Directories are checked as numeraud will use them: each exists (or its nearest existing parent
lets it be created), is a directory, belongs to the user running the doctor or to the service
account (``numeraud``, as ``systemd/numeraud.sysusers`` creates it), has sane permissions (the
state directory is not readable by other users: it holds the event log, models and key files; no
directory is world-writable) and can really be written (a file is created and removed again).
Nothing else is changed: the doctor creates no directory.
"""

from __future__ import annotations

import errno
import os
import pwd
import socket
import stat
import tempfile
from pathlib import Path
from typing import Final

from numeraud.cli.doctor.base import CheckResult, Doctor, Status, failed, nearest_existing, passed, skipped

#: The service account of systemd/numeraud.sysusers (and User= of systemd/numeraud.service).
SERVICE_USER: Final = "numeraud"
#: sockaddr_un's sun_path holds 108 bytes, the final NUL included.
MAX_SOCKET_PATH: Final = 107
#: Seconds the control socket may take to answer.
CONTROL_TIMEOUT: Final = 3.0


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def accepted_owners() -> dict[int, str]:
    """The users a numeraud directory may belong to: whoever runs this, and the service account."""
    owners = {os.geteuid(): _user_name(os.geteuid())}
    try:
        account = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return owners
    owners[account.pw_uid] = account.pw_name
    return owners


def _probe_write(directory: Path) -> str | None:
    """Create and remove a file in ``directory``; the reason it failed, or None."""
    try:
        descriptor, name = tempfile.mkstemp(prefix=".numeraud-doctor-", dir=directory)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(descriptor)
    os.unlink(name)
    return None


def check_directory(name: str, key: str, path: Path, *, private: bool, config_file: str) -> CheckResult:
    """One directory of ``[paths]`` (see the module docstring); ``private``: no access for others."""
    me = _user_name(os.geteuid())
    where = f"{key} = {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        parent = nearest_existing(path)
        if not os.path.isdir(parent):
            return failed(name, f"{where}: {parent} is not a directory", f"point {key} elsewhere in {config_file}")
        if not os.access(parent, os.W_OK | os.X_OK) or _probe_write(parent) is not None:
            return failed(
                name,
                f"{where} does not exist and {me} cannot create it ({parent} is not writable)",
                f"create it: install -d -m 0750 -o {me} {path}",
            )
        return passed(name, f"{where} does not exist yet; numeraud creates it ({parent} is writable by {me})")
    except NotADirectoryError:
        parent = next(p for p in path.parents if os.path.exists(p))
        return failed(name, f"{where}: {parent} is not a directory", f"point {key} elsewhere in {config_file}")
    except OSError as exc:
        return failed(
            name,
            f"{where}: {exc.strerror} (for {me})",
            f"give {me} access to {path} and its parents (or run as the service user), or point {key} elsewhere",
        )
    if not stat.S_ISDIR(info.st_mode):
        return failed(name, f"{where} is not a directory", f"remove it or point {key} elsewhere in {config_file}")
    mode = stat.S_IMODE(info.st_mode)
    owners = accepted_owners()
    if info.st_uid not in owners:
        return failed(
            name,
            f"{where} belongs to {_user_name(info.st_uid)}, not to {' or '.join(sorted(set(owners.values())))}",
            f"chown -R {me} {path}",
        )
    if mode & stat.S_IWOTH:
        return failed(name, f"{where} is writable by every user (mode {mode:04o})", f"chmod o-w {path}")
    if private and mode & stat.S_IROTH:
        return failed(
            name, f"{where} is readable by every user (mode {mode:04o}); it holds the state", f"chmod 0750 {path}"
        )
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        return failed(name, f"{where}: {me} cannot read and write it (mode {mode:04o})", f"chmod u+rwx {path}")
    problem = _probe_write(path)
    if problem is not None:
        return failed(name, f"{where}: cannot write a file there: {problem}", f"make {path} writable by {me}")
    owner = _user_name(info.st_uid)
    return passed(name, f"{where}: a directory of {owner}, mode {mode:04o}, writable")


def check_directories(doctor: Doctor) -> list[CheckResult]:
    """``[paths]`` state_dir, data_dir and runtime_dir."""
    if doctor.config is None:
        return [skipped(name, doctor.no_config) for name in ("state_dir", "data_dir", "runtime_dir")]
    paths, file = doctor.config.paths, doctor.config_file()
    results = [
        check_directory("state_dir", "paths.state_dir", paths.state_dir, private=True, config_file=file),
        check_directory("data_dir", "paths.data_dir", paths.data_dir, private=False, config_file=file),
        check_directory("runtime_dir", "paths.runtime_dir", paths.runtime_dir, private=False, config_file=file),
    ]
    too_long = [
        endpoint
        for endpoint in (doctor.config.bus.endpoint, doctor.config.bus.control_endpoint)
        if endpoint.startswith("ipc://") and len(endpoint.removeprefix("ipc://").encode()) > MAX_SOCKET_PATH
    ]
    if too_long and results[2].status is not Status.FAIL:
        results[2] = failed(
            "runtime_dir",
            f"socket path {too_long[0].removeprefix('ipc://')} is longer than the {MAX_SOCKET_PATH} bytes "
            "a Unix socket address holds",
            f"choose a shorter paths.runtime_dir in {file} (e.g. /run/numeraud)",
        )
    return results


def _connect(path: str) -> int:
    """0 when something accepts connections on the socket file, else the errno."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(CONTROL_TIMEOUT)
    try:
        probe.connect(path)
    except OSError as exc:
        return exc.errno or errno.EIO
    finally:
        probe.close()
    return 0


def check_control(doctor: Doctor) -> list[CheckResult]:
    """The supervisor's control socket: absent (not running), stale, or answering."""
    if doctor.config is None:
        return [skipped("control", doctor.no_config)]
    from numeraud.common.protocol import API_VERSION  # noqa: PLC0415
    from numeraud.control import ControlError  # noqa: PLC0415 - loads ZeroMQ
    from numeraud.control.client import ControlClient, NoReply, NotRunning  # noqa: PLC0415

    endpoint = doctor.config.bus.control_endpoint
    path = endpoint.removeprefix("ipc://")
    restart = "start numeraud (`systemctl start numeraud`, or `numeraud run`): it replaces the socket file"
    if not path.startswith("@"):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return [skipped("control", f"numeraud is not running (no control socket {path})")]
        except OSError as exc:
            return [
                failed(
                    "control",
                    f"{path}: {exc.strerror} for {_user_name(os.geteuid())}",
                    f"run the doctor as the service user, or join group {SERVICE_USER} (usermod -aG {SERVICE_USER})",
                )
            ]
        if not stat.S_ISSOCK(mode):
            return [failed("control", f"{path} is not a socket", f"remove {path}; numeraud creates the socket")]
        code = _connect(path)
        if code == errno.ECONNREFUSED:
            return [
                failed(
                    "control",
                    f"stale control socket {path}: nothing listens (numeraud stopped without removing it)",
                    f"{restart}, or remove {path}",
                )
            ]
        if code in (errno.EACCES, errno.EPERM):
            return [
                failed(
                    "control",
                    f"{path}: permission denied to {_user_name(os.geteuid())}",
                    f"run the doctor as the service user, or join group {SERVICE_USER} (usermod -aG {SERVICE_USER})",
                )
            ]
        if code:
            return [failed("control", f"cannot connect to {path}: {os.strerror(code)}", restart)]
    client = ControlClient(endpoint, timeout=CONTROL_TIMEOUT)
    try:
        version = client.call("version")
        status = client.call("status")
    except NotRunning:
        return [failed("control", f"stale control socket {path}: nothing listens", f"{restart}, or remove {path}")]
    except NoReply:
        return [
            failed(
                "control",
                f"{path} accepts connections but numeraud did not answer within {CONTROL_TIMEOUT:g} s",
                "see `systemctl status numeraud` and `journalctl -u numeraud`; restart numeraud",
            )
        ]
    except (ControlError, ValueError) as exc:
        return [failed("control", f"numeraud answered with an error: {exc}", "restart numeraud")]
    api = version.get("api") if isinstance(version, dict) else None
    if api != API_VERSION:
        return [
            failed(
                "control",
                f"the running numeraud speaks control API {api!r}, this one {API_VERSION}",
                "restart numeraud so that the installed version runs",
            )
        ]
    pid = status.get("pid") if isinstance(status, dict) else None
    head = status.get("head_seq") if isinstance(status, dict) else None
    running = version.get("numeraud") if isinstance(version, dict) else None
    return [passed("control", f"numeraud {running} answers on {path} (pid {pid}, control API {api}, log head {head})")]
