"""Fuzzing of the bad-input scenario: random and mutated bus frames (to the supervisor's ROUTER)
and control requests (to its control socket) against a live installation, after which the log's
head and every cursor must be as before and the supervisor alive; and atheris (coverage-guided)
against the frame decoder and the control-request handling in-process (the long run).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import zmq

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.installation import Checks, Installation, child_env  # noqa: E402
from numeraud.common import protocol  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

# -- fuzz ------------------------------------------------------------------------------------------


def _mutate(rng: random.Random, frames: list[bytes]) -> list[bytes]:
    frames = list(frames)
    kind = rng.randrange(6)
    if kind == 0 and frames:
        i = rng.randrange(len(frames))
        data = bytearray(frames[i]) or bytearray(b"x")
        data[rng.randrange(len(data))] = rng.randrange(256)
        frames[i] = bytes(data)
    elif kind == 1:
        frames.append(rng.randbytes(rng.randrange(64)))
    elif kind == 2 and frames:
        frames.pop(rng.randrange(len(frames)))
    elif kind == 3:
        frames = [rng.randbytes(rng.randrange(32)) for _ in range(rng.randrange(6))]
    elif kind == 4:
        header = {rng.choice(["seq", "name", "pid", "error", "kind", "last_seq"]): rng.choice(_ODD) for _ in range(3)}
        frames = [protocol.PROTOCOL, rng.choice(list(protocol.Verb)).value.encode(), json.dumps(header).encode()]
    else:
        frames = [
            protocol.PROTOCOL,
            rng.choice([b"ACK", b"NACK", b"HELLO"]),
            b'{"seq": ' + str(rng.choice(_ODD)).encode() + b"}",
        ]
    return frames


_ODD: list[Any] = [0, -1, 1, 2**63, 2**64, 1e400, "1", None, True, [], {}, "x" * 300, "../etc", "\u0000", 3.5]


def _garbage_requests(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(200))
    if kind == 1:
        return json.dumps(rng.choice(_ODD)).encode()
    command = rng.choice(["status", "retry", "skip", "events", "append", "poll-now", "version", "nope", ""])
    args = {
        rng.choice(["handler", "limit", "kind", "round", "payload"]): rng.choice(_ODD) for _ in range(rng.randrange(4))
    }
    if kind == 2 and command in ("retry", "skip", "append", "nope"):
        return json.dumps({"id": rng.randrange(10**6), "command": command, "args": args}).encode()
    if kind == 3:
        return b'{"id": 1, "command": "status", "args": ' + b"[" * 50_000 + b"}"
    return json.dumps({"id": rng.choice(_ODD), "command": rng.choice(_ODD), "args": rng.choice(_ODD)}).encode()


def fuzz_live(install: Installation, rng: random.Random, count: int, checks: Checks) -> tuple[int, int]:
    """Garbage at the running supervisor's sockets; returns (inputs, crashes)."""

    before = wait_for(lambda: _idle(install), 60, "every handler idle")
    ctx = zmq.Context()
    inputs = 0
    try:
        bus = ctx.socket(zmq.DEALER)
        bus.setsockopt(zmq.LINGER, 0)
        bus.connect(f"ipc://{install.root}/run/bus.sock")
        control = ctx.socket(zmq.DEALER)
        control.setsockopt(zmq.LINGER, 0)
        control.connect(f"ipc://{install.root}/run/control.sock")
        seeds = [protocol.encode(m) for m in _SEED_MESSAGES]
        for _ in range(count):
            frames = _mutate(rng, rng.choice(seeds))
            if frames:
                bus.send_multipart(frames)
            control.send(_garbage_requests(rng))
            inputs += 2
            while control.poll(0):
                control.recv_multipart()
        wait_for(lambda: control.poll(0) or True, 5, "nothing")
        bus.close()
        control.close()
    finally:
        ctx.term()
    alive = install.daemon is not None and install.daemon.process.poll() is None
    after = install.snapshot() if alive else None
    crashes = 0 if alive else 1
    checks.check("fuzz: the supervisor is alive after the garbage", alive, "it exited")
    checks.check("fuzz: garbage changed no cursor and no log", before == after, f"{before} -> {after}")
    if alive and before != after:
        crashes += 1
    return inputs, crashes


def _idle(install: Installation) -> dict[str, Any] | None:
    """The snapshot once every handler has acked the whole log (nothing in flight)."""

    snap = install.snapshot()
    return snap if all(h[0] == snap["head_seq"] for h in snap["handlers"].values()) else None


#: Mutated into garbage. No HELLO with a configured name: one that survives its mutation is not
#: garbage but a newer process taking the name, which fences the running one (by design).
_SEED_MESSAGES: list[protocol.Message] = [
    protocol.Hello(name="ghost", pid=1, last_seq=0),
    protocol.Ack(seq=1, emitted=(protocol.Emitted("predictions_ready", 1, {"path": "/x"}),)),
    protocol.Nack(seq=1, error="boom"),
    protocol.Ping(),
    protocol.Bye(reason="x"),
    protocol.Error(code="fenced", message="x"),
]


def fuzz_atheris(count: int, workdir: Path, checks: Checks) -> tuple[int, int]:
    """atheris against the frame decoder and the control-request handling (in a subprocess each)."""
    total, crashes = 0, 0
    for target in ("frames", "control"):
        result = subprocess.run(
            [sys.executable, "-m", "bench.chaosrun.fuzz_targets", target, f"-runs={count}", "-max_len=4096"],
            env=child_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        (workdir / f"atheris-{target}.log").write_text(result.stdout + result.stderr)
        done = [line for line in result.stderr.splitlines() if line.startswith("Done ")]
        runs = int(done[-1].split()[1]) if done else 0
        ok = result.returncode == 0 and runs >= count
        checks.check(f"atheris {target}: {count} inputs, no crash", ok, f"exit {result.returncode}, {runs} runs")
        total += runs
        crashes += 0 if ok else 1
    return total, crashes
