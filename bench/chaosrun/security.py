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

import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaosrun.common import find_secrets  # noqa: E402
from bench.chaosrun.installation import PROBES, Checks, Installation, exits_78, mode_of, short_root  # noqa: E402
from bench.chaosrun.network import curve_in_a_namespace, tcp_without_curve  # noqa: E402
from numeraud.sandbox import Sandbox, SandboxOptions  # noqa: E402
from tests.fixtures import JsonReceiver  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

#: Where the code may deserialise or evaluate, and why each is safe (path: pattern).
SAFE_PLACES = {
    # The handler's own two threads pass Job/Result objects over inproc://, which nothing outside
    # the process can reach.
    "numeraud/handler/worker.py": "pyobj",
    "numeraud/handler/runtime.py": "pyobj",
    # The handler's own model file, written by itself with joblib.dump in its state directory.
    "handlers/model.py": "joblib.load",
    # A Model Upload pickle: the user's own file, named in the config ([handlers.X] options.path),
    # loaded as numerai-predict loads it, in a child process without the keys; never a download.
    "handlers/pickle_predict.py": "cloudpickle",
}
UNSAFE = re.compile(
    r"\b(?:import|from) (?:pickle|marshal|yaml|shelve|dill|cloudpickle)\b"
    r"|(?<![\w.])(?:pickle|marshal|yaml|shelve|dill|cloudpickle)\."  # a module's call, not a.pickle.name
    r"|_pyobj\(|\beval\(|\bexec\(|\bjoblib\.load\(|pd\.read_pickle|\.read_pickle\("
)


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


# -- code and files --------------------------------------------------------------------------------


def deserialising_places(root: Path = ROOT) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    """Every line of numeraud's and the handlers' code that deserialises or evaluates (path,
    line number, text), and those of them that are not one of the :data:`SAFE_PLACES`."""
    places = []
    for top in ("numeraud", "handlers"):
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if UNSAFE.search(code):
                    places.append((relative, number, line.strip()))
    unsafe = [p for p in places if SAFE_PLACES.get(p[0]) is None or SAFE_PLACES[p[0]] not in p[2]]
    return places, unsafe


def _nothing_unpickled(checks: Checks) -> None:
    places, unsafe = deserialising_places()
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
        ok, detail = exits_78(
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
    tcp_without_curve(checks)
    _readable_secret_file(checks)
    curve_in_a_namespace(seed, workdir, checks)
    return {"security_checks": checks.tried, "security_failures": len(checks.failed), "secret_leaks": leaks}


if __name__ == "__main__":
    started = time.monotonic()
    figures = run("--long" not in sys.argv, 11, Path(tempfile.mkdtemp(prefix="nchaos-sec-")))
    print(json.dumps({**figures, "seconds": round(time.monotonic() - started, 1)}))
