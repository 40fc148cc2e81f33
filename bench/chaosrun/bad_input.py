"""Bad-input scenarios of bench/chaos.py (issue 11): bad configs, bad predictions, bad data, garbage.

- **configs** (``bad_config_cases``/``bad_config_ok``): a corpus of broken TOML files, each given to
  ``numeraud run`` and ``numeraud-handler``; each must exit 78 with one line on stderr naming the
  key and the file, and never say READY=1 (a notify socket of the scenario's own listens). In
  the quick run each program is entered in a process forked from one that imported it already
  (the same ``main``, 2 s of imports saved per case); in the long run each is a new process.
- **predictions** (``bad_predictions_cases``/``bad_predictions_refused``): a real supervisor and
  the bundled uploader against the sandbox; a ``predictions_ready`` per bad file (NaN, inf, out of
  range, missing, foreign and duplicate ids, wrong columns, constant, empty, header only, not
  CSV, huge); each must end in ``submission_failed`` with Numerai's reason, and nothing may
  reach the sandbox's upload routes.
- **data** (``bad_data_cases``/``bad_data_ok``): synced files in the data directory damaged
  between rounds (a truncated parquet, a parquet with its footer overwritten, a features.json
  overwritten with zeros, a garbage partial download with a valid resume record, garbage at a
  live file's final name); at the next round a handler checks every file it is told about
  against the sandbox's own copy: each damaged one must be downloaded again (or not announced).
- **fuzz** (``fuzz_inputs``/``fuzz_crashes``): random and mutated bus frames (to the supervisor's
  ROUTER) and control requests (to its control socket), then the log's head and every cursor
  must be as before and the supervisor alive; the long run adds atheris (coverage-guided, at least
  10,000 inputs each) against the frame decoder and the control-request handling in-process.

``secret_leaks`` greps everything the run left for the sandbox's secret key. With ``NCHAOS_KEEP=1``
the installation's directory (config, logs, state) is kept for a look afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import zmq

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.security import PROBES, Checks, Installation, child_env, find_secrets, short_root  # noqa: E402
from numeraud.common import protocol  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

VERSION = "v5.2"

# -- configs ---------------------------------------------------------------------------------------

H = '[handlers.model-a]\nclass = "m:C"\n'
#: (name, file content, the dotted key the error must name ("" for a file-level error), a part of the problem)
CONFIG_CASES: list[tuple[str, str | bytes, str, str]] = [
    ("max_attempts_0", H + "max_attempts = 0\n", "handlers.model-a.max_attempts", "positive integer"),
    ("unknown_key", H + 'colour = "red"\n', "handlers.model-a.colour", "unknown key"),
    ("class_no_colon", '[handlers.model-a]\nclass = "nocolon"\n', "handlers.model-a.class", "package.module"),
    ("after_unknown", H + 'after = ["b"]\n', "handlers.model-a.after", "unknown handler"),
    ("after_self", H + 'after = ["model-a"]\n', "handlers.model-a.after", "wait for itself"),
    (
        "after_cycle",
        H + 'after = ["b"]\n[handlers.b]\nclass = "m:C"\nafter = ["model-a"]\n',
        "handlers.model-a.after",
        "cycle",
    ),
    ("heartbeat_negative", H + "[bus]\nheartbeat_interval = -1\n", "bus.heartbeat_interval", "positive"),
    ("heartbeat_nan", H + "[bus]\nheartbeat_interval = nan\n", "bus.heartbeat_interval", "positive"),
    ("heartbeat_inf", H + "[bus]\nheartbeat_interval = inf\n", "bus.heartbeat_interval", "positive"),
    ("liveness_0", H + "[bus]\nheartbeat_liveness = 0\n", "bus.heartbeat_liveness", "positive integer"),
    ("control_tcp", H + '[bus]\ncontrol_endpoint = "tcp://0.0.0.0:1"\n', "bus.control_endpoint", "ipc://"),
    ("endpoint_udp", H + '[bus]\nendpoint = "udp://x:1"\n', "bus.endpoint", "must start with"),
    ("tcp_no_curve", H + '[bus]\nendpoint = "tcp://127.0.0.1:1"\n', "bus.endpoint", "CURVE"),
    ("serial_string", H + '[bus]\nserial = "yes"\n', "bus.serial", "true or false"),
    ("curve_unknown", H + "[bus.curve]\ncolour = 1\n", "bus.curve.colour", "unknown key"),
    ("tournament_text", H + '[numerai]\ntournament = "eight"\n', "numerai.tournament", "positive integer"),
    ("api_url_ftp", H + '[numerai]\napi_url = "ftp://x"\n', "numerai.api_url", "http"),
    ("unknown_section", H + "[mystery]\n", "mystery", "unknown key"),
    ("secret_option", H + 'options = { secret_key = "abc" }\n', "handlers.model-a.options.secret_key", "never"),
    ("version_bad", H + '[data]\nversion = "5.2"\n', "data.version", "latest"),
    ("live_files_empty", H + "[data]\nlive_files = []\n", "data.live_files", "live.parquet"),
    ("file_name_path", H + '[data]\ntraining_files = ["a/b"]\n', "data.training_files", "file names"),
    ("reserve_negative", H + "[data]\nreserve_bytes = -1\n", "data.reserve_bytes", "bytes"),
    ("poll_fast_gt_idle", H + "[poll]\nidle_interval = 1\nfast_interval = 5\n", "poll.fast_interval", "longer"),
    ("webhook_bad", H + '[poll]\nwebhook = "nonsense"\n', "poll.webhook", "HOST:PORT"),
    ("handler_name_bad", '[handlers."bad name!"]\nclass = "m:C"\n', "handlers.bad name!", "handler names"),
    ("state_dir_number", H + "[paths]\nstate_dir = 5\n", "paths.state_dir", "path"),
    ("timeout_text", H + 'timeout = "soon"\n', "handlers.model-a.timeout", "seconds"),
    ("recycle_number", H + "recycle = 1\n", "handlers.model-a.recycle", "true or false"),
    ("options_number", H + "options = 5\n", "handlers.model-a.options", "table"),
    ("not_toml", "not toml [", "", "not valid TOML"),
    ("duplicate_key", H + "max_attempts = 1\nmax_attempts = 2\n", "", "not valid TOML"),
    ("not_utf8", b'[numerai]\napi_url = "\xff\xfe"\n', "", "not UTF-8"),
    ("nested_deep", "x = " + "[" * 5000 + "]" * 5000 + "\n", "", "nested too deeply"),
    ("binary_garbage", bytes(range(256)) * 4, "", "not valid TOML"),
]

_ZYGOTE = r"""
import json, os, sys, traceback
from numeraud.cli.main import main as numeraud_main
from numeraud.handler.main import main as handler_main
codes = []
for case in json.load(sys.stdin):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name in ((1, case["stdout"]), (2, case["stderr"])):
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, fd)
                os.close(out)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            os.environ["NOTIFY_SOCKET"] = case["notify"]
            code = (numeraud_main if case["entry"] == "run" else handler_main)(case["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""

ENTRIES = {
    "run": [sys.executable, "-m", "numeraud.cli.main"],
    "handler": [sys.executable, "-m", "numeraud.handler.main"],
}


def _bad_configs(quick: bool, root: Path, checks: Checks) -> tuple[int, int]:
    root.mkdir(parents=True)
    cases: list[dict[str, Any]] = []
    for number, (name, content, key, problem) in enumerate(CONFIG_CASES):
        path = root / f"{number:02d}-{name}.toml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        for entry in ENTRIES:
            argv = ["run", "--config", str(path)] if entry == "run" else ["model-a", "--config", str(path)]
            base = root / f"{number:02d}-{entry}"
            cases.append(
                {"name": f"{name} ({entry})", "entry": entry, "argv": argv, "key": key, "problem": problem}
                | {"path": str(path.resolve()), "stdout": f"{base}.out", "stderr": f"{base}.err"}
                | {"notify": f"{base}.notify"}
            )
    listeners = {}
    for case in cases:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(case["notify"])
        listeners[case["name"]] = listener
    try:
        codes = _run_cases(cases, quick)
        ok = 0
        for case, code in zip(cases, codes, strict=True):
            said = _drain(listeners[case["name"]])
            lines = [line for line in Path(case["stderr"]).read_text(errors="replace").splitlines() if line.strip()]
            where = f"(in {case['path']})"
            good = (
                code == 78
                and len(lines) == 1
                and where in lines[0]
                and f"{case['key']}: " in lines[0]
                and case["problem"] in lines[0]
                and not any("READY=1" in s for s in said)
            )
            ok += checks.check(f"config {case['name']}", good, f"exit {code}, stderr {lines[-3:]}, notify {said}")
    finally:
        for listener in listeners.values():
            listener.close()
    return len(cases), ok


def _run_cases(cases: list[dict[str, Any]], quick: bool) -> list[int]:
    env = child_env()
    if quick:
        result = subprocess.run(
            [sys.executable, "-c", _ZYGOTE],
            input=json.dumps(cases),
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        codes: list[int] = json.loads(result.stdout.strip().splitlines()[-1])
        return codes
    codes = []
    for case in cases:
        with Path(case["stdout"]).open("wb") as out, Path(case["stderr"]).open("wb") as err:
            done = subprocess.run(
                ENTRIES[case["entry"]] + case["argv"],
                env=env | {"NOTIFY_SOCKET": case["notify"]},
                stdout=out,
                stderr=err,
                timeout=120,
                check=False,
            )
        codes.append(done.returncode)
    return codes


def _drain(listener: socket.socket) -> list[str]:
    listener.setblocking(False)
    said = []
    while True:
        try:
            said.append(listener.recv(4096).decode(errors="replace"))
        except BlockingIOError:
            return said


# -- predictions -----------------------------------------------------------------------------------


def _prediction_files(ids: list[str], quick: bool, rng: random.Random, root: Path) -> dict[str, tuple[Path, str]]:
    """Bad files by case name, each with the part of Numerai's reason it must be refused with."""
    n = len(ids)
    good = [(i, (k + 0.5) / n) for k, i in enumerate(ids)]
    rng.shuffle(good)

    def rows(pairs: list[tuple[str, Any]], header: str = "id,prediction") -> bytes:
        return (header + "\n" + "".join(f"{i},{p}\n" for i, p in pairs)).encode()

    def with_value(value: str) -> bytes:
        return rows([(i, value if k == 3 else p) for k, (i, p) in enumerate(good)])

    huge_rows = 200_000 if quick else 2_000_000
    cases: dict[str, tuple[bytes, str]] = {
        "nan": (with_value("nan"), "invalid_submission_values: submission must not contain NaNs"),
        "inf": (with_value("inf"), "invalid_submission_values: values must be between 0 and 1"),
        "above_1": (with_value("1.5"), "invalid_submission_values: values must be between 0 and 1"),
        "below_0": (with_value("-0.2"), "invalid_submission_values: values must be between 0 and 1"),
        "not_a_number": (with_value("high"), "invalid_submission_values"),
        "missing_half": (rows(good[: n // 2]), "invalid_submission_ids: Not enough stocks"),
        "foreign_ids": (rows([(f"x{k:06d}", p) for k, (_, p) in enumerate(good)]), "invalid_submission_ids"),
        "duplicate_ids": (rows(good + good[:5]), "invalid_submission_ids: Duplicates"),
        "wrong_columns": (rows(good, "id,target"), "invalid_submission_headers"),
        "three_columns": (b"id,prediction,extra\n" + b"".join(f"{i},{p},1\n".encode() for i, p in good), "headers"),
        "no_id_column": (rows(good, "ident,prediction"), "invalid_submission_headers"),
        "constant": (rows([(i, 0.5) for i, _ in good]), "non-zero standard deviation"),
        "empty": (b"", "invalid_submission_file"),
        "header_only": (b"id,prediction\n", "invalid_submission_file: the file has no rows"),
        "not_csv": (bytes(rng.randrange(256) for _ in range(4096)), "invalid_submission_file"),
        "huge": (rows([(f"x{k:08d}", rng.random()) for k in range(huge_rows)]), "invalid_submission_ids"),
    }
    out = {}
    for name, (data, reason) in cases.items():
        path = root / f"bad_{name}.csv"
        path.write_bytes(data)
        out[name] = (path, reason)
    return out


def _bad_predictions(
    install: Installation, sandbox: Sandbox, quick: bool, rng: random.Random, checks: Checks
) -> tuple[int, int]:
    live = install.root / "data" / VERSION / "live_1.parquet"
    ids = [str(i) for i in pq.read_table(live, columns=["id"]).column("id").to_pylist()]
    files = _prediction_files(ids, quick, rng, install.root)
    before = len(sandbox.requests())
    for number, (name, (path, _reason)) in enumerate(files.items(), 100):  # a round each: appends dedupe by round
        install.call("append", kind="predictions_ready", round=number, payload=_ready(path, live, name))
    wanted = {str(path.name) for path, _ in files.values()}

    def failures() -> dict[str, str] | None:
        found = {}
        for event in install.events():
            if event["kind"] == "submission_failed":
                reason = str(event["payload"].get("reason", ""))
                found[reason.split(":", 1)[0]] = reason
        return found if wanted <= set(found) else None

    reasons = wait_for(failures, 180, "a submission_failed for every bad file")
    refused = 0
    for name, (path, reason) in files.items():
        got = reasons.get(path.name, "")
        refused += checks.check(f"predictions {name}: refused with its reason", reason in got, f"got {got[:200]!r}")
    uploads = [r for r in sandbox.requests()[before:] if r["route"] == "upload" or _is_upload_query(r)]
    checks.check("predictions: nothing reached the sandbox's upload routes", not uploads, f"{uploads[:3]}")
    checks.check("predictions: the sandbox recorded no upload", not sandbox.uploads(), f"{sandbox.uploads()[:3]}")
    if uploads or sandbox.uploads():
        refused = 0
    return len(files), refused


def _ready(path: Path, live: Path, name: str) -> dict[str, Any]:
    return {"round": 1, "model": "bad", "path": str(path), "live_path": str(live), "case": name}


def _is_upload_query(request: dict[str, Any]) -> bool:
    return request["route"] == "graphql" and bool(
        {"submission_upload_auth", "create_submission", "submissionUploadAuth", "createSubmission"}
        & set(request.get("fields", ()))
    )


# -- data ------------------------------------------------------------------------------------------


def _damage(data_dir: Path, sandbox_dir: Path, next_round: int) -> dict[str, str]:
    """Damage synced files in place; returns the damaged local names and how."""
    version = data_dir / VERSION
    train = version / "train.parquet"
    with train.open("r+b") as f:
        f.truncate(train.stat().st_size // 2)
    validation = version / "validation.parquet"
    with validation.open("r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\0" * 8)  # the footer's length and its PAR1 magic
    features = version / "features.json"
    features.write_bytes(b"\0" * features.stat().st_size)
    live = f"live_{next_round}.parquet"
    partial = data_dir / ".partial" / VERSION / f"{live}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(os.urandom(1000))
    etag = f'"{_md5(sandbox_dir / VERSION / live)}"'
    (partial.parent / f"{live}.part.json").write_text(json.dumps({"etag": etag, "total": 0}))
    return {
        f"{VERSION}/train.parquet": "truncated to half",
        f"{VERSION}/validation.parquet": "footer overwritten",
        f"{VERSION}/features.json": "overwritten with zeros",
        f"{VERSION}/{live}": "garbage partial download with a valid resume record",
    }


def _md5(path: Path) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _bad_data(install: Installation, sandbox: Sandbox, record: Path, checks: Checks) -> tuple[int, int]:
    data_dir = install.root / "data"
    number = sandbox.core.current_round().number + 1
    for name in sandbox.core.generator.ensure_live(VERSION, number):
        sandbox.core.public_file(name)
    damaged = _damage(data_dir, sandbox.core.options.data_dir, number)
    garbage = data_dir / VERSION / f"live_{number + 1}.parquet"
    garbage.write_bytes(os.urandom(5000))  # garbage where the round after's live file will go
    damaged[f"{VERSION}/live_{number + 1}.parquet"] = "garbage at the final name before its round"
    for opened in (number, number + 1):
        sandbox.open_round()
        wait_for(lambda opened=opened: _kinds_of(record, opened) >= {"cleanup"}, 120, f"round {opened} handled")  # type: ignore[misc]
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    ok = 0
    for name, how in damaged.items():
        seen = [line for line in lines if line.get("file") == name and line["round"] >= number]
        on_disk = _same(data_dir / name, sandbox.core.options.data_dir / name)
        good = all(line["ok"] for line in seen) and on_disk
        ok += checks.check(f"data {name} {how}: downloaded again", good, f"checks {seen[:2]}, intact on disk {on_disk}")
    return len(damaged), ok


def _kinds_of(record: Path, number: int) -> set[str]:
    if not record.exists():
        return set()
    lines = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return {line["kind"] for line in lines if line["round"] == number}


def _same(a: Path, b: Path) -> bool:
    from bench.chaosrun.probes import sha256_of  # noqa: PLC0415

    return sha256_of(a) == sha256_of(b) is not None


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


def _fuzz_live(install: Installation, rng: random.Random, count: int, checks: Checks) -> tuple[int, int]:
    """Garbage at the running supervisor's sockets; returns (inputs, crashes)."""
    from bench.chaosrun.security import _snapshot  # noqa: PLC0415

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
    after = _snapshot(install) if alive else None
    crashes = 0 if alive else 1
    checks.check("fuzz: the supervisor is alive after the garbage", alive, "it exited")
    checks.check("fuzz: garbage changed no cursor and no log", before == after, f"{before} -> {after}")
    if alive and before != after:
        crashes += 1
    return inputs, crashes


def _idle(install: Installation) -> dict[str, Any] | None:
    """The snapshot once every handler has acked the whole log (nothing in flight)."""
    from bench.chaosrun.security import _snapshot  # noqa: PLC0415

    snap = _snapshot(install)
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


def _atheris(count: int, workdir: Path, checks: Checks) -> tuple[int, int]:
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


# -- the scenario ----------------------------------------------------------------------------------


def run(quick: bool, seed: int, workdir: Path) -> dict[str, int | float]:
    """Run every bad-input case (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    checks = Checks("bad_input")
    out: dict[str, int | float] = {}
    out["bad_config_cases"], out["bad_config_ok"] = _bad_configs(quick, workdir / "configs", checks)
    root = short_root("nci-")
    try:
        options = SandboxOptions(data_dir=workdir / "sandbox", size="tiny", seed=seed, versions=(VERSION,))
        with Sandbox(options) as sandbox:
            install = Installation(
                root, env={"NUMERAI_PUBLIC_ID": options.public_id, "NUMERAI_SECRET_KEY": options.secret_key}
            )
            record = root / "checker.jsonl"
            install.write(
                sandbox.url,
                {
                    "checker": {
                        "class": f"{PROBES}:Checker",
                        "max_attempts": 1,
                        "options": {"record": str(record), "sandbox_dir": str(options.data_dir)},
                    },
                    "uploader": {
                        "class": "numeraud_handlers.uploader:UploaderHandler",
                        "options": {"models": {"bad": "sandbox_model_1"}},
                    },
                },
                data={"training_files": ["features.json", "train.parquet", "validation.parquet"]},
            )
            install.start()
            try:
                wait_for(lambda: "cleanup" in _kinds_of(record, 1), 120, "round 1 handled")
                fuzz = _fuzz_live(install, rng, 300 if quick else 5000, checks)
                preds = _bad_predictions(install, sandbox, quick, rng, checks)
                out["bad_predictions_cases"], out["bad_predictions_refused"] = preds
                out["bad_data_cases"], out["bad_data_ok"] = _bad_data(install, sandbox, record, checks)
            finally:
                install.stop()
            if not quick:
                more = _atheris(10_000, workdir, checks)
                fuzz = (fuzz[0] + more[0], fuzz[1] + more[1])
            out["fuzz_inputs"], out["fuzz_crashes"] = fuzz
            out["secret_leaks"] = find_secrets([root, workdir], [options.secret_key])
    finally:
        if not os.environ.get("NCHAOS_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
    return out


def _main(argv: list[str]) -> int:
    started = time.monotonic()
    figures = run("--long" not in argv, 11, Path(tempfile.mkdtemp(prefix="nchaos-input-")))
    print(json.dumps({**figures, "seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
