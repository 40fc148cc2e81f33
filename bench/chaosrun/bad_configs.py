"""The bad-config corpus of the bad-input scenario: each broken TOML file given to ``numeraud run``
and ``numeraud-handler`` must exit 78 with one line on stderr naming the key and the file, and
never say READY=1 (a notify socket of the scenario's own listens). In the quick run each program
is entered in a process forked from one that imported it already (the same ``main``, 2 s of
imports saved per case); in the long run each is a new process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.installation import Checks, child_env  # noqa: E402

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


def bad_configs(quick: bool, root: Path, checks: Checks) -> tuple[int, int]:
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
