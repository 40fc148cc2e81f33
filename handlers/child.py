"""A handler's work in a process of its own: the one pattern the bundled handlers share.

A job has a directory of its own holding ``job.json`` (what to do), ``pid`` and, once it is over,
``result.json`` (what the work returned, or ``{"error": ...}``). :class:`ChildJob` starts
``python -m MODULE DIRECTORY`` for it; that module's ``main`` is :func:`child_main` around the
work. The child inherits the handler's environment without its keys and secrets
(:func:`without_secrets`: the user's code has no business with them), asks for SIGTERM when its
handler dies (:func:`die_with_parent`) and, if the job says ``memory_mb``, caps its own address
space (``RLIMIT_AS``) before it does anything else, so a
job that wants more fails with ``MemoryError`` in the child, never in the handler.

Two ways to use it: :meth:`ChildJob.start` (the background training: the handler goes on and reads
the result when it next runs) and :meth:`ChildJob.run` (a Model Upload pickle: wait, with a
timeout after which the child's whole process group is killed). :func:`run_logged` runs any
command that way (a user's script), its output going to the handler's log line by line.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from numeraud.common.files import atomic_write
from numeraud.common.processes import PARENT_ENV, cmdline, die_with_parent
from numeraud.common.secrets import SECRET_ENV_MARKERS, scrub_text, secret_values

#: Lines of a child's stderr kept for the error text of a failed run.
TAIL_LINES = 20
#: Seconds a child gets after SIGTERM (on a timeout) before its process group is SIGKILLed.
KILL_GRACE = 5.0


#: Never passed to a child, whatever their names say (besides the secret-looking ones).
WITHHELD = frozenset({"NUMERAI_PUBLIC_ID", "CREDENTIALS_DIRECTORY"})


def is_secret_name(name: str) -> bool:
    """Whether an environment variable is a key or secret a child never inherits: a name with
    SECRET, PASSWORD, TOKEN, PRIVATE or NOTIFY_URLS in it, ``NUMERAI_PUBLIC_ID``, ``CREDENTIALS_DIRECTORY``."""
    upper = name.upper()
    return upper in WITHHELD or any(marker in upper for marker in SECRET_ENV_MARKERS)


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without its keys and secrets (:func:`is_secret_name`): what a child inherits."""
    return {name: value for name, value in env.items() if not is_secret_name(name)}


class Refused(Exception):
    """An expected refusal in a child's work: its message alone is the reason (no class name)."""


class ChildFailed(RuntimeError):
    """A child process failed: it exited non-zero, timed out, or reported an error; the message says which."""


@dataclass(frozen=True)
class Finished:
    """How a command run by :func:`run_logged` ended."""

    returncode: int
    timed_out: bool
    seconds: float
    stderr_tail: tuple[str, ...]

    def describe(self, what: str, timeout: float | None) -> str:
        """``"<what> timed out after 30 s"`` or ``"<what> exited with code 3: <stderr tail>"``."""
        if self.timed_out:
            text = f"{what} timed out after {timeout:g} s (its process group was killed)"
        elif self.returncode < 0:
            name = signal.Signals(-self.returncode).name if -self.returncode in signal.valid_signals() else "?"
            text = f"{what} was killed by signal {-self.returncode} ({name})"
        else:
            text = f"{what} exited with code {self.returncode}"
        tail = " | ".join(self.stderr_tail[-5:])
        return f"{text}: {tail}" if tail else text


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group of ``process`` (a session leader), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            if sig == signal.SIGTERM:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # what it started goes too
            return
        except subprocess.TimeoutExpired:
            continue


def _pump(stream: IO[bytes], name: str, log: Any, secrets: frozenset[str], tail: deque[str] | None) -> None:
    for raw in iter(stream.readline, b""):
        line = scrub_text(raw.decode("utf-8", errors="replace").rstrip("\r\n"), secrets)
        if log is not None:
            log.info("child_output", stream=name, line=line)
        if tail is not None:
            tail.append(line)
    stream.close()


def run_logged(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float | None = None,
    log: Any = None,
) -> Finished:
    """Run ``argv`` in a session of its own and wait for it, up to ``timeout`` seconds.

    It is started through :func:`exec_main`, so it gets SIGTERM if this process dies while it runs.
    Each line it writes to stdout or stderr goes to ``log`` (``child_output``, with ``stream``),
    secret values of ``env`` and of this process's environment scrubbed; the last
    :data:`TAIL_LINES` of stderr come back in :class:`Finished`. On a timeout the whole process
    group gets SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds.
    """
    started = time.monotonic()
    secrets = secret_values(env) | secret_values()
    process = subprocess.Popen(
        [sys.executable, "-m", "numeraud_handlers.child", *argv],
        env={**env, PARENT_ENV: str(os.getpid())},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    assert process.stdout is not None
    assert process.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, "stdout", log, secrets, None), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, "stderr", log, secrets, tail), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    timed_out = False
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process)
    except BaseException:
        _kill_group(process)  # the handler is stopping: the child goes with it
        raise
    for pump in pumps:
        pump.join(KILL_GRACE)  # a grandchild that left the group may hold a pipe open: do not wait for it
    return Finished(process.returncode, timed_out, time.monotonic() - started, tuple(tail))


