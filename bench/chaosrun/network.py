"""The security checks over ``tcp://``: refused without CURVE, and CURVE across a network namespace.

- ``tcp://`` without CURVE is refused by ``numeraud run`` and ``numeraud-handler`` (exit 78,
  before READY);
- a handler in another network namespace (``ip netns`` and a veth pair on 10.213.7.1/30 and .2/30,
  removed afterwards whatever happens) reaches the supervisor over ``tcp://`` with a listed key and
  handles a whole round; a client there with an unlisted key, and one without CURVE, get no answer
  and change nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import zmq
import zmq.auth

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.installation import PROBES, Checks, Installation, child_env, exits_78, short_root  # noqa: E402
from bench.processes import Daemon, free_port  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

#: The veth pair's addresses: the supervisor's side and the namespace's side (a /30 of our own).
HOST_ADDRESS, REMOTE_ADDRESS = "10.213.7.1", "10.213.7.2"
# -- tcp:// and CURVE ----------------------------------------------------------------------------


def tcp_without_curve(checks: Checks) -> None:
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
            ok, detail = exits_78(argv, install.config, expected)
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


def curve_in_a_namespace(seed: int, workdir: Path, checks: Checks) -> None:
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
                wait_for(install.answers, 60, "the supervisor to answer")
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
                before = install.snapshot()
                for who, secret in (("an unlisted key", keys["stranger_secret"]), ("no CURVE", None)):
                    answered = _probe_from(netns, endpoint, keys["server"], secret)
                    checks.check(
                        f"curve: a client with {who} gets no answer", answered is False, f"answered={answered}"
                    )
                after = install.snapshot()
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


def _kinds(record: Path) -> list[str]:
    if not record.exists():
        return []
    return [json.loads(line)["kind"] for line in record.read_text().splitlines() if line.strip()]


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
