"""Security scenarios of bench/chaos.py (issue 11), against a real sandbox and real processes.

Checks, each counted in ``security_checks`` and, when it fails, in ``security_failures`` with its
name on stderr:

- **leaks**: a whole round through ``numeraud run --spawn-handlers`` (a predictor, the bundled
  uploader and notifier, and a handler that crashes with the secret key and the notification URL
  in its exception and traceback); at the end the API secret, the notification URL and its token
  are looked for in the supervisor's log (every handler's output and crash output), in
  ``numeraudctl status`` and ``events``, text and ``--json``, and in every file of the state and
  runtime directories (the event log, handler state files, the ledger): ``secret_leaks`` counts
  (place, secret) pairs found;
- **modes** (what the README and the code promise): the runtime directory 0750, the sockets
  0660 (never world-writable), the state directory and the event log (with its WAL and SHM)
  not open to others, handler state files 0600;
- **tcp:// without CURVE** refused by ``numeraud run`` and ``numeraud-handler`` (exit 78, before
  READY);
- **CURVE**: a handler in another network namespace (``ip netns`` and a veth pair on
  10.213.7.1/30 and .2/30, removed afterwards whatever happens) reaches the supervisor over
  ``tcp://`` with a listed key and handles a whole round; a client there with an unlisted key,
  and one without CURVE, get no answer and change nothing;
- **nothing from outside is unpickled or evaluated**: the code is searched for pickle, eval, exec,
  marshal, yaml and joblib loads; each place found must be one of the known, safe ones below;
- **secret files**: a configuration naming a secret file the group or others can read is refused
  (exit 78, naming the key, the file and its mode).

``run(quick, seed, workdir)`` returns ``security_checks``, ``security_failures``, ``secret_leaks``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import zmq
import zmq.auth

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.round_latency import Daemon, free_port, wait_for_status  # noqa: E402
from numeraud.control.client import ControlClient  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from tests.fixtures import JsonReceiver  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

PROBES = "bench.chaosrun.probes"
#: The veth pair's addresses: the supervisor's side and the namespace's side (a /30 of our own).
HOST_ADDRESS, REMOTE_ADDRESS = "10.213.7.1", "10.213.7.2"
#: Where the code may deserialise or evaluate, and why each is safe (path: pattern).
SAFE_PLACES = {
    # The handler's own two threads pass Job/Result objects over inproc://, which nothing outside
    # the process can reach.
    "numeraud/handler/worker.py": "pyobj",
    "numeraud/handler/runtime.py": "pyobj",
    # The handler's own model file, written by itself with joblib.dump in its state directory.
    "handlers/model.py": "joblib.load",
}
UNSAFE = re.compile(
    r"\b(?:import|from) (?:pickle|marshal|yaml|shelve|dill|cloudpickle)\b|\b(?:pickle|marshal|yaml|shelve|dill)\."
    r"|_pyobj\(|\beval\(|\bexec\(|\bjoblib\.load\(|pd\.read_pickle|\.read_pickle\("
)


class Checks:
    """Counts checks; a failed one is named on stderr as ``<scenario>: FAILED <name>: <detail>``."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.tried = 0
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Count ``name``; report it when not ``ok``."""
        self.tried += 1
        if not ok:
            self.failed.append(name)
            print(f"{self.scenario}: FAILED {name}: {detail}", file=sys.stderr, flush=True)
        return ok


def find_secrets(paths: Iterable[Path], secrets: Iterable[str]) -> int:
    """How many (file, secret) pairs there are where a file under ``paths`` (recursively; SQLite
    databases and every other file read as bytes) holds the secret. Each is named on stderr."""
    wanted = [s for s in secrets if s]
    found = 0
    for top in paths:
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.exists() else []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for secret in wanted:
                if secret.encode() in data:
                    found += 1
                    print(f"secret leak: {path} holds {secret[:6]}...", file=sys.stderr, flush=True)
    return found


def short_root(prefix: str) -> Path:
    """A short directory under /tmp: an ``ipc://`` path must fit in about 100 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a numeraud process: no systemd variables, this checkout importable."""
    skip = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "NUMERAUD_FAILPOINT", "NUMERAI_SECRET_KEY")
    env = {k: v for k, v in os.environ.items() if k not in skip and k != "NUMERAUD_NOTIFY_URLS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@dataclass
class Installation:
    """One numeraud installation: a config in ``root``, a supervisor with its handlers."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    daemon: Daemon | None = None

    @property
    def config(self) -> Path:
        return self.root / "numeraud.toml"

    @property
    def log(self) -> Path:
        return self.root / "numeraud.log"

    def write(
        self,
        api_url: str,
        handlers: Mapping[str, Mapping[str, Any]],
        *,
        bus: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the config: the sandbox at ``api_url``, a fast poll, ``handlers`` by name."""
        doc: dict[str, Any] = {
            "numerai": {"api_url": api_url},
            "paths": {
                "state_dir": str(self.root / "state"),
                "runtime_dir": str(self.root / "run"),
                "data_dir": str(self.root / "data"),
            },
            "data": {"training_files": ["features.json"], "live_files": ["live.parquet"], **(data or {})},
            "poll": {"idle_interval": 0.25, "fast_interval": 0.25},
            "bus": {"heartbeat_interval": 0.25, **(bus or {})},
            "handlers": {name: dict(table) for name, table in handlers.items()},
        }
        self.config.write_text(tomlkit.dumps(doc))
        return self.config

    def start(self, *, timeout: float = 120.0) -> Daemon:
        """``numeraud run --spawn-handlers``, until every handler is connected."""
        argv = [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(self.config), "--spawn-handlers"]
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                argv, env=child_env(self.env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.daemon = Daemon(self.config, self.log, process)
        wait_for_status(self.daemon, time.monotonic() + timeout)
        return self.daemon

    def stop(self) -> None:
        """Stop the supervisor and the handlers it spawned."""
        if self.daemon is not None:
            with contextlib.suppress(Exception):
                self.daemon.status(timeout=1.0)  # learn the pids of the latest handler processes
            self.daemon.stop()
            self.daemon = None

    def call(self, command: str, **args: Any) -> Any:
        """One control request."""
        return ControlClient(f"ipc://{self.root}/run/control.sock", timeout=10.0).call(command, **args)

    def events(self) -> list[dict[str, Any]]:
        """The whole event log, oldest first."""
        found: list[dict[str, Any]] = self.call("events", limit=1000)
        return sorted(found, key=lambda e: int(e["seq"]))

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``numeraudctl`` as an operator runs it: without the daemon's secrets in its environment."""
        argv = [sys.executable, "-m", "numeraud.cli.ctl", "--config", str(self.config), *args]
        return subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=60, check=False)


def mode_of(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


# -- leaks and modes ----------------------------------------------------------------------------


def _leaks_and_modes(quick: bool, seed: int, workdir: Path, checks: Checks) -> int:
    """The whole-round leak scenario, then the modes of what it created; returns the leaks found."""
    secret = f"chaos-secret-{seed}-{os.urandom(8).hex()}"
    token = f"tok{os.urandom(10).hex()}"
    receiver = JsonReceiver()
    url = f"json://127.0.0.1:{receiver.port}/hook/{token}"
    root = short_root("ncs-")
    models = ("sandbox_model_1", "sandbox_model_2")
    try:
        options = SandboxOptions(data_dir=workdir / "sandbox", size="tiny", seed=seed, secret_key=secret)
        with Sandbox(options) as sandbox:
            install = Installation(root, env={"NUMERAI_PUBLIC_ID": options.public_id, "NUMERAI_SECRET_KEY": secret})
            install.env["NUMERAUD_NOTIFY_URLS"] = url
            predictors = {f"p{i}": {"class": f"{PROBES}:Predictor"} for i in range(len(models))}
            install.write(
                sandbox.url,
                {
                    **predictors,
                    "crasher": {"class": f"{PROBES}:Crasher", "max_attempts": 1},
                    "uploader": {
                        "class": "numeraud_handlers.uploader:UploaderHandler",
                        "after": sorted(predictors),
                        "options": {"models": {f"p{i}": m for i, m in enumerate(models)}},
                    },
                    "notifier": {"class": "numeraud_handlers.notifier:NotifierHandler", "options": {"min_interval": 0}},
                },
            )
            old_umask = os.umask(0o022)  # a shell's usual umask: what numeraud sets itself is what counts
            try:
                install.start()
            finally:
                os.umask(old_umask)
            try:
                uploaded = wait_for(
                    lambda: sorted(u["model"] for u in sandbox.uploads() if u["accepted"]) == list(models),
                    timeout=120,
                    what="both models uploaded",
                )
                checks.check("leaks: a round uploaded for every model", bool(uploaded))
                blocked = wait_for(
                    lambda: any(e["kind"] == "handler_blocked" for e in install.events()), 60, "the crasher blocked"
                )
                checks.check("leaks: the crashing handler is blocked with its error", bool(blocked))
                wait_for(lambda: receiver.received, 60, "the notifier's alert")
                checks.check("leaks: the notifier sent its alert", bool(receiver.received))
                outputs = root / "ctl-output"
                outputs.mkdir()
                for name, args in {
                    "status.txt": ("status",),
                    "status.json": ("--json", "status"),
                    "events.txt": ("events", "--limit", "1000"),
                    "events.json": ("--json", "events", "--limit", "1000"),
                }.items():
                    result = install.ctl(*args)
                    # status says 6 ("needs you"): the crashing handler is blocked, as it should be
                    answered = result.returncode in ((0, 6) if "status" in args else (0,))
                    checks.check(f"leaks: numeraudctl {' '.join(args)} answers", answered, result.stderr)
                    (outputs / name).write_text(result.stdout + result.stderr)
                _check_modes(install, checks)
            finally:
                install.stop()
            leaks = find_secrets([root, install.log], [secret, url, token])
            checks.check("leaks: no secret in logs, ctl output, event log, state files", leaks == 0, f"{leaks} found")
            return leaks
    finally:
        receiver.close()
        shutil.rmtree(root, ignore_errors=True)


def _check_modes(install: Installation, checks: Checks) -> None:
    run_dir, state = install.root / "run", install.root / "state"
    checks.check("modes: runtime directory 0750", mode_of(run_dir) == 0o750, f"{mode_of(run_dir):04o}")
    for sock in ("bus.sock", "control.sock"):
        mode = mode_of(run_dir / sock)
        checks.check(f"modes: {sock} 0660, not world-writable", mode == 0o660, f"{mode:04o}")
    checks.check("modes: state directory closed to others", mode_of(state) & 0o007 == 0, f"{mode_of(state):04o}")
    for name in ("numeraud.db", "numeraud.db-wal", "numeraud.db-shm"):
        if (state / name).exists():
            mode = mode_of(state / name)
            checks.check(f"modes: {name} closed to others", mode & 0o007 == 0, f"{mode:04o}")
    state_files = sorted((state / "handlers").rglob("state.json"))
    checks.check("modes: handler state files written", bool(state_files), "none found")
    for path in state_files:
        mode = mode_of(path)
        checks.check(f"modes: {path.relative_to(state)} 0600", mode == 0o600, f"{mode:04o}")


# -- tcp:// and CURVE ----------------------------------------------------------------------------


def _exits_78(argv: list[str], config: Path, expected: str) -> tuple[bool, str]:
    result = subprocess.run(
        [*argv, "--config", str(config)], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ok = result.returncode == 78 and len(lines) == 1 and expected in lines[0] and str(config) in lines[0]
    return ok, f"exit {result.returncode}, stderr {result.stderr.strip()[-300:]!r}"


def _tcp_without_curve(checks: Checks) -> None:
    root = short_root("nct-")
    try:
        install = Installation(root)
        install.write(
            "http://127.0.0.1:9", {"a": {"class": f"{PROBES}:Recorder"}}, bus={"endpoint": "tcp://127.0.0.1:1"}
        )
        for what, argv, expected in (
            ("numeraud run", [sys.executable, "-m", "numeraud.cli.main", "run"], "tcp:// is refused without CURVE"),
            ("numeraud-handler", [sys.executable, "-m", "numeraud.handler.main", "a"], "tcp:// needs CURVE"),
        ):
            ok, detail = _exits_78(argv, install.config, expected)
            checks.check(f"curve: {what} refuses tcp:// without CURVE (exit 78)", ok, detail)
        checks.check("curve: nothing started", not (root / "state").exists(), "a state directory was created")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def network_namespace(name: str) -> Iterator[str]:
    """A network namespace joined to this one by a veth pair (HOST_ADDRESS here, REMOTE_ADDRESS
    there); both are removed on the way out, whatever happened."""
    host_if, remote_if = f"{name}h"[:15], f"{name}r"[:15]
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", remote_if],
        ["ip", "link", "set", remote_if, "netns", name],
        ["ip", "addr", "add", f"{HOST_ADDRESS}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", f"{REMOTE_ADDRESS}/30", "dev", remote_if],
        ["ip", "netns", "exec", name, "ip", "link", "set", remote_if, "up"],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)


def _certificates(root: Path) -> dict[str, Path]:
    keys, authorized = root / "keys", root / "authorized"
    keys.mkdir(mode=0o700)
    authorized.mkdir(mode=0o700)
    out: dict[str, Path] = {}
    for name in ("server", "remote", "stranger"):
        public, secret = zmq.auth.create_certificates(str(keys), name)
        for path in (public, secret):
            os.chmod(path, 0o600)
        out[name], out[f"{name}_secret"] = Path(public), Path(secret)
    shutil.copy(out["remote"], authorized / "remote.key")
    out["authorized"] = authorized
    return out


_PROBE_CLIENT = """
import json, os, sys, zmq, zmq.auth
from numeraud.common import protocol
endpoint, server_public, client_secret = sys.argv[1:4]
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
if client_secret:
    public, secret = zmq.auth.load_certificate(client_secret)
    sock.curve_secretkey, sock.curve_publickey = secret, public
    sock.curve_serverkey = zmq.auth.load_certificate(server_public)[0]
sock.connect(endpoint)
sock.send_multipart(protocol.encode(protocol.Hello(name="remote", pid=os.getpid())))
answered = bool(sock.poll(1500))
print(json.dumps({"answered": answered}))
"""


def _curve_in_a_namespace(seed: int, workdir: Path, checks: Checks) -> None:
    root = short_root("ncn-")
    try:
        with (
            network_namespace(f"ndc{os.getpid() % 100000}") as netns,
            Sandbox(SandboxOptions(data_dir=workdir / "sandbox-curve", size="tiny", seed=seed)) as sandbox,
        ):
            keys = _certificates(root)
            endpoint = f"tcp://{HOST_ADDRESS}:{free_port()}"
            record = root / "remote.jsonl"
            install = Installation(root)
            install.write(
                sandbox.url,
                {"remote": {"class": f"{PROBES}:Recorder", "options": {"record": str(record)}}},
                bus={
                    "endpoint": endpoint,
                    "curve": {
                        "server_key": str(keys["server_secret"]),
                        "authorized_keys_dir": str(keys["authorized"]),
                        "server_public_key": str(keys["server"]),
                        "client_key": str(keys["remote_secret"]),
                    },
                },
            )
            with install.log.open("ab") as out:
                supervisor = subprocess.Popen(
                    [sys.executable, "-m", "numeraud.cli.main", "run", "--config", str(install.config)],
                    env=child_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            install.daemon = Daemon(install.config, install.log, supervisor)
            remote: subprocess.Popen[bytes] | None = None
            try:
                wait_for(lambda: _answers(install), 60, "the supervisor to answer")
                with (root / "remote.log").open("ab") as out:
                    remote = subprocess.Popen(
                        [
                            *("ip", "netns", "exec", netns, sys.executable, "-m", "numeraud.handler.main", "remote"),
                            "--config",
                            str(install.config),
                        ],
                        env=child_env(),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                kinds = ["round_begin", "new_training_data", "new_tournament_data", "cleanup"]
                seen = wait_for(
                    lambda: (lines := _kinds(record)) == kinds and lines, 120, lambda: f"a round in {record}"
                )
                checks.check("curve: a handler in another netns runs a round over tcp:// with CURVE", bool(seen))
                before = _snapshot(install)
                for who, secret in (("an unlisted key", keys["stranger_secret"]), ("no CURVE", None)):
                    answered = _probe_from(netns, endpoint, keys["server"], secret)
                    checks.check(
                        f"curve: a client with {who} gets no answer", answered is False, f"answered={answered}"
                    )
                after = _snapshot(install)
                checks.check("curve: rejected clients changed nothing", before == after, f"{before} -> {after}")
            finally:
                if remote is not None:
                    remote.kill()
                    remote.wait(timeout=30)
                install.stop()
    except subprocess.CalledProcessError as exc:
        checks.check("curve: ip netns and veth set up", False, f"{exc.cmd}: {exc.stderr!r}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _answers(install: Installation) -> bool:
    try:
        install.call("status")
    except Exception:
        return False
    return True


def _kinds(record: Path) -> list[str]:
    if not record.exists():
        return []
    return [json.loads(line)["kind"] for line in record.read_text().splitlines() if line.strip()]


def _snapshot(install: Installation) -> dict[str, Any]:
    """What garbage must not change: the log's head and every handler's cursor and state."""
    status = install.call("status")
    return {
        "head_seq": status["head_seq"],
        "handlers": {n: (h["acked_seq"], h["state"], h.get("pid")) for n, h in status["handlers"].items()},
    }


def _probe_from(netns: str, endpoint: str, server_public: Path, client_secret: Path | None) -> bool | None:
    """Whether a HELLO from the namespace got any answer (``None``: the probe itself failed)."""
    argv = ["ip", "netns", "exec", netns, sys.executable, "-c", _PROBE_CLIENT, endpoint, str(server_public)]
    result = subprocess.run(
        [*argv, str(client_secret or "")], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    try:
        answered: bool = json.loads(result.stdout.strip().splitlines()[-1])["answered"]
    except (ValueError, IndexError, KeyError):
        print(f"security: probe failed: {result.stderr[-500:]}", file=sys.stderr)
        return None
    return answered


# -- code and files --------------------------------------------------------------------------------


def _nothing_unpickled(checks: Checks) -> None:
    places = []
    for top in ("numeraud", "handlers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if UNSAFE.search(code):
                    places.append((relative, number, line.strip()))
    unsafe = [p for p in places if SAFE_PLACES.get(p[0]) is None or SAFE_PLACES[p[0]] not in p[2]]
    checks.check("code: something was searched", bool(places), "the search found none of the known safe places")
    checks.check("code: nothing from outside is unpickled or evaluated", not unsafe, f"{unsafe}")


def _readable_secret_file(checks: Checks) -> None:
    root = short_root("ncf-")
    try:
        secret = root / "secret_key"
        secret.write_text("not-a-real-key\n")
        secret.chmod(0o640)
        install = Installation(root)
        install.write(
            "http://127.0.0.1:9",
            {
                "uploader": {
                    "class": "numeraud_handlers.uploader:UploaderHandler",
                    "options": {"secret_key_file": str(secret)},
                }
            },
        )
        ok, detail = _exits_78(
            [sys.executable, "-m", "numeraud.cli.main", "run"],
            install.config,
            f"{secret} holds a secret but its mode 0640",
        )
        checks.check("secret file: one the group can read is refused (exit 78, names file and mode)", ok, detail)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(quick: bool, seed: int, workdir: Path) -> dict[str, int | float]:
    """Run every security check (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    checks = Checks("security")
    _nothing_unpickled(checks)
    leaks = _leaks_and_modes(quick, seed, workdir, checks)
    _tcp_without_curve(checks)
    _readable_secret_file(checks)
    _curve_in_a_namespace(seed, workdir, checks)
    return {"security_checks": checks.tried, "security_failures": len(checks.failed), "secret_leaks": leaks}


if __name__ == "__main__":
    started = time.monotonic()
    figures = run("--long" not in sys.argv, 11, Path(tempfile.mkdtemp(prefix="nchaos-sec-")))
    print(json.dumps({**figures, "seconds": round(time.monotonic() - started, 1)}))