@dataclass(frozen=True)
class ChildJob:
    """One job in a process of its own (see the module docstring); subclasses name the ``MODULE``."""

    #: The module run as ``python -m MODULE DIRECTORY``; its ``main`` is :func:`child_main`.
    MODULE: ClassVar[str] = ""

    directory: Path

    @property
    def job_file(self) -> Path:
        """What the child is to do (written before it starts)."""
        return self.directory / "job.json"

    @property
    def result_file(self) -> Path:
        """Where the child writes what its work returned, or ``{"error": ...}``."""
        return self.directory / "result.json"

    def argv(self) -> list[str]:
        """The child's command line."""
        return [sys.executable, "-m", self.MODULE, str(self.directory)]

    def _prepare(self, job: Mapping[str, Any]) -> dict[str, str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.job_file, json.dumps(dict(job)))
        return {**without_secrets(os.environ), PARENT_ENV: str(os.getpid())}

    def start(self, job: Mapping[str, Any]) -> int:
        """Start the child for ``job`` in the background, unless it runs or has finished already;
        returns its pid (0: it had finished)."""
        if self.result_file.exists():
            return 0
        running = self.pid()
        if running is not None:
            return running
        env = self._prepare(job)
        process = subprocess.Popen(self.argv(), env=env, close_fds=True)
        atomic_write(self.directory / "pid", str(process.pid))
        return process.pid

    def run(self, job: Mapping[str, Any], *, timeout: float | None, log: Any = None, what: str = "the job") -> Any:
        """Run a fresh child for ``job`` and wait for it (see :func:`run_logged`); returns what its
        work returned. Raises :class:`ChildFailed` with the reason: the error it reported, or how it
        ended (timeout, a signal, a crash without a result)."""
        self.result_file.unlink(missing_ok=True)
        env = self._prepare(job)
        finished = run_logged(self.argv(), env=env, timeout=timeout, log=log)
        result = None if finished.timed_out else self.result()
        if result is None:
            raise ChildFailed(finished.describe(what, timeout) + _memory_hint(job, finished))
        if "error" in result:
            raise ChildFailed(str(result["error"]))
        return result

    def pid(self) -> int | None:
        """The child's pid while it runs in the background (``None``: it is not running)."""
        try:
            pid = int((self.directory / "pid").read_text())
        except (OSError, ValueError):
            return None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # a child this process started and that ended: reap it
        line = cmdline(pid)
        return pid if self.MODULE.encode() in line and str(self.directory).encode() in line else None

    def result(self) -> dict[str, Any] | None:
        """What the child wrote when it ended (``None``: not over yet)."""
        try:
            loaded: dict[str, Any] = json.loads(self.result_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            return {"error": f"unreadable result ({exc})"}
        return loaded


def _memory_hint(job: Mapping[str, Any], finished: Finished) -> str:
    if job.get("memory_mb") and not finished.timed_out:
        return f" (it may have run out of its {job['memory_mb']} MB memory cap)"
    return ""


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space at ``megabytes`` MB (``RLIMIT_AS``; the hard limit stays)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))


def child_main(argv: list[str] | None, work: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """The child process: read ``job.json`` of the directory in ``argv``, do ``work(job)``, write
    ``result.json`` (with the job's ``keep`` entries); exit 1 if the work failed."""
    directory = Path((argv if argv is not None else sys.argv[1:])[0])
    die_with_parent()  # SIGTERM when the handler dies
    job: dict[str, Any] = json.loads((directory / "job.json").read_text())
    if job.get("memory_mb"):
        limit_memory(int(job["memory_mb"]))
    try:
        result = work(job)
    except MemoryError:
        result = {"error": f"MemoryError: it needed more than its memory cap of {job.get('memory_mb')} MB"}
    except Refused as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # reported to the handler through the result file
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=5)}
    atomic_write(directory / "result.json", json.dumps({**job.get("keep", {}), **result}))
    return 1 if "error" in result else 0


def exec_main(argv: list[str] | None = None) -> int:
    """``python -m numeraud_handlers.child COMMAND...``: become ``COMMAND`` with SIGTERM asked for
    when the handler dies (a death signal survives ``exec``), and the handler's pid variable gone."""
    command = argv if argv is not None else sys.argv[1:]
    die_with_parent()
    os.environ.pop(PARENT_ENV, None)
    try:
        os.execvp(command[0], command)  # noqa: S606 - the user's own command, no shell on purpose
    except OSError as exc:
        print(f"numeraud: cannot run {command[0]!r}: {exc}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    raise SystemExit(exec_main())
